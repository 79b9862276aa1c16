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
 * ```
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
  constructor(
    private readonly scheduler: WorkScheduler,
    private readonly transport: TransportLayer,
    private readonly transactions: TransactionLayer,
    private readonly isEstablished: (request: SipRequest) => boolean,
  ) {}

  post(inbound: Inbound): void {
    this.scheduler.post(classOfInbound(inbound.message, this.isEstablished), this, inbound);
  }

  run(inbound: Inbound): void {
    this.transport.dispatch(inbound);
  }

  shed(inbound: Inbound): void {
    if (!this.transactions.shed(inbound)) this.transport.dropInbound('overload_shed', inbound);
  }

  late(inbound: Inbound): void {
    this.transactions.sendTrying(inbound);
  }
}
