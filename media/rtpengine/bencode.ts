/**
 * Bencode (the BitTorrent encoding), the body of rtpengine's ng control protocol. Four types:
 *
 * ```
 *  integer     i<decimal>e          i42e   i-7e   (no leading zeros, no "-0")
 *  byte string <length>:<bytes>     4:spam
 *  list        l<value>*e           l4:spami42ee
 *  dictionary  d(<string><value>)*e d3:cow3:mooe   (keys sorted bytewise on encode)
 * ```
 *
 * Byte strings are JavaScript strings of byte values 0-255 (latin1, as the SIP layer keeps header
 * values), so any bytes round-trip. Decoding works on the datagram Buffer with offsets and never
 * throws: every byte from the network is hostile, a bad one is a {@link BencodeFailure}.
 */

/** A decoded or encodable value. */
export type BValue = number | string | BValue[] | BDict;

/** A dictionary; decoded ones have no prototype, so a `__proto__` key is just a key. */
export interface BDict {
  [key: string]: BValue;
}

/** Why a buffer is not bencode (stable codes of the `BENCODE_ERR_` registry). */
export type BencodeErrorCode = 'BENCODE_ERR_TRUNCATED' | 'BENCODE_ERR_SYNTAX' | 'BENCODE_ERR_DEPTH' | 'BENCODE_ERR_RANGE' | 'BENCODE_ERR_TRAILING';

/** A decoding failure: where and why. */
export interface BencodeFailure {
  ok: false;
  code: BencodeErrorCode;
  reason: string;
  offset: number;
}

/** Result of {@link decode}. */
export type DecodeResult = { ok: true; value: BValue } | BencodeFailure;

/** Deepest nesting of lists and dictionaries accepted (rtpengine's replies nest five deep). */
export const MAX_DEPTH = 32;

const I = 0x69; // 'i'
const L = 0x6c; // 'l'
const D = 0x64; // 'd'
const E = 0x65; // 'e'
const COLON = 0x3a;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

class Failure {
  constructor(readonly code: BencodeErrorCode, readonly reason: string, readonly offset: number) {}
}

/** Decode exactly one value filling `buf[start, end)`; trailing bytes are an error. */
export function decode(buf: Buffer, start = 0, end = buf.length): DecodeResult {
  const r = decodeValue(buf, start, end, 0);
  if (r instanceof Failure) return { ok: false, code: r.code, reason: r.reason, offset: r.offset };
  if (r.next !== end) return { ok: false, code: 'BENCODE_ERR_TRAILING', reason: `${end - r.next} bytes after the value`, offset: r.next };
  return { ok: true, value: r.value };
}

interface Decoded {
  value: BValue;
  next: number;
}

function decodeValue(buf: Buffer, at: number, end: number, depth: number): Decoded | Failure {
  if (at >= end) return new Failure('BENCODE_ERR_TRUNCATED', 'value expected', at);
  const c = buf[at]!;
  if (c === I) return decodeInt(buf, at, end);
  if (c >= ZERO && c <= NINE) return decodeString(buf, at, end);
  if (c !== L && c !== D) return new Failure('BENCODE_ERR_SYNTAX', `unexpected byte 0x${c.toString(16)}`, at);
  if (depth >= MAX_DEPTH) return new Failure('BENCODE_ERR_DEPTH', `nested deeper than ${MAX_DEPTH}`, at);
  let p = at + 1;
  if (c === L) {
    const list: BValue[] = [];
    for (;;) {
      if (p >= end) return new Failure('BENCODE_ERR_TRUNCATED', 'unterminated list', p);
      if (buf[p] === E) return { value: list, next: p + 1 };
      const v = decodeValue(buf, p, end, depth + 1);
      if (v instanceof Failure) return v;
      list.push(v.value);
      p = v.next;
    }
  }
  const dict = Object.create(null) as BDict;
  for (;;) {
    if (p >= end) return new Failure('BENCODE_ERR_TRUNCATED', 'unterminated dictionary', p);
    if (buf[p] === E) return { value: dict, next: p + 1 };
    const k = buf[p]! >= ZERO && buf[p]! <= NINE ? decodeString(buf, p, end) : new Failure('BENCODE_ERR_SYNTAX', 'dictionary key is not a string', p);
    if (k instanceof Failure) return k;
    const v = decodeValue(buf, k.next, end, depth + 1);
    if (v instanceof Failure) return v;
    // A repeated key: the last one wins (rtpengine never repeats; nothing depends on it).
    dict[k.value as string] = v.value;
    p = v.next;
  }
}

