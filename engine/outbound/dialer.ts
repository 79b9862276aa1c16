/**
 * The SIP client that dials customers through carrier trunks (contract D1). One {@link OutboundDialer}
 * per engine, on the engine's user agent; each {@link OutboundDialer.dial} is one call to one
 * customer, tried on the trunks in order until one takes it.
 *
 * ```
 *   dial ─▶ number plausible? ─no─▶ onFailed invalid_number
 *            │ yes
 *            ▼
 *   ┌─▶ next trunk with room (maxConcurrent, callsPerSecond) ─none─▶ onFailed trunk_error
 *   │        │ INVITE (our SDP, digest answered by the UA), ring timer
 *   │        ▼
 *   │   1xx ──▶ onProgress (180/183, early-media SDP)
 *   │   ring timer ──▶ CANCEL ──▶ 487 ──▶ no_answer
 *   │   2xx ──▶ ACK (UA) ──▶ onAnswered ──▶ BYE either way ──▶ onEnded
 *   │   3xx-6xx / timeout / transport ──▶ dialResultOf
 *   └──────── trunk_error (5xx, no response, transport) ◀─┘   others ──▶ onFailed
 * ```
 *
 * Rules that hold on every path (tested in dialer.test.ts):
 * - exactly one of `onFailed`, or `onAnswered` then exactly one `onEnded`;
 * - no event fires inside a call of `dial()` or `hangup()` (a failure known at once is delivered
 *   on the next microtask), so a caller may keep the returned handle before hearing of it;
 * - a trunk's call slot is held from its INVITE until that INVITE is over (final response,
 *   transaction failure, or the BYE of its dialog), and given back exactly once;
 * - nothing throws out of `dial()` or `hangup()`; an event handler that throws is logged.
 */
import type {
  Clock, Dialog, DialogDelegate, Endpoint, IncomingRequest, OutgoingInvite, OutgoingInviteDelegate, SipResponse, TimerHandle, TransportName,
  UserAgent,
} from '../sip/index.ts';
import { LogRateLimit } from '../sip/index.ts';
import type { OutboundSettings, OutboundTrunkSettings } from '../config/index.ts';
import { parseTrunkAddress } from './address.ts';
import { dialNumberOf } from './numbering.ts';
import { TrunkPool, type TrunkUtilisation } from './pool.ts';
import { dialResultOf, triesNextTrunk, type DialResult } from './result.ts';

/** One call to a customer. */
export interface DialRequest {
  /** The customer's number as stored (caller number of the inbound call). Normalised by `numbering`. */
  number: string;
  /** Number presented to the customer (the task's dialled number: they see the number they called); null = trunk callerId. */
  callerId: string | null;
  /** Our SDP offer (the media leg the customer will talk to). */
  sdp: Buffer;
  /** onair call id of this attempt (sent as X-Onair-Call-ID, used in logs). */
  callId: string;
  /** Overrides the trunk's ringTimeoutSeconds (ms). */
  ringTimeoutMs?: number;
}

/** How a dial failed. */
export interface DialFailure {
  result: Exclude<DialResult, 'answered'>;
  /** The final SIP status; null for a timeout, a transport failure, no trunk free, a refused number, our hang-up. */
  status: number | null;
  /** The last trunk tried; null when none was (number refused, no trunk free). */
  trunk: string | null;
}

/** How an answered call ended: the customer's BYE, our `hangup()`, or a session timer that ran out. */
export type DialEndedBy = 'remote' | 'local' | 'expired';

