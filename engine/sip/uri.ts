/**
 * URIs and name-addr values (RFC 3261 §19.1, §20.10, §25.1; RFC 3966 for tel).
 *
 * Values arrive as octets plus their latin1 string (one char per octet, same offsets): octets
 * are scanned through a character-class table, strings are only sliced for results. No regular
 * expressions (CONVENTIONS.md 3).
 *
 * ```
 *  sip:alice:secret@[2001:db8::1]:5061;transport=tcp;lr?subject=hi&priority=urgent
 *  \_/ \___/ \____/ \___________/ \__/ \___________________/ \___________________/
 * scheme user password   host      port       params                headers
 *
 *  "Alice \"A\"" <sip:alice@example.com>;tag=9fxced76sl       name-addr + header params
 *  sip:alice@example.com;tag=9fxced76sl                        addr-spec: ;params are the header's
 * ```
 */
import { isIPv6 } from 'node:net';
import type { NameAddr, Params, SipUri } from './message.ts';

// ---- character classes ----------------------------------------------------------------------

/** RFC 3261 token: alphanum and `-.!%*_+\`'~`. */
export const C_TOKEN = 1;
/** SP or HTAB (the parser has already joined folded lines). */
export const C_WS = 2;
/** Octets never allowed inside a URI: controls, SP, `<`, `>`, `"`. */
const C_URI_BAD = 4;
/** Letters, digits, `-`, `.`, `_`: hostname and IPv4 octets. */
const C_HOST = 8;
/** Octets that end an unquoted header parameter value: controls, SP, `;`, `,`, `"`, `<`, `>`. */
const C_PVALUE_END = 16;
/** Scheme characters after the first letter: ALPHA / DIGIT / `+` / `-` / `.`. */
const C_SCHEME = 32;
/** ASCII letter. */
const C_ALPHA = 64;
/** Octets that the URI scans stop at: `@ : ; ? = &` (one test per octet for the rest). */
const C_URI_DELIM = 128;

/**
 * Character-class table indexed by octet. Scanning loops read it through a local constant
 * (`const T = CHARS`): about 15% less time per octet than reading the module binding in the loop
 * (Node 20, measured on a URI scan). It is not exported: optimized code reloads an exported
 * binding from its cell and checks the table's map and length at every read, while it compiles a
 * module-private constant in as the table's address. That is about a fifth of the cost of each
 * scanned octet (callgrind, Node 20).
 */
const CHARS = new Uint8Array(256);
(function fillCharClasses(): void {
  for (let c = 0; c < 256; c++) {
    let f = 0;
    const ch = String.fromCharCode(c);
    const alpha = (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    const digit = c >= 0x30 && c <= 0x39;
    if (alpha) f |= C_ALPHA;
    if ('@:;?=&'.includes(ch)) f |= C_URI_DELIM;
    if (alpha || digit) f |= C_TOKEN | C_HOST | C_SCHEME;
    if ('-.!%*_+`\'~'.includes(ch)) f |= C_TOKEN;
    if ('-._'.includes(ch)) f |= C_HOST;
    if ('+-.'.includes(ch)) f |= C_SCHEME;
    if (c === 0x20 || c === 0x09) f |= C_WS;
    if (c <= 0x20 || c === 0x7f || '<>"'.includes(ch)) f |= C_URI_BAD;
    if (c <= 0x20 || c === 0x7f || ';,"<>'.includes(ch)) f |= C_PVALUE_END;
    CHARS[c] = f;
  }
})();

/*
 * Every scanner below reads octets from `b` and slices results from `s`, a latin1 string with the
 * same offsets (the parser passes the datagram and its decoded header section; string entry
 * points pass `Buffer.from(text, 'latin1')` and the text). Indexing a Uint8Array is about three
 * times cheaper than String#charCodeAt. Every read is bounds-checked against `end` first: an
 * out-of-range read yields undefined, and one such key would make the table loads generic.
 */

/** Index of the first non-SP/HTAB octet at or after `i`. */
export function skipWs(b: Uint8Array, i: number, end: number): number {
  const T = CHARS;
  while (i < end && (T[b[i]!]! & C_WS) !== 0) i++;
  return i;
}

/** Index after a run of token octets starting at `i`. */
export function tokenEnd(b: Uint8Array, i: number, end: number): number {
  const T = CHARS;
  while (i < end && (T[b[i]!]! & C_TOKEN) !== 0) i++;
  return i;
}

/** s[i, end) lower-cased, without a second string when it already is. */
export function lowerSlice(b: Uint8Array, s: string, i: number, end: number): string {
  for (let j = i; j < end; j++) {
    const c = b[j]!;
    if (c >= 0x41 && c <= 0x5a) return s.slice(i, end).toLowerCase();
  }
  return s.slice(i, end);
}

/** True when b[i, i+lit.length) equals the lower-case ASCII `lit`, ignoring case. */
function litEq(b: Uint8Array, i: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++) if ((b[i + k]! | 0x20) !== lit.charCodeAt(k)) return false;
  return true;
}

