/**
 * Client transactions (RFC 3261 §17.1): INVITE (ICT, §17.1.1, with RFC 6026's Accepted state) and
 * non-INVITE (NICT, §17.1.2).
 *
 * ```
 *  ICT                        INVITE sent; A=T1 (UDP), B=64*T1
 *   Calling --1xx--> Proceeding --2xx--> Accepted --M (64*T1)--> Terminated
 *      |  A: resend, A*=2       |  300-699: ACK, D (32 s UDP, 0 TCP) --> Completed --D--> Terminated
 *      +--B--> Terminated (timeout)        Completed: resend ACK on each final retransmission
 *
 *  NICT                       request sent; E=T1 (UDP), F=64*T1
 *   Trying --1xx--> Proceeding --final--> Completed --K (T4 UDP, 0 TCP)--> Terminated
 *     E: resend, E=min(2E,T2)   E: resend, E=T2        F in Trying/Proceeding: timeout
 * ```
 */
import type { Endpoint, Inbound } from './contracts.ts';
import type { HeaderField, SipRequest, SipResponse } from './message.ts';
import { createRequest } from './message.ts';
import { BaseTransaction, type TransactionContext, type TransactionState } from './transaction.ts';

/** Per-client-transaction callbacks (one consumer, CONVENTIONS.md 10). */
export interface ClientTransactionUser {
  /** Every provisional and final response the TU must see (not retransmissions absorbed here). */
  onResponse(tx: ClientTransaction, response: SipResponse, inbound: Inbound): void;
  /** Timer B or F fired, or an INVITE got no final response after its CANCEL (§9.1). */
  onTimeout(tx: ClientTransaction): void;
  /** The transport could not deliver the request or the ACK (§17.1.4). */
  onTransportError(tx: ClientTransaction): void;
}

/** Either client machine. */
export type ClientTransaction = InviteClientTransaction | NonInviteClientTransaction;

/**
 * How the ICT asks the layer to send a CANCEL for it (§9.1); the layer owns the CANCEL's NICT.
 * @internal
 */
export interface CancelSender {
  sendCancel(ict: InviteClientTransaction, headers: HeaderField[]): void;
}

/** Build a request of `method` that copies the hop-by-hop identity of `request` (§9.1, §17.1.1.3). */
function sibling(request: SipRequest, method: 'ACK' | 'CANCEL', to: string, extra: readonly HeaderField[]): SipRequest {
  const h = request.headers;
  const headers: HeaderField[] = [
    // §17.1.1.3 / §9.1: exactly one Via, equal to the top Via of the original request.
    { name: 'Via', value: h.getAll('Via')[0] ?? '' },
    { name: 'Max-Forwards', value: '70' },
    { name: 'From', value: h.get('From') ?? '' },
    { name: 'To', value: to },
    { name: 'Call-ID', value: h.callId },
    { name: 'CSeq', value: `${h.cseq.seq} ${method}` },
  ];
  for (const route of h.getAll('Route')) headers.push({ name: 'Route', value: route });
  for (const field of extra) headers.push(field);
  return createRequest({ method, uri: request.uriText, headers, body: Buffer.alloc(0) });
}

/** INVITE client transaction (RFC 3261 §17.1.1, RFC 6026 §8.4). */
export class InviteClientTransaction extends BaseTransaction {
  readonly kind = 'ict' as const;
  declare state: Extract<TransactionState, 'calling' | 'proceeding' | 'completed' | 'accepted' | 'terminated'>;
  user: ClientTransactionUser;
  /** The INVITE. */
  readonly request: SipRequest;
  /** The ACK we built for a non-2xx final, resent on each retransmission of that final. */
  private ack: SipRequest | undefined = undefined;
  /** `pending`: the TU asked to cancel before any provisional; `sent`: the CANCEL went out. */
  private cancelState: 'none' | 'pending' | 'sent' = 'none';
  private cancelHeaders: HeaderField[] = [];
  private readonly canceller: CancelSender;

  constructor(ctx: TransactionContext, canceller: CancelSender, request: SipRequest, key: string, destination: Endpoint, user: ClientTransactionUser) {
    super(ctx, request, key, destination, 'calling');
    this.request = request;
    this.user = user;
    this.canceller = canceller;
  }

  /** Send the INVITE and arm timers A and B (§17.1.1.2). */
  start(): void {
    this.send(this.request);
    if (!this.reliable) this.startRetransmit(this.ctx.timers.T1);
    this.startLifetime(this.ctx.timers.T64);
  }

  /** True once a CANCEL was asked for (sent or waiting for a provisional). */
  get cancelRequested(): boolean {
    return this.cancelState !== 'none';
  }

  /**
   * Ask for a CANCEL (§9.1): sent now if a provisional has arrived, else when the first one does.
   * Returns false when a final response makes it pointless.
   */
  cancel(headers: HeaderField[] = []): boolean {
    if (this.state !== 'calling' && this.state !== 'proceeding') return false;
    if (this.cancelState !== 'none') return true;
    this.cancelHeaders = headers;
    if (this.state === 'calling') {
      this.cancelState = 'pending';
    } else {
      this.sendCancel();
    }
    return true;
  }

  /** The CANCEL request for this INVITE (§9.1): same Request-URI, Call-ID, To, From, CSeq number, top Via, Route. */
  buildCancel(headers: readonly HeaderField[] = []): SipRequest {
    return sibling(this.request, 'CANCEL', this.request.headers.get('To') ?? '', headers);
  }

