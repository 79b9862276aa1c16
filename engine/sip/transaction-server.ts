/**
 * Server transactions (RFC 3261 §17.2): INVITE (IST, §17.2.1, with RFC 6026's Accepted state) and
 * non-INVITE (NIST, §17.2.2), plus the UAS core's 2xx retransmission (§13.3.1.4).
 *
 * ```
 *  IST       INVITE received; 100 Trying after 200 ms unless the TU answered
 *   Proceeding --2xx--> Accepted --L (64*T1)--> Terminated      (2xx retransmitted by the TU core)
 *       |  300-699: G=T1 (UDP), H=64*T1
 *       +------------> Completed --ACK--> Confirmed --I (T4 UDP, 0 TCP)--> Terminated
 *                        G: resend, G=min(2G,T2); H: Terminated, "no ACK" to the TU
 *
 *  NIST      request received
 *   Trying --1xx--> Proceeding --final--> Completed --J (64*T1 UDP, 0 TCP)--> Terminated
 *   retransmissions: Trying drops, Proceeding resends the last 1xx, Completed the final
 * ```
 */
import type { Clock, Endpoint, Inbound, TimerHandle, TransportSender } from './contracts.ts';
import type { SipRequest, SipResponse } from './message.ts';
import { createResponse } from './message.ts';
import { BaseTransaction, own, type ResolvedTimers, type ServerFailure, type TransactionContext, type TransactionState } from './transaction.ts';

/** Either server machine. */
export type ServerTransaction = InviteServerTransaction | NonInviteServerTransaction;

/**
 * What server transactions report upward besides the request itself.
 * @internal
 */
export interface ServerTransactionOwner {
  /** Timer H fired (no ACK), the NIST guard fired, or the transport failed. */
  serverFailed(tx: ServerTransaction, reason: ServerFailure): void;
  /** The TU sent the first final response: the transaction no longer counts against the limits. */
  answered(tx: ServerTransaction): void;
  /** An ACK matched an IST in Accepted (RFC 2543 matching): it belongs to the 2xx, i.e. the TU. */
  ackForAccepted(tx: InviteServerTransaction, ack: SipRequest, inbound: Inbound): void;
  /**
   * A NIST entered Completed over an unreliable transport: the owner runs its timer J (one timer
   * for all of them, see {@link TransactionLayer}) and calls {@link NonInviteServerTransaction.expire}
   * at `tx.expiresAt`, or earlier when it evicts it under a memory bound.
   */
  retain(tx: NonInviteServerTransaction): void;
  /**
   * An IST sent its final response: it waits out timer L in Accepted (a 2xx, RFC 6026 §7.1) or
   * timer H in Completed (300-699, §17.2.1), both 64*T1 for every IST, so the owner runs one
   * timer for all of them, as for J, and calls {@link InviteServerTransaction.expire} at
   * `tx.expiresAt`.
   */
  retainInvite(tx: InviteServerTransaction): void;
}

/**
 * State shared by both server machines. A transaction answered with a final response lives on
 * (IST 32 s in Accepted, NIST 32 s in Completed over UDP) only to absorb or answer retransmissions,
 * so from then on it keeps the serialized response and a few strings, not the parsed request and
 * response objects: at 1,000 calls/s that is tens of thousands of transactions (about 17 KB less
 * heap per answered INVITE + BYE pair, and far less garbage-collector work).
 */
