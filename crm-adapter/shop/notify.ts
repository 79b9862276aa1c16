/**
 * Delivery of customer notifications (docs/shop.md, Notifications). The store writes each
 * notification into `shop_notifications` in the transaction of the order step that causes it (or
 * of a customer's request, `ShopStore.requestNotification`); this worker delivers them, at least once, in order per order and channel, with retries:
 *
 * ```
 *  order step ──tx──▶ shop_orders + shop_order_history + shop_notifications (pending)
 *                                                          │ kick / poll
 *                                            NotificationWorker.runOnce()
 *        due: pending, next_attempt_at ≤ now, no earlier pending one of its order and channel
 *                         │ e-mail: SMTP (nodemailer)      │ SMS: HTTP gateway (JSON POST)
 *                         ▼                                 ▼
 *             accepted → sent    temporary failure → attempts+1, next_attempt_at = now + backoff
 *                                permanent failure or attempts = maxAttempts → failed
 * ```
 * Nothing is held in memory between runs: a restart, or an SMTP or gateway outage, leaves the rows
 * pending and the next run (of this process or the next) delivers them. A crash between the
 * gateway's acceptance and the `sent` mark sends that one again (at least once): the e-mail's
 * Message-ID and the SMS's `Idempotency-Key` header carry the notification id so that a receiver
 * can drop the second copy. One worker per shop database (a second engine on the same PostgreSQL
 * would deliver some messages twice, never lose one).
 */
import { createTransport, type Transporter } from 'nodemailer';
import type { ShopStore } from './store.ts';
import type { NotifyEvent, NotifyLanguage } from './templates.ts';
import type { Notification, NotificationChannel } from './types.ts';

/** SMTP settings (crm.notifications.email). */
export interface EmailConfig {
  host: string;
  port: number;
  /** TLS from the start (port 465); false: plain, upgraded by STARTTLS when the server offers it. */
  secure: boolean;
  auth: { user: string; pass: string } | null;
  /** The From address (`东方购物 <shop@example.com>`). */
  from: string;
  /** Connection, greeting and socket timeouts (ms). */
  timeoutMs: number;
}

/** A JSON value (the SMS body template). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** HTTP SMS gateway settings (crm.notifications.sms). */
export interface SmsConfig {
  /** Where the JSON body is POSTed. */
  url: string;
  /** Sent as `Authorization: Bearer <token>`; null: no Authorization header. */
  token: string | null;
  /** The JSON body; in its strings `{to}`, `{text}`, `{id}` are replaced by number, text and notification id. */
  body: JsonValue;
  timeoutMs: number;
}

/** Retry schedule of notifications: exponential backoff (doubling) with 20% jitter, capped. */
export interface NotifyRetry {
  baseDelayMs: number;
  maxDelayMs: number;
  /** A notification is `failed` after this many failed attempts. */
  maxAttempts: number;
}

/** crm.notifications: what the shop tells customers, and how. */
export interface ShopNotifyConfig {
  /** The shop's name in texts (`【name】` of an SMS, the e-mail signature). */
  shopName: string;
  /** Language of customers whose language is not set. */
  defaultLanguage: NotifyLanguage;
  /** The steps that notify. */
  events: readonly NotifyEvent[];
  email: EmailConfig | null;
  sms: SmsConfig | null;
  retry: NotifyRetry;
  /** How often due notifications are looked for when nothing kicks the worker (ms). */
  pollMs: number;
}

/** The outcome of one delivery attempt. */
export type SendResult = { ok: true } | { ok: false; permanent: boolean; error: string };

/** A channel's delivery. */
export interface NotificationSender {
  readonly channel: NotificationChannel;
  send(n: Notification): Promise<SendResult>;
  close(): void;
}

/** Longest error text kept on a notification. */
const ERROR_MAX = 300;