/**
 * A parameter name, lower-cased: the common ones come back as shared constants (no new string,
 * hash already computed for the Map), others are sliced.
 */
function paramName(b: Uint8Array, s: string, i: number, e: number): string {
  switch (e - i) {
    case 1: if ((b[i]! | 0x20) === 0x71) return 'q'; break;
    case 2: if (litEq(b, i, 'lr')) return 'lr'; break;
    case 3: if (litEq(b, i, 'tag')) return 'tag'; if (litEq(b, i, 'ttl')) return 'ttl'; break;
    case 4: if (litEq(b, i, 'user')) return 'user'; if (litEq(b, i, 'ftag')) return 'ftag'; break;
    case 5: if (litEq(b, i, 'rport')) return 'rport'; if (litEq(b, i, 'maddr')) return 'maddr'; break;
    case 6: if (litEq(b, i, 'branch')) return 'branch'; if (litEq(b, i, 'method')) return 'method'; break;
    case 7: if (litEq(b, i, 'expires')) return 'expires'; break;
    case 8: if (litEq(b, i, 'received')) return 'received'; break;
    case 9: if (litEq(b, i, 'transport')) return 'transport'; if (litEq(b, i, 'refresher')) return 'refresher'; break;
    default: break;
  }
  return lowerSlice(b, s, i, e);
}

/**
 * End of the quoted-string opening at `i` (index after the closing quote), or -1 when it is not
 * terminated. A quoted-pair (`\` and any octet) is skipped whole (RFC 3261 §25.1).
 */
export function quotedEnd(b: Uint8Array, i: number, end: number): number {
  for (let j = i + 1; j < end; j++) {
    const c = b[j]!;
    if (c === 0x5c) {
      j++;
      if (j >= end) return -1;
    } else if (c === 0x22) {
      return j + 1;
    }
  }
  return -1;
}

/** Contents of the quoted-string s[i, e) (quotes included) with quoted-pairs unescaped. */
export function unquote(s: string, i: number, e: number): string {
  const inner = s.slice(i + 1, e - 1);
  if (inner.indexOf('\\') < 0) return inner;
  let out = '';
  for (let j = 0; j < inner.length; j++) {
    const c = inner[j]!;
    if (c === '\\' && j + 1 < inner.length) {
      out += inner[j + 1]!;
      j++;
    } else {
      out += c;
    }
  }
  return out;
}

/** `"..."` with `"` and `\` escaped as quoted-pairs. */
export function quote(text: string): string {
  let out = '"';
  for (let j = 0; j < text.length; j++) {
    const c = text[j]!;
    out += c === '"' || c === '\\' ? '\\' + c : c;
  }
  return out + '"';
}

/** Index of octet `c` in b[i, end), or -1. */
function findByte(b: Uint8Array, c: number, i: number, end: number): number {
  for (; i < end; i++) if (b[i] === c) return i;
  return -1;
}

// ---- parameters -----------------------------------------------------------------------------

