/**
 * The transaction layer (RFC 3261 §17): owns every client and server transaction, matches inbound
 * messages to them (§17.1.3, §17.2.3, with RFC 2543 matching for branches without the magic
 * cookie), handles CANCEL (§9), asks per-source admission before a new server transaction exists
 * (admission.ts), answers 503 above a transaction limit, and hands the TU what is left: new
 * requests, CANCELs of INVITEs, ACKs for 2xx.
 *
 * ```
 *   transport.onMessage(inbound)
 *     request  ─┬─ ACK    → stampVia → IST (non-2xx ACK) | TU.onAckFor2xx
 *               ├─ CANCEL → own NIST: 200 + TU.onCancel(IST) | admission → 481
 *               ├─ match  → retransmission → IST/NIST resend last response
 *               └─ new    → admission (drop silently) → stampVia → IST/NIST + TU.onRequest | 503 above the limit
 *     response ─ branch + CSeq method → ICT/NICT → ClientTransactionUser.onResponse
 * ```
 */
import type { Clock, Endpoint, Inbound, TimerHandle, TimerValues, TransportSender } from './contracts.ts';
import { systemClock } from './contracts.ts';
import type { HeaderField, SipRequest, SipResponse } from './message.ts';
import { createResponse } from './message.ts';
import { isRfc3261Branch, newTag } from './branch.ts';
import { sourceKey, type AdmissionVerdict } from './admission.ts';
import {
  resolveTimers, responseDestination, stampVia,
  type BaseTransaction, type ResolvedTimers, type ServerFailure, type TransactionContext,
} from './transaction.ts';
import {
  InviteClientTransaction, NonInviteClientTransaction,
  type CancelSender, type ClientTransaction, type ClientTransactionUser,
} from './transaction-client.ts';
import {
  InviteServerTransaction, NonInviteServerTransaction, SuccessResponseRetransmitter,
  type ServerTransaction, type ServerTransactionOwner, type SuccessIdentity,
} from './transaction-server.ts';

/** The one consumer of what the layer does not handle itself (CONVENTIONS.md 10). */
export interface TransactionUser {
  /**
   * A new request (not ACK, not a CANCEL) with its server transaction. The TU must answer with
   * `tx.respond(...)`; an IST sends 100 Trying by itself after 200 ms.
   */
  onRequest(tx: ServerTransaction, request: SipRequest, inbound: Inbound): void;
  /**
   * An ACK that matched no INVITE transaction in Completed: the ACK for a 2xx (§17.2.3, §13.3.1.4).
   * `stoppedRetransmission` is true when it matched a 2xx the layer's retransmitter was resending.
   */
  onAckFor2xx(ack: SipRequest, inbound: Inbound, stoppedRetransmission: boolean): void;
  /**
   * A CANCEL matched an INVITE server transaction that has not sent a final response; the CANCEL
   * was already answered 200 (§9.2). The TU should answer the INVITE with 487.
   */
  onCancel(invite: InviteServerTransaction, cancel: SipRequest, inbound: Inbound): void;
  /** A server transaction ended without a normal exchange: timer H (no ACK), no TU answer, transport error. */
  onServerFailure(tx: ServerTransaction, reason: ServerFailure): void;
  /** A response that matched no client transaction (e.g. a 2xx retransmission after timer M). */
  onStrayResponse?(response: SipResponse, inbound: Inbound): void;
  /**
   * True when `request` (it has a To tag) belongs to a dialog the TU has established: such a
   * request is never charged to source admission, so a live call's BYE passes while its source
   * floods INVITEs.
   */
  isEstablished?(request: SipRequest): boolean;
  /**
   * A new INVITE (no To tag) was refused with 503 for overload before the TU saw it: `limit` —
   * the layer's stateless 503 (transaction limits, or a full work class), no transaction;
   * `late` — it waited in its work class past the signalling deadline ({@link
   * TransactionLayer.refuseLate}), answered through its own server transaction. The TU may still
   * keep a record of the caller (issue 13: every caller has a record). Called after the 503 is sent.
   */
  onOverloadRefused?(request: SipRequest, inbound: Inbound, cause: OverloadCause): void;
}

