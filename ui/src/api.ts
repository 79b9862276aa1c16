/**
 * The engine's HTTP API and event stream as the UI uses them. The shapes mirror engine/api's
 * wire types (types.ts, views.ts); the browser shows what the engine decided and sends commands.
 */

/** A signed-in user (GET /api/v1/session). */
export interface User {
  username: string;
  role: 'agent' | 'supervisor' | 'admin';
  agentId: string | null;
  name: string | null;
}

/** The desktop settings of the center. */
export interface Desktop {
  timeZone: string;
  language: 'zh-CN' | 'en';
  notReadyReasons: ReadonlyArray<{ code: string; en: string; zh: string }>;
  /** Wrap-up codes (absent on an engine without them). */
  wrapUpCodes?: ReadonlyArray<{ code: string; en: string; zh: string; requiresNote: boolean }>;
}

/** GET /api/v1/session. */
export interface SessionView {
  user: User | null;
  via: 'open' | 'token' | 'user';
  masked: boolean;
  desktop: Desktop;
}

export type WireStatus = 'available' | 'not_ready' | 'logged_out';
export type WireState = 'idle' | 'reserved' | 'on_call' | 'wrap_up';

/** GET /api/v1/agents/:id. */
export interface Agent {
  id: string;
  name: string | null;
  registered: boolean;
  status: WireStatus;
  pendingStatus: WireStatus | null;
  reason: string | null;
  state: WireState;
  callId: string | null;
  callsHandled: number;
  skills: Record<string, number>;
}

/** A queue's figures (queue.update). */
export interface QueueView {
  id: string;
  skill: string;
  minLevel: number;
  waiting: number;
  oldestWaitMs: number;
  ewtMs: number | null;
  serviceLevel: number;
  agents: { staffed: number; idle: number; byState: Record<WireState, number>; byStatus: Record<WireStatus, number> };
}

/** The customer as the CRM look-up found it. */
export interface Customer {
  known: boolean;
  /** The CRM's customer id, or null. */
  customerId: string | null;
  name: string | null;
  vipLevel: number;
  strikes: number;
  lowCredit: boolean;
  screenPop: Record<string, string>;
}

/** Messages of the event stream the UI reads. */
export type EventMessage =
  | { type: 'hello'; at: number; agent: string | null }
  | { type: 'queue.update'; at: number; queue: QueueView }
  | { type: 'agent.state'; at: number; agentId: string; status: WireStatus; state: WireState; reason: string | null }
  | { type: 'call.offered'; at: number; callId: string; agentId: string; queue: string; caller: string; dialled: string; programme: string | null; attempt: number; customer: Customer; variables: Record<string, string> }
  | { type: 'call.answered'; at: number; callId: string; agentId: string; queue: string; waitMs: number }
  | { type: 'call.ended'; at: number; callId: string; agentId: string | null; outcome: string }
  | { type: 'call.queued' | 'callback.created'; at: number }
  | ({ type: 'surge'; at: number; state: 'on' | 'off'; airing: string | null; programme: string | null; queue: string | null; agents: string[]; reason: 'schedule' | 'override'; until: number | null; campaignsPaused: boolean });

/** GET /api/v1/surge (engine/reports `SurgeState`). */
export interface SurgeState {
  active: ReadonlyArray<{ airing: string; programme: string; queue: string; agents: readonly string[]; from: number; until: number | null; held: boolean }>;
  holds: ReadonlyArray<{ state: 'on' | 'off'; airing: string | null; queue: string | null; at: number; by: string; note: string }>;
  campaignsPaused: boolean;
}

/** A product of the shop (GET /api/v1/shop/products). */
export interface ShopProduct {
  sku: string;
  nameZh: string;
  nameEn: string;
  priceFen: number;
  stock: number;
}

/** An order of the shop as the engine priced it (POST /api/v1/shop/orders). */
export interface ShopOrder {
  id: string;
  status: string;
  totalFen: number;
  items: ReadonlyArray<{ sku: string; name: string; quantity: number; unitPriceFen: number; listPriceFen: number; gift: boolean }>;
}

/** An error answer of the API. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly retryAfter: number) {
    super(message);
  }
}

/** Call the API (same origin; the session cookie rides along). */
export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method, credentials: 'same-origin',
    ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const textBody = await res.text();
  const json: unknown = textBody === '' ? null : JSON.parse(textBody);
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(res.status, e?.code ?? 'HTTP', e?.message ?? res.statusText, Number(res.headers.get('retry-after') ?? 0));
  }
  return json as T;
}

/**
 * The event stream, reconnecting after a drop. `onMessage` gets every message; `onLive` says
 * whether the socket is open. Returns a function that closes it for good.
 */
export function openEvents(onMessage: (m: EventMessage) => void, onLive: (live: boolean) => void): () => void {
  let ws: WebSocket | null = null;
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const connect = (): void => {
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/events`;
    ws = new WebSocket(url);
    ws.onopen = () => onLive(true);
    ws.onmessage = (ev) => {
      if (typeof ev.data === 'string') onMessage(JSON.parse(ev.data) as EventMessage);
    };
    ws.onclose = () => {
      onLive(false);
      if (!stopped) timer = setTimeout(connect, 2000);
    };
  };
  connect();
  return () => {
    stopped = true;
    clearTimeout(timer);
    ws?.close();
  };
}