/** What the dialer tells the layer above; one consumer per call. */
export interface DialEvents {
  /** 180/183 received; `sdp` when the provisional carried one (early media to relay). */
  onProgress?(status: number, sdp: Buffer | null): void;
  /** 2xx: the dialog is established (the client sent the ACK). */
  onAnswered(answer: { dialog: Dialog; sdp: Buffer | null; trunk: string }): void;
  /** Final failure after failover; `status` null for timeout/transport/no trunk free. */
  onFailed(failure: DialFailure): void;
  /** The answered call ended (after `onAnswered`, once). */
  onEnded?(by: DialEndedBy): void;
  /** A re-INVITE/UPDATE from the customer; absent: the UA answers 200 with our SDP. */
  onReinvite?(dialog: Dialog, request: IncomingRequest): void;
  /** INFO, OPTIONS... in the dialog; absent: the UA's defaults. */
  onRequest?(dialog: Dialog, request: IncomingRequest): void;
}

/** A call placed by {@link OutboundDialer.dial}. */
export interface OutboundCall {
  /** CANCEL while ringing (→ onFailed 'cancelled'), BYE once answered (→ onEnded 'local'). Idempotent. */
  hangup(): void;
}

/** Counts kept for `/metrics` (engine/api Metrics implements it). */
export interface OutboundMetrics {
  /** One INVITE on `trunk` ended with `result`; `trunk` '' for a call no trunk had room for. */
  outboundCall(trunk: string, result: DialResult): void;
}

