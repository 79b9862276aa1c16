/**
 * SIP message serializer: a {@link SipMessage} to the octets sent on the wire.
 *
 * ```
 *  start line CRLF                 "INVITE <uriText> SIP/2.0" or "SIP/2.0 <status> <reason>"
 *  Name: value CRLF                every field in order, names as stored
 *  Content-Length: <body.length>   in place of the first Content-Length field (or last), always
 *  CRLF                            right, whatever the fields said
 *  body
 * ```
 *
 * The size is computed first and the message written into one buffer. Strings are byte strings
 * (one char per octet, see message.ts) and are copied char by char: for the short strings of a
 * SIP header that is cheaper than one native `Buffer#write` call per string.
 */
import type { SipMessage } from './message.ts';

const CONTENT_LENGTH = 'Content-Length';

/**
 * Copy a byte string into `out` at `o`; returns the offset after it. CR and LF become SP: a value
 * can never start a new header line on the wire (a bare CR kept from a received value, or a
 * careless `headers.set`, would otherwise inject fields into what we send on).
 */
function put(out: Buffer, o: number, s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[o++] = c === 0x0d || c === 0x0a ? 0x20 : c;
  }
  return o;
}

/** `\r\n` at `o`. */
function crlf(out: Buffer, o: number): number {
  out[o] = 0x0d;
  out[o + 1] = 0x0a;
  return o + 2;
}

/** The request line or status line, without CRLF. */
function startLine(msg: SipMessage): string {
  return msg.kind === 'request'
    ? msg.method + ' ' + msg.uriText + ' ' + msg.version
    : msg.version + ' ' + msg.status + ' ' + msg.reason;
}

/**
 * Serialize a message. Content-Length is always written and always matches the body; any other
 * Content-Length field is dropped. Values are written as stored (byte strings, see message.ts),
 * except that CR and LF are written as SP: no folded or injected lines.
 */
export function serialize(msg: SipMessage): Buffer {
  const start = startLine(msg);
  const fields = msg.headers.fields;
  const body = msg.body;
  const cl = String(body.length);
  // "Content-Length: " + digits + CRLF
  const clSize = CONTENT_LENGTH.length + 2 + cl.length + 2;
  let size = start.length + 2 + clSize + 2 + body.length;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.name !== CONTENT_LENGTH) size += f.name.length + 2 + f.value.length + 2;
  }
  const out = Buffer.allocUnsafe(size);
  let o = crlf(out, put(out, 0, start));
  let clDone = false;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (f.name === CONTENT_LENGTH) {
      if (clDone) continue;
      clDone = true;
      o = crlf(out, put(out, put(out, o, 'Content-Length: '), cl));
      continue;
    }
    o = put(out, o, f.name);
    out[o] = 0x3a;
    out[o + 1] = 0x20;
    o = crlf(out, put(out, o + 2, f.value));
  }
  if (!clDone) o = crlf(out, put(out, put(out, o, 'Content-Length: '), cl));
  o = crlf(out, o);
  out.set(body, o);
  return out;
}
