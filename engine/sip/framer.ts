/**
 * Stream framing for SIP over TCP/TLS (RFC 3261 §18.3): bytes arrive in arbitrary chunks and
 * messages are delimited by the empty line after the headers plus Content-Length octets.
 *
 * ```
 *  chunk 1            chunk 2                      chunk 3
 *  |INVITE ... Cont|ent-Length: 4\r\n\r\nbody\r\n\r\n|OPTIONS ...
 *   \________________ message 1 ______________/\_ping_/\__ message 2 ...
 * ```
 *
 * Between messages a double CRLF is an RFC 5626 §3.5.1 keep-alive ping: it is reported as a
 * `keepalive` event so the transport answers with a single CRLF pong; a single CRLF (a pong, or
 * stray line end) is skipped.
 *
 * Cost is linear in the bytes received: the search for the end of the header section resumes
 * where the previous chunk stopped, and once the header section is complete the message is
 * parsed at most twice (once to learn its length, once when the body is in). Buffered bytes are
 * never moved under a message that was handed out: bodies are views, so a full buffer is replaced,
 * not compacted in place.
 */
import type { ParseFailure, ParseResult } from './parser.ts';
import { parse } from './parser.ts';
import type { HeaderField } from './message.ts';

/** Limits of one connection. */
export interface StreamFramerOptions {
  /** Most bytes buffered while waiting for the end of a message; beyond, the stream is in error. */
  maxBuffer: number;
  /** Largest message (header section plus body). Default 65535. */
  maxMessageBytes?: number;
  /** Most header fields per message. Default 100. */
  maxHeaders?: number;
  /** Longest header field. Default 8192. */
  maxHeaderBytes?: number;
}

/**
 * What a chunk produced.
 * - `message`: one framed message; `result` may be a failure (answer it, e.g. 400, and carry on).
 * - `keepalive`: a CRLFCRLF ping; answer CRLF.
 * - `error`: framing is lost (buffer limit, no or bad Content-Length, oversized message): answer
 *   if `status` says so, then close the connection. Later pushes return nothing.
 */
export type FramerEvent =
  | { type: 'message'; result: ParseResult }
  | { type: 'keepalive' }
  | { type: 'error'; code: ParseFailure['code']; reason: string; status: number | undefined; fields: HeaderField[] | undefined };

const CR = 0x0d;
const LF = 0x0a;
const KEEPALIVE: FramerEvent = Object.freeze({ type: 'keepalive' as const });

/** Incremental SIP message framer for one stream connection. */
export class StreamFramer {
  private readonly maxBuffer: number;
  private readonly parseOpts: { maxMessageBytes: number; maxHeaders: number; maxHeaderBytes: number; stream: true };
  private buf: Buffer = Buffer.alloc(0);
  /** Start of the unconsumed bytes in `buf`. */
  private start = 0;
  /** End of the received bytes in `buf`. */
  private end = 0;
  /** Where to resume looking for the end of the header section (absolute in `buf`). */
  private scan = 0;
  /** Total length of the current message once known from its header section, else 0. */
  private needed = 0;
  private failed = false;

  constructor(opts: StreamFramerOptions) {
    this.maxBuffer = opts.maxBuffer;
    this.parseOpts = {
      maxMessageBytes: opts.maxMessageBytes ?? 65535,
      maxHeaders: opts.maxHeaders ?? 100,
      maxHeaderBytes: opts.maxHeaderBytes ?? 8192,
      stream: true,
    };
  }

  /** Bytes buffered and not yet part of a complete message. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Feed received bytes; returns the events they complete, in order. */
  push(chunk: Buffer): FramerEvent[] {
    const events: FramerEvent[] = [];
    if (this.failed || chunk.length === 0) return events;
    if (this.start === this.end) {
      // Nothing pending: work on the chunk itself, no copy (the common case).
      this.buf = chunk;
      this.start = 0;
      this.end = chunk.length;
      this.scan = 0;
    } else {
      this.append(chunk);
    }
    this.drain(events);
    if (!this.failed && this.end - this.start > this.maxBuffer) {
      this.fail(events, 'SIP_ERR_TOO_LARGE', `more than ${this.maxBuffer} bytes buffered without a complete message`, undefined);
    }
    if (this.start === this.end) {
      // Drop the reference so a large chunk's memory is not kept for an idle connection.
      this.buf = Buffer.alloc(0);
      this.start = this.end = this.scan = 0;
    }
    return events;
  }

