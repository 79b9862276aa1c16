/**
 * Test support for the API: an engine behind {@link ApiDeps} without SIP or media (the API is one
 * layer), and a small WebSocket client. Not exported from the folder's index.
 *
 * Agents and their status rules are real: a real `Acd` holds them and the real `AgentDesk`
 * (engine/desk) decides status changes, through the same `deskStatusChange` the engine uses — the
 * test double has no agent rule of its own (CONVENTIONS.md 21). Queue figures, calls, callbacks
 * and CDRs are plain data the tests set.
 */
import { createRequire } from 'node:module';
import { Acd, type AcdSnapshot, type AgentStatus } from '../acd/index.ts';
import { AgentDesk } from '../desk/index.ts';
import { openStore, type CallbackFilter, type CallbackTask, type SqliteStore } from '../store/index.ts';
import type { Cdr } from '../../crm-adapter/index.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { deskStatusChange } from './status.ts';
import type { AgentInfo, ApiDeps, CallSummary, CdrQuery, CtiEvent, HealthInfo, QueueInfo, StatusChangeResult } from './types.ts';

/** The test engine: a real ACD and desk for agents, plain mutable state for the rest. */
export class FakeEngine implements ApiDeps {
  readonly metrics: Metrics;
  healthInfo: HealthInfo = { draining: false, startedAt: Date.now() - 5000, calls: 2, version: '0.1.0-test' };
  snapshot: AcdSnapshot;
  queueInfo: QueueInfo[] = [
    { id: 'orders', skill: 'orders', minLevel: 1, serviceLevelMs: 20_000 },
    { id: 'vip', skill: 'vip', minLevel: 5, serviceLevelMs: 10_000 },
  ];
  /** The real ACD core holding agents 1001-1003. */
  readonly acd: Acd;
  /** The real desk over it; status changes of the API go through it. */
  readonly desk: AgentDesk;
  /** Agents whose phone counts as registered. */
  readonly registered = new Set<string>(['1001', '1002']);
  callList: CallSummary[] = [];
  callbackList: CallbackTask[] = [];
  cdrList: Cdr[] = [];
  /** Every filter the API passed, newest last. */
  readonly cdrQueries: CdrQuery[] = [];
  readonly callbackFilters: CallbackFilter[] = [];
  /** Set by a test that runs provisioning / audit routes over real ones. */
  provisioning?: ApiDeps['provisioning'];
  audit?: ApiDeps['audit'];
  surge?: ApiDeps['surge'];
  wrapUp?: ApiDeps['wrapUp'];
  callerOf?: ApiDeps['callerOf'];
  /** Agents' teams (none by default). */
  teamOf: Record<string, string> = {};
  private readonly listeners = new Set<(e: CtiEvent) => void>();
  private clock = 1000;

  constructor(metrics: Metrics = createMetrics({ defaultMetrics: false })) {
    this.metrics = metrics;
    this.snapshot = {
      at: 1000,
      queues: [
        { queueId: 'orders', waiting: 3, callbacksWaiting: 1, oldestWaitMs: 42_000, ewtMs: 30_500.4, staffed: 2, idle: 0,
          answered: 10, answeredInServiceLevel: 8, abandoned: 2, serviceLevel: 8 / 12, handleTimeMs: 180_000 },
        { queueId: 'vip', waiting: 0, callbacksWaiting: 0, oldestWaitMs: 0, ewtMs: Infinity, staffed: 0, idle: 0,
          answered: 0, answeredInServiceLevel: 0, abandoned: 0, serviceLevel: 1, handleTimeMs: 180_000 },
      ],
      agentsByState: { idle: 2, reserved: 0, onCall: 1, wrapUp: 0 },
      agentsByStatus: { available: 2, notReady: 0, loggedOut: 1 }, offersPendingSend: 0,
    };
    this.acd = new Acd({
      queues: [{ id: 'orders' }, { id: 'vip', minLevel: 5 }],
      agents: [
        { id: '1001', skills: { orders: 3 } },
        { id: '1002', skills: { orders: 3, vip: 5 } },
        { id: '1003', skills: { orders: 1, vip: 2 } },
      ],
    });
    this.desk = new AgentDesk({
      acd: this.acd, apply: () => {}, isRegistered: (id) => this.registered.has(id), autoReadyOnRegister: () => true,
      now: () => this.clock++,
    });
    // 1001 talks on c-1, 1002 is available and idle, 1003 is logged out (no phone).
    this.desk.onRegistered('1001');
    this.acd.enqueue({ id: 'c-1', queueId: 'orders', callerNumber: '+41791234567' }, this.clock++);
    this.acd.offerAnswered('c-1', this.clock++);
    this.desk.onRegistered('1002');
    this.callList = [{
      callId: 'c-1', phase: 'talking', caller: '+41791234567', dialled: '100', programme: 'morning-show', customerId: 'cust-7',
      queue: 'orders', agent: '1001', priority: 0, arrivedAt: 1_700_000_000_000, queuedAt: 1_700_000_001_000,
      answeredAt: 1_700_000_020_000,
    }];
  }