/** Why a new INVITE was refused before the TU saw it (see {@link TransactionUser.onOverloadRefused}). */
export type OverloadCause = 'limit' | 'late';

/** Source admission as the layer uses it (see {@link SourceAdmission} in admission.ts). */
export interface AdmissionPort {
  admit(address: string, method: string): AdmissionVerdict;
}

/** Options of a {@link TransactionLayer}. */
export interface TransactionLayerOptions {
  timers?: Partial<TimerValues>;
  /**
   * Most server transactions waiting for the TU's final response; a new request above it gets 503.
   * Answered transactions that only absorb retransmissions (timers J and L, 32 s on UDP) are not
   * counted: they are bounded by the call rate, not by a peer's behaviour. Default 50 000.
   */
  maxServerTransactions?: number;
  /**
   * Most unanswered server transactions from one source address (CONVENTIONS.md 5), so that one
   * peer cannot take the whole budget. A carrier trunk sends everything from one address, and
   * callers waiting in early media keep their INVITE unanswered: default 20 000.
   */
  maxServerTransactionsPerSource?: number;
  /**
   * IPv6 sources are counted per prefix of this many bits against `maxServerTransactionsPerSource`
   * (a host owns a whole /64 and can send from any address in it). Default 64; the engine passes
   * `sip.admission.ipv6PrefixLength` so both limits see one source alike.
   */
  ipv6PrefixLength?: number;
  /** Retry-After (seconds) of that 503. Default 5. */
  retryAfter?: number;
  /**
   * Most answered non-INVITE server transactions kept over UDP to absorb retransmissions (timer
   * J, 32 s). Above it the oldest, the nearest its end, is ended early and counted
   * ({@link TransactionLayer.evictedCount}). INVITE transactions are never evicted. Default
   * {@link DEFAULT_MAX_RETAINED_NON_INVITE}.
   */
  maxRetainedNonInvite?: number;
  clock?: Clock;
  /**
   * Per-source admission, asked before a server transaction is created (after retransmission
   * matching, before the Via is stamped): a request it refuses is dropped without an answer.
   */
  admission?: AdmissionPort;
}

/** A 2xx to INVITE whose ACK never came (§13.3.1.4): the TU should send BYE. */
export interface NoAckUser {
  onNoAck(success: SuccessIdentity): void;
}

const NO_OP_USER: ClientTransactionUser = {
  onResponse() {},
  onTimeout() {},
  onTransportError() {},
};

/**
 * Memory guard: server transactions alive, answered ones included (a few KB each). At 3,000
 * calls/s about 200,000 are retained for timers J/L.
 */
const MAX_RETAINED_SERVERS = 1_000_000;

/**
 * Default of {@link TransactionLayerOptions.maxRetainedNonInvite}. Over UDP every answered
 * non-INVITE request (BYE, REGISTER, OPTIONS, CANCEL, INFO, ...) is kept for 64*T1 = 32 s, so the
 * number kept is that request rate times 32: 20,000 holds 625 such requests a second, about
 * twice what a 1,000-agent floor makes at its peak (a BYE per call, REGISTER refreshes, phones'
 * OPTIONS keep-alives), at ~1 KB each (`npm run bench -- sip-tx-memory`) 20 MB. Only a flood or
 * a fuzzer reaches it.
 */
export const DEFAULT_MAX_RETAINED_NON_INVITE = 20_000;

/** What an {@link ExpiryQueue} holds: a transaction that ends at `expiresAt` by `expire()`. */
interface Expiring {
  readonly expiresAt: number;
  expire(): void;
}

