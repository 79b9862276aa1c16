/**
 * What the four transaction state machines of RFC 3261 §17 share: timer values, the context a
 * transaction runs in, the base class with its two timer slots, and the RFC 3261 §18.2 rules for
 * where a response goes (the packet source, `rport`: RFC 3581).
 *
 * ```
 *   TU (dialogs, UA core)      onRequest / onCancel / onAckFor2xx      ClientTransactionUser
 *            ^                                                          onResponse/onTimeout
 *            |                                                                   ^
 *   TransactionLayer ---- ICT / NICT (client)  ---- IST / NIST (server) ---------+
 *            |  matching §17.1.3 / §17.2.3, CANCEL §9, limits
 *            v
 *   TransportSender.send(message, endpoint)
 * ```
 */
import type { Clock, Endpoint, Inbound, TimerHandle, TimerValues, TransportName, TransportSender } from './contracts.ts';
import type { SipMessage, SipRequest, Via } from './message.ts';
import { formatVia } from './headers.ts';

/** States of every machine in one union; each class narrows it (RFC 3261 figures 5-8, RFC 6026). */
export type TransactionState =
  | 'calling' | 'trying' | 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated';

/** Which of the four machines: INVITE/non-INVITE, client/server. */
export type TransactionKind = 'ict' | 'nict' | 'ist' | 'nist';

/** Every timer value a transaction uses, in ms, resolved once from {@link TimerValues}. */
export interface ResolvedTimers {
  T1: number;
  T2: number;
  T4: number;
  /** 64*T1: timers B, F, H, J (unreliable), L, M and the CANCEL give-up of §9.1. */
  T64: number;
  /** Timer D for unreliable transports (RFC 3261 table 4: at least 32 s). */
  D: number;
  /** §17.2.1: send 100 Trying when the TU has not answered an INVITE within this time. */
  trying: number;
  /** Give up (CANCEL) an INVITE that got a provisional but no final response for this long. */
  inviteProvisional: number;
}

/**
 * A copy of `s` that does not keep alive the string it was sliced from. Parsed values are slices
 * of the header value (or text) they came from, and a transaction outlives its messages by up to
 * 32 s (timers J, L, M): each value it held pinned 100-320 bytes more than itself (heap snapshot
 * at 300 calls/s: ~5 MB in ~28,000 pinned strings).
 */
export function own(s: string): string {
  // V8 flattens the concatenation into a new small string and slices that (~50 ns).
  return (' ' + s).slice(1);
}

/** Fill in the derived timers. */
export function resolveTimers(values: Partial<TimerValues> = {}): ResolvedTimers {
  const T1 = values.T1 ?? 500;
  return {
    T1,
    T2: values.T2 ?? 4000,
    T4: values.T4 ?? 5000,
    T64: 64 * T1,
    D: Math.max(32_000, 64 * T1),
    trying: 200,
    inviteProvisional: values.inviteProvisionalTimeout ?? 180_000,
  };
}

/** Why a server transaction ended without the TU's help. */
export type ServerFailure = 'timeout' | 'transport-error';

/**
 * What a transaction needs from the layer that owns it. The layer implements it; tests may too.
 * @internal
 */
export interface TransactionContext {
  readonly clock: Clock;
  readonly transport: TransportSender;
  readonly timers: ResolvedTimers;
  /** Remove a transaction that reached Terminated from the maps. */
  removed(tx: BaseTransaction): void;
}

/**
 * Common part of the four machines: identity, state and two timer slots. At most two timers run at
 * once in any RFC state (A+B, E+F, G+H; the rest run alone), so two fields replace a timer list:
 * `retransmit` holds A, E, G or the 100 Trying timer, `lifetime` holds B, D, F, H, I, J, K, L, M.
 */
export abstract class BaseTransaction {
  abstract readonly kind: TransactionKind;
  state: TransactionState;
  /** Method of the request that created the transaction. */
  readonly method: string;
  /** Top Via branch of the request (may lack the magic cookie on RFC 2543 server transactions). */
  readonly branch: string | undefined;
  /** Map key in the layer (see `clientKey` / `serverKey`). */
  readonly key: string;
  /** Where requests (client) or responses (server) of this transaction go. */
  readonly destination: Endpoint;
  /** True over TCP/TLS: no retransmissions, zero wait states. */
  readonly reliable: boolean;
  protected readonly ctx: TransactionContext;
  protected retransmitTimer: TimerHandle | undefined = undefined;
  protected lifetimeTimer: TimerHandle | undefined = undefined;
  /** Current retransmission interval of A, E or G. */
  protected interval = 0;

  protected constructor(ctx: TransactionContext, request: SipRequest, key: string, destination: Endpoint, initial: TransactionState) {
    this.ctx = ctx;
    this.method = request.method;
    const branch = request.headers.via[0]?.branch;
    this.branch = branch === undefined ? undefined : own(branch);
    // The key is built by concatenation from slices of the request's header text: kept as it is,
    // it would pin that whole text for the transaction's life (measured: ~500 bytes per
    // transaction, `npm run bench -- sip-tx-memory`).
    this.key = own(key);
    this.destination = { ...destination, address: own(destination.address) };
    this.reliable = ctx.transport.isReliable(destination.transport);
    this.state = initial;
  }

  /** The transport failed to deliver a message of this transaction (RFC 3261 §17.1.4, §17.2.4). */
  abstract transportError(): void;

  protected abstract onRetransmitTimer(): void;
  protected abstract onLifetimeTimer(): void;

