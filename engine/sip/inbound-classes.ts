/**
 * Inbound SIP messages by work class (issue 13, contract C4): the transport parses each datagram
 * as it is read and posts it here; the work scheduler (engine/sched) hands it to the transaction
 * layer when its class's turn comes, so an agent's answer read behind a burst of new INVITEs is
 * handled before them instead of after.
 *
 * ```
 *  socket ─▶ parse ─▶ classOfInbound ─┬─ agent:      responses (to our INVITEs to agents, BYEs,
 *                                     │              CANCELs...), requests in a dialog we hold
 *                                     └─ signalling: everything else (new INVITEs, their
 *                                                    CANCELs and ACKs, REGISTER, OPTIONS)
 *  turn ─▶ transport.dispatch ─▶ transaction layer ─▶ UA ─▶ call control
 *  full ─▶ transactions.shed: retransmission absorbed | admission | stateless 503
 *  late ─▶ transactions.sendTrying: 100 Trying for an INVITE queued ≥ lateAfterMs
 *  overdue (a new INVITE that waited ≥ the signalling deadline since its parse)
 *       ─▶ transactions.refuseLate: 503 + Retry-After through its own IST, the TU records it
 * ```
 *
 * Retransmissions never wait twice. Before a request is queued, one of a live server
 * transaction is absorbed by it at once (it resends its last response, RFC 3261 §17.2.3); one of
 * a new INVITE still queued (no transaction yet) is answered `100 Trying` statelessly, which
 * stops the client's timer A (§17.1.1.2), and dropped: the queued copy is the one worked.
 *
 * Why this keeps RFC 3261 right: messages of one dialog or transaction never overtake each
 * other. A message can only move ahead of a lower-class one, and a later message of the same
 * dialog is never in a higher class than an earlier one: a new INVITE, its retransmissions, its
 * CANCEL and the ACK of its non-2xx are all `signalling` (FIFO among themselves); a request
 * becomes `agent` only once its dialog exists, which is after everything that created it was
 * handled; responses are all `agent`, FIFO among themselves.
 */
import type { Inbound } from './contracts.ts';
import type { SipMessage, SipRequest } from './message.ts';
import type { TransportLayer, InboundDispatcher } from './transport.ts';
import type { TransactionLayer } from './transaction-layer.ts';
import type { WorkClass, WorkHandler, WorkScheduler } from '../sched/index.ts';

/** A new INVITE: a request INVITE without a To tag (the one kind the deadline cuts short). */
function isNewInvite(message: SipMessage): message is SipRequest {
  return message.kind === 'request' && message.method === 'INVITE' && !message.headers.to.params.has('tag');
}

/**
 * The work class of an inbound message. Responses answer requests we sent (bounded by what we
 * send, so a flood cannot fill the class); a request is `agent` only when it has a To tag and
 * `isEstablished` knows its dialog (a forged To tag stays `signalling`).
 */
export function classOfInbound(message: SipMessage, isEstablished: (request: SipRequest) => boolean): WorkClass {
  if (message.kind === 'response') return 'agent';
  if (message.headers.to.params.has('tag') && isEstablished(message)) return 'agent';
  return 'signalling';
}

/** Posts inbound messages to the work scheduler by class; the transport's {@link InboundDispatcher}. */
export class InboundClasses implements InboundDispatcher, WorkHandler<Inbound> {
  /** Transaction keys of the new INVITEs waiting in the signalling class: one copy of each. */
  private readonly waiting = new Set<string>();
  private absorbed = 0;

  constructor(
    private readonly scheduler: WorkScheduler,
    private readonly transport: TransportLayer,
    private readonly transactions: TransactionLayer,
    private readonly isEstablished: (request: SipRequest) => boolean,
  ) {}

  /** Retransmissions answered before they were queued (see the file comment), since start. */
  get retransmissionsAbsorbed(): number {
    return this.absorbed;
  }

  post(inbound: Inbound): void {
    const message = inbound.message;
    const cls = classOfInbound(message, this.isEstablished);
    let key: string | undefined;
    if (cls === 'signalling' && message.kind === 'request') {
      // One transaction key per message: the match against live transactions and the queue's copy.
      const txKey = message.method === 'ACK' ? undefined : this.transactions.keyOf(message);
      if (this.transactions.absorbRetransmission(inbound, txKey)) {
        this.absorbed++;
        return;
      }
      key = isNewInvite(message) ? txKey : undefined;
      if (key !== undefined && this.waiting.has(key)) {
        this.absorbed++;
        this.transactions.sendTrying(inbound);
        return;
      }
    }
    // The wait counts from the parse: time in the read loop before the post is the caller's too.
    if (this.scheduler.post(cls, this, inbound, inbound.readAt) && key !== undefined) this.waiting.add(key);
  }

  run(inbound: Inbound): void {
    this.leave(inbound);
    this.transport.dispatch(inbound);
  }

  /**
   * Its wait passed the signalling deadline: a new INVITE gets the cheap answer (503 +
   * Retry-After, the caller recorded by the TU); anything else in the class is left to run as
   * usual (false).
   */
  overdue(inbound: Inbound): boolean {
    if (!isNewInvite(inbound.message)) return false;
    this.leave(inbound);
    this.transactions.refuseLate(inbound);
    return true;
  }

  /** The item leaves the queue: a new INVITE's key is forgotten (its retransmissions go to its transaction now). */
  private leave(inbound: Inbound): void {
    const message = inbound.message;
    if (!isNewInvite(message)) return;
    const key = this.transactions.keyOf(message);
    if (key !== undefined) this.waiting.delete(key);
  }

  shed(inbound: Inbound): void {
    if (!this.transactions.shed(inbound)) this.transport.dropInbound('overload_shed', inbound);
  }

  late(inbound: Inbound): void {
    this.transactions.sendTrying(inbound);
  }
}