/**
 * Transactions waiting out the same fixed timer (J, L, H: 64*T1 for every one of them), oldest
 * first. The clock is monotonic, so insertion order is expiry order: one timer for the head
 * replaces one Node timer and closure per transaction, and the first entry is the oldest.
 */
class ExpiryQueue<T extends Expiring> {
  private readonly items = new Set<T>();
  private readonly clock: Clock;
  private timer: TimerHandle | undefined = undefined;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  get size(): number {
    return this.items.size;
  }

  oldest(): T | undefined {
    return this.items.values().next().value;
  }

  add(tx: T): void {
    this.items.add(tx);
    if (this.timer === undefined) this.arm(tx.expiresAt);
  }

  /** Take an entry out (it ended otherwise, e.g. an IST at timer I); the last one out stops the timer. */
  delete(tx: T): void {
    if (this.items.delete(tx) && this.items.size === 0 && this.timer !== undefined) {
      this.clock.clearTimer(this.timer);
      this.timer = undefined;
    }
  }

  /** Forget the timer (shutdown); the transactions are terminated by their owner. */
  close(): void {
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.items.clear();
  }

  /** One timer: due when the oldest one's is. */
  private arm(at: number): void {
    this.timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => {
      this.timer = undefined;
      this.sweep();
    });
  }

  /** Expire every entry whose time has come; then wait for the next one. */
  private sweep(): void {
    const now = this.clock.now();
    for (const tx of this.items) {
      if (tx.expiresAt > now) {
        // An expire() above may have added an entry (and armed for it): the head comes first.
        if (this.timer !== undefined) this.clock.clearTimer(this.timer);
        this.arm(tx.expiresAt);
        return;
      }
      this.items.delete(tx); // deleting the current entry while iterating a Set is safe
      tx.expire();
    }
  }
}

/** Key of a client transaction: branch and CSeq method (§17.1.3; CANCEL shares the INVITE's branch). */
function clientKey(branch: string, method: string): string {
  return `${branch}\u0000${method}`;
}

/**
 * Key of a server transaction for `method` (ACK looks for its INVITE, CANCEL for itself or its
 * INVITE). RFC 3261 peers: branch, sent-by and method (§17.2.3). RFC 2543 peers: Request-URI, From
 * tag, Call-ID, CSeq number and method, and the top Via; the To tag is checked after lookup,
 * because the ACK carries the tag of our response, not that of the INVITE.
 */
function serverKey(request: SipRequest, method: string): string | undefined {
  const h = request.headers;
  const via = h.via[0];
  if (!via) return undefined;
  const sentBy = via.port === undefined ? via.host : `${via.host}:${via.port}`;
  if (isRfc3261Branch(via.branch)) return `${via.branch}\u0000${sentBy}\u0000${method}`;
  const fromTag = h.from.params.get('tag') ?? '';
  return `2543\u0000${request.uriText}\u0000${fromTag}\u0000${h.callId}\u0000${h.cseq.seq}\u0000${method}\u0000${via.transport}\u0000${sentBy}\u0000${via.branch ?? ''}`;
}

function toTagOf(message: SipRequest | SipResponse | undefined): string {
  return message?.headers.to.params.get('tag') ?? '';
}

/**
 * Owns the transactions of one SIP stack. Implements the transport's delegate (`onMessage`) and
 * send-failure observer (`sendFailed`).
 */