/**
 * Parse header parameters `*( SWS ";" SWS name [ SWS "=" SWS value ] )` starting at `i` into
 * `into` (keys lower-cased; a quoted value keeps its quotes so that it round-trips; a flag has
 * value null), or only check them when `into` is undefined. Returns the index after the last
 * parameter (trailing SWS skipped), or -1 when a parameter is empty or malformed (`;;`, `;=x`,
 * `;a=`).
 */
export function parseParamsAt(b: Uint8Array, s: string, i: number, end: number, into: Params | undefined): number {
  const T = CHARS;
  for (;;) {
    i = skipWs(b, i, end);
    if (i >= end || b[i] !== 0x3b /* ; */) return i;
    const n = skipWs(b, i + 1, end);
    const ne = tokenEnd(b, n, end);
    if (ne === n) return -1;
    let j = skipWs(b, ne, end);
    if (j < end && b[j] === 0x3d /* = */) {
      const v = skipWs(b, j + 1, end);
      let ve: number;
      if (v < end && b[v] === 0x22) {
        ve = quotedEnd(b, v, end);
        if (ve < 0) return -1;
      } else {
        ve = v;
        while (ve < end && (T[b[ve]!]! & C_PVALUE_END) === 0) ve++;
        if (ve === v) return -1;
      }
      if (into !== undefined) into.set(paramName(b, s, n, ne), s.slice(v, ve));
      j = ve;
    } else if (into !== undefined) {
      into.set(paramName(b, s, n, ne), null);
    }
    i = j;
  }
}

/** `;name=value;flag` for a parameter map (empty string when there are none). */
export function formatParams(params: Params): string {
  let out = '';
  for (const [k, v] of params) out += v === null ? ';' + k : ';' + k + '=' + v;
  return out;
}

// ---- URIs ---------------------------------------------------------------------------------

/** Schemes returned as shared constants (no allocation for the common case). */
function schemeOf(b: Uint8Array, s: string, i: number, e: number): string {
  const n = e - i;
  if (n === 3 && litEq(b, i, 'sip')) return 'sip';
  if (n === 4 && litEq(b, i, 'sips')) return 'sips';
  if (n === 3 && litEq(b, i, 'tel')) return 'tel';
  return lowerSlice(b, s, i, e);
}

/**
 * Parse `;name[=value]` URI parameters from `i` until `?` or `end` into `into` (or only check
 * them); returns the stop index or -1.
 */
function uriParamsAt(b: Uint8Array, s: string, i: number, end: number, into: Params | undefined): number {
  const T = CHARS;
  while (i < end && b[i] === 0x3b) {
    let j = i + 1;
    let eq = -1;
    for (; j < end; j++) {
      const c = b[j]!;
      const f = T[c]!;
      if ((f & (C_URI_BAD | C_URI_DELIM)) === 0) continue;
      if (c === 0x3b || c === 0x3f) break;
      if (c === 0x3d && eq < 0) eq = j;
      if ((f & C_URI_BAD) !== 0) return -1;
    }
    const nameEnd = eq < 0 ? j : eq;
    if (nameEnd === i + 1) return -1;
    if (into !== undefined) into.set(paramName(b, s, i + 1, nameEnd), eq < 0 ? null : s.slice(eq + 1, j));
    i = j;
  }
  return i;
}

/** Parse `?name=value&...` URI headers from `i` (at `?`) to `end` into `into` (or only check them); false if malformed. */
function uriHeadersAt(b: Uint8Array, s: string, i: number, end: number, into: Map<string, string> | undefined): boolean {
  const T = CHARS;
  while (i < end) {
    let j = i + 1;
    let eq = -1;
    for (; j < end; j++) {
      const c = b[j]!;
      if (c === 0x26) break;
      if (c === 0x3d && eq < 0) eq = j;
      if ((T[c]! & C_URI_BAD) !== 0) return false;
    }
    if (eq < 0 || eq === i + 1) return false;
    if (into !== undefined) into.set(s.slice(i + 1, eq), s.slice(eq + 1, j));
    i = j;
  }
  return true;
}

/** Octets of the text a {@link LazyMap} parses on first use (grown as needed, never shrunk). */
let scratch = new Uint8Array(256);

/** Which parser a {@link LazyMap} runs on first use. */
type LazySource = 'header-params' | 'uri-params' | 'uri-headers';