  health(): HealthInfo {
    return this.healthInfo;
  }

  acdSnapshot(): AcdSnapshot {
    return this.snapshot;
  }

  queues(): readonly QueueInfo[] {
    return this.queueInfo;
  }

  agents(): readonly AgentInfo[] {
    return ['1001', '1002', '1003'].map((id) => this.agent(id)!);
  }

  agent(id: string): AgentInfo | undefined {
    const v = this.acd.inspectAgent(id);
    return v === undefined ? undefined : { ...v, name: `Agent ${id}`, team: this.teamOf[id] ?? null, registered: this.registered.has(id) };
  }

  setAgentStatus(id: string, status: AgentStatus, reason: string | null): StatusChangeResult {
    return deskStatusChange(this.desk, (a) => this.agent(a))(id, status, reason);
  }

  calls(): readonly CallSummary[] {
    return this.callList;
  }

  /**
   * A real in-memory store behind the task operations and the do-not-call list (the listing stays
   * over `callbackList`); tests may put a store of their own in `callbacks` and `dnc`.
   */
  readonly store: SqliteStore = openStore({ path: ':memory:' });
  dnc: ApiDeps['dnc'] = this.store.dnc;

  /** The fake callback listing over `callbackList`; the rest is the real in-memory store's. */
  callbacks: ApiDeps['callbacks'] = {
    get: (id) => this.store.callbacks.get(id),
    attempts: (id) => this.store.callbacks.attempts(id),
    claim: (id, by, now) => this.store.callbacks.claim(id, by, now),
    reschedule: (id, at, now, note) => this.store.callbacks.reschedule(id, at, now, note),
    cancel: (id, now, note) => this.store.callbacks.cancel(id, now, note),
    complete: (id, now, note) => this.store.callbacks.complete(id, now, note),
    list: async (filter: CallbackFilter): Promise<CallbackTask[]> => {
      this.callbackFilters.push(filter);
      const all = this.filterCallbacks(filter);
      return all.slice(filter.offset ?? 0, (filter.offset ?? 0) + (filter.limit ?? 100));
    },
    count: async (filter: Omit<CallbackFilter, 'limit' | 'offset'>): Promise<number> => this.filterCallbacks(filter).length,
  };

  /** Reports (issue 18): tests put real report queries here. */
  reports: ApiDeps['reports'] = undefined;
  /** The fake CDR store over `cdrList`; undefined plays an adapter that keeps no CDRs. */
  cdrs: ApiDeps['cdrs'] = async (q: CdrQuery): Promise<Cdr[]> => {
    this.cdrQueries.push(q);
    return this.cdrList
      .filter((c) => (q.since === undefined || c.arrivedAt >= q.since) && (q.outcome === undefined || c.outcome === q.outcome)
        && (q.queue === undefined || c.queue === q.queue))
      .slice(q.offset, q.offset + q.limit);
  };