/** A pino-compatible logger. */
export interface OutboundLogger {
  debug(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** What an {@link OutboundDialer} needs. */
export interface OutboundDialerDeps {
  ua: UserAgent;
  config: OutboundSettings;
  /** Monotonic: ring timers and the calls-per-second buckets. */
  clock: Clock;
  log: OutboundLogger;
  metrics?: OutboundMetrics;
}

/** A configured trunk, resolved once. */
interface Trunk {
  readonly id: string;
  readonly destination: Endpoint;
  readonly domain: string;
  readonly callerId: string;
  readonly credentials: { username: string; password: string } | undefined;
  readonly ringMs: number;
}

/** The phases of one dial; failover keeps `trying`. */
type DialPhase = 'trying' | 'answered' | 'ended';

/** Legal next phases (CONVENTIONS.md 17). */
const DIAL_NEXT: Readonly<Record<DialPhase, readonly DialPhase[]>> = {
  trying: ['answered', 'ended'],
  answered: ['ended'],
  ended: [],
};

/** One INVITE on one trunk. */
class Leg {
  invite: OutgoingInvite | undefined = undefined;
  timer: TimerHandle | undefined = undefined;
  /** Any response (100 included) came back: the trunk is alive. */
  heard = false;
  /** The ring timer fired and the INVITE was cancelled. */
  timedOut = false;
  /** The INVITE (and its dialog, if answered) is over and the slot given back. */
  released = false;
  constructor(readonly trunk: Trunk) {}
}

/** The dialer: trunks, their limits, and the calls in progress. */
export class OutboundDialer {
  private readonly ua: UserAgent;
  private readonly clock: Clock;
  private readonly log: OutboundLogger;
  private readonly metrics: OutboundMetrics | undefined;
  private readonly numbering: OutboundSettings['numbering'];
  private readonly trunks = new Map<string, Trunk>();
  private readonly pool: TrunkPool;
  private readonly trunkErrors: LogRateLimit;

  constructor(deps: OutboundDialerDeps) {
    this.ua = deps.ua;
    this.clock = deps.clock;
    this.log = deps.log;
    this.metrics = deps.metrics;
    this.numbering = deps.config.numbering;
    this.trunkErrors = new LogRateLimit(() => deps.clock.now());
    const usable: OutboundTrunkSettings[] = [];
    for (const t of deps.config.trunks) {
      const trunk = resolveTrunk(t);
      if (trunk === undefined) {
        // The schema refuses such an address; a configuration built in code may not have passed it.
        this.log.error({ trunk: t.id, code: 'OUTBOUND_ERR_BAD_ADDRESS', address: t.address }, 'outbound trunk address unusable; the trunk is left out');
        continue;
      }
      this.trunks.set(trunk.id, trunk);
      usable.push(t);
    }
    this.pool = new TrunkPool(usable, () => deps.clock.now());
  }

  /** Never throws; a request with no trunk free within limits fails at once with trunk_error (status null). */
  dial(req: DialRequest, events: DialEvents): OutboundCall {
    const call = new Dial(this, req, events);
    try {
      const n = dialNumberOf(req.number, this.numbering);
      if (!n.ok) {
        this.log.debug({ callId: req.callId, code: n.code, reason: n.reason }, 'customer number refused');
        call.fail({ result: 'invalid_number', status: null, trunk: null }, true);
      } else {
        call.start(n.number);
      }
    } catch (err) {
      this.log.error({ err, callId: req.callId }, 'dial failed');
      call.abort(true);
    }
    return call;
  }

  /** Per trunk: calls in progress and the limit (for metrics and the API). */
  utilisation(): ReadonlyArray<TrunkUtilisation> {
    return this.pool.utilisation();
  }

  // ---- used by Dial ------------------------------------------------------------------------

  /** @internal */
  acquire(tried: ReadonlySet<string>): Trunk | undefined {
    const id = this.pool.acquire(tried);
    return id === undefined ? undefined : this.trunks.get(id);
  }

  /** @internal Give back a leg's slot, once, and count its result. */
  release(leg: Leg, result: DialResult | null): void {
    if (leg.released) return;
    leg.released = true;
    if (leg.timer !== undefined) this.clock.clearTimer(leg.timer);
    leg.timer = undefined;
    this.pool.release(leg.trunk.id);
    if (result !== null) this.count(leg.trunk.id, result);
  }

  /** @internal */
  count(trunk: string, result: DialResult): void {
    this.metrics?.outboundCall(trunk, result);
  }

  /** @internal */
  send(leg: Leg, number: string, req: DialRequest, delegate: OutgoingInviteDelegate, dialogDelegate: DialogDelegate): OutgoingInvite {
    const t = leg.trunk;
    const callerId = presentable(req.callerId) ? req.callerId : t.callerId;
    return this.ua.invite({
      target: `sip:${number}@${t.domain}`,
      destination: t.destination,
      from: `<sip:${callerId}@${t.domain}>`,
      to: `<sip:${number}@${t.domain}>`,
      body: req.sdp,
      contentType: 'application/sdp',
      headers: [{ name: 'X-Onair-Call-ID', value: headerSafe(req.callId) }],
      ...(t.credentials ? { credentials: t.credentials } : {}),
      delegate,
      dialogDelegate,
    });
  }

  /** @internal */
  armRing(leg: Leg, ms: number, fire: () => void): void {
    leg.timer = this.clock.setTimer(ms, fire);
  }

  /** @internal */
  clearRing(leg: Leg): void {
    if (leg.timer !== undefined) this.clock.clearTimer(leg.timer);
    leg.timer = undefined;
  }

  /** @internal */
  bye(dialog: Dialog): void {
    void this.ua.bye(dialog).catch((err: unknown) => this.log.error({ err }, 'BYE to the customer failed'));
  }

  /** @internal A trunk failed one call: logged, rate-limited (a dead carrier fails every call). */
  trunkFailed(leg: Leg, callId: string, status: number | null): void {
    const held = this.trunkErrors.take();
    if (held !== undefined) this.log.warn({ trunk: leg.trunk.id, callId, status, heard: leg.heard, held }, 'outbound trunk error; trying the next trunk');
  }

  /** @internal */
  safely(callId: string, what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err, callId }, `dial event handler ${what} threw`);
    }
  }
}

/** One customer call: its phase, its current leg, the trunks tried. */
class Dial implements OutboundCall {
  private phase: DialPhase = 'trying';
  private cancelled = false;
  private readonly tried = new Set<string>();
  private leg: Leg | undefined = undefined;
  private dialog: Dialog | undefined = undefined;
  private number = '';

  constructor(
    private readonly d: OutboundDialer,
    private readonly req: DialRequest,
    private readonly events: DialEvents,
  ) {}

  start(number: string): void {
    this.number = number;
    this.next(null, true);
  }