export class TransactionLayer implements TransactionContext, ServerTransactionOwner, CancelSender {
  readonly clock: Clock;
  readonly transport: TransportSender;
  readonly timers: ResolvedTimers;
  /** Retransmits 2xx responses to INVITE until their ACK (§13.3.1.4); stray ACKs stop it. */
  readonly successes: SuccessResponseRetransmitter;
  private readonly user: TransactionUser;
  private readonly clients = new Map<string, ClientTransaction>();
  private readonly servers = new Map<string, ServerTransaction>();
  private readonly maxServers: number;
  private readonly maxPerSource: number;
  /** Server transactions not yet answered, per source address. */
  /** Unanswered server transactions per source key ({@link sourceKey}: IPv6 by prefix). */
  private readonly perSource = new Map<string, number>();
  private readonly prefixLength: number;
  /** Server transactions not yet answered (what the limits count). */
  private active = 0;
  private readonly retryAfter: string;
  private readonly admission: AdmissionPort | undefined;
  /** Completed NISTs over UDP waiting out timer J, oldest first (the first is the one to evict). */
  private readonly retained: ExpiryQueue<NonInviteServerTransaction>;
  /** Answered ISTs waiting out timer L (2xx, RFC 6026 §7.1) or H (non-2xx, §17.2.1), oldest first; never evicted. */
  private readonly invites: ExpiryQueue<InviteServerTransaction>;
  private readonly maxRetained: number;
  private evicted = 0;
  private closed = false;

  constructor(transport: TransportSender, user: TransactionUser, opts: TransactionLayerOptions = {}) {
    this.transport = transport;
    this.user = user;
    this.clock = opts.clock ?? systemClock;
    this.timers = resolveTimers(opts.timers);
    this.maxServers = opts.maxServerTransactions ?? 50_000;
    this.maxPerSource = opts.maxServerTransactionsPerSource ?? 20_000;
    this.prefixLength = opts.ipv6PrefixLength ?? 64;
    this.retryAfter = String(opts.retryAfter ?? 5);
    this.admission = opts.admission;
    this.maxRetained = opts.maxRetainedNonInvite ?? DEFAULT_MAX_RETAINED_NON_INVITE;
    this.successes = new SuccessResponseRetransmitter(this.clock, transport, this.timers);
    this.retained = new ExpiryQueue(this.clock);
    this.invites = new ExpiryQueue(this.clock);
  }

  /** Client transactions alive. */
  get clientCount(): number {
    return this.clients.size;
  }

  /** Server transactions alive. */
  get serverCount(): number {
    return this.servers.size;
  }

  /** Server transactions waiting for the TU's final response. */
  get activeServerCount(): number {
    return this.active;
  }

  /** Answered non-INVITE server transactions ended early by the `maxRetainedNonInvite` bound, since start. */
  get evictedCount(): number {
    return this.evicted;
  }

  /** Answered non-INVITE server transactions waiting out timer J. */
  get retainedNonInviteCount(): number {
    return this.retained.size;
  }

  /**
   * Answered INVITE server transactions under the layer's one timer for L and H: in Accepted
   * (2xx, RFC 6026 §7.1), in Completed awaiting the ACK, or Confirmed until timer I.
   */
  get answeredInviteCount(): number {
    return this.invites.size;
  }

  /** Source addresses with unanswered server transactions (for leak checks and metrics). */
  get sourceCount(): number {
    return this.perSource.size;
  }

  /**
   * Start a client transaction: INVITE gets an ICT, anything else but ACK a NICT (§17.1). The
   * request's top Via must carry an RFC 3261 branch (see `newBranch`). Throws on programmer
   * errors (ACK, missing branch, duplicate branch).
   */
  sendRequest(request: SipRequest, destination: Endpoint, user: ClientTransactionUser): ClientTransaction {
    const branch = request.headers.via[0]?.branch;
    if (!isRfc3261Branch(branch)) throw new TypeError('SIP_ERR_NO_BRANCH: top Via needs a z9hG4bK branch');
    if (request.method === 'ACK') throw new TypeError('SIP_ERR_ACK_NOT_A_TRANSACTION: send ACK for 2xx through the transport');
    const key = clientKey(branch, request.method);
    if (this.clients.has(key)) throw new TypeError(`SIP_ERR_DUPLICATE_BRANCH: ${branch} ${request.method}`);
    if (request.method === 'INVITE') {
      const tx = new InviteClientTransaction(this, this, request, key, destination, user);
      this.clients.set(tx.key, tx);
      tx.start();
      return tx;
    }
    const tx = new NonInviteClientTransaction(this, request, key, destination, user);
    this.clients.set(tx.key, tx);
    tx.start();
    return tx;
  }