abstract class ServerBase extends BaseTransaction {
  /** Where the request came from (the limits count per source address). */
  readonly source: Endpoint;
  protected readonly owner: ServerTransactionOwner;
  /** The request, until the final response; undefined afterwards (see above). */
  request: SipRequest | undefined;
  /** To tag of the request itself (RFC 2543 matching of requests other than ACK). */
  readonly requestToTag: string;
  /** To tag of the responses sent (the one the TU chose), or undefined before the first. */
  toTag: string | undefined = undefined;
  /** Status of the final response sent, 0 before it. */
  finalStatus = 0;
  /**
   * The response resent on request retransmissions (last provisional, then a non-2xx final over
   * UDP), as a latin1 string of its bytes: one flat heap object, where a Buffer costs a Buffer, an
   * ArrayBuffer and an off-heap backing store (~250 bytes more per transaction, measured), or pins
   * a whole 8 KB pool slab when it is a slice of one. Retransmissions are rare: a Buffer is made
   * again for each.
   */
  protected resend: string | undefined = undefined;
  /** @internal Counted against the transaction layer's limits (admitted, not yet answered). */
  counted = false;
  /**
   * When the owner's timer (J of a NIST in Completed over UDP; L or H of an answered IST) ends the
   * transaction (clock ms), 0 before. The owner keeps one timer for all of them (see
   * {@link ServerTransactionOwner.retain}), not one Node timer and closure per transaction.
   */
  expiresAt = 0;

  protected constructor(ctx: TransactionContext, owner: ServerTransactionOwner, inbound: Inbound, key: string, destination: Endpoint, initial: TransactionState) {
    const request = inbound.message as SipRequest;
    super(ctx, request, key, destination, initial);
    const from = inbound.source;
    const to = this.destination;
    // Over UDP with rport (the usual case) the answer goes where the request came from: one
    // object for both saves ~80 bytes per transaction.
    this.source = from.transport === to.transport && from.address === to.address && from.port === to.port &&
      from.connectionId === to.connectionId ? to : from;
    this.owner = owner;
    this.request = request;
    this.requestToTag = own(request.headers.to.params.get('tag') ?? '');
  }

  /** True once a final response went out. */
  get answered(): boolean {
    return this.finalStatus !== 0;
  }

  /** This transaction as the public union (each subclass is one member). */
  protected abstract self(): ServerTransaction;

  /** Send a provisional response and keep its bytes for request retransmissions. */
  protected sendProvisional(response: SipResponse): void {
    this.noteTag(response);
    this.resend = this.send(response)?.toString('latin1');
  }

  /**
   * Send the final response, then let go of the parsed messages. `keep`: the transaction resends
   * it on request retransmissions (not an IST's 2xx: that is the TU core's job, §13.3.1.4).
   */
  protected sendFinal(response: SipResponse, keep: boolean): Buffer | undefined {
    this.noteTag(response);
    this.finalStatus = response.status;
    const bytes = this.send(response);
    this.resend = keep && bytes ? bytes.toString('latin1') : undefined;
    this.request = undefined;
    return bytes;
  }

  private noteTag(response: SipResponse): void {
    const tag = response.headers.to.params.get('tag');
    if (tag && tag !== this.toTag) this.toTag = own(tag);
  }

  /** Resend the kept response bytes, if any. */
  protected resendLast(): void {
    if (this.resend !== undefined) this.ctx.transport.sendBytes(Buffer.from(this.resend, 'latin1'), this.destination);
  }

  transportError(): void {
    if (this.state === 'terminated') return;
    // §17.2.4: inform the TU of the failure and end the transaction.
    this.terminate();
    this.owner.serverFailed(this.self(), 'transport-error');
  }
}

/** INVITE server transaction (RFC 3261 §17.2.1, RFC 6026 §7.1). */
export class InviteServerTransaction extends ServerBase {
  readonly kind = 'ist' as const;
  declare state: Extract<TransactionState, 'proceeding' | 'completed' | 'confirmed' | 'accepted' | 'terminated'>;
  /**
   * Bytes of the 2xx just sent, until the TU core's retransmitter takes them
   * ({@link takeSuccessBytes}): it resends these instead of keeping the parsed response.
   */
  private successBytes: Buffer | undefined = undefined;

  constructor(ctx: TransactionContext, owner: ServerTransactionOwner, inbound: Inbound, key: string, destination: Endpoint) {
    super(ctx, owner, inbound, key, destination, 'proceeding');
    // §17.2.1: 100 Trying unless the TU sends something within 200 ms.
    this.startRetransmit(ctx.timers.trying);
  }