  hangup(): void {
    try {
      if (this.phase === 'trying') {
        this.cancelled = true;
        const leg = this.leg;
        if (leg !== undefined) {
          this.d.clearRing(leg);
          leg.invite?.cancel();
        }
        this.fail({ result: 'cancelled', status: null, trunk: leg?.trunk.id ?? null }, true);
      } else if (this.phase === 'answered') {
        this.to('ended');
        if (this.dialog !== undefined) this.d.bye(this.dialog);
        if (this.leg !== undefined) this.d.release(this.leg, null);
        this.deliver(true, 'onEnded', () => this.events.onEnded?.('local'));
      }
    } catch (err) {
      this.d.safely(this.req.callId, 'hangup', () => { throw err; });
    }
  }

  /** Report a failure (once) and end. */
  fail(f: DialFailure, defer: boolean): void {
    if (this.phase === 'ended') return;
    this.to('ended');
    this.deliver(defer, 'onFailed', () => this.events.onFailed(f));
  }

  /** A bug reached dial(): give back what is held and fail the call. */
  abort(defer: boolean): void {
    const leg = this.leg;
    if (leg !== undefined && !leg.released) {
      this.cancelled = true;
      leg.invite?.cancel();
    }
    this.fail({ result: 'trunk_error', status: null, trunk: leg?.trunk.id ?? null }, defer);
  }

  private to(next: DialPhase): void {
    if (!DIAL_NEXT[this.phase].includes(next)) throw new RangeError(`OUTBOUND: dial phase ${this.phase} → ${next}`);
    this.phase = next;
  }

  private deliver(defer: boolean, what: string, fn: () => void): void {
    if (defer) queueMicrotask(() => this.d.safely(this.req.callId, what, fn));
    else this.d.safely(this.req.callId, what, fn);
  }

  /** INVITE on the next trunk with room; when none, fail with what the last one said. */
  private next(last: { status: number | null; trunk: string } | null, defer: boolean): void {
    const trunk = this.d.acquire(this.tried);
    if (trunk === undefined) {
      if (last === null) this.d.count('', 'trunk_error');
      this.fail({ result: 'trunk_error', status: last?.status ?? null, trunk: last?.trunk ?? null }, defer);
      return;
    }
    this.tried.add(trunk.id);
    const leg = new Leg(trunk);
    this.leg = leg;
    let invite: OutgoingInvite;
    try {
      invite = this.d.send(leg, this.number, this.req, this.inviteDelegate(leg), this.dialogDelegate(leg));
    } catch (err) {
      // No listener for the trunk's transport, an unusable target: this trunk cannot be used.
      this.d.safely(this.req.callId, 'send', () => { throw err; });
      this.legOver(leg, 'trunk_error', null, defer);
      return;
    }
    if (leg.released) return; // the transport failed the INVITE before invite() returned
    leg.invite = invite;
    const ms = this.req.ringTimeoutMs !== undefined && Number.isFinite(this.req.ringTimeoutMs) && this.req.ringTimeoutMs > 0 ? this.req.ringTimeoutMs : trunk.ringMs;
    this.d.armRing(leg, ms, () => {
      leg.timer = undefined;
      leg.timedOut = true;
      leg.invite?.cancel();
    });
  }

  /** The INVITE of `leg` is over without a dialog: slot back, result counted, next trunk or the end. */
  private legOver(leg: Leg, result: DialResult, status: number | null, defer: boolean): void {
    if (leg.released) return;
    const counted = this.cancelled ? 'cancelled' : result;
    this.d.release(leg, counted);
    if (this.cancelled || this.phase !== 'trying' || leg !== this.leg) return;
    if (triesNextTrunk(result)) {
      this.d.trunkFailed(leg, this.req.callId, status);
      this.next({ status, trunk: leg.trunk.id }, defer);
      return;
    }
    this.fail({ result: result as Exclude<DialResult, 'answered'>, status, trunk: leg.trunk.id }, defer);
  }