  private sendCancel(): void {
    this.cancelState = 'sent';
    this.canceller.sendCancel(this, this.cancelHeaders);
    // §9.1: no final response 64*T1 after the CANCEL means the INVITE is given up.
    this.startLifetime(this.ctx.timers.T64);
  }

  receive(response: SipResponse, inbound: Inbound): void {
    const status = response.status;
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          if (this.state === 'calling') {
            // §17.1.1.2: a provisional moves Calling to Proceeding and stops A (and B's role ends).
            this.state = 'proceeding';
            this.stopRetransmit();
            if (this.cancelState === 'pending') this.sendCancel();
            else this.startLifetime(this.ctx.timers.inviteProvisional);
          }
          this.user.onResponse(this, response, inbound);
        } else if (status < 300) {
          // RFC 6026 §8.4: 2xx moves to Accepted, is passed up, and M = 64*T1 absorbs the rest.
          this.state = 'accepted';
          this.stopRetransmit();
          this.startLifetime(this.ctx.timers.T64);
          this.user.onResponse(this, response, inbound);
        } else {
          // §17.1.1.2: 300-699 → ACK, pass up, Completed with timer D (0 on reliable transports).
          this.state = 'completed';
          this.stopRetransmit();
          this.stopLifetime();
          this.ack = sibling(this.request, 'ACK', response.headers.get('To') ?? '', []);
          this.send(this.ack);
          this.user.onResponse(this, response, inbound);
          if (this.state === 'completed') this.startLifetime(this.reliable ? 0 : this.ctx.timers.D);
        }
        return;
      case 'accepted':
        // RFC 6026 §8.4: further 2xx (retransmissions, forks) go to the TU, which ACKs them.
        if (status >= 200 && status < 300) this.user.onResponse(this, response, inbound);
        return;
      case 'completed':
        // §17.1.1.2: a retransmitted final is answered with the same ACK, not passed up.
        if (status >= 300 && this.ack) this.send(this.ack);
        return;
      case 'terminated':
        return;
    }
  }

  protected onRetransmitTimer(): void {
    // §17.1.1.2 timer A: Calling only, doubling without cap (B bounds it).
    if (this.state !== 'calling') return;
    this.send(this.request);
    this.startRetransmit(this.interval * 2);
  }

  protected onLifetimeTimer(): void {
    switch (this.state) {
      case 'calling':
      case 'proceeding':
        if (this.state === 'proceeding' && this.cancelState === 'none') {
          // No final after a provisional for too long: cancel, then wait 64*T1 for the 487.
          this.sendCancel();
          return;
        }
        // §17.1.1.2 timer B (Calling), or §9.1 give-up after CANCEL: report a timeout.
        this.terminate();
        this.user.onTimeout(this);
        return;
      case 'completed': // timer D
      case 'accepted': // RFC 6026 timer M
        this.terminate();
        return;
      case 'terminated':
        return;
    }
  }

  transportError(): void {
    if (this.state === 'terminated') return;
    // §17.1.4: inform the TU; a failure while in Accepted/Completed only ends the transaction.
    const wasPending = this.state === 'calling' || this.state === 'proceeding';
    this.terminate();
    if (wasPending) this.user.onTransportError(this);
  }
}

/** Non-INVITE client transaction (RFC 3261 §17.1.2). */
export class NonInviteClientTransaction extends BaseTransaction {
  readonly kind = 'nict' as const;
  declare state: Extract<TransactionState, 'trying' | 'proceeding' | 'completed' | 'terminated'>;
  user: ClientTransactionUser;
  /** The request. */
  readonly request: SipRequest;

  constructor(ctx: TransactionContext, request: SipRequest, key: string, destination: Endpoint, user: ClientTransactionUser) {
    super(ctx, request, key, destination, 'trying');
    this.request = request;
    this.user = user;
  }

  /** Send the request and arm timers E and F (§17.1.2.2). */
  start(): void {
    this.send(this.request);
    if (!this.reliable) this.startRetransmit(this.ctx.timers.T1);
    this.startLifetime(this.ctx.timers.T64);
  }

  receive(response: SipResponse, inbound: Inbound): void {
    if (this.state === 'completed' || this.state === 'terminated') return; // §17.1.2.2: absorbed
    if (response.status < 200) {
      this.state = 'proceeding';
      this.user.onResponse(this, response, inbound);
      return;
    }
    // §17.1.2.2: a final response → Completed, timer K = T4 (0 on reliable transports).
    this.state = 'completed';
    this.stopRetransmit();
    this.stopLifetime();
    this.user.onResponse(this, response, inbound);
    if (this.state === 'completed') this.startLifetime(this.reliable ? 0 : this.ctx.timers.T4);
  }

  protected onRetransmitTimer(): void {
    // §17.1.2.2 timer E: doubling up to T2 in Trying; always T2 in Proceeding.
    if (this.state === 'trying') {
      this.send(this.request);
      this.startRetransmit(Math.min(this.interval * 2, this.ctx.timers.T2));
    } else if (this.state === 'proceeding') {
      this.send(this.request);
      this.startRetransmit(this.ctx.timers.T2);
    }
  }

  protected onLifetimeTimer(): void {
    if (this.state === 'trying' || this.state === 'proceeding') {
      // §17.1.2.2 timer F: inform the TU of the timeout.
      this.terminate();
      this.user.onTimeout(this);
    } else {
      // Timer K.
      this.terminate();
    }
  }

  transportError(): void {
    if (this.state === 'terminated') return;
    const wasPending = this.state === 'trying' || this.state === 'proceeding';
    this.terminate();
    if (wasPending) this.user.onTransportError(this);
  }
}