  protected self(): ServerTransaction {
    return this;
  }

  /** The bytes of the last 2xx sent, once (the next call returns undefined until another 2xx). */
  takeSuccessBytes(): Buffer | undefined {
    const bytes = this.successBytes;
    this.successBytes = undefined;
    return bytes;
  }

  /**
   * Send a response from the TU. Returns false (and sends nothing) when the state does not allow
   * it, e.g. a second final response.
   */
  respond(response: SipResponse): boolean {
    const status = response.status;
    if (this.state === 'proceeding') {
      this.stopRetransmit(); // the 100 Trying timer
      if (status < 200) {
        this.sendProvisional(response);
      } else if (status < 300) {
        // RFC 6026 §7.1: 2xx → Accepted with timer L (the owner's); the TU core retransmits the 2xx.
        this.state = 'accepted';
        this.successBytes = this.sendFinal(response, false);
        this.owner.answered(this);
        this.retainFor(this.ctx.timers.T64);
      } else {
        // §17.2.1: 300-699 → Completed; G (UDP) retransmits, H (the owner's) waits for the ACK.
        this.state = 'completed';
        this.sendFinal(response, true);
        if (!this.reliable) this.startRetransmit(this.ctx.timers.T1);
        this.owner.answered(this);
        this.retainFor(this.ctx.timers.T64);
      }
      return true;
    }
    if (this.state === 'accepted' && status >= 200 && status < 300) {
      // RFC 6026 §7.1: 2xx retransmissions from the TU pass through in Accepted.
      this.successBytes = this.send(response);
      return true;
    }
    return false;
  }

  /** A retransmission of the INVITE (same transaction). */
  receiveRetransmission(): void {
    // §17.2.1: Proceeding resends the most recent provisional response, Completed the final.
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
    // Accepted (RFC 6026 §7.1) and Confirmed absorb it.
  }

  /** An ACK matched to this transaction. */
  receiveAck(ack: SipRequest, inbound: Inbound): void {
    if (this.state === 'completed') {
      // §17.2.1: ACK → Confirmed; G stops, I absorbs ACK retransmissions.
      this.state = 'confirmed';
      this.stopRetransmit();
      this.startLifetime(this.reliable ? 0 : this.ctx.timers.T4);
    } else if (this.state === 'accepted') {
      this.owner.ackForAccepted(this, ack, inbound);
    }
  }

  protected onRetransmitTimer(): void {
    if (this.state === 'proceeding') {
      // §17.2.1: the TU was silent for 200 ms.
      if (this.request) this.sendProvisional(createResponse(this.request, 100));
    } else if (this.state === 'completed') {
      // §17.2.1 timer G.
      this.resendLast();
      this.startRetransmit(Math.min(this.interval * 2, this.ctx.timers.T2));
    }
  }

  /** L or H is due at `ms` from now: the owner's timer (see {@link ServerTransactionOwner.retainInvite}). */
  private retainFor(ms: number): void {
    this.expiresAt = this.ctx.clock.now() + ms;
    this.owner.retainInvite(this);
  }

  /**
   * The owner's timer for this transaction fired: timer L in Accepted ends it quietly (RFC 6026
   * §7.1); timer H in Completed means no ACK came (§17.2.1), which the TU hears. In Confirmed
   * (the ACK came) timer I ends it instead, so nothing happens here.
   */
  expire(): void {
    const state = this.state;
    if (state !== 'accepted' && state !== 'completed') return;
    this.terminate();
    if (state === 'completed') this.owner.serverFailed(this, 'timeout');
  }

  protected onLifetimeTimer(): void {
    // Timer I (Confirmed): the only lifetime timer an IST runs itself; it ends quietly.
    this.terminate();
  }
}