function errorText(err: unknown): string {
  const s = err instanceof Error ? err.message : String(err);
  return s.length <= ERROR_MAX ? s : `${s.slice(0, ERROR_MAX - 1)}…`;
}

/** E-mail by SMTP (nodemailer). A 5xx reply (mailbox unknown, message refused) is permanent; anything else is tried again. */
export class EmailSender implements NotificationSender {
  readonly channel = 'email';
  readonly #transport: Transporter;
  readonly #from: string;

  constructor(c: EmailConfig) {
    this.#from = c.from;
    this.#transport = createTransport({
      host: c.host, port: c.port, secure: c.secure, ...(c.auth !== null ? { auth: c.auth } : {}),
      connectionTimeout: c.timeoutMs, greetingTimeout: c.timeoutMs, socketTimeout: c.timeoutMs,
    });
  }

  async send(n: Notification): Promise<SendResult> {
    try {
      await this.#transport.sendMail({
        from: this.#from, to: n.recipient, subject: n.subject ?? '', text: n.body,
        messageId: `<${n.id}@onair.shop>`, headers: { 'X-Onair-Order': n.orderId },
      });
      return { ok: true };
    } catch (err) {
      const code = (err as { responseCode?: unknown }).responseCode;
      return { ok: false, permanent: typeof code === 'number' && code >= 500 && code < 600, error: errorText(err) };
    }
  }

  close(): void {
    this.#transport.close();
  }
}

/** Replace `{to}`, `{text}`, `{id}` in every string of `v` (the values are JSON-encoded with the body, never spliced into JSON text). */
export function fillJson(v: JsonValue, vars: Readonly<Record<'to' | 'text' | 'id', string>>): JsonValue {
  if (typeof v === 'string') {
    let out = v;
    for (const k of ['to', 'text', 'id'] as const) out = out.split(`{${k}}`).join(vars[k]);
    return out;
  }
  if (Array.isArray(v)) return v.map((x) => fillJson(x, vars));
  if (v !== null && typeof v === 'object') {
    const o: { [key: string]: JsonValue } = {};
    for (const [k, x] of Object.entries(v)) o[k] = fillJson(x, vars);
    return o;
  }
  return v;
}

/**
 * SMS through a generic HTTP gateway: a JSON POST of the configured body. 2xx is accepted; 408,
 * 429 and 5xx (and no answer) are tried again; any other 4xx is permanent (the gateway refuses
 * that message, trying again will not change it).
 */
export class SmsSender implements NotificationSender {
  readonly channel = 'sms';
  readonly #c: SmsConfig;

  constructor(c: SmsConfig) {
    this.#c = c;
  }

