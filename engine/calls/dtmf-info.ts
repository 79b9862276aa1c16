/**
 * DTMF carried in SIP INFO requests (some carriers and PBXs send digits this way instead of
 * RFC 4733 events):
 *
 * ```
 *  Content-Type: application/dtmf-relay      Content-Type: application/dtmf
 *                                             
 *  Signal=5                                   5
 *  Duration=160
 * ```
 *
 * Bodies are hostile input: bounded, parsed by hand, and a result, never an exception.
 */

/** Largest INFO body looked at; a DTMF body is a few dozen bytes. */
export const MAX_DTMF_INFO_BYTES = 256;

/** What an INFO body says. */
export type DtmfInfoResult =
  /** One digit (`0-9 * # A-D`, upper case). */
  | { kind: 'digit'; digit: string }
  /** Not a DTMF content type: answered 200 and ignored (legacy INFO usages). */
  | { kind: 'other' }
  /** A DTMF content type with a body that is not one valid digit: answer 400. */
  | { kind: 'malformed'; reason: string };

/** One DTMF symbol, upper-cased; undefined when `s` is not exactly one. */
function symbol(s: string): string | undefined {
  if (s.length !== 1) return undefined;
  const c = s.charCodeAt(0);
  if ((c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x23) return s;
  if (c >= 0x41 && c <= 0x44) return s;
  if (c >= 0x61 && c <= 0x64) return String.fromCharCode(c - 0x20);
  return undefined;
}

/** The media type of a Content-Type value, lower-cased, without parameters. */
function mediaType(contentType: string | undefined): string {
  if (contentType === undefined) return '';
  const semi = contentType.indexOf(';');
  return (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

/** Parse an INFO request's body by its Content-Type. */
export function parseDtmfInfo(contentType: string | undefined, body: Buffer): DtmfInfoResult {
  const type = mediaType(contentType);
  if (type !== 'application/dtmf-relay' && type !== 'application/dtmf') return { kind: 'other' };
  if (body.length > MAX_DTMF_INFO_BYTES) return { kind: 'malformed', reason: 'body too large' };
  const text = body.toString('latin1');
  if (type === 'application/dtmf') {
    const d = symbol(text.trim());
    return d === undefined ? { kind: 'malformed', reason: 'not one DTMF digit' } : { kind: 'digit', digit: d };
  }
  // dtmf-relay: `name=value` lines; Signal is required, the rest (Duration) is not needed here.
  let signal: string | undefined;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    const eq = line.indexOf('=');
    if (eq < 0) {
      if (line.trim().length === 0) continue;
      return { kind: 'malformed', reason: 'line without =' };
    }
    if (line.slice(0, eq).trim().toLowerCase() !== 'signal') continue;
    if (signal !== undefined) return { kind: 'malformed', reason: 'two Signal lines' };
    signal = line.slice(eq + 1).trim();
  }
  if (signal === undefined) return { kind: 'malformed', reason: 'no Signal' };
  const d = symbol(signal);
  return d === undefined ? { kind: 'malformed', reason: 'Signal is not one DTMF digit' } : { kind: 'digit', digit: d };
}