/**
 * A parameter map of a parsed message, built on first use: the parser has checked the text
 * (so parsing it again cannot fail) but builds no `Map`, because most parameters of most
 * messages are never read (URI parameters, URI headers, Contact parameters). Each
 * `new Map()` and `set` costs more than the whole scan of `;user=phone`.
 *
 * It is a `Map` to every reader and writer: `instanceof Map`, every method, `size`, iteration,
 * `new Map(it)`, spread, `Object.prototype.toString`. It is not a native Map for code that asks
 * the engine itself (`util.types.isMap`, `structuredClone`, `Map.prototype.get.call`); nothing
 * here does. It keeps the decoded header text it came from (which the parsed strings of the
 * message share anyway), never the datagram. (A lazy getter on the URI would not do: `params`
 * must stay an own data property, for spreads such as `{ ...uri, params }` and for snapshots
 * built with `Object.entries`.)
 */
class LazyMap<V> implements Map<string, V> {
  #map: Map<string, V> | undefined = undefined;
  #text: string;
  #start: number;
  #end: number;
  readonly #source: LazySource;

  /** A map that holds what parsing text[start, end) as `source` gives (already checked). */
  constructor(text: string, start: number, end: number, source: LazySource) {
    this.#text = text;
    this.#start = start;
    this.#end = end;
    this.#source = source;
  }

