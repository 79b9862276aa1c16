/**
 * Test bench for the transaction layer: a {@link FakeClock}, a {@link FakeTransport}, a recording
 * TU, and builders for the requests and responses that peers send. Exported for the tests of the
 * layers above (dialogs, UA) as well.
 */
import type { Endpoint, Inbound, TimerValues, TransportName } from '../contracts.ts';
import type { SipMessage, SipRequest, SipResponse } from '../message.ts';
import { createResponse } from '../message.ts';
import { parse } from '../parser.ts';
import { TransactionLayer, type OverloadCause, type TransactionUser } from '../transaction-layer.ts';
import type { ClientTransaction, ClientTransactionUser } from '../transaction-client.ts';
import type { InviteServerTransaction, ServerTransaction } from '../transaction-server.ts';
import type { ServerFailure } from '../transaction.ts';
import { FakeClock } from '../../clock/index.ts';
import { FakeTransport } from './fake-transport.ts';

/** What a peer's request looks like; every field has a default. */
export interface RequestSpec {
  method?: string;
  uri?: string;
  /** Branch of the top Via; `null` for an RFC 2543 peer without one. */
  branch?: string | null;
  transport?: TransportName;
  /** sent-by of the top Via. */
  sentBy?: string;
  rport?: boolean;
  callId?: string;
  cseq?: number;
  fromTag?: string;
  toTag?: string;
  extra?: string[];
}

/** Build a request as a peer would send it, through the real parser. */
export function peerRequest(spec: RequestSpec = {}): SipRequest {
  const method = spec.method ?? 'INVITE';
  const branch = spec.branch === null ? '' : `;branch=${spec.branch ?? 'z9hG4bKpeer1'}`;
  const rport = spec.rport ? ';rport' : '';
  const toTag = spec.toTag ? `;tag=${spec.toTag}` : '';
  const text = [
    `${method} ${spec.uri ?? 'sip:queue@onair.example'} SIP/2.0`,
    `Via: SIP/2.0/${spec.transport ?? 'UDP'} ${spec.sentBy ?? '192.0.2.10:5060'}${rport}${branch}`,
    'Max-Forwards: 70',
    `From: "Caller" <sip:+15551234@carrier.example>;tag=${spec.fromTag ?? 'ftag1'}`,
    `To: <sip:queue@onair.example>${toTag}`,
    `Call-ID: ${spec.callId ?? 'call-1@carrier.example'}`,
    `CSeq: ${spec.cseq ?? 1} ${method}`,
    ...(spec.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\r\n');
  const result = parse(Buffer.from(text, 'latin1'));
  if (!result.ok) throw new Error(`fixture does not parse: ${result.reason}\n${text}`);
  return result.message as SipRequest;
}

/** A response a peer sends to one of our requests (`toTag` added when given). */
export function peerResponse(request: SipRequest, status: number, toTag?: string): SipResponse {
  return createResponse(request, status, undefined, toTag === undefined ? {} : { toTag });
}

/** The peer the tests talk to. */
export const PEER_UDP: Endpoint = { transport: 'UDP', address: '192.0.2.10', port: 5060 };
export const PEER_TCP: Endpoint = { transport: 'TCP', address: '192.0.2.10', port: 5060, connectionId: 7 };
const LOCAL_UDP: Endpoint = { transport: 'UDP', address: '198.51.100.1', port: 5060 };
const LOCAL_TCP: Endpoint = { transport: 'TCP', address: '198.51.100.1', port: 5060 };

/** Wrap a message as received from `source`. */
export function arrival(message: SipMessage, source: Endpoint = PEER_UDP): Inbound {
  return { message, source, local: source.transport === 'UDP' ? LOCAL_UDP : LOCAL_TCP };
}

/** One thing the TU was told, in order. */
export type TuEvent =
  | { type: 'request'; tx: ServerTransaction; request: SipRequest; at: number }
  | { type: 'ack2xx'; ack: SipRequest; stopped: boolean; at: number }
  | { type: 'cancel'; tx: InviteServerTransaction; at: number }
  | { type: 'server-failure'; tx: ServerTransaction; reason: ServerFailure; at: number }
  | { type: 'stray'; response: SipResponse; at: number }
  | { type: 'overload-refused'; request: SipRequest; cause: OverloadCause; at: number }
  | { type: 'response'; tx: ClientTransaction; response: SipResponse; at: number }
  | { type: 'timeout'; tx: ClientTransaction; at: number }
  | { type: 'transport-error'; tx: ClientTransaction; at: number };

/**
 * Layer + fakes + a TU that records everything. `onRequest` may be replaced to answer inline.
 */
export class TransactionHarness implements TransactionUser, ClientTransactionUser {
  readonly clock = new FakeClock();
  readonly transport = new FakeTransport({ clock: this.clock });
  readonly layer: TransactionLayer;
  readonly events: TuEvent[] = [];
  /** Called after a request is recorded; lets a test answer from inside the callback. */
  answer: ((tx: ServerTransaction, request: SipRequest) => void) | undefined = undefined;

  constructor(opts: { timers?: Partial<TimerValues>; maxServerTransactions?: number; maxServerTransactionsPerSource?: number; maxRetainedNonInvite?: number } = {}) {
    this.layer = new TransactionLayer(this.transport, this, { clock: this.clock, ...opts });
  }

  /** Feed a message as if the transport had received it. */
  receive(message: SipMessage, source: Endpoint = PEER_UDP): void {
    this.layer.onMessage(arrival(message, source));
  }

  /** Events of one type. */
  of<T extends TuEvent['type']>(type: T): Array<Extract<TuEvent, { type: T }>> {
    return this.events.filter((e): e is Extract<TuEvent, { type: T }> => e.type === type);
  }

  /** True when no transaction, retransmission or timer is left. */
  get idle(): boolean {
    return this.layer.clientCount === 0 && this.layer.serverCount === 0 && this.layer.sourceCount === 0 && this.layer.successes.size === 0 && this.clock.pending === 0;
  }

  onRequest(tx: ServerTransaction, request: SipRequest): void {
    this.events.push({ type: 'request', tx, request, at: this.clock.now() });
    this.answer?.(tx, request);
  }
  onAckFor2xx(ack: SipRequest, _inbound: Inbound, stopped: boolean): void {
    this.events.push({ type: 'ack2xx', ack, stopped, at: this.clock.now() });
  }
  onOverloadRefused(request: SipRequest, _inbound: Inbound, cause: OverloadCause): void {
    this.events.push({ type: 'overload-refused', request, cause, at: this.clock.now() });
  }
  onCancel(tx: InviteServerTransaction): void {
    this.events.push({ type: 'cancel', tx, at: this.clock.now() });
  }
  onServerFailure(tx: ServerTransaction, reason: ServerFailure): void {
    this.events.push({ type: 'server-failure', tx, reason, at: this.clock.now() });
  }
  onStrayResponse(response: SipResponse): void {
    this.events.push({ type: 'stray', response, at: this.clock.now() });
  }
  onResponse(tx: ClientTransaction, response: SipResponse): void {
    this.events.push({ type: 'response', tx, response, at: this.clock.now() });
  }
  onTimeout(tx: ClientTransaction): void {
    this.events.push({ type: 'timeout', tx, at: this.clock.now() });
  }
  onTransportError(tx: ClientTransaction): void {
    this.events.push({ type: 'transport-error', tx, at: this.clock.now() });
  }
}
