/**
 * SIP message parser (RFC 3261 §7, §25): bytes in, a {@link ParseResult} out. It never throws.
 *
 * ```
 *  INVITE sip:bob@biloxi.com SIP/2.0 CRLF         start line (request or status line)
 *  Via: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK776asdhds CRLF
 *  v: SIP/2.0/UDP p2.atlanta.com CRLF              compact form, expanded to "Via"
 *  Subject: a long value CRLF
 *   folded onto the next line CRLF                 LWS continuation, joined with one SP
 *  Content-Length: 142 CRLF
 *  CRLF                                            end of the header section
 *  v=0 ...                                         body: Content-Length octets
 * ```
 *
 * How it works: a message of up to 4 KiB (every datagram in practice) is decoded once as latin1,
 * whole, and the header loop finds the empty line that ends the header section as it goes; a
 * longer one (a stream buffer holding more) is searched for that line with a native `indexOf` on
 * the Buffer first, so that only its header section is decoded. String offsets are octet offsets
 * either way. All scanning reads octets from the Buffer (a typed-array read is about three times
 * cheaper than `charCodeAt`); strings are only sliced from the decoded text for results (V8 makes
 * long substrings slices, not copies), instead of one decoding call per value. Header names are
 * matched as octets against the known-name table, numbers are read digit by digit, and the hot
 * headers are parsed here, once, from their octets.
 * Values stay byte-faithful: a UTF-8 reason phrase or display name is kept as its octets (one char
 * per octet) and the serializer writes them back unchanged.
 *
 * Errors are results: `code`, a `reason` for logs, the `status` to answer a request with and the
 * Via/From/To/Call-ID/CSeq fields read so far so the transport can build that answer.
 */
import type { CSeq, HeaderField, NameAddr, SipMessage, SipRequest, SipResponse, SipUri, Via } from './message.ts';
import {
  NAME_CALL_ID, NAME_CONTACT, NAME_CONTENT_LENGTH, NAME_CONTENT_TYPE, NAME_CSEQ, NAME_FROM, NAME_MAX_FORWARDS, NAME_TO, NAME_VIA,
  SipHeaders, hotNameEnd, hotNameIdAt, isValidSentBy, knownName, knownNameIdAt, parseCSeqAt, parseDecimalAt, parseViaAt,
} from './headers.ts';
import { parseNameAddrListAt, parseSingleNameAddrAt, parseUriAt, tokenEnd } from './uri.ts';

/** Stable error codes of a failed parse. */
export type ParseErrorCode =
  | 'SIP_ERR_PARSE'
  | 'SIP_ERR_TOO_LARGE'
  | 'SIP_ERR_TOO_MANY_HEADERS'
  | 'SIP_ERR_HEADER_TOO_LONG'
  | 'SIP_ERR_VERSION'
  | 'SIP_ERR_MISSING_HEADER'
  | 'SIP_ERR_CONTENT_LENGTH'
  | 'SIP_ERR_INCOMPLETE'
  /** The top Via of a request names no place a response could go (port 0, a malformed host). */
  | 'SIP_ERR_BAD_VIA';

/** Limits and framing mode. */
export interface ParseOptions {
  /** Largest message (datagram, or header section plus body on a stream). Default 65535. */
  maxMessageBytes?: number;
  /** Most header fields. Default 100. */
  maxHeaders?: number;
  /** Longest header field including folded lines. Default 8192. */
  maxHeaderBytes?: number;
  /**
   * Stream transport (TCP/TLS): Content-Length is required, a body shorter than declared is
   * `SIP_ERR_INCOMPLETE`, octets after the body belong to the next message. Default false (UDP:
   * no Content-Length means the body is the rest of the datagram; a short body is a 400).
   */
  stream?: boolean;
  /**
   * We are a user agent, not a proxy (default true): a response with more than one Via is
   * discarded (RFC 3261 §8.1.3.3). Set false to keep them (a proxy would).
   */
  endpoint?: boolean;
}