  /**
   * Cancel an INVITE (§9.1): the CANCEL goes out now if a provisional arrived, or as soon as one
   * does. `headers` are added to the CANCEL (e.g. Reason, RFC 3326). False when the INVITE already
   * has a final response.
   */
  cancel(ict: InviteClientTransaction, headers: HeaderField[] = []): boolean {
    return ict.cancel(headers);
  }

  /** @internal Called by an ICT once its CANCEL may go out. */
  sendCancel(ict: InviteClientTransaction, headers: HeaderField[]): void {
    const cancel = ict.buildCancel(headers);
    const key = clientKey(ict.branch ?? '', 'CANCEL');
    if (this.clients.has(key)) return;
    const tx = new NonInviteClientTransaction(this, cancel, key, ict.destination, NO_OP_USER);
    this.clients.set(tx.key, tx);
    tx.start();
  }

  /** Start retransmitting a 2xx an IST sent (§13.3.1.4), to where the IST sends its responses. */
  retransmitSuccess(ist: InviteServerTransaction, response: SipResponse, user: NoAckUser): void {
    this.successes.start(response, ist.destination, user, ist.takeSuccessBytes());
  }

  /** Transport delegate: every parsed inbound message. */
  onMessage(inbound: Inbound): void {
    if (this.closed) return;
    const message = inbound.message;
    if (message.kind === 'response') {
      this.receiveResponse(message, inbound);
      return;
    }
    // §18.2.1: the Via is stamped before anything copies it into a response — for requests that
    // may create a transaction, after admission, so that a dropped request costs no copy.
    if (message.method === 'ACK') {
      stampVia(message, inbound.source);
      this.receiveAck(message, inbound);
    } else if (message.method === 'CANCEL') this.receiveCancel(message, inbound);
    else this.receiveRequest(message, inbound);
  }

  /**
   * Refuse an inbound message that found its work class full (engine/sched, issue 13) by this
   * layer's own overload rule, as if it were over the transaction limit: a retransmission of a
   * live transaction is still absorbed (RFC 3261 §17.2.3), admission may drop it as it would
   * any request, anything else gets the stateless 503 with Retry-After. False for a response or
   * an ACK, which nothing can answer: the caller counts the drop.
   */
  shed(inbound: Inbound): boolean {
    const message = inbound.message;
    if (this.closed || message.kind === 'response' || message.method === 'ACK') return false;
    if (this.absorbRetransmission(inbound)) return true;
    if (!this.admitted(message, inbound)) return true;
    stampVia(message, inbound.source);
    this.rejectOverload(message, inbound);
    return true;
  }

  /**
   * Absorb `inbound` now if it is a retransmission of a live server transaction (RFC 3261
   * §17.2.3: the transaction resends its last response), before it would wait in a work queue
   * (engine/sched) for nothing. A CANCEL matches only its own transaction here. False for
   * anything else: a response, an ACK (matched to its INVITE in turn, after the INVITE's
   * response), a new request. `key`: the request's {@link keyOf}, when the caller has it already.
   */
  absorbRetransmission(inbound: Inbound, key?: string): boolean {
    const message = inbound.message;
    if (this.closed || message.kind === 'response' || message.method === 'ACK') return false;
    const existing = this.findServer(message, key ?? serverKey(message, message.method));
    if (existing === undefined) return false;
    existing.receiveRetransmission();
    return true;
  }

  /**
   * The server-transaction key `request` would have (§17.2.3): equal for an INVITE and its
   * retransmissions. Undefined without a Via. Work queues use it to keep one copy of a request
   * waiting (inbound-classes.ts).
   */
  keyOf(request: SipRequest): string | undefined {
    return serverKey(request, request.method);
  }