  readonly events = {
    subscribe: (listener: (e: CtiEvent) => void) => {
      this.listeners.add(listener);
      return () => { this.listeners.delete(listener); };
    },
  };

  /** Publish an event to the API's listener(s), as the engine would. */
  emit(event: CtiEvent): void {
    for (const l of this.listeners) l(event);
  }

  /** Listeners subscribed now (the API subscribes once and unsubscribes on close). */
  get listenerCount(): number {
    return this.listeners.size;
  }

  private filterCallbacks(filter: Omit<CallbackFilter, 'limit' | 'offset'>): CallbackTask[] {
    const statuses = filter.status === undefined ? null : ([] as string[]).concat(filter.status);
    return this.callbackList.filter((t) => (statuses === null || statuses.includes(t.status))
      && (filter.queue === undefined || t.queue === filter.queue));
  }
}

/** A callback task with every field set; `over` replaces some. */
export function callbackTask(over: Partial<CallbackTask>): CallbackTask {
  return {
    id: 1, caller: '+41790000001', queue: 'orders', reason: 'abandoned_queue', status: 'open', arrivedAt: 1_700_000_000_000,
    lastArrivalAt: 1_700_000_000_000, abandons: 1, firstCallId: 'c-9', lastCallId: 'c-9', dialled: '100', programme: null,
    customerId: null, createdAt: 1_700_000_000_500, updatedAt: 1_700_000_000_500, claimedBy: null, claimedAt: null,
    attempts: 0, nextAttemptAt: 1_700_000_000_500, lastResult: null, timeZone: null, closedAt: null, note: null, ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// WebSocket client (the `ws` package arrives with @fastify/websocket; its types are not installed)

/** The part of a `ws` client the tests use. */
export interface WsClient {
  readonly readyState: number;
  on(event: 'message', listener: (data: Buffer) => void): void;
  on(event: 'open' | 'close', listener: () => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
  on(event: 'unexpected-response', listener: (req: unknown, res: { statusCode: number }) => void): void;
  close(): void;
  terminate(): void;
}

type WsConstructor = new (url: string, options?: { headers?: Record<string, string> }) => WsClient;
const require = createRequire(import.meta.url);
const WebSocketClient = (require('ws') as { WebSocket: WsConstructor }).WebSocket;

/** A connected event client that records every message. */
export interface EventClient {
  readonly messages: Array<{ type: string; [k: string]: unknown }>;
  /** Resolves with the first message (already received or to come) after index `from` matching `pred`. */
  waitFor(pred: (m: { type: string; [k: string]: unknown }) => boolean, from?: number): Promise<{ type: string; [k: string]: unknown }>;
  /** Resolves when the server closed the connection. */
  closed: Promise<void>;
  close(): void;
}

/** Connect; rejects with the HTTP status when the server refuses the upgrade. */
export function connectEvents(url: string, headers: Record<string, string> = {}): Promise<EventClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocketClient(url, { headers });
    const messages: Array<{ type: string; [k: string]: unknown }> = [];
    const waiters: Array<() => void> = [];
    let onClosed!: () => void;
    const closed = new Promise<void>((r) => { onClosed = r; });
    ws.on('message', (data) => {
      messages.push(JSON.parse(data.toString('utf8')) as { type: string });
      for (const w of waiters.splice(0)) w();
    });
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', (err) => reject(err));
    ws.on('close', () => onClosed());
    ws.on('open', () => resolve({
      messages,
      closed,
      close: () => ws.close(),
      waitFor(pred, from = 0) {
        return new Promise((res, rej) => {
          const check = (): void => {
            const m = messages.slice(from).find(pred);
            if (m !== undefined) return res(m);
            if (ws.readyState > 1) return rej(new Error('connection closed'));
            waiters.push(check);
          };
          check();
          void closed.then(() => waiters.length > 0 && check());
        });
      },
    }));
  });
}