/** Non-INVITE server transaction (RFC 3261 §17.2.2). */
export class NonInviteServerTransaction extends ServerBase {
  readonly kind = 'nist' as const;
  declare state: Extract<TransactionState, 'trying' | 'proceeding' | 'completed' | 'terminated'>;

  constructor(ctx: TransactionContext, owner: ServerTransactionOwner, inbound: Inbound, key: string, destination: Endpoint) {
    super(ctx, owner, inbound, key, destination, 'trying');
    // Not in the RFC: a TU that never answers must not pin the transaction forever. After 64*T1
    // the client's timer F has fired, so nobody waits for an answer any more.
    this.startLifetime(ctx.timers.T64);
  }

  protected self(): ServerTransaction {
    return this;
  }

  /** Send a response from the TU; false when the state does not allow it. */
  respond(response: SipResponse): boolean {
    if (this.state === 'completed' || this.state === 'terminated') return false;
    if (response.status < 200) {
      // §17.2.2: Trying → Proceeding on a provisional.
      this.state = 'proceeding';
      this.sendProvisional(response);
      return true;
    }
    // §17.2.2: final → Completed with timer J (0 on reliable transports).
    this.state = 'completed';
    this.sendFinal(response, !this.reliable);
    this.owner.answered(this);
    if (this.reliable) {
      this.terminate();
    } else {
      this.stopLifetime(); // the guard below; J is the owner's
      this.expiresAt = this.ctx.clock.now() + this.ctx.timers.T64;
      this.owner.retain(this);
    }
    return true;
  }

  /** Timer J fired (or the owner evicted this transaction early): Terminated, quietly. */
  expire(): void {
    if (this.state === 'completed') this.terminate();
  }

  /** A retransmission of the request. */
  receiveRetransmission(): void {
    // §17.2.2: Trying discards; Proceeding resends the last provisional; Completed the final.
    if (this.state === 'proceeding' || this.state === 'completed') this.resendLast();
  }

  protected onRetransmitTimer(): void {
    // The NIST never retransmits on its own.
  }

  protected onLifetimeTimer(): void {
    const state = this.state;
    this.terminate();
    if (state !== 'completed') this.owner.serverFailed(this, 'timeout');
  }
}

/**
 * A 2xx being retransmitted, by what ties it to its dialog: Call-ID, CSeq number and both tags
 * (own copies, see {@link own}), and its status.
 */
export interface SuccessIdentity {
  readonly callId: string;
  readonly seq: number;
  readonly fromTag: string;
  readonly toTag: string;
  readonly status: number;
}

/** Told when a 2xx to INVITE got no ACK within 64*T1 (§13.3.1.4): the TU should send BYE. */
export interface SuccessRetransmitUser {
  onNoAck(success: SuccessIdentity): void;
}

/**
 * One 2xx waiting for its ACK. It lives up to 64*T1 = 32 s (a caller that never ACKs, a fuzzer),
 * so it keeps flat strings, not the parsed response: the bytes to resend as a latin1 string (one
 * heap object the size of the message; see `resend` of the server transactions) and its identity.
 * The parsed response with its header maps and SDP body, and the slices pinning the request text
 * it was built from, were ~5 KB more per entry.
 */
class PendingSuccess implements SuccessIdentity {
  readonly key: string;
  readonly callId: string;
  readonly seq: number;
  readonly fromTag: string;
  readonly toTag: string;
  readonly status: number;
  readonly resend: string | undefined;
  readonly to: Endpoint;
  readonly user: SuccessRetransmitUser;
  readonly deadline: number;
  interval: number;
  timer: TimerHandle = undefined;
  readonly fire: () => void;