  private inviteDelegate(leg: Leg): OutgoingInviteDelegate {
    return {
      onProgress: (response: SipResponse) => {
        leg.heard = true;
        if (leg.released || this.cancelled || leg !== this.leg || response.status === 100) return;
        const sdp = response.body.length > 0 ? response.body : null;
        this.deliver(false, 'onProgress', () => this.events.onProgress?.(response.status, sdp));
      },
      onAccept: (dialog: Dialog, response: SipResponse) => {
        leg.heard = true;
        this.d.clearRing(leg);
        if (leg.released || this.cancelled || this.phase !== 'trying' || leg !== this.leg) {
          // Answered after our CANCEL (the race of §9.1): hang up what we no longer want.
          this.d.bye(dialog);
          this.d.release(leg, 'cancelled');
          return;
        }
        this.to('answered');
        this.dialog = dialog;
        this.d.count(leg.trunk.id, 'answered');
        const sdp = response.body.length > 0 ? response.body : null;
        this.deliver(false, 'onAnswered', () => this.events.onAnswered({ dialog, sdp, trunk: leg.trunk.id }));
      },
      onReject: (response: SipResponse) => {
        leg.heard = true;
        this.d.clearRing(leg);
        this.legOver(leg, dialResultOf(response.status), response.status, false);
      },
      onFailure: (reason: 'timeout' | 'transport') => {
        this.d.clearRing(leg);
        // A timeout after a provisional is a call that rang and was never answered (our CANCEL, or
        // the stack's own 180 s guard, got no final); a timeout with nothing heard is a dead trunk.
        const result: DialResult = reason === 'timeout' && leg.heard ? 'no_answer' : dialResultOf(reason);
        this.legOver(leg, result, null, false);
      },
    };
  }

  private dialogDelegate(leg: Leg): DialogDelegate {
    const ended = (dialog: Dialog, by: DialEndedBy): void => {
      if (dialog !== this.dialog || this.phase !== 'answered') return;
      this.to('ended');
      this.d.release(leg, null);
      this.deliver(false, 'onEnded', () => this.events.onEnded?.(by));
    };
    const delegate: DialogDelegate = {
      onBye: (dialog) => ended(dialog, 'remote'),
      onTerminated: (dialog) => ended(dialog, 'expired'),
    };
    const { onReinvite, onRequest } = this.events;
    if (onReinvite) delegate.onReinvite = (dialog, request) => this.deliver(false, 'onReinvite', () => onReinvite.call(this.events, dialog, request));
    if (onRequest) delegate.onRequest = (dialog, request) => this.deliver(false, 'onRequest', () => onRequest.call(this.events, dialog, request));
    return delegate;
  }
}

/** The trunk as the dialer uses it, or undefined when its address is unusable. */
function resolveTrunk(t: OutboundTrunkSettings): Trunk | undefined {
  const a = parseTrunkAddress(t.address);
  if (a === undefined) return undefined;
  const transport = t.transport.toUpperCase() as TransportName;
  return {
    id: t.id,
    destination: { transport, address: a.address, port: a.port ?? (transport === 'TLS' ? 5061 : 5060) },
    domain: t.domain ?? a.host,
    callerId: t.callerId,
    credentials: t.username !== null && t.password !== null ? { username: t.username, password: t.password } : undefined,
    ringMs: t.ringTimeoutSeconds * 1000,
  };
}

/** A caller id we may put in a From user part: 1-20 digits, `+` allowed first. */
function presentable(n: string | null): n is string {
  if (n === null || n.length === 0 || n.length > 21) return false;
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) continue;
    if (c === 0x2b && i === 0 && n.length > 1) continue;
    return false;
  }
  return true;
}

/** A header value without control characters (a call id is ours, but a header must never break). */
function headerSafe(v: string): string {
  let out = '';
  for (let i = 0; i < v.length && out.length < 128; i++) {
    const c = v.charCodeAt(i);
    if (c > 0x20 && c < 0x7f) out += v[i];
  }
  return out === '' ? '-' : out;
}