/** A failed parse. */
export interface ParseFailure {
  ok: false;
  code: ParseErrorCode;
  /** Human-readable detail for logs and a Warning header. */
  reason: string;
  /** SIP status to answer a request with (400, 413, 505, 513); undefined for responses (discard) and for SIP_ERR_INCOMPLETE. */
  status: number | undefined;
  /** True unless the start line began with `SIP/` (a status line). */
  isRequest: boolean;
  /** Raw Via/From/To/Call-ID/CSeq fields recovered so a 4xx can be built (requests only; in order). */
  fields: HeaderField[];
  /**
   * Bytes this message occupies when its framing was readable despite the error (stream mode:
   * skip them and carry on); undefined when framing is lost (close the connection).
   */
  consumed: number | undefined;
  /** For SIP_ERR_INCOMPLETE once the header section is complete: total bytes the message needs. */
  needed: number | undefined;
}

/** The outcome of {@link parse}. */
export type ParseResult =
  | { ok: true; message: SipMessage; /** Bytes of this message (leading CRLFs included). */ consumed: number }
  | ParseFailure;

/** Node's Buffer#latin1Slice (not in the typings): toString('latin1') without its argument dispatch. */
interface LatinSlicer {
  latin1Slice(start: number, end: number): string;
}

const CR = 0x0d;
const LF = 0x0a;
const LF_CRLF = Buffer.from('\n\r\n', 'latin1');
const LF_LF = Buffer.from('\n\n', 'latin1');
// Known-name indices of the headers read here, as module-private constants: V8 compiles those
// into the header loop's switch as numbers, an imported binding as a cell to load for each case.
const VIA = NAME_VIA, FROM = NAME_FROM, TO = NAME_TO, CALL_ID = NAME_CALL_ID, CSEQ = NAME_CSEQ,
  CONTENT_LENGTH = NAME_CONTENT_LENGTH, MAX_FORWARDS = NAME_MAX_FORWARDS, CONTACT = NAME_CONTACT, CONTENT_TYPE = NAME_CONTENT_TYPE;
/** Content-Length and CSeq numbers must stay below 2**31 (RFC 3261 §8.1.1.5, §20.14). */
const INT31_MAX = 2 ** 31 - 1;

function failure(code: ParseErrorCode, reason: string, status: number | undefined, isRequest: boolean,
  fields: HeaderField[] | undefined, consumed: number | undefined, needed: number | undefined): ParseFailure {
  let kept: HeaderField[] = [];
  if (isRequest && fields !== undefined) {
    kept = fields.filter((f) => f.name === 'Via' || f.name === 'From' || f.name === 'To' || f.name === 'Call-ID' || f.name === 'CSeq');
  }
  return { ok: false, code, reason, status: isRequest ? status : undefined, isRequest, fields: kept, consumed, needed };
}

/** True when buf[pos...] starts with `SIP/` (case-insensitive): a status line. */
function isStatusLine(buf: Buffer, pos: number): boolean {
  return buf.length - pos >= 4 && ((buf[pos]! | 0x20) === 0x73) && ((buf[pos + 1]! | 0x20) === 0x69)
    && ((buf[pos + 2]! | 0x20) === 0x70) && buf[pos + 3] === 0x2f;
}

/**
 * Index after the first `LF CRLF` (the CRLF empty line that ends the header section), else after
 * the first `LF LF`, or -1. A bare-LF empty line before the first `LF CRLF` is found by the header
 * loop, which stops at the first empty line whatever its form: one native search instead of two
 * over the whole body.
 */
function headerSectionEnd(buf: Buffer, pos: number): number {
  const a = buf.indexOf(LF_CRLF, pos);
  if (a >= 0) return a + 3;
  const b = buf.indexOf(LF_LF, pos);
  return b < 0 ? -1 : b + 2;
}

/**
 * Messages up to this many octets are decoded whole, with no search for the end of the header
 * section first: decoding a body of a few hundred octets costs less than that native search.
 */
const DECODE_WHOLE = 4096;

/**
 * The failure of a message whose header section has no end (or one beyond `maxMessage`), else
 * undefined: checked first for a long message, and on an error path of a message decoded whole,
 * so that both report the same thing.
 */
function sectionFailure(buf: Buffer, pos: number, maxMessage: number, stream: boolean, isRequest: boolean): ParseFailure | undefined {
  const hdrEnd = headerSectionEnd(buf, pos);
  if (hdrEnd >= 0 && hdrEnd - pos <= maxMessage) return undefined;
  if (buf.length - pos > maxMessage) {
    return failure('SIP_ERR_TOO_LARGE', `header section longer than ${maxMessage} bytes`, isRequest ? 513 : undefined, isRequest, undefined, undefined, undefined);
  }
  return stream ? failure('SIP_ERR_INCOMPLETE', 'header section not complete', undefined, isRequest, undefined, undefined, undefined)
    : failure('SIP_ERR_PARSE', 'no empty line after the header section', 400, isRequest, undefined, undefined, undefined);
}