  async send(n: Notification): Promise<SendResult> {
    const body = JSON.stringify(fillJson(this.#c.body, { to: n.recipient, text: n.body, id: n.id }));
    try {
      const res = await fetch(this.#c.url, {
        method: 'POST', body, signal: AbortSignal.timeout(this.#c.timeoutMs),
        headers: { 'content-type': 'application/json', 'idempotency-key': n.id, ...(this.#c.token !== null ? { authorization: `Bearer ${this.#c.token}` } : {}) },
      });
      // The answer's body is not needed; reading it frees the connection.
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { ok: true };
      const permanent = res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429;
      return { ok: false, permanent, error: `gateway answered ${res.status}` };
    } catch (err) {
      return { ok: false, permanent: false, error: errorText(err) };
    }
  }

  close(): void {}
}

/** Delay before attempt `attempts + 1` after `attempts` failed ones: base·2^(attempts−1), capped, less up to 20% at random (spreads an outage's retries). */
export function notifyBackoff(r: NotifyRetry, attempts: number, random: number): number {
  const exp = Math.min(r.maxDelayMs, r.baseDelayMs * Math.pow(2, Math.max(0, attempts - 1)));
  return Math.max(0, Math.round(exp * (1 - 0.2 * random)));
}

/** Options of {@link NotificationWorker}. */
export interface NotificationWorkerOptions {
  retry: NotifyRetry;
  pollMs: number;
  /** Notifications read per run. Default 50. */
  batch?: number;
  /** Deliveries in flight at once (different orders). Default 4. */
  concurrency?: number;
  now?: () => number;
  random?: () => number;
  log?: { warn(obj: object, msg: string): void };
}

/** Counts of one run. */
export interface RunCounts {
  sent: number;
  retried: number;
  failed: number;
}

/** The delivery loop; see the module comment. */
export class NotificationWorker {
  readonly #store: ShopStore;
  readonly #senders: ReadonlyMap<NotificationChannel, NotificationSender>;
  readonly #o: Required<Omit<NotificationWorkerOptions, 'log'>> & Pick<NotificationWorkerOptions, 'log'>;
  #running = false;
  #loop: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #kicked = false;
  #timer: NodeJS.Timeout | undefined;
  /** Delivered since start, by channel (for the log and tests). */
  readonly sentCount: Record<NotificationChannel, number> = { email: 0, sms: 0 };

  constructor(store: ShopStore, senders: readonly NotificationSender[], o: NotificationWorkerOptions) {
    this.#store = store;
    this.#senders = new Map(senders.map((s) => [s.channel, s]));
    this.#o = { batch: 50, concurrency: 4, now: Date.now, random: Math.random, ...o };
  }

  /** Start the loop (idempotent). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#loop = this.#run();
  }

  /** New notifications were written: look now rather than at the next poll. */
  kick(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  /** Stop after the delivery in progress; the senders are closed. Idempotent. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#wake?.();
    await this.#loop;
    this.#loop = undefined;
    for (const s of this.#senders.values()) s.close();
  }

  async #run(): Promise<void> {
    while (this.#running) {
      let counts: RunCounts = { sent: 0, retried: 0, failed: 0 };
      try {
        this.#kicked = false;
        counts = await this.runOnce();
      } catch (err) {
        // The database is away (a PostgreSQL restart): the rows are safe, the next poll tries again.
        this.#o.log?.warn({ err }, 'shop notifications: a delivery run failed');
      }
      const busy = counts.sent + counts.retried + counts.failed >= this.#o.batch;
      if (!this.#running || busy || this.#kicked) continue;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#timer = setTimeout(resolve, this.#o.pollMs);
      });
      clearTimeout(this.#timer);
      this.#wake = undefined;
    }
  }

  /** One run: deliver what is due now (tests call it directly). */
  async runOnce(): Promise<RunCounts> {
    const due = await this.#store.dueNotifications(this.#o.now(), this.#o.batch);
    const counts: RunCounts = { sent: 0, retried: 0, failed: 0 };
    let next = 0;
    // At most one notification per order and channel is due at a time, so these run in parallel without reordering.
    const lane = async (): Promise<void> => {
      for (let i = next++; i < due.length; i = next++) await this.#deliver(due[i]!, counts);
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, due.length) }, lane));
    return counts;
  }

  async #deliver(n: Notification, counts: RunCounts): Promise<void> {
    const sender = this.#senders.get(n.channel);
    const r: SendResult = sender === undefined ? { ok: false, permanent: false, error: `${n.channel} is not configured` } : await sender.send(n);
    const now = this.#o.now();
    if (r.ok) {
      await this.#store.markNotificationSent(n.id, now);
      this.sentCount[n.channel]++;
      counts.sent++;
      return;
    }
    const attempts = n.attempts + 1;
    const dead = r.permanent || attempts >= this.#o.retry.maxAttempts;
    await this.#store.markNotificationFailed(n.id, attempts, dead ? null : now + notifyBackoff(this.#o.retry, attempts, this.#o.random()), r.error);
    if (dead) {
      counts.failed++;
      this.#o.log?.warn({ notification: n.id, order: n.orderId, channel: n.channel, attempts, error: r.error }, 'shop notification failed for good');
    } else counts.retried++;
  }
}