  /**
   * Answer a new INVITE that waited in its work class past the signalling deadline (issue 13,
   * sojourn admission) with 503 + Retry-After through a server transaction of its own, so that
   * its retransmissions and the ACK of the 503 are absorbed (§17.2.1) instead of becoming a new
   * call, and tell the TU (`onOverloadRefused`, cause `late`) so the caller gets a record. The
   * same checks as any new request come first: a retransmission is absorbed, source admission may
   * drop it, above the transaction limits the stateless 503 (cause `limit`) is cheaper still.
   */
  refuseLate(inbound: Inbound): void {
    const request = inbound.message;
    if (this.closed || request.kind !== 'request' || request.method !== 'INVITE') return;
    const tx = this.newServer(request, inbound);
    if (tx === undefined) return;
    tx.respond(createResponse(request, 503, undefined, { toTag: newTag(), headers: [{ name: 'Retry-After', value: this.retryAfter }] }));
    this.user.onOverloadRefused?.(request, inbound, 'late');
  }

  /**
   * Send `100 Trying` statelessly for a new INVITE that waits in a work queue (engine/sched) and
   * has no transaction yet: RFC 3261 §17.2.1 wants one within 200 ms, and it stops the client's
   * timer A retransmissions (§17.1.1.2), which would only lengthen the queue. The transaction
   * created when the INVITE's turn comes answers on as usual (a second 100 is harmless).
   */
  sendTrying(inbound: Inbound): void {
    const message = inbound.message;
    if (this.closed || message.kind !== 'request' || message.method !== 'INVITE') return;
    stampVia(message, inbound.source);
    this.transport.send(createResponse(message, 100), responseDestination(message, inbound));
  }

  /**
   * Transport observer: a send to `to` failed. Every transaction sending there ends with a
   * transport error (§17.1.4, §17.2.4). Rare, so a scan is fine.
   */
  sendFailed(to: Endpoint): void {
    const hit = (d: Endpoint): boolean =>
      d.transport === to.transport && d.address === to.address && d.port === to.port &&
      (to.connectionId === undefined || d.connectionId === undefined || d.connectionId === to.connectionId);
    const failed: BaseTransaction[] = [];
    for (const tx of this.clients.values()) if (hit(tx.destination)) failed.push(tx);
    for (const tx of this.servers.values()) if (hit(tx.destination)) failed.push(tx);
    for (const tx of failed) tx.transportError();
  }

  /** Stop every timer and forget every transaction without telling anyone (shutdown). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const all: BaseTransaction[] = [...this.clients.values(), ...this.servers.values()];
    for (const tx of all) tx.terminate();
    this.retained.close();
    this.invites.close();
    this.successes.close();
  }

  /** @internal TransactionContext: a transaction reached Terminated. */
  removed(tx: BaseTransaction): void {
    if (tx.kind === 'ict' || tx.kind === 'nict') {
      if (this.clients.get(tx.key) === tx) this.clients.delete(tx.key);
      return;
    }
    if (tx.kind === 'nist') this.retained.delete(tx as NonInviteServerTransaction);
    else this.invites.delete(tx as InviteServerTransaction);
    if (this.servers.get(tx.key) !== tx) return;
    this.servers.delete(tx.key);
    this.release(tx as ServerTransaction);
  }

  /**
   * @internal ServerTransactionOwner: a NIST entered Completed over UDP. Above the bound the
   * oldest retained one goes first: it is the nearest its timer J, and the longer a request has
   * been answered the less likely a retransmission of it still comes (the client's timer E
   * backs off to T2, and its timer F gives up at the same 64*T1). A retransmission that arrives
   * after all is a new request to the TU; for a non-INVITE that costs one more answer (BYE: 481,
   * REGISTER: the same binding, OPTIONS: 200). INVITE transactions are never evicted: a
   * retransmitted INVITE whose IST was gone would be a second call, and the ACK of its non-2xx
   * would reach the TU as an ACK for a 2xx; they are bounded by INVITE admission and the
   * transaction limits instead.
   */
  retain(tx: NonInviteServerTransaction): void {
    if (this.closed) {
      tx.expire();
      return;
    }
    while (this.retained.size >= this.maxRetained) {
      const oldest = this.retained.oldest();
      if (oldest === undefined) break;
      this.retained.delete(oldest);
      this.evicted++;
      oldest.expire();
    }
    this.retained.add(tx);
  }