  constructor(owner: SuccessResponseRetransmitter, response: SipResponse, bytes: Buffer | undefined, to: Endpoint, user: SuccessRetransmitUser, deadline: number, interval: number) {
    const h = response.headers;
    this.callId = own(h.callId);
    this.seq = h.cseq.seq;
    this.fromTag = own(tagOf(h.from.params));
    this.toTag = own(tagOf(h.to.params));
    this.key = own(successKey(this.callId, this.seq, this.fromTag, this.toTag));
    this.status = response.status;
    this.resend = bytes?.toString('latin1');
    this.to = to;
    this.user = user;
    this.deadline = deadline;
    this.interval = interval;
    this.fire = () => owner.fired(this);
  }
}

/** Call-ID, CSeq number and both tags: what ties an ACK to the 2xx it acknowledges. */
function successKey(callId: string, seq: number, fromTag: string, toTag: string): string {
  return `${callId}\u0000${seq}\u0000${fromTag}\u0000${toTag}`;
}

function tagOf(params: Map<string, string | null>): string {
  return params.get('tag') ?? '';
}

/**
 * The UAS core's retransmission of a 2xx to INVITE (RFC 3261 §13.3.1.4): resend at T1, 2*T1, ...
 * capped at T2, on every transport (a proxy downstream may be on UDP), until the ACK arrives
 * (matched by Call-ID, CSeq number and the dialog's tags) or 64*T1 passes, then report "no ACK".
 *
 * The first transmission is the IST's; this only retransmits, the same bytes.
 */
export class SuccessResponseRetransmitter {
  private readonly pending = new Map<string, PendingSuccess>();
  private readonly clock: Clock;
  private readonly transport: TransportSender;
  private readonly timers: ResolvedTimers;

  constructor(clock: Clock, transport: TransportSender, timers: ResolvedTimers) {
    this.clock = clock;
    this.transport = transport;
    this.timers = timers;
  }

  /**
   * Start retransmitting `response` (already sent once, as `bytes`) to `to`. Without `bytes` (the
   * response could not be serialized) nothing is resent, but "no ACK" is still reported. A second
   * start for the same 2xx replaces the first.
   */
  start(response: SipResponse, to: Endpoint, user: SuccessRetransmitUser, bytes: Buffer | undefined): void {
    const entry = new PendingSuccess(this, response, bytes, to, user, this.clock.now() + this.timers.T64, this.timers.T1);
    this.stopKey(entry.key);
    entry.timer = this.clock.setTimer(entry.interval, entry.fire);
    this.pending.set(entry.key, entry);
  }

  /** Feed an ACK; returns true when it acknowledged a 2xx being retransmitted (which then stops). */
  ack(ack: SipRequest): boolean {
    const h = ack.headers;
    return this.stopKey(successKey(h.callId, h.cseq.seq, tagOf(h.from.params), tagOf(h.to.params)));
  }

  /** Stop retransmitting a 2xx without waiting for its ACK (e.g. the call was torn down). */
  stop(response: SipResponse): boolean {
    const h = response.headers;
    return this.stopKey(successKey(h.callId, h.cseq.seq, tagOf(h.from.params), tagOf(h.to.params)));
  }

  /** 2xx responses still waiting for their ACK. */
  get size(): number {
    return this.pending.size;
  }

  /** Stop everything (shutdown). Idempotent. */
  close(): void {
    for (const entry of this.pending.values()) this.clock.clearTimer(entry.timer);
    this.pending.clear();
  }

  private stopKey(key: string): boolean {
    const entry = this.pending.get(key);
    if (!entry) return false;
    this.clock.clearTimer(entry.timer);
    this.pending.delete(key);
    return true;
  }

  /** @internal An entry's timer fired. */
  fired(entry: PendingSuccess): void {
    const left = entry.deadline - this.clock.now();
    if (left <= 0) {
      this.pending.delete(entry.key);
      entry.user.onNoAck(entry);
      return;
    }
    if (entry.resend !== undefined) this.transport.sendBytes(Buffer.from(entry.resend, 'latin1'), entry.to);
    entry.interval = Math.min(entry.interval * 2, this.timers.T2);
    entry.timer = this.clock.setTimer(Math.min(entry.interval, left), entry.fire);
  }
}