  protected startRetransmit(ms: number): void {
    this.stopRetransmit();
    this.interval = ms;
    // A closure per armed timer, not two per transaction for its whole life: a completed
    // transaction waiting out timer J holds none.
    this.retransmitTimer = this.ctx.clock.setTimer(ms, () => {
      this.retransmitTimer = undefined;
      this.onRetransmitTimer();
    });
  }

  protected stopRetransmit(): void {
    if (this.retransmitTimer !== undefined) {
      this.ctx.clock.clearTimer(this.retransmitTimer);
      this.retransmitTimer = undefined;
    }
  }

  /** Start the state's lifetime timer; a zero wait (reliable transports) terminates at once. */
  protected startLifetime(ms: number): void {
    this.stopLifetime();
    if (ms <= 0) {
      this.terminate();
      return;
    }
    this.lifetimeTimer = this.ctx.clock.setTimer(ms, () => {
      this.lifetimeTimer = undefined;
      this.onLifetimeTimer();
    });
  }

  protected stopLifetime(): void {
    if (this.lifetimeTimer !== undefined) {
      this.ctx.clock.clearTimer(this.lifetimeTimer);
      this.lifetimeTimer = undefined;
    }
  }

  /** Enter Terminated: stop every timer and leave the layer's maps. Idempotent. */
  terminate(): void {
    if (this.state === 'terminated') return;
    this.state = 'terminated';
    this.stopRetransmit();
    this.stopLifetime();
    this.ctx.removed(this);
  }

  /** Send to this transaction's destination; returns the bytes sent (see {@link TransportSender.send}). */
  protected send(message: SipMessage): Buffer | undefined {
    return this.ctx.transport.send(message, this.destination);
  }
}

const DEFAULT_PORT = 5060;
const DEFAULT_TLS_PORT = 5061;

function transportOf(via: Via, fallback: TransportName): TransportName {
  const t = via.transport;
  return t === 'UDP' || t === 'TCP' || t === 'TLS' ? t : fallback;
}

function stripBrackets(host: string): string {
  return host.length > 1 && host.charCodeAt(0) === 0x5b && host.charCodeAt(host.length - 1) === 0x5d ? host.slice(1, -1) : host;
}

/**
 * Where a response goes (RFC 3261 §18.2.2, RFC 3581 §4), from the request's arrival and its top
 * Via:
 *
 * 1. over TCP/TLS, the connection the request came in on, while it is open;
 * 2. over UDP with `rport` in the Via, the address and port the request came from;
 * 3. otherwise the address the request came from, with the sent-by port (default 5060, 5061
 *    for TLS).
 *
 * The address is always the packet's source: §18.2.2 sends to `received`, which §18.2.1 sets to
 * the source whenever the sent-by differs from it, and when it does not differ the sent-by IS the
 * source. So the Via's host, a `received` the client wrote itself and `maddr` are never used: a
 * forged datagram cannot aim our answer at a third party or at a multicast group (onair speaks
 * no multicast), and a name in the sent-by needs no DNS. `inbound` also gives the transport for a
 * Via transport we do not speak (WS, SCTP).
 */
export function responseDestination(message: SipMessage, inbound: Inbound): Endpoint {
  const via = message.headers.via[0];
  const source = inbound.source;
  if (!via) return source;
  const transport = transportOf(via, source.transport);
  if (transport !== 'UDP' && source.connectionId !== undefined && source.transport === transport) {
    return source;
  }
  if (transport === 'UDP' && source.transport === 'UDP' && via.params.has('rport')) {
    return { transport, address: source.address, port: source.port };
  }
  return { transport, address: source.address, port: via.port ?? (transport === 'TLS' ? DEFAULT_TLS_PORT : DEFAULT_PORT) };
}

/**
 * Stamp the top Via of a received request (RFC 3261 §18.2.1, RFC 3581 §4): add `received` when the
 * sent-by host is not the packet's source address, and, when the client asked with `rport`, fill
 * it with the source port and always add `received`; a `received` or `rport` value the client
 * wrote is replaced by the real one. Returns true when the Via changed.
 *
 * ```
 *   Via: SIP/2.0/UDP 10.0.0.7:5060;rport;branch=z9hG4bK77      (from 203.0.113.9:40123)
 *   Via: SIP/2.0/UDP 10.0.0.7:5060;rport=40123;branch=z9hG4bK77;received=203.0.113.9
 * ```
 */
export function stampVia(request: SipRequest, source: Endpoint): boolean {
  const vias = request.headers.via;
  const top = vias[0];
  if (!top) return false;
  const rport = top.params.get('rport');
  // A bare `rport` asks for the source port (RFC 3581 §4); a value the client wrote itself is
  // replaced by the real one (the response goes to the real one anyway).
  const wantsRport = rport !== undefined && rport !== String(source.port);
  // Fast path first: the common case is a sent-by that is already the literal source address.
  const differs = top.host !== source.address &&
    stripBrackets(top.host).toLowerCase() !== source.address.toLowerCase();
  // A `received` is ours to write: one the client wrote that is not its source is replaced, so
  // that nobody reading the Via later (logs, the echo in our response) takes it for the truth.
  const received = top.params.get('received');
  const forged = received !== undefined && received !== source.address;
  if (!wantsRport && !differs && !forged) return false;
  const params = new Map(top.params);
  if (wantsRport) params.set('rport', String(source.port));
  params.set('received', source.address);
  const stamped: Via = { ...top, params };
  const values = request.headers.getAll('Via');
  values[0] = formatVia(stamped);
  request.headers.set('Via', values.join(', '));
  return true;
}