  /**
   * @internal ServerTransactionOwner: an IST sent its final response. It waits out timer L (2xx)
   * or H (non-2xx) under the layer's one timer for all of them, as a NIST waits out J: at 300
   * answered calls a second that is ~10,000 Node timers and closures fewer. A closed layer
   * has already terminated every transaction.
   */
  retainInvite(tx: InviteServerTransaction): void {
    if (!this.closed) this.invites.add(tx);
  }

  /** @internal ServerTransactionOwner: a final response went out; the limits stop counting it. */
  answered(tx: ServerTransaction): void {
    this.release(tx);
  }

  /** Stop counting a server transaction against the limits (once). */
  private release(tx: ServerTransaction): void {
    if (!tx.counted) return;
    tx.counted = false;
    this.active--;
    const source = sourceKey(tx.source.address, this.prefixLength);
    const n = this.perSource.get(source) ?? 0;
    if (n <= 1) this.perSource.delete(source);
    else this.perSource.set(source, n - 1);
  }

  /** @internal ServerTransactionOwner. */
  serverFailed(tx: ServerTransaction, reason: ServerFailure): void {
    this.user.onServerFailure(tx, reason);
  }

  /** @internal ServerTransactionOwner: an ACK matched an IST in Accepted (RFC 2543 matching). */
  ackForAccepted(_tx: InviteServerTransaction, ack: SipRequest, inbound: Inbound): void {
    this.user.onAckFor2xx(ack, inbound, this.successes.ack(ack));
  }

  private receiveResponse(response: SipResponse, inbound: Inbound): void {
    const branch = response.headers.via[0]?.branch;
    const tx = branch === undefined ? undefined : this.clients.get(clientKey(branch, response.headers.cseq.method));
    if (tx) tx.receive(response, inbound);
    else this.user.onStrayResponse?.(response, inbound);
  }

  /** The server transaction under `key`, after the RFC 2543 To-tag check. */
  private findServer(request: SipRequest, key: string | undefined): ServerTransaction | undefined {
    if (key === undefined) return undefined;
    const tx = this.servers.get(key);
    if (!tx || isRfc3261Branch(request.headers.via[0]?.branch)) return tx;
    // §17.2.3 (RFC 2543): an ACK's To tag is the one of our response; others match the request's.
    const wanted = request.method === 'ACK' ? tx.toTag ?? '' : tx.requestToTag;
    return toTagOf(request) === wanted ? tx : undefined;
  }

  private receiveRequest(request: SipRequest, inbound: Inbound): void {
    const tx = this.newServer(request, inbound);
    if (tx !== undefined) this.user.onRequest(tx, request, inbound);
  }

  /**
   * The server transaction a new request (not ACK, not CANCEL) creates, admitted; undefined when
   * it creates none: a retransmission (absorbed), an RFC 2543 key taken, source admission
   * dropped it, or above the limits (the stateless 503 sent).
   */
  private newServer(request: SipRequest, inbound: Inbound): ServerTransaction | undefined {
    const key = serverKey(request, request.method);
    if (key === undefined) return undefined;
    const existing = this.findServer(request, key);
    if (existing) {
      existing.receiveRetransmission();
      return undefined;
    }
    if (this.servers.has(key)) return undefined; // RFC 2543 key taken by another To tag: not ours to guess
    if (!this.admitted(request, inbound)) return undefined;
    stampVia(request, inbound.source);
    if (this.overloaded(inbound)) {
      this.rejectOverload(request, inbound);
      return undefined;
    }
    const destination = responseDestination(request, inbound);
    const tx = request.method === 'INVITE'
      ? new InviteServerTransaction(this, this, inbound, key, destination)
      : new NonInviteServerTransaction(this, this, inbound, key, destination);
    this.admit(tx);
    return tx;
  }