/** `i<decimal>e`: digits read from bytes; beyond ±2^53 is refused, not rounded. */
function decodeInt(buf: Buffer, at: number, end: number): Decoded | Failure {
  let p = at + 1;
  let negative = false;
  if (p < end && buf[p] === MINUS) {
    negative = true;
    p++;
  }
  const first = p;
  let n = 0;
  while (p < end && buf[p]! >= ZERO && buf[p]! <= NINE) {
    n = n * 10 + (buf[p]! - ZERO);
    p++;
  }
  if (p >= end) return new Failure('BENCODE_ERR_TRUNCATED', 'unterminated integer', p);
  if (buf[p] !== E || p === first) return new Failure('BENCODE_ERR_SYNTAX', 'bad integer', p);
  const digits = p - first;
  if (digits > 1 && buf[first] === ZERO) return new Failure('BENCODE_ERR_SYNTAX', 'integer with a leading zero', first);
  if (negative && n === 0) return new Failure('BENCODE_ERR_SYNTAX', 'negative zero', first);
  if (digits > 16 || !Number.isSafeInteger(n)) return new Failure('BENCODE_ERR_RANGE', 'integer beyond 2^53', first);
  return { value: negative ? -n : n, next: p + 1 };
}

/** `<length>:<bytes>`: the length is bounded by what is left of the buffer. */
function decodeString(buf: Buffer, at: number, end: number): Decoded | Failure {
  let p = at;
  let len = 0;
  while (p < end && buf[p]! >= ZERO && buf[p]! <= NINE) {
    len = len * 10 + (buf[p]! - ZERO);
    if (len > end) return new Failure('BENCODE_ERR_TRUNCATED', 'string longer than the message', at);
    p++;
  }
  if (p >= end) return new Failure('BENCODE_ERR_TRUNCATED', 'unterminated string length', p);
  if (buf[p] !== COLON) return new Failure('BENCODE_ERR_SYNTAX', 'string length without ":"', p);
  if (p - at > 1 && buf[at] === ZERO) return new Failure('BENCODE_ERR_SYNTAX', 'string length with a leading zero', at);
  const from = p + 1;
  if (from + len > end) return new Failure('BENCODE_ERR_TRUNCATED', 'string longer than the message', at);
  return { value: buf.toString('latin1', from, from + len), next: from + len };
}

/**
 * Encode a value. Strings must be byte strings (every char ≤ 0xff) and numbers safe integers:
 * anything else is a programmer error and throws `TypeError` (requests are built by our code,
 * never from network input).
 */
export function encode(value: BValue): Buffer {
  const parts: string[] = [];
  encodeInto(value, parts, 0);
  return Buffer.from(parts.join(''), 'latin1');
}

function encodeInto(v: BValue, out: string[], depth: number): void {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`bencode: ${v} is not a safe integer`);
    out.push(`i${v}e`);
    return;
  }
  if (typeof v === 'string') {
    for (let i = 0; i < v.length; i++) if (v.charCodeAt(i) > 0xff) throw new TypeError('bencode: string is not a byte string');
    out.push(`${v.length}:`, v);
    return;
  }
  if (depth >= MAX_DEPTH) throw new TypeError(`bencode: nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(v)) {
    out.push('l');
    for (const x of v) encodeInto(x, out, depth + 1);
    out.push('e');
    return;
  }
  out.push('d');
  // Keys in raw byte order (the spec's rule): latin1 strings compare by code unit, which is the byte.
  for (const k of Object.keys(v).sort(compareBytes)) {
    encodeInto(k, out, depth + 1);
    encodeInto(v[k]!, out, depth + 1);
  }
  out.push('e');
}

function compareBytes(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