  #fill(): Map<string, V> {
    const m = new Map<string, V>();
    const n = this.#end - this.#start;
    if (n > 0) {
      const raw = this.#text.slice(this.#start, this.#end);
      // The scanners read octets: copy them into a shared scratch buffer (parsing is
      // synchronous) rather than allocating one per map.
      if (scratch.length < n) scratch = new Uint8Array(Math.max(n, scratch.length * 2));
      const b = scratch;
      for (let k = 0; k < n; k++) b[k] = raw.charCodeAt(k);
      if (this.#source === 'header-params') parseParamsAt(b, raw, 0, n, m as Map<string, unknown> as Params);
      else if (this.#source === 'uri-params') uriParamsAt(b, raw, 0, n, m as Map<string, unknown> as Params);
      else uriHeadersAt(b, raw, 0, n, m as Map<string, unknown> as Map<string, string>);
    }
    this.#map = m;
    this.#text = '';
    return m;
  }

  get size(): number {
    return (this.#map ?? this.#fill()).size;
  }

  get(key: string): V | undefined {
    return (this.#map ?? this.#fill()).get(key);
  }

  has(key: string): boolean {
    return (this.#map ?? this.#fill()).has(key);
  }

  set(key: string, value: V): this {
    (this.#map ?? this.#fill()).set(key, value);
    return this;
  }

  delete(key: string): boolean {
    return (this.#map ?? this.#fill()).delete(key);
  }

  clear(): void {
    this.#map = new Map();
    this.#text = '';
  }

  forEach(fn: (value: V, key: string, map: Map<string, V>) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#map ?? this.#fill()) fn.call(thisArg, v, k, this);
  }

  entries(): MapIterator<[string, V]> {
    return (this.#map ?? this.#fill()).entries();
  }

  keys(): MapIterator<string> {
    return (this.#map ?? this.#fill()).keys();
  }

  values(): MapIterator<V> {
    return (this.#map ?? this.#fill()).values();
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return (this.#map ?? this.#fill()).entries();
  }

  get [Symbol.toStringTag](): string {
    return 'Map';
  }
}
// `instanceof Map` (test helpers, tap's comparison, consumers) must hold; every Map method is
// overridden above, so none of Map.prototype's native ones ever runs on a LazyMap.
Object.setPrototypeOf(LazyMap.prototype, Map.prototype);

/** Port digits b[i, e): 1-5 digits up to 65535, else -1. */
function portOf(b: Uint8Array, i: number, e: number): number {
  if (e === i || e - i > 5) return -1;
  let n = 0;
  for (let j = i; j < e; j++) {
    const d = b[j]! - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n <= 65535 ? n : -1;
}

/**
 * Host at b[i, ...): a bracketed IPv6 reference (validated, brackets kept: a `:` inside the
 * brackets is never a port separator) or a hostname / IPv4 address (lower-cased). Sets
 * {@link hostEndIndex}; returns undefined when malformed.
 */
export function parseHostAt(b: Uint8Array, s: string, i: number, end: number): string | undefined {
  const T = CHARS;
  if (i < end && b[i] === 0x5b /* [ */) {
    const rb = findByte(b, 0x5d, i, end);
    if (rb < 0) return undefined;
    const inner = s.slice(i + 1, rb);
    if (!isIPv6(inner)) return undefined;
    hostEndIndex = rb + 1;
    return '[' + inner.toLowerCase() + ']';
  }
  let j = i;
  let upper = false;
  for (; j < end; j++) {
    const c = b[j]!;
    if ((T[c]! & C_HOST) === 0) break;
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (j === i) return undefined;
  hostEndIndex = j;
  return upper ? s.slice(i, j).toLowerCase() : s.slice(i, j);
}
/** Where the host read by the last {@link parseHostAt} call ended. */
export let hostEndIndex = 0;

/** Every URI is built here, so that all have one shape (V8 hidden class) with fields in this order. */
function makeUri(scheme: string, user: string, password: string | undefined, host: string, port: number | undefined,
  params: Params, headers: Map<string, string>, opaque: string | undefined): SipUri {
  return { scheme, user, password, host, port, params, headers, opaque };
}

/** The Contact wildcard `*` as a URI: scheme `''`, host `*`. */
function starUri(): SipUri {
  return makeUri('', '', undefined, '*', undefined, new LazyMap('', 0, 0, 'uri-params'), new LazyMap('', 0, 0, 'uri-headers'), undefined);
}

/**
 * Parse the URI at b[start, end) (s: the same octets as a latin1 string). sip/sips: user,
 * password, host (IPv6 in brackets), port, params, headers; tel: number and params; any other
 * scheme: kept opaque. Returns undefined when it is not a URI: no scheme, whitespace or `<>"`
 * inside, unbracketed IPv6, bad port, empty parameter name. Parameters and headers are checked
 * here and put into a `Map` on first use ({@link LazyMap}).
 */
export function parseUriAt(b: Uint8Array, s: string, start: number, end: number): SipUri | undefined {
  const T = CHARS;
  if (start >= end || (T[b[start]!]! & C_ALPHA) === 0) return undefined;
  let p = start + 1;
  while (p < end && (T[b[p]!]! & C_SCHEME) !== 0) p++;
  if (p >= end || b[p] !== 0x3a /* : */) return undefined;
  const scheme = schemeOf(b, s, start, p);
  p++;
  if (p >= end) return undefined;
  // Octets a URI never holds (whitespace, controls, `<>"`) are rejected by whichever scan below
  // visits them first: the search for `@`, the host, port, parameter and header scans.
  if (scheme === 'sip' || scheme === 'sips') {
    // One pass finds the `@` ending the userinfo and the first `:` in it (the password).
    let at = -1;
    let colon = -1;
    for (let j = p; j < end; j++) {
      const c = b[j]!;
      const f = T[c]!;
      if ((f & (C_URI_BAD | C_URI_DELIM)) === 0) continue;
      if (c === 0x40) {
        at = j;
        break;
      }
      if (c === 0x3a) {
        if (colon < 0) colon = j;
      } else if ((f & C_URI_BAD) !== 0) {
        return undefined;
      }
    }
    let user = '';
    let password: string | undefined;
    if (at >= 0) {
      if (at === p) return undefined;
      if (colon >= 0) {
        user = s.slice(p, colon);
        password = s.slice(colon + 1, at);
      } else {
        user = s.slice(p, at);
      }
      p = at + 1;
    }
    const host = parseHostAt(b, s, p, end);
    if (host === undefined) return undefined;
    p = hostEndIndex;
    let port: number | undefined;
    if (p < end && b[p] === 0x3a) {
      let e = p + 1;
      while (e < end && b[e] !== 0x3b && b[e] !== 0x3f) e++;
      const n = portOf(b, p + 1, e);
      if (n < 0) return undefined;
      port = n;
      p = e;
    }
    if (p < end && b[p] !== 0x3b && b[p] !== 0x3f) return undefined;
    const ps = p;
    p = uriParamsAt(b, s, p, end, undefined);
    if (p < 0) return undefined;
    if (p < end && !uriHeadersAt(b, s, p, end, undefined)) return undefined;
    return makeUri(scheme, user, password, host, port, new LazyMap(s, ps, p, 'uri-params'), new LazyMap(s, p, end, 'uri-headers'), undefined);
  }
  if (scheme === 'tel') {
    let e = p;
    while (e < end && b[e] !== 0x3b) {
      if ((T[b[e]!]! & C_URI_BAD) !== 0) return undefined;
      e++;
    }
    if (e === p) return undefined;
    if (uriParamsAt(b, s, e, end, undefined) !== end) return undefined;
    return makeUri(scheme, s.slice(p, e), undefined, '', undefined, new LazyMap(s, e, end, 'uri-params'), new LazyMap(s, 0, 0, 'uri-headers'), undefined);
  }
  for (let j = p; j < end; j++) if ((T[b[j]!]! & C_URI_BAD) !== 0) return undefined;
  return makeUri(scheme, '', undefined, '', undefined, new LazyMap(s, 0, 0, 'uri-params'), new LazyMap(s, 0, 0, 'uri-headers'), s.slice(p, end));
}

/** Parse a whole string as a URI (see {@link parseUriAt}). */
export function parseUri(text: string): SipUri | undefined {
  return parseUriAt(Buffer.from(text, 'latin1'), text, 0, text.length);
}

/** The text form of a URI (inverse of {@link parseUri}). The Contact wildcard formats as `*`. */
export function formatUri(u: SipUri): string {
  if (u.scheme === '' && u.host === '*') return '*';
  if (u.opaque !== undefined) return u.scheme + ':' + u.opaque;
  let out = u.scheme + ':';
  if (u.scheme === 'tel') return out + u.user + formatParams(u.params);
  if (u.user !== '') out += u.password === undefined ? u.user + '@' : u.user + ':' + u.password + '@';
  out += u.host;
  if (u.port !== undefined) out += ':' + u.port;
  out += formatParams(u.params);
  let sep = '?';
  for (const [k, v] of u.headers) {
    out += sep + k + '=' + v;
    sep = '&';
  }
  return out;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  c |= 0x20;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** `%XX` escapes decoded to their octet (a `%` that is no escape is kept as is). */
export function unescapeUri(s: string): string {
  if (s.indexOf('%') < 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length) {
      const h = hexVal(s.charCodeAt(i + 1));
      const l = hexVal(s.charCodeAt(i + 2));
      if (h >= 0 && l >= 0) {
        out += String.fromCharCode(h * 16 + l);
        i += 2;
        continue;
      }
    }
    out += s[i]!;
  }
  return out;
}

/** Parameters with unescaped, lower-cased names and unescaped values (for comparison). */
function normParams(p: Params, lowerValues: boolean): Map<string, string | null> {
  const m = new Map<string, string | null>();
  for (const [k, v] of p) {
    const val = v === null ? null : unescapeUri(v);
    m.set(unescapeUri(k).toLowerCase(), val !== null && lowerValues ? val.toLowerCase() : val);
  }
  return m;
}

/** URI parameters that make two URIs differ when only one has them (RFC 3261 §19.1.4). */
const SIGNIFICANT_PARAMS = new Set(['user', 'ttl', 'method', 'maddr', 'transport']);

/** tel numbers compare without visual separators (RFC 3966 §4). */
function telDigits(n: string): string {
  let out = '';
  for (const ch of n) if (ch !== '-' && ch !== '.' && ch !== '(' && ch !== ')') out += ch.toLowerCase();
  return out;
}

/**
 * URI equality per RFC 3261 §19.1.4: same scheme; user and password compared case-sensitively
 * after unescaping; host case-insensitively; ports equal (an absent port does not equal 5060);
 * a parameter present in both must match (case-insensitively); `user`, `ttl`, `method`,
 * `maddr` and `transport` must be in both or neither (the RFC's rule text omits `transport`, but
 * its own examples count `;transport=udp` as significant); other one-sided parameters are
 * ignored; URI headers must be the same set. tel URIs compare numbers without visual separators and all parameters
 * (RFC 3966 §4); other schemes compare their unescaped text.
 */
export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme) return false;
  if (a.opaque !== undefined || b.opaque !== undefined) {
    return a.opaque !== undefined && b.opaque !== undefined && unescapeUri(a.opaque) === unescapeUri(b.opaque);
  }
  if (a.scheme === 'tel') {
    if (telDigits(unescapeUri(a.user)) !== telDigits(unescapeUri(b.user))) return false;
    const pa = normParams(a.params, true);
    const pb = normParams(b.params, true);
    if (pa.size !== pb.size) return false;
    for (const [k, v] of pa) if (!pb.has(k) || pb.get(k) !== v) return false;
    return true;
  }
  if (unescapeUri(a.user) !== unescapeUri(b.user)) return false;
  if ((a.password === undefined) !== (b.password === undefined)) return false;
  if (a.password !== undefined && unescapeUri(a.password) !== unescapeUri(b.password ?? '')) return false;
  if (unescapeUri(a.host).toLowerCase() !== unescapeUri(b.host).toLowerCase()) return false;
  if (a.port !== b.port) return false;
  const pa = normParams(a.params, true);
  const pb = normParams(b.params, true);
  for (const [k, v] of pa) {
    if (pb.has(k)) {
      if (pb.get(k) !== v) return false;
    } else if (SIGNIFICANT_PARAMS.has(k)) {
      return false;
    }
  }
  for (const k of pb.keys()) if (!pa.has(k) && SIGNIFICANT_PARAMS.has(k)) return false;
  if (a.headers.size !== b.headers.size) return false;
  const hb = new Map<string, string>();
  for (const [k, v] of b.headers) hb.set(unescapeUri(k).toLowerCase(), unescapeUri(v));
  for (const [k, v] of a.headers) if (hb.get(unescapeUri(k).toLowerCase()) !== unescapeUri(v)) return false;
  return true;
}

// ---- name-addr ------------------------------------------------------------------------------

/** Where the last {@link parseNameAddrAt} call stopped (at `,` or `end`). */
export let nameAddrEndIndex = 0;

/**
 * Parse one name-addr or addr-spec with its header parameters at b[i, end):
 *
 * ```
 *  "Display \"Name\"" <sip:u@h;uri-param>;hdr-param=v     quoted display name
 *  Display Name <sip:u@h>;tag=x                          display name of tokens
 *  sip:u@h;tag=x                                         addr-spec: ;tag is a header parameter
 * ```
 *
 * In the addr-spec form the URI ends at the first `;`, `,` or whitespace (RFC 3261 §20).
 * Stops after trailing whitespace, at a `,` or `end` (see {@link nameAddrEndIndex}); returns
 * undefined when malformed: unterminated quote, a display name that is not tokens, whitespace
 * inside `<>`, a bad URI or an empty parameter.
 */
export function parseNameAddrAt(b: Uint8Array, s: string, i: number, end: number, lazyParams: boolean): NameAddr | undefined {
  i = skipWs(b, i, end);
  if (i >= end) return undefined;
  let displayName: string | undefined;
  let c = b[i]!;
  if (c === 0x22) {
    const qe = quotedEnd(b, i, end);
    if (qe < 0) return undefined;
    displayName = unquote(s, i, qe);
    i = skipWs(b, qe, end);
    if (i >= end || b[i] !== 0x3c) return undefined;
  } else if (c !== 0x3c) {
    // Tokens up to `<` are a display name; a first token followed by `:` starts an addr-spec.
    let j = i;
    for (;;) {
      const te = tokenEnd(b, j, end);
      if (te === j) return undefined;
      if (j === i && te < end && b[te] === 0x3a) break;
      j = skipWs(b, te, end);
      if (j < end && b[j] === 0x3c) {
        displayName = s.slice(i, te);
        i = j;
        break;
      }
      if (j === te || j >= end) return undefined;
    }
  }
  let uri: SipUri | undefined;
  c = b[i]!;
  if (c === 0x3c) {
    const gt = s.indexOf('>', i);
    if (gt < 0 || gt >= end) return undefined;
    uri = parseUriAt(b, s, i + 1, gt);
    i = gt + 1;
  } else {
    let e = i;
    while (e < end) {
      const d = b[e]!;
      if (d === 0x3b || d === 0x2c || d === 0x20 || d === 0x09) break;
      e++;
    }
    uri = parseUriAt(b, s, i, e);
    i = e;
  }
  if (uri === undefined) return undefined;
  let params: Params;
  if (lazyParams) {
    const ps = i;
    i = parseParamsAt(b, s, i, end, undefined);
    if (i < 0) return undefined;
    params = new LazyMap(s, ps, i, 'header-params');
  } else {
    params = new Map();
    i = parseParamsAt(b, s, i, end, params);
    if (i < 0) return undefined;
  }
  nameAddrEndIndex = i;
  return { displayName, uri, params };
}

/**
 * Parse b[i, end) as exactly one name-addr / addr-spec (From, To, Refer-To...). Its parameters
 * are a plain Map: the tag of From and To is read for every message.
 */
export function parseSingleNameAddrAt(b: Uint8Array, s: string, i: number, end: number): NameAddr | undefined {
  const na = parseNameAddrAt(b, s, i, end, false);
  return na !== undefined && nameAddrEndIndex === end ? na : undefined;
}

/** Parse a whole string as one name-addr / addr-spec (From, To, Refer-To...). */
export function parseNameAddr(text: string): NameAddr | undefined {
  return parseSingleNameAddrAt(Buffer.from(text, 'latin1'), text, 0, text.length);
}

/**
 * Parse the comma list of name-addrs at b[i, end) (Contact, Route, Record-Route...) into `out`.
 * A lone `*` (Contact wildcard) gives a value whose uri has scheme `''` and host `*`. Returns
 * false when an element is malformed or empty. Parameters are built on first use
 * ({@link LazyMap}): those of a Contact are read for a REGISTER, not for an INVITE.
 */
export function parseNameAddrListAt(b: Uint8Array, s: string, i: number, end: number, out: NameAddr[]): boolean {
  i = skipWs(b, i, end);
  // STAR alone (RFC 3261 §20.10); `*x <sip:...>` is a display name, `*` being a token char.
  if (i < end && b[i] === 0x2a /* * */ && skipWs(b, i + 1, end) === end) {
    out.push({ displayName: undefined, uri: starUri(), params: new Map() });
    return true;
  }
  for (;;) {
    const na = parseNameAddrAt(b, s, i, end, true);
    if (na === undefined) return false;
    out.push(na);
    i = nameAddrEndIndex;
    if (i >= end) return true;
    if (b[i] !== 0x2c) return false;
    i++;
  }
}

/** {@link parseNameAddrListAt} over a whole string. */
export function parseNameAddrListInto(text: string, out: NameAddr[]): boolean {
  return parseNameAddrListAt(Buffer.from(text, 'latin1'), text, 0, text.length, out);
}

/** True when a display name can be written without quotes (tokens separated by single spaces). */
function isTokens(text: string): boolean {
  if (text.length === 0) return false;
  let prevSpace = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x20) {
      if (prevSpace) return false;
      prevSpace = true;
    } else if ((CHARS[c & 0xff]! & C_TOKEN) === 0) {
      return false;
    } else {
      prevSpace = false;
    }
  }
  return !prevSpace;
}

/**
 * The text form of a name-addr: `"Display" <uri>;params`. The URI is always in `<>` so that its
 * own parameters are never taken for header parameters. Display names that are plain tokens are
 * written unquoted, as received.
 */
export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== undefined) out = (isTokens(na.displayName) ? na.displayName : quote(na.displayName)) + ' ';
  return out + '<' + formatUri(na.uri) + '>' + formatParams(na.params);
}
