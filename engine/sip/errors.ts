/**
 * The SIP stack's registry of stable codes (CONVENTIONS.md 19) for what is not a parse result
 * (those are {@link ParseErrorCode} in parser.ts): why a message was dropped, why a send failed,
 * and the rate-limited log every drop goes through.
 */
import type { Endpoint } from './contracts.ts';
import type { SipMessage } from './message.ts';

/**
 * Why a SIP message was dropped without the normal exchange (label `reason` of
 * `onair_sip_dropped_total`). Closed set: a peer cannot grow it.
 *
 * - `dispatch_error`: handling an inbound message threw (a bug above the parser); the message is
 *   dropped, the process keeps serving (issue 11: no packet takes onair down).
 * - `unanswerable`: an inbound request had to be refused (e.g. a bad Via sent-by) but has no
 *   valid place to send the answer to (source port 0).
 * - `bad_destination`: an outbound message to a port outside 1..65535 or an empty address; sent
 *   nowhere (dgram would throw `ERR_SOCKET_BAD_PORT`).
 * - `send_error`: the socket refused the send synchronously (closed socket, kernel error).
 * - `overload_shed`: an inbound response or ACK arrived while its work class was full
 *   (engine/sched bounds, issue 13) and there is nothing to answer it with; requests in that
 *   case get a 503 instead (`TransactionLayer.shed`).
 */
export type SipDropReason = 'dispatch_error' | 'unanswerable' | 'bad_destination' | 'send_error' | 'overload_shed';

/** Every {@link SipDropReason}, for metrics that list their label values. */
export const SIP_DROP_REASONS: readonly SipDropReason[] = ['dispatch_error', 'unanswerable', 'bad_destination', 'send_error', 'overload_shed'];

/** Codes of the `Error`s a transport hands to `sendFailed` observers (the message starts with the code). */
export type SipSendErrorCode =
  | 'SIP_ERR_NO_ROUTE'
  | 'SIP_ERR_TOO_MANY_CONNECTIONS'
  | 'SIP_ERR_BAD_DESTINATION'
  | 'SIP_ERR_SEND';

/** An Error whose message starts with its stable code. */
export function sendError(code: SipSendErrorCode, detail: string): Error & { code: SipSendErrorCode } {
  const err = new Error(`${code}: ${detail}`) as Error & { code: SipSendErrorCode };
  err.code = code;
  return err;
}

/** True when `to` is an endpoint a socket can send to: a non-empty address and a port in 1..65535. */
export function isSendable(to: Endpoint): boolean {
  const p = to.port;
  return typeof to.address === 'string' && to.address.length > 0 && Number.isInteger(p) && p >= 1 && p <= 65535;
}

/** The start line of a message for a log line: at most 160 characters, controls replaced. */
export function firstLine(message: SipMessage): string {
  const line = message.kind === 'request'
    ? `${message.method} ${message.uriText} SIP/2.0`
    : `SIP/2.0 ${message.status} ${message.reason}`;
  let out = '';
  const n = Math.min(line.length, 160);
  for (let i = 0; i < n; i++) {
    const c = line.charCodeAt(i);
    out += c < 0x20 || c === 0x7f ? '?' : line[i];
  }
  return line.length > n ? out + '…' : out;
}

/** A pino-compatible logger (a pino child logger fits). */
export interface SipLogger {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/**
 * Lets through at most `burst` log lines per `intervalMs`, then counts what it held back and says
 * so with the next line it lets through. A flood of bad packets must not become a flood of log
 * lines (disk, log shipper): the counters carry the totals, the log carries examples.
 */
export class LogRateLimit {
  private windowStart = -Infinity;
  private used = 0;
  private held = 0;
  constructor(
    private readonly now: () => number,
    private readonly burst = 10,
    private readonly intervalMs = 10_000,
  ) {}

  /**
   * Undefined when the line must be held back; otherwise how many lines were held back before it
   * (0 usually), to log with it.
   */
  take(): number | undefined {
    const now = this.now();
    if (now - this.windowStart >= this.intervalMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.burst) {
      this.held++;
      return undefined;
    }
    this.used++;
    const held = this.held;
    this.held = 0;
    return held;
  }
}