  private receiveAck(ack: SipRequest, inbound: Inbound): void {
    const tx = this.findServer(ack, serverKey(ack, 'INVITE'));
    if (tx && tx.kind === 'ist') {
      tx.receiveAck(ack, inbound);
      return;
    }
    // §17.2.3: no INVITE transaction for it, so it is the ACK for a 2xx: the TU's.
    this.user.onAckFor2xx(ack, inbound, this.successes.ack(ack));
  }

  private receiveCancel(cancel: SipRequest, inbound: Inbound): void {
    const key = serverKey(cancel, 'CANCEL');
    if (key === undefined) return;
    const own = this.findServer(cancel, key);
    if (own) {
      own.receiveRetransmission();
      return;
    }
    // §9.2: the CANCEL matches the INVITE it cancels by the INVITE's own matching rules.
    const invite = this.findServer(cancel, serverKey(cancel, 'INVITE'));
    const ist = invite && invite.kind === 'ist' ? invite : undefined;
    // A CANCEL of a live INVITE frees what it cancels: never charged. Any other costs a 481.
    if (!ist && !this.admitted(cancel, inbound)) return;
    stampVia(cancel, inbound.source);
    // A CANCEL for a live INVITE is let in above the limit: it frees what it cancels.
    if (!ist && this.overloaded(inbound)) {
      this.rejectOverload(cancel, inbound);
      return;
    }
    const tx = new NonInviteServerTransaction(this, this, inbound, key, responseDestination(cancel, inbound));
    this.admit(tx);
    if (!ist) {
      // §9.2: no matching transaction → 481.
      tx.respond(createResponse(cancel, 481));
      return;
    }
    // §9.2: the UAS answers the CANCEL itself; the 200 carries the To tag of the INVITE's responses.
    const toTag = ist.toTag;
    tx.respond(createResponse(cancel, 200, undefined, toTag === undefined ? {} : { toTag }));
    if (ist.state === 'proceeding') this.user.onCancel(ist, cancel, inbound);
  }

  /** Source admission for a request that would create a server transaction (issue 11). */
  private admitted(request: SipRequest, inbound: Inbound): boolean {
    if (this.admission === undefined) return true;
    if (request.headers.to.params.get('tag') && this.user.isEstablished?.(request) === true) return true;
    return this.admission.admit(inbound.source.address, request.method) === 'admit';
  }

  private overloaded(inbound: Inbound): boolean {
    return this.active >= this.maxServers || this.servers.size >= MAX_RETAINED_SERVERS ||
      (this.perSource.get(sourceKey(inbound.source.address, this.prefixLength)) ?? 0) >= this.maxPerSource;
  }

  private admit(tx: ServerTransaction): void {
    // Under the transaction's own copy of the key: the one built for the lookup is a
    // concatenation of slices that pins the request's whole text (see BaseTransaction).
    this.servers.set(tx.key, tx);
    tx.counted = true;
    this.active++;
    const source = sourceKey(tx.source.address, this.prefixLength);
    this.perSource.set(source, (this.perSource.get(source) ?? 0) + 1);
  }

  /** 503 with Retry-After, sent statelessly so that an overload creates no state (CONVENTIONS.md 5). */
  private rejectOverload(request: SipRequest, inbound: Inbound): void {
    const response = createResponse(request, 503, undefined, { headers: [{ name: 'Retry-After', value: this.retryAfter }] });
    this.transport.send(response, responseDestination(request, inbound));
    if (request.method === 'INVITE' && !request.headers.to.params.get('tag')) this.user.onOverloadRefused?.(request, inbound, 'limit');
  }
}