  private append(chunk: Buffer): void {
    const pending = this.end - this.start;
    if (this.buf.length - this.end >= chunk.length && this.buf !== chunk) {
      chunk.copy(this.buf, this.end);
      this.end += chunk.length;
      return;
    }
    // Never write over bytes already handed out as views: move to a new buffer.
    const size = Math.max(4096, (pending + chunk.length) * 2);
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, this.start, this.end);
    chunk.copy(next, pending);
    this.scan -= this.start;
    this.buf = next;
    this.start = 0;
    this.end = pending + chunk.length;
  }

  private fail(events: FramerEvent[], code: ParseFailure['code'], reason: string, status: number | undefined, fields?: HeaderField[]): void {
    this.failed = true;
    events.push({ type: 'error', code, reason, status, fields });
    this.buf = Buffer.alloc(0);
    this.start = this.end = this.scan = 0;
  }

  private drain(events: FramerEvent[]): void {
    const buf = this.buf;
    while (this.start < this.end) {
      if (this.needed === 0) {
        // Between messages: keep-alives and stray line ends.
        const s = this.start;
        const c = buf[s];
        if (c === CR || c === LF) {
          if (c === LF) {
            this.start = this.scan = s + 1;
            continue;
          }
          if (s + 1 >= this.end) return;
          if (buf[s + 1] !== LF) {
            this.start = this.scan = s + 1;
            continue;
          }
          // CRLF: a ping if another CRLF follows, else a pong. Wait when we cannot tell yet.
          if (s + 2 >= this.end) return;
          if (buf[s + 2] === CR) {
            if (s + 3 >= this.end) return;
            if (buf[s + 3] === LF) {
              events.push(KEEPALIVE);
              this.start = this.scan = s + 4;
              continue;
            }
          }
          this.start = this.scan = s + 2;
          continue;
        }
        const hdrEnd = this.findHeaderEnd();
        if (hdrEnd < 0) {
          if (this.end - this.start > this.parseOpts.maxMessageBytes) {
            this.fail(events, 'SIP_ERR_TOO_LARGE', `header section longer than ${this.parseOpts.maxMessageBytes} bytes`, undefined);
          }
          return;
        }
      }
      if (this.needed > 0 && this.end - this.start < this.needed) return;
      const view = buf.subarray(this.start, this.needed > 0 ? this.start + this.needed : this.end);
      const r = parse(view, this.parseOpts);
      if (r.ok) {
        events.push({ type: 'message', result: r });
        this.advance(r.consumed);
      } else if (r.code === 'SIP_ERR_INCOMPLETE') {
        // The header section is in; now we know how long the whole message is.
        if (r.needed !== undefined) this.needed = r.needed;
        return;
      } else if (r.consumed !== undefined) {
        events.push({ type: 'message', result: r });
        this.advance(r.consumed);
      } else {
        this.fail(events, r.code, r.reason, r.status, r.fields);
        return;
      }
    }
  }

  private advance(n: number): void {
    this.start += n;
    this.scan = this.start;
    this.needed = 0;
  }

  /**
   * Resume the search for the empty line that ends the header section; returns its end
   * (relative to nothing: only its sign matters to the caller) or -1, leaving `scan` where the
   * next search must resume.
   */
  private findHeaderEnd(): number {
    const buf = this.buf;
    const end = this.end;
    let i = Math.max(this.scan, this.start);
    for (;;) {
      const lf = buf.indexOf(LF, i);
      if (lf < 0 || lf >= end) {
        this.scan = end;
        return -1;
      }
      if (lf + 1 >= end) {
        this.scan = lf;
        return -1;
      }
      const n = buf[lf + 1];
      if (n === LF) return lf + 2;
      if (n === CR) {
        if (lf + 2 >= end) {
          this.scan = lf;
          return -1;
        }
        if (buf[lf + 2] === LF) return lf + 3;
      }
      i = lf + 1;
    }
  }
}