/** The value s[vs, ve) with each line break and the whitespace after it replaced by one SP. */
function unfold(s: string, vs: number, ve: number): string {
  let out = '';
  let k = vs;
  for (;;) {
    const lf = s.indexOf('\n', k);
    if (lf < 0 || lf >= ve) return out + s.slice(k, ve);
    const cut = lf > k && s.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
    out += s.slice(k, cut) + ' ';
    k = lf + 1;
    while (k < ve && (s.charCodeAt(k) === 0x20 || s.charCodeAt(k) === 0x09)) k++;
  }
}

function isLws(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === CR || c === LF;
}

/** `SIP/2.0`, case-insensitively, at b[i, i+7). */
function isSip20(b: Buffer, i: number): boolean {
  return i + 7 <= b.length && (b[i]! | 0x20) === 0x73 && (b[i + 1]! | 0x20) === 0x69 && (b[i + 2]! | 0x20) === 0x70
    && b[i + 3] === 0x2f && b[i + 4] === 0x32 && b[i + 5] === 0x2e && b[i + 6] === 0x30;
}

/** `SIP/` 1*DIGIT `.` 1*DIGIT at b[i, e): a SIP version, maybe not ours. */
function isSipVersion(b: Buffer, i: number, e: number): boolean {
  if (e - i < 7 || (b[i]! | 0x20) !== 0x73 || (b[i + 1]! | 0x20) !== 0x69 || (b[i + 2]! | 0x20) !== 0x70 || b[i + 3] !== 0x2f) return false;
  let dots = 0;
  let digits = 0;
  for (let j = i + 4; j < e; j++) {
    const c = b[j]!;
    if (c === 0x2e) {
      if (digits === 0) return false;
      dots++;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      digits++;
    } else {
      return false;
    }
  }
  return dots === 1 && digits > 0;
}

// The first error found while reading the message; reported once the framing is known, so that a
// stream can skip a bad message and a 4xx can carry the fields that follow the bad line. Parsing
// is synchronous, so module state is safe and allocates nothing.
let errCode: ParseErrorCode | undefined;
let errReason = '';
let errStatus: number | undefined;

function defer(code: ParseErrorCode, reason: string, status: number | undefined): void {
  if (errCode !== undefined) return;
  errCode = code;
  errReason = reason;
  errStatus = status;
}

/**
 * Parse one SIP message from `buf` (a datagram, or the head of a stream buffer with
 * `stream: true`). Never throws. See {@link ParseOptions} for limits and framing.
 */
