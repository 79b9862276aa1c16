/**
 * A {@link TransportSender} for tests that records every message the layer above sends, with its
 * destination and the clock time, instead of putting it on a wire.
 */
import type { Clock, Endpoint, TransportName, TransportSender } from '../contracts.ts';
import type { SipMessage, SipRequest, SipResponse } from '../message.ts';
import { parse } from '../parser.ts';
import { serialize } from '../serializer.ts';

/** One recorded send. */
export interface SentMessage {
  message: SipMessage;
  to: Endpoint;
  /** Clock time of the send, or NaN when the transport has no clock. */
  at: number;
}

/**
 * Records sends. TCP and TLS are reliable unless `reliable` says otherwise.
 *
 * ```ts
 * const transport = new FakeTransport({ clock });
 * layer.send(...);
 * transport.requests('INVITE').map((s) => s.at); // [0, 500, 1500, ...]
 * ```
 */
export class FakeTransport implements TransportSender {
  readonly sent: SentMessage[] = [];
  private readonly clock: Pick<Clock, 'now'> | undefined;
  private readonly reliable: ReadonlySet<TransportName>;

  constructor(opts: { clock?: Pick<Clock, 'now'>; reliable?: readonly TransportName[] } = {}) {
    this.clock = opts.clock;
    this.reliable = new Set(opts.reliable ?? ['TCP', 'TLS']);
  }

  send(message: SipMessage, to: Endpoint): Buffer {
    this.sent.push({ message, to, at: this.clock ? this.clock.now() : NaN });
    return serialize(message);
  }

  /** Records the retransmitted bytes parsed back into a message, so tests see them like any send. */
  sendBytes(bytes: Buffer, to: Endpoint): boolean {
    const parsed = parse(bytes);
    if (!parsed.ok) throw new Error(`FakeTransport: retransmitted bytes do not parse: ${parsed.code}`);
    this.sent.push({ message: parsed.message, to, at: this.clock ? this.clock.now() : NaN });
    return true;
  }

  isReliable(transport: TransportName): boolean {
    return this.reliable.has(transport);
  }

  /** Sent requests, optionally of one method. */
  requests(method?: string): Array<SentMessage & { message: SipRequest }> {
    return this.sent.filter(
      (s): s is SentMessage & { message: SipRequest } =>
        s.message.kind === 'request' && (method === undefined || s.message.method === method),
    );
  }

  /** Sent responses, optionally of one status code. */
  responses(status?: number): Array<SentMessage & { message: SipResponse }> {
    return this.sent.filter(
      (s): s is SentMessage & { message: SipResponse } =>
        s.message.kind === 'response' && (status === undefined || s.message.status === status),
    );
  }

  /** The last recorded send, or undefined. */
  get last(): SentMessage | undefined {
    return this.sent[this.sent.length - 1];
  }

  /** Forget everything recorded so far. */
  clear(): void {
    this.sent.length = 0;
  }
}