export function parse(buf: Buffer, opts?: ParseOptions): ParseResult {
  const maxMessage = opts?.maxMessageBytes ?? 65535;
  const maxHeaders = opts?.maxHeaders ?? 100;
  const maxField = opts?.maxHeaderBytes ?? 8192;
  const stream = opts?.stream === true;
  const len = buf.length;
  errCode = undefined;

  // RFC 3261 §7.5: CRLFs before the start line are ignored.
  let pos = 0;
  while (pos < len && (buf[pos] === CR || buf[pos] === LF)) pos++;
  const isRequest = !isStatusLine(buf, pos);
  const tooLarge = isRequest ? 513 : undefined;
  if (!stream && len > maxMessage) {
    return failure('SIP_ERR_TOO_LARGE', `datagram of ${len} bytes exceeds ${maxMessage}`, tooLarge, isRequest, undefined, undefined, undefined);
  }
  if (pos === len) {
    return stream ? failure('SIP_ERR_INCOMPLETE', 'no data', undefined, isRequest, undefined, undefined, undefined)
      : failure('SIP_ERR_PARSE', 'empty message', undefined, false, undefined, undefined, undefined);
  }
  // A message of up to DECODE_WHOLE octets is decoded whole and the header loop finds the empty
  // line itself; a longer one (a stream buffer holding more) is searched first so that only its
  // header section is decoded. Either way a message without an empty line fails as below, before
  // any error of its header lines (sectionFailure).
  const whole = len - pos <= DECODE_WHOLE && len - pos <= maxMessage;
  let hdrEnd = len;
  if (!whole) {
    hdrEnd = headerSectionEnd(buf, pos);
    if (hdrEnd < 0 || hdrEnd - pos > maxMessage) return sectionFailure(buf, pos, maxMessage, stream, isRequest)!;
  }
  // Decoded from 0 so that text offsets are buffer offsets.
  const text = (buf as Buffer & LatinSlicer).latin1Slice(0, hdrEnd);

  // ---- start line ----
  const sl = text.indexOf('\n', pos);
  if (sl < 0) return sectionFailure(buf, pos, maxMessage, stream, isRequest)!;
  let sle = sl > pos && buf[sl - 1] === CR ? sl - 1 : sl;
  if (sle - pos > maxField) defer('SIP_ERR_HEADER_TOO_LONG', 'start line too long', 400);
  let method = '';
  let uriText = '';
  let uri: SipUri | undefined;
  let status = 0;
  let reason = '';
  if (isRequest) {
    // Trailing whitespace is tolerated (RFC 4475 §3.1.2.10 allows either answer).
    while (sle > pos && (buf[sle - 1] === 0x20 || buf[sle - 1] === 0x09)) sle--;
    const m = tokenEnd(buf, pos, sle);
    // The version is the last word: ` SIP/2.0` is checked in place, anything else searched for.
    const vsp = sle - 8 > pos && buf[sle - 8] === 0x20 && isSip20(buf, sle - 7) ? sle - 8 : text.lastIndexOf(' ', sle - 1);
    if (m === pos || buf[m] !== 0x20 || vsp <= m) {
      defer('SIP_ERR_PARSE', 'malformed request line', 400);
    } else {
      method = text.slice(pos, m);
      if (sle - vsp - 1 !== 7 || !isSip20(buf, vsp + 1)) {
        if (isSipVersion(buf, vsp + 1, sle)) defer('SIP_ERR_VERSION', `unsupported version ${text.slice(vsp + 1, sle)}`, 505);
        else defer('SIP_ERR_PARSE', 'malformed request line', 400);
      }
      uriText = text.slice(m + 1, vsp);
      uri = parseUriAt(buf, text, m + 1, vsp);
      if (uri === undefined) defer('SIP_ERR_PARSE', 'malformed Request-URI', 400);
    }
  } else if (!isSip20(buf, pos) || buf[pos + 7] !== 0x20) {
    defer('SIP_ERR_VERSION', 'unsupported version in status line', undefined);
  } else {
    let code = 0;
    let j = pos + 8;
    for (; j < sle; j++) {
      const d = buf[j]! - 0x30;
      if (d < 0 || d > 9) break;
      code = code * 10 + d;
    }
    if (j !== pos + 11 || (j < sle && buf[j] !== 0x20) || code < 100 || code > 699) {
      defer('SIP_ERR_PARSE', 'malformed status code', undefined);
    } else {
      status = code;
      reason = j < sle ? text.slice(j + 1, sle) : '';
    }
  }

  // ---- header fields ----
  const fields: HeaderField[] = [];
  const via: Via[] = [];
  const contact: NameAddr[] = [];
  let from: NameAddr | undefined;
  let to: NameAddr | undefined;
  let callId: string | undefined;
  // Octet ranges of single-value headers, parsed after the loop (folded values: re-encoded copy).
  let cseqB = buf, cseqS = '', cseqI = 0, cseqE = 0;
  let clB = buf, clS = '', clI = -1, clE = 0;
  let mfB = buf, mfI = -1, mfE = 0;
  let nFrom = 0, nTo = 0, nCallId = 0, nCSeq = 0, nCl = 0, nMf = 0, nCt = 0;
  let i = sl + 1;
  for (;;) {
    const c = buf[i];
    if (c === LF || (c === CR && buf[i + 1] === LF)) {
      hdrEnd = c === LF ? i + 1 : i + 2;
      break;
    }
    if (c === 0x20 || c === 0x09) {
      return (whole ? sectionFailure(buf, pos, maxMessage, stream, isRequest) : undefined)
        ?? failure('SIP_ERR_PARSE', 'continuation line without a header', 400, isRequest, fields, undefined, undefined);
    }
    let e = text.indexOf('\n', i);
    let folded = false;
    for (;;) {
      if (e < 0) return sectionFailure(buf, pos, maxMessage, stream, isRequest)!;
      const n = buf[e + 1];
      if (n !== 0x20 && n !== 0x09) break;
      folded = true;
      e = text.indexOf('\n', e + 1);
    }
    if (e - i > maxField) {
      return (whole ? sectionFailure(buf, pos, maxMessage, stream, isRequest) : undefined)
        ?? failure('SIP_ERR_HEADER_TOO_LONG', `header field longer than ${maxField} bytes`, 400, isRequest, fields, undefined, undefined);
    }
    if (fields.length >= maxHeaders) {
      return (whole ? sectionFailure(buf, pos, maxMessage, stream, isRequest) : undefined)
        ?? failure('SIP_ERR_TOO_MANY_HEADERS', `more than ${maxHeaders} header fields`, 400, isRequest, fields, undefined, undefined);
    }
    // name SWS ":" — a known name implies token octets, so only an unknown one is checked. A
    // frequent name directly followed by ":" is found without searching for the colon.
    let id = hotNameIdAt(buf, i, e);
    let colon = hotNameEnd;
    let ne = colon;
    if (id < 0) {
      colon = text.indexOf(':', i);
      ne = colon;
      while (ne > i && (buf[ne - 1] === 0x20 || buf[ne - 1] === 0x09)) ne--;
      id = colon < 0 || colon > e || ne === i ? -1 : knownNameIdAt(buf, i, ne);
    }
    let name: string;
    if (id >= 0) {
      name = knownName(id);
    } else {
      if (colon < 0 || colon > e || ne === i || tokenEnd(buf, i, ne) !== ne) {
        return (whole ? sectionFailure(buf, pos, maxMessage, stream, isRequest) : undefined)
          ?? failure('SIP_ERR_PARSE', 'malformed header line', 400, isRequest, fields, undefined, undefined);
      }
      name = text.slice(i, ne);
    }
    let vs = colon + 1;
    let ve = e;
    // The usual `: value CRLF` first, without a loop; then any other whitespace.
    if (buf[vs] === 0x20) vs++;
    if (ve > vs && buf[ve - 1] === CR) ve--;
    while (vs < ve && isLws(buf[vs]!)) vs++;
    while (ve > vs && isLws(buf[ve - 1]!)) ve--;
    // The value's octets and text: the datagram itself, or a re-encoded unfolded copy.
    let vb = buf;
    let vt = text;
    let value: string;
    if (folded) {
      value = unfold(text, vs, ve);
      vb = Buffer.from(value, 'latin1');
      vt = value;
      vs = 0;
      ve = value.length;
    } else {
      value = text.slice(vs, ve);
    }
    fields.push({ name, value });
    i = e + 1;

    switch (id) {
      case VIA:
        if (!parseViaAt(vb, vt, vs, ve, via)) defer('SIP_ERR_PARSE', 'malformed Via', 400);
        break;
      case FROM:
        nFrom++;
        from = parseSingleNameAddrAt(vb, vt, vs, ve);
        if (from === undefined) defer('SIP_ERR_PARSE', 'malformed From', 400);
        break;
      case TO:
        nTo++;
        to = parseSingleNameAddrAt(vb, vt, vs, ve);
        if (to === undefined) defer('SIP_ERR_PARSE', 'malformed To', 400);
        break;
      case CALL_ID:
        nCallId++;
        callId = value;
        if (!isCallIdAt(vb, vs, ve)) defer('SIP_ERR_PARSE', 'malformed Call-ID', 400);
        break;
      case CSEQ:
        nCSeq++;
        cseqB = vb; cseqS = vt; cseqI = vs; cseqE = ve;
        break;
      case CONTENT_LENGTH:
        nCl++;
        clB = vb; clS = value; clI = vs; clE = ve;
        break;
      case MAX_FORWARDS:
        nMf++;
        mfB = vb; mfI = vs; mfE = ve;
        break;
      case CONTACT:
        if (!parseNameAddrListAt(vb, vt, vs, ve, contact)) defer('SIP_ERR_PARSE', 'malformed Contact', 400);
        break;
      case CONTENT_TYPE:
        nCt++;
        break;
      default:
        break;
    }
  }

  // ---- framing: Content-Length and the body ----
  let contentLength: number | undefined;
  if (nCl > 1) {
    return failure('SIP_ERR_CONTENT_LENGTH', 'more than one Content-Length', 400, isRequest, fields, undefined, undefined);
  }
  if (clI >= 0) {
    const n = parseDecimalAt(clB, clI, clE, INT31_MAX);
    if (n < 0) return failure('SIP_ERR_CONTENT_LENGTH', `bad Content-Length "${clS.slice(0, 32)}"`, 400, isRequest, fields, undefined, undefined);
    contentLength = n;
  } else if (stream) {
    return failure('SIP_ERR_MISSING_HEADER', 'no Content-Length on a stream', 400, isRequest, fields, undefined, undefined);
  }
  let consumed = len;
  if (contentLength !== undefined) {
    consumed = hdrEnd + contentLength;
    if (stream && consumed - pos > maxMessage) {
      return failure('SIP_ERR_TOO_LARGE', `message of ${consumed - pos} bytes exceeds ${maxMessage}`, isRequest ? 413 : undefined, isRequest, fields, undefined, undefined);
    }
    if (consumed > len) {
      return stream ? failure('SIP_ERR_INCOMPLETE', 'body not complete', undefined, isRequest, fields, undefined, consumed)
        : failure('SIP_ERR_CONTENT_LENGTH', `Content-Length ${contentLength} exceeds the ${len - hdrEnd} octets received`, 400, isRequest, fields, undefined, undefined);
    }
  }

  // ---- the rest of validation (RFC 3261 §8.1.1, §8.2.2.1, §20) ----
  let cseq: CSeq | undefined;
  let maxForwards: number | undefined;
  if (errCode === undefined) {
    if (via.length === 0 || nFrom === 0 || nTo === 0 || nCallId === 0 || nCSeq === 0) {
      const missing = via.length === 0 ? 'Via' : nFrom === 0 ? 'From' : nTo === 0 ? 'To' : nCallId === 0 ? 'Call-ID' : 'CSeq';
      defer('SIP_ERR_MISSING_HEADER', `no ${missing}`, 400);
    } else if (nFrom > 1 || nTo > 1 || nCallId > 1 || nCSeq > 1 || nMf > 1 || nCt > 1) {
      defer('SIP_ERR_PARSE', 'a single-value header appears more than once', 400);
    } else {
      cseq = parseCSeqAt(cseqB, cseqS, cseqI, cseqE);
      if (cseq === undefined) defer('SIP_ERR_PARSE', 'malformed CSeq', 400);
      else if (isRequest && cseq.method !== method) defer('SIP_ERR_PARSE', 'CSeq method differs from the request method', 400);
      if (mfI >= 0) {
        const n = parseDecimalAt(mfB, mfI, mfE, 255);
        if (n < 0) defer('SIP_ERR_PARSE', 'bad Max-Forwards', 400);
        else maxForwards = n;
      }
      // §18.2.2: the response goes to the sent-by port when there is no rport; a port of 0 made
      // dgram.send throw (one datagram took the engine down, issue 11).
      if (isRequest && !isValidSentBy(via[0]!)) defer('SIP_ERR_BAD_VIA', 'top Via sent-by is not a valid host and port', 400);
      if (!isRequest && opts?.endpoint !== false && via.length > 1) {
        defer('SIP_ERR_PARSE', 'response with more than one Via at a user agent (RFC 3261 §8.1.3.3)', undefined);
      }
    }
  }
  if (errCode !== undefined) return failure(errCode, errReason, errStatus, isRequest, fields, consumed, undefined);

  const headers = new SipHeaders(fields);
  headers.prime(via, from!, to!, callId!, cseq!, contentLength, maxForwards, contact);
  const body = buf.subarray(hdrEnd, consumed);
  let message: SipMessage;
  if (isRequest) {
    const req: SipRequest = { headers, body, kind: 'request', method, uriText, uri: uri!, version: 'SIP/2.0' };
    message = req;
  } else {
    const res: SipResponse = { headers, body, kind: 'response', status, reason, version: 'SIP/2.0' };
    message = res;
  }
  return { ok: true, message, consumed };
}

/** Call-ID = word [ "@" word ] at b[i, end): non-empty, no whitespace or controls. */
function isCallIdAt(b: Uint8Array, i: number, end: number): boolean {
  if (i >= end) return false;
  for (; i < end; i++) {
    const c = b[i]!;
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}
