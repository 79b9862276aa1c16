/**
 * Header names and header values: the canonical name table (with RFC 3261 §7.3.3 compact forms),
 * parsers for Via, CSeq and credentials, and {@link SipHeaders}, the ordered field list with
 * cached parsed views that every {@link SipMessage} carries.
 */
import type { AuthHeader, CSeq, HeaderField, Headers, NameAddr, Params, Via } from './message.ts';
import {
  formatParams, hostEndIndex, lowerSlice, parseHostAt, parseNameAddr, parseNameAddrListInto, parseParamsAt,
  quotedEnd, skipWs, tokenEnd, unquote,
} from './uri.ts';

/** Octets of a byte string (a header value) for the scanners, which read octets. */
function octets(s: string): Buffer {
  return Buffer.from(s, 'latin1');
}

// ---- names ----------------------------------------------------------------------------------

/**
 * Header names known to this stack, in their canonical capitalisation. The first nine are the
 * headers the parser reads itself, at the indices of the `NAME_*` constants below (it switches on
 * the index); the rest are in alphabetical order.
 */
const KNOWN_NAMES = [
  'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Content-Length', 'Max-Forwards', 'Contact', 'Content-Type',
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Authentication-Info', 'Authorization', 'Call-Info', 'Content-Disposition',
  'Content-Encoding', 'Content-Language', 'Date', 'Diversion',
  'Error-Info', 'Event', 'Expires', 'History-Info', 'Identity', 'Identity-Info', 'In-Reply-To',
  'MIME-Version', 'Min-Expires', 'Min-SE', 'Organization', 'P-Asserted-Identity',
  'P-Preferred-Identity', 'P-Charging-Vector', 'P-Access-Network-Info', 'Path', 'Priority', 'Privacy',
  'Proxy-Authenticate', 'Proxy-Authorization', 'Proxy-Require', 'RAck', 'Reason', 'Record-Route', 'Refer-To',
  'Referred-By', 'Reject-Contact', 'Remote-Party-ID', 'Replaces', 'Reply-To', 'Request-Disposition', 'Require',
  'Retry-After', 'Route', 'RSeq', 'Security-Client', 'Security-Server', 'Security-Verify', 'Server',
  'Service-Route', 'Session-Expires', 'SIP-ETag', 'SIP-If-Match', 'Subject', 'Subscription-State', 'Supported',
  'Timestamp', 'Unsupported', 'User-Agent', 'Warning', 'WWW-Authenticate',
] as const;

/** Indices in the known-name table ({@link knownNameIdAt}) of the headers the parser reads. */
export const NAME_VIA = 0, NAME_FROM = 1, NAME_TO = 2, NAME_CALL_ID = 3, NAME_CSEQ = 4, NAME_CONTENT_LENGTH = 5,
  NAME_MAX_FORWARDS = 6, NAME_CONTACT = 7, NAME_CONTENT_TYPE = 8;
// The parser switches on these numbers: a reordered table must fail at load, not misparse.
for (const [id, name] of [[NAME_VIA, 'Via'], [NAME_FROM, 'From'], [NAME_TO, 'To'], [NAME_CALL_ID, 'Call-ID'], [NAME_CSEQ, 'CSeq'],
  [NAME_CONTENT_LENGTH, 'Content-Length'], [NAME_MAX_FORWARDS, 'Max-Forwards'], [NAME_CONTACT, 'Contact'], [NAME_CONTENT_TYPE, 'Content-Type']] as const) {
  if (KNOWN_NAMES[id] !== name) throw new Error(`headers.ts: KNOWN_NAMES[${id}] must be ${name}`);
}

/** The canonical name of known-name index `id` (from {@link knownNameIdAt}). */
export function knownName(id: number): string {
  return KNOWN_NAMES[id]!;
}

/**
 * Compact forms: RFC 3261 §7.3.3 (i m e l c f s k t v), RFC 3515 (r), RFC 3892 (b), RFC 4028
 * (x), RFC 6665 (u o), RFC 8224 (y), RFC 3841 (a j d).
 */
const COMPACT: Readonly<Record<string, string>> = {
  i: 'Call-ID', m: 'Contact', e: 'Content-Encoding', l: 'Content-Length', c: 'Content-Type', f: 'From',
  s: 'Subject', k: 'Supported', t: 'To', v: 'Via', r: 'Refer-To', b: 'Referred-By', x: 'Session-Expires',
  u: 'Allow-Events', o: 'Event', y: 'Identity', a: 'Accept-Contact', j: 'Reject-Contact', d: 'Request-Disposition',
};

/** Headers whose value is a comma list (RFC 3261 §7.3.1): getAll() splits them. */
const LIST_HEADERS = new Set<string>([
  'Accept', 'Accept-Contact', 'Accept-Encoding', 'Accept-Language', 'Alert-Info', 'Allow', 'Allow-Events',
  'Call-Info', 'Contact', 'Content-Encoding', 'Content-Language', 'Diversion', 'Error-Info', 'History-Info',
  'In-Reply-To', 'P-Asserted-Identity', 'P-Preferred-Identity', 'Path', 'Proxy-Require', 'Reason',
  'Record-Route', 'Reject-Contact', 'Request-Disposition', 'Require', 'Route', 'Security-Client',
  'Security-Server', 'Security-Verify', 'Service-Route', 'Supported', 'Unsupported', 'Via', 'Warning',
]);

const BY_LOWER = new Map<string, string>();
for (const n of KNOWN_NAMES) BY_LOWER.set(n.toLowerCase(), n);

/** Longest known name: longer names are not looked up. */
const MAX_KNOWN = Math.max(...KNOWN_NAMES.map((n) => n.length));
/**
 * Each known name as little-endian 32-bit words, a (word, mask) pair per four octets, candidate k's
 * first pair at WORD_AT[k]: the word holds the lower-cased octets, the mask 0xdf for a letter
 * (either case matches), 0xff for any other octet and 0 past the end of the name. Four octets per
 * step cost fewer instructions than an octet-by-octet loop: V8 checks the array and reloads its
 * data pointer for each read in a loop iteration, but once for reads next to each other.
 * SLOT[(length << 8) | lower-cased first octet] is the first candidate of that length and first
 * octet plus one (0: none), NEXT[k] the next one: flat typed arrays, so that the lookup loads no
 * object (it runs for every header line).
 */
const NAME_WORDS = new Int32Array(KNOWN_NAMES.reduce((n, name) => n + 2 * Math.ceil(name.length / 4), 0));
const WORD_AT = new Uint16Array(KNOWN_NAMES.length);
const NEXT = new Uint8Array(KNOWN_NAMES.length + 1);
const SLOT = new Uint8Array((MAX_KNOWN + 1) << 8);
{
  let at = 0;
  KNOWN_NAMES.forEach((name, k) => {
    const lower = name.toLowerCase();
    WORD_AT[k] = at;
    for (let j = 0; j < name.length; j += 4, at += 2) {
      let word = 0;
      let mask = 0;
      for (let b = 0; b < 4 && j + b < name.length; b++) {
        const c = lower.charCodeAt(j + b);
        word |= c << (8 * b);
        mask |= (c >= 0x61 && c <= 0x7a ? 0xdf : 0xff) << (8 * b);
      }
      NAME_WORDS[at] = word;
      NAME_WORDS[at + 1] = mask;
    }
    const slot = (name.length << 8) | lower.charCodeAt(0);
    NEXT[k + 1] = SLOT[slot]!;
    SLOT[slot] = k + 1;
  });
}
/** Known-name index of each compact form (both cases), -1 for other octets. */
const COMPACT_ID = new Int8Array(256).fill(-1);
for (const [k, v] of Object.entries(COMPACT)) {
  const id = KNOWN_NAMES.indexOf(v as (typeof KNOWN_NAMES)[number]);
  COMPACT_ID[k.charCodeAt(0)] = id;
  COMPACT_ID[k.toUpperCase().charCodeAt(0)] = id;
}
/** ASCII lower-case of every octet. */
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;

/**
 * The known-name index ({@link knownName}) of the header name at buf[start, end) when it is a
 * known name or compact form (any case), else -1 (the caller keeps the name as received).
 * Candidates are found by length and first octet, then compared four octets at a time: no string
 * is built.
 */
export function knownNameIdAt(buf: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n === 1) return COMPACT_ID[buf[start]!]!;
  if (n > MAX_KNOWN || n < 1) return -1;
  // The last word may read up to three octets past the name (masked out): only inside `buf`.
  const wordEnd = start + ((n + 3) & ~3);
  const W = NAME_WORDS;
  outer: for (let k = SLOT[(n << 8) | LOWER[buf[start]!]!]!; k !== 0; k = NEXT[k]!) {
    let w = WORD_AT[k - 1]!;
    if (wordEnd <= buf.length) {
      for (let j = start; j < end; j += 4, w += 2) {
        const x = buf[j]! | (buf[j + 1]! << 8) | (buf[j + 2]! << 16) | (buf[j + 3]! << 24);
        if (((x ^ W[w]!) & W[w + 1]!) !== 0) continue outer;
      }
    } else {
      for (let j = start; j < end; j++) {
        const shift = 8 * ((j - start) & 3);
        const word = W[w + 2 * ((j - start) >> 2)]!;
        const mask = W[w + 1 + 2 * ((j - start) >> 2)]!;
        if (((buf[j]! ^ (word >> shift)) & (mask >> shift) & 0xff) !== 0) continue outer;
      }
    }
    return k - 1;
  }
  return -1;
}

/**
 * Frequent header names, most frequent first: {@link hotNameIdAt} tries their lengths (and then the
 * compact form) for each first octet.
 */
const HOT_NAMES = [
  'Via', 'From', 'To', 'Call-ID', 'CSeq', 'Contact', 'Content-Length', 'Content-Type', 'Max-Forwards',
  'Record-Route', 'Route', 'Allow', 'Supported', 'Require', 'Session-Expires', 'User-Agent', 'Server', 'Expires',
  'Event', 'Subscription-State', 'Authorization', 'WWW-Authenticate', 'Proxy-Authorization', 'Proxy-Authenticate',
  'P-Asserted-Identity', 'Accept', 'Min-SE', 'RSeq', 'RAck', 'Reason', 'Privacy', 'Date', 'Timestamp', 'Warning',
  'Unsupported', 'Allow-Events', 'Content-Disposition', 'Diversion', 'Remote-Party-ID', 'Refer-To',
] as const;
/** Name lengths to try per lower-cased first octet, 0-terminated: PROBES slots per octet. */
const PROBES = 6;
const PROBE_LEN = new Uint8Array(256 * PROBES);
for (const name of HOT_NAMES) {
  const at = name.toLowerCase().charCodeAt(0) * PROBES;
  for (let p = at; p < at + PROBES - 2; p++) {
    if (PROBE_LEN[p] === name.length) break;
    if (PROBE_LEN[p] === 0) {
      PROBE_LEN[p] = name.length;
      break;
    }
  }
}
for (const k of Object.keys(COMPACT)) {
  const at = k.charCodeAt(0) * PROBES;
  let p = at;
  while (PROBE_LEN[p] !== 0) p++;
  PROBE_LEN[p] = 1;
}

/** Where the name found by the last successful {@link hotNameIdAt} call ends (at its `:`). */
export let hotNameEnd = 0;

/**
 * The known-name index of a frequent header name (or compact form) at buf[start...] followed
 * directly by `:` before `limit`, the usual `Name: value`, else -1 (then the caller searches for
 * the colon and calls {@link knownNameIdAt}). The lengths of the frequent names with that first
 * octet are tried in turn: a few octet reads instead of a search. Sets {@link hotNameEnd}.
 */
export function hotNameIdAt(buf: Uint8Array, start: number, limit: number): number {
  const at = LOWER[buf[start]!]! * PROBES;
  for (let p = at; ; p++) {
    const n = PROBE_LEN[p]!;
    if (n === 0) return -1;
    const colon = start + n;
    if (colon < limit && buf[colon] === 0x3a) {
      const id = knownNameIdAt(buf, start, colon);
      if (id >= 0) {
        hotNameEnd = colon;
        return id;
      }
    }
  }
}

/**
 * The canonical name of the header name at buf[start, end) when it is a known name or compact
 * form, else undefined (see {@link knownNameIdAt}).
 */
export function knownNameAt(buf: Uint8Array, start: number, end: number): string | undefined {
  const id = knownNameIdAt(buf, start, end);
  return id < 0 ? undefined : KNOWN_NAMES[id];
}

/**
 * Canonical form of a header name: compact forms expanded, known names capitalised as in their
 * RFC (`call-id` → `Call-ID`, `www-authenticate` → `WWW-Authenticate`), others as given.
 */
export function canonicalName(name: string): string {
  if (name.length === 1) return COMPACT[name.toLowerCase()] ?? name;
  return BY_LOWER.get(name.toLowerCase()) ?? name;
}

/** ASCII case-insensitive equality of two names. */
function sameName(a: string, b: string): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (LOWER[a.charCodeAt(i) & 0xff] !== LOWER[b.charCodeAt(i) & 0xff]) return false;
  return true;
}

// ---- values ---------------------------------------------------------------------------------

/**
 * Split a comma list at top-level commas (not inside quotes or `<>`), trimming elements and
 * dropping empty ones.
 */
export function splitList(value: string, out: string[]): void {
  const b = octets(value);
  const end = b.length;
  let start = 0;
  let angle = false;
  for (let i = 0; i < end; i++) {
    const c = b[i]!;
    if (c === 0x22) {
      const q = quotedEnd(b, i, end);
      if (q < 0) break;
      i = q - 1;
    } else if (c === 0x3c) {
      angle = true;
    } else if (c === 0x3e) {
      angle = false;
    } else if (c === 0x2c && !angle) {
      const item = value.slice(start, i).trim();
      if (item !== '') out.push(item);
      start = i + 1;
    }
  }
  const last = value.slice(start).trim();
  if (last !== '') out.push(last);
}

/** `SIP` and `2.0` give the shared constant; anything else is built. */
function protocolOf(b: Uint8Array, s: string, n: number, ne: number, v: number, ve: number): string {
  if (ne - n === 3 && ve - v === 3 && (b[n]! | 0x20) === 0x73 && (b[n + 1]! | 0x20) === 0x69 && (b[n + 2]! | 0x20) === 0x70
    && b[v] === 0x32 && b[v + 1] === 0x2e && b[v + 2] === 0x30) return 'SIP/2.0';
  return s.slice(n, ne).toUpperCase() + '/' + s.slice(v, ve);
}

/** Upper-case transport; the common ones as shared constants. */
function transportOf(b: Uint8Array, s: string, i: number, e: number): string {
  if (e - i === 3) {
    const c0 = b[i]! | 0x20, c1 = b[i + 1]! | 0x20, c2 = b[i + 2]! | 0x20;
    if (c0 === 0x75 && c1 === 0x64 && c2 === 0x70) return 'UDP';
    if (c0 === 0x74 && c1 === 0x63 && c2 === 0x70) return 'TCP';
    if (c0 === 0x74 && c1 === 0x6c && c2 === 0x73) return 'TLS';
  }
  return s.slice(i, e).toUpperCase();
}

/** Skip SWS, a `/` and SWS; -1 when there is no `/`. */
function slashAt(b: Uint8Array, i: number, end: number): number {
  i = skipWs(b, i, end);
  if (i >= end || b[i] !== 0x2f) return -1;
  return skipWs(b, i + 1, end);
}

/**
 * Parse every Via value of one field at b[i, end) into `out`:
 *
 * ```
 *  SIP / 2.0 / UDP  host.example.com : 5060 ;branch=z9hG4bK776asdhds ;rport , SIP/2.0/TCP [2001:db8::1]
 *  \______________/ \______________________/ \_________________________/
 *   sent-protocol          sent-by                  via-params          next value
 * ```
 *
 * LWS is allowed around `/`, `:`, `;` and `=` (RFC 3261 §25.1). Returns false on a malformed
 * or empty value (`;;`, `,,`).
 */
export function parseViaAt(b: Uint8Array, s: string, i: number, end: number, out: Via[]): boolean {
  for (;;) {
    const n = skipWs(b, i, end);
    const ne = tokenEnd(b, n, end);
    if (ne === n) return false;
    const v = slashAt(b, ne, end);
    if (v < 0) return false;
    const ve = tokenEnd(b, v, end);
    if (ve === v) return false;
    const t = slashAt(b, ve, end);
    if (t < 0) return false;
    const te = tokenEnd(b, t, end);
    if (te === t) return false;
    const h = skipWs(b, te, end);
    if (h === te) return false;
    const host = parseHostAt(b, s, h, end);
    if (host === undefined) return false;
    let p = hostEndIndex;
    let port: number | undefined;
    const c = skipWs(b, p, end);
    if (c < end && b[c] === 0x3a) {
      const d = skipWs(b, c + 1, end);
      let de = d;
      let val = 0;
      while (de < end && de - d < 6) {
        const digit = b[de]! - 0x30;
        if (digit < 0 || digit > 9) break;
        val = val * 10 + digit;
        de++;
      }
      if (de === d || val > 65535) return false;
      port = val;
      p = de;
    }
    const params: Params = new Map();
    p = parseParamsAt(b, s, p, end, params);
    if (p < 0) return false;
    const branch = params.get('branch');
    out.push({
      protocol: protocolOf(b, s, n, ne, v, ve),
      transport: transportOf(b, s, t, te),
      host,
      port,
      branch: branch === null ? undefined : branch,
      params,
    });
    if (p >= end) return true;
    if (b[p] !== 0x2c) return false;
    i = p + 1;
  }
}

/** The text form of one Via value: `SIP/2.0/UDP host:port;params` (branch is in `params`). */
export function formatVia(v: Via): string {
  return v.protocol + '/' + v.transport + ' ' + v.host + (v.port === undefined ? '' : ':' + v.port) + formatParams(v.params);
}

/**
 * True when a Via sent-by is one a response can be sent to (RFC 3261 §25.1, §18.2.2): a port, if
 * given, in 1..65535 (the grammar allows `0`, which no socket can be sent to), and a host that is a
 * bracketed IPv6 reference (checked by the parser), a dotted IPv4 address of four octets 0-255, or
 * a hostname whose labels are alphanumeric with inner hyphens. (RFC 3261's toplabel starts with a
 * letter; RFC 1123 let labels start with a digit and devices do, so only an all-digit name must be
 * an IPv4 address.) Checked on the top Via of every request at the edge, before a transaction
 * exists.
 */
export function isValidSentBy(via: Pick<Via, 'host' | 'port'>): boolean {
  const port = via.port;
  if (port !== undefined && (port < 1 || port > 65535)) return false;
  return isHostSyntax(via.host);
}

/** `host` of RFC 3261 §25.1: `[IPv6]` (the parser validated it), IPv4address or hostname. */
export function isHostSyntax(host: string): boolean {
  const n = host.length;
  if (n === 0 || n > 255) return false;
  if (host.charCodeAt(0) === 0x5b) return n > 2 && host.charCodeAt(n - 1) === 0x5d;
  // Only digits and dots: must be an IPv4 address (read in the same pass); anything else a hostname.
  const v4 = ipv4Syntax(host);
  return v4 === NOT_NUMERIC ? isHostnameSyntax(host) : v4 === 1;
}

const NOT_NUMERIC = -1;

/**
 * 1 for four decimal octets 0-255 (no empty part, no leading zero), 0 for another string of digits
 * and dots, {@link NOT_NUMERIC} as soon as another character shows it is no IPv4 address at all.
 */
function ipv4Syntax(host: string): number {
  let parts = 0;
  let value = 0;
  let digits = 0;
  let valid = 1;
  for (let i = 0; i <= host.length; i++) {
    const c = i < host.length ? host.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (digits === 0 || value > 255 || ++parts > 4) valid = 0;
      value = 0;
      digits = 0;
      continue;
    }
    if (c < 0x30 || c > 0x39) return NOT_NUMERIC;
    if (digits > 0 && value === 0) valid = 0; // leading zero ("01")
    value = value * 10 + (c - 0x30);
    if (++digits > 3) valid = 0;
  }
  return parts === 4 ? valid : 0;
}

/** hostname = *( domainlabel "." ) toplabel [ "." ]; labels alphanumeric, inner hyphens (RFC 1123). */
function isHostnameSyntax(host: string): boolean {
  const n = host.charCodeAt(host.length - 1) === 0x2e ? host.length - 1 : host.length;
  if (n === 0) return false;
  let labelStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i < n ? host.charCodeAt(i) : 0x2e;
    if (c === 0x2e) {
      if (i === labelStart || host.charCodeAt(i - 1) === 0x2d) return false; // empty label, trailing hyphen
      labelStart = i + 1;
      continue;
    }
    const alnum = (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);
    if (!alnum && (c !== 0x2d || i === labelStart)) return false;
  }
  return true;
}

/** {@link parseViaAt} over a whole string. */
export function parseViaInto(value: string, out: Via[]): boolean {
  return parseViaAt(octets(value), value, 0, value.length, out);
}

/** The largest CSeq number plus one (RFC 3261 §8.1.1.5: less than 2**31). */
const CSEQ_LIMIT = 2 ** 31;

/** Parse `4711 INVITE` at b[i, end); undefined unless the number is below 2**31 and the method a token. */
export function parseCSeqAt(b: Uint8Array, s: string, i: number, end: number): CSeq | undefined {
  i = skipWs(b, i, end);
  let seq = 0;
  const d = i;
  while (i < end) {
    const digit = b[i]! - 0x30;
    if (digit < 0 || digit > 9) break;
    seq = seq * 10 + digit;
    i++;
    if (seq >= CSEQ_LIMIT) return undefined;
  }
  if (i === d) return undefined;
  const m = skipWs(b, i, end);
  if (m === i) return undefined;
  const me = tokenEnd(b, m, end);
  if (me === m || skipWs(b, me, end) !== end) return undefined;
  return { seq, method: s.slice(m, me) };
}

/** Parse a CSeq value (see {@link parseCSeqAt}). */
export function parseCSeq(value: string): CSeq | undefined {
  return parseCSeqAt(octets(value), value, 0, value.length);
}

/**
 * Parse a non-negative decimal at b[i, end) (Content-Length, Max-Forwards, Expires) with
 * optional surrounding SWS; -1 when not 1*DIGIT or above `max`.
 */
export function parseDecimalAt(b: Uint8Array, i: number, end: number, max: number): number {
  i = skipWs(b, i, end);
  const d = i;
  let n = 0;
  while (i < end) {
    const digit = b[i]! - 0x30;
    if (digit < 0 || digit > 9) break;
    n = n * 10 + digit;
    if (n > max) return -1;
    i++;
  }
  if (i === d || skipWs(b, i, end) !== end) return -1;
  return n;
}

/** Parse a decimal header value (see {@link parseDecimalAt}). */
export function parseDecimal(value: string, max: number): number {
  return parseDecimalAt(octets(value), 0, value.length, max);
}

/**
 * Parse credentials or challenges into `out`:
 *
 * ```
 *  Digest username="bob", realm="atlanta.com", nonce="ea9c8e88", qop=auth, nc=00000001
 *  \____/ \________________________________________________________________________/
 *  scheme                  auth-params (quotes removed, names lower-cased)
 * ```
 *
 * A token not followed by `=` starts the next challenge (`Digest a=1, Basic realm="x"` gives
 * two). Returns false when malformed.
 */
export function parseAuthInto(s: string, out: AuthHeader[]): boolean {
  const b = octets(s);
  const end = b.length;
  let i = skipWs(b, 0, end);
  if (i >= end) return false;
  let cur: AuthHeader | undefined;
  while (i < end) {
    const n = i;
    const ne = tokenEnd(b, n, end);
    if (ne === n) return false;
    const eq = skipWs(b, ne, end);
    if (cur === undefined || eq >= end || b[eq] !== 0x3d) {
      cur = { scheme: s.slice(n, ne), params: new Map() };
      out.push(cur);
      i = skipWs(b, ne, end);
      if (i === ne && i < end) return false;
      continue;
    }
    const v = skipWs(b, eq + 1, end);
    let ve: number;
    let value: string;
    if (v < end && b[v] === 0x22) {
      ve = quotedEnd(b, v, end);
      if (ve < 0) return false;
      value = unquote(s, v, ve);
    } else {
      ve = v;
      while (ve < end) {
        const c = b[ve]!;
        if (c === 0x2c || c === 0x20 || c === 0x09) break;
        ve++;
      }
      if (ve === v) return false;
      value = s.slice(v, ve);
    }
    cur.params.set(lowerSlice(b, s, n, ne), value);
    i = skipWs(b, ve, end);
    if (i < end) {
      if (b[i] !== 0x2c) return false;
      i = skipWs(b, i + 1, end);
    }
  }
  return true;
}

// ---- the header list ------------------------------------------------------------------------

/** Thrown when a view of a mandatory header is read on a message that was built without it. */
export class MissingHeaderError extends Error {
  readonly code = 'SIP_ERR_MISSING_HEADER';
  constructor(name: string) {
    super(`message has no valid ${name} header`);
    this.name = 'MissingHeaderError';
  }
}

/** The placeholder of a list view not computed yet (never returned). */
const NO_VALUES: never[] = Object.freeze([]) as never[];

// One bit per cached view: set when the view field holds the parsed value.
const V_VIA = 1, V_FROM = 2, V_TO = 4, V_CALLID = 8, V_CSEQ = 16, V_CL = 32, V_MF = 64, V_CONTACT = 128,
  V_ROUTE = 256, V_RR = 512, V_AUTH = 1024;

/** Which cached views a header name feeds. */
function viewBits(canonical: string): number {
  switch (canonical) {
    case 'Via': return V_VIA;
    case 'From': return V_FROM;
    case 'To': return V_TO;
    case 'Call-ID': return V_CALLID;
    case 'CSeq': return V_CSEQ;
    case 'Content-Length': return V_CL;
    case 'Max-Forwards': return V_MF;
    case 'Contact': return V_CONTACT;
    case 'Route': return V_ROUTE;
    case 'Record-Route': return V_RR;
    case 'Authorization': case 'Proxy-Authorization': case 'WWW-Authenticate': case 'Proxy-Authenticate': return V_AUTH;
    default: return 0;
  }
}

type AuthName = 'Authorization' | 'Proxy-Authorization' | 'WWW-Authenticate' | 'Proxy-Authenticate';

/**
 * The {@link Headers} implementation: ordered raw fields plus cached parsed views.
 *
 * The parser fills the views of the hot headers (Via, From, To, Call-ID, CSeq, Content-Length,
 * Max-Forwards, Contact) at parse time; Route, Record-Route and credentials are parsed on first
 * read (a malformed one reads as empty, never throws). A mutation drops the cached view of the
 * name it touched. On a message that was built without From, To, Call-ID or CSeq (or with a
 * malformed one) reading that view throws {@link MissingHeaderError}: a programming error.
 */
export class SipHeaders implements Headers {
  // Fields are assigned in the constructor, not by initializers: one shape either way, but V8 runs
  // initializers as a separate function that the parser's call to `new` did not inline.
  declare readonly fields: HeaderField[];
  declare private valid: number;
  declare private _via: Via[];
  declare private _from: NameAddr | undefined;
  declare private _to: NameAddr | undefined;
  declare private _callId: string;
  declare private _cseq: CSeq | undefined;
  declare private _contentLength: number | undefined;
  declare private _maxForwards: number | undefined;
  declare private _contact: NameAddr[];
  declare private _route: NameAddr[];
  declare private _recordRoute: NameAddr[];
  declare private _auth: Map<string, AuthHeader[]> | undefined;

  /** Fields are taken as given (names should be canonical; see {@link canonicalName}). */
  constructor(fields: HeaderField[] = []) {
    this.fields = fields;
    this.valid = 0;
    // A view is only read once its bit in `valid` is set: until then, one shared empty list.
    this._via = NO_VALUES;
    this._from = undefined;
    this._to = undefined;
    this._callId = '';
    this._cseq = undefined;
    this._contentLength = undefined;
    this._maxForwards = undefined;
    this._contact = NO_VALUES;
    this._route = NO_VALUES;
    this._recordRoute = NO_VALUES;
    this._auth = undefined;
  }

  /**
   * Install the views the parser computed. Internal to the parser: the values must be what
   * parsing `fields` gives.
   * @internal
   */
  prime(via: Via[], from: NameAddr, to: NameAddr, callId: string, cseq: CSeq, contentLength: number | undefined,
    maxForwards: number | undefined, contact: NameAddr[]): void {
    this._via = via;
    this._from = from;
    this._to = to;
    this._callId = callId;
    this._cseq = cseq;
    this._contentLength = contentLength;
    this._maxForwards = maxForwards;
    this._contact = contact;
    this.valid |= V_VIA | V_FROM | V_TO | V_CALLID | V_CSEQ | V_CL | V_MF | V_CONTACT;
  }

  get(name: string): string | undefined {
    const canon = canonicalName(name);
    const f = this.fields;
    for (let i = 0; i < f.length; i++) if (sameName(f[i]!.name, canon)) return f[i]!.value;
    return undefined;
  }

  getAll(name: string): string[] {
    const canon = canonicalName(name);
    const split = LIST_HEADERS.has(canon);
    const out: string[] = [];
    for (const f of this.fields) {
      if (!sameName(f.name, canon)) continue;
      if (split && f.value.indexOf(',') >= 0) splitList(f.value, out);
      else out.push(f.value);
    }
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  set(name: string, value: string): void {
    const canon = canonicalName(name);
    const f = this.fields;
    let at = -1;
    for (let i = f.length - 1; i >= 0; i--) {
      if (sameName(f[i]!.name, canon)) {
        f.splice(i, 1);
        at = i;
      }
    }
    const field = { name: canon, value };
    if (at < 0) f.push(field);
    else f.splice(at, 0, field);
    this.valid &= ~viewBits(canon);
  }

  append(name: string, value: string, opts?: { first?: boolean }): void {
    const canon = canonicalName(name);
    const field = { name: canon, value };
    if (opts?.first === true) {
      const f = this.fields;
      let i = 0;
      while (i < f.length && !sameName(f[i]!.name, canon)) i++;
      f.splice(i === f.length ? 0 : i, 0, field);
    } else {
      this.fields.push(field);
    }
    this.valid &= ~viewBits(canon);
  }

  remove(name: string): void {
    const canon = canonicalName(name);
    const f = this.fields;
    for (let i = f.length - 1; i >= 0; i--) if (sameName(f[i]!.name, canon)) f.splice(i, 1);
    this.valid &= ~viewBits(canon);
  }

  /** Every value of a name-addr list header; [] when absent or when any value is malformed. */
  private nameAddrs(name: string): NameAddr[] {
    const out: NameAddr[] = [];
    for (const f of this.fields) if (sameName(f.name, name) && !parseNameAddrListInto(f.value, out)) return [];
    return out;
  }

  get via(): Via[] {
    if ((this.valid & V_VIA) === 0) {
      const out: Via[] = [];
      for (const f of this.fields) if (sameName(f.name, 'Via') && !parseViaInto(f.value, out)) break;
      this._via = out;
      this.valid |= V_VIA;
    }
    return this._via;
  }

  get from(): NameAddr {
    if ((this.valid & V_FROM) === 0) {
      this._from = this.singleNameAddr('From');
      this.valid |= V_FROM;
    }
    return this._from!;
  }

  get to(): NameAddr {
    if ((this.valid & V_TO) === 0) {
      this._to = this.singleNameAddr('To');
      this.valid |= V_TO;
    }
    return this._to!;
  }

  private singleNameAddr(name: string): NameAddr {
    const v = this.get(name);
    const na = v === undefined ? undefined : parseNameAddr(v);
    if (na === undefined) throw new MissingHeaderError(name);
    return na;
  }

  get callId(): string {
    if ((this.valid & V_CALLID) === 0) {
      const v = this.get('Call-ID');
      if (v === undefined || v === '') throw new MissingHeaderError('Call-ID');
      this._callId = v;
      this.valid |= V_CALLID;
    }
    return this._callId;
  }

  get cseq(): CSeq {
    if ((this.valid & V_CSEQ) === 0) {
      const v = this.get('CSeq');
      const c = v === undefined ? undefined : parseCSeq(v);
      if (c === undefined) throw new MissingHeaderError('CSeq');
      this._cseq = c;
      this.valid |= V_CSEQ;
    }
    return this._cseq!;
  }

  get contentLength(): number | undefined {
    if ((this.valid & V_CL) === 0) {
      const v = this.get('Content-Length');
      const n = v === undefined ? -1 : parseDecimal(v, CSEQ_LIMIT - 1);
      this._contentLength = n < 0 ? undefined : n;
      this.valid |= V_CL;
    }
    return this._contentLength;
  }

  get maxForwards(): number | undefined {
    if ((this.valid & V_MF) === 0) {
      const v = this.get('Max-Forwards');
      const n = v === undefined ? -1 : parseDecimal(v, 255);
      this._maxForwards = n < 0 ? undefined : n;
      this.valid |= V_MF;
    }
    return this._maxForwards;
  }

  get contact(): NameAddr[] {
    if ((this.valid & V_CONTACT) === 0) {
      this._contact = this.nameAddrs('Contact');
      this.valid |= V_CONTACT;
    }
    return this._contact;
  }

  get route(): NameAddr[] {
    if ((this.valid & V_ROUTE) === 0) {
      this._route = this.nameAddrs('Route');
      this.valid |= V_ROUTE;
    }
    return this._route;
  }

  get recordRoute(): NameAddr[] {
    if ((this.valid & V_RR) === 0) {
      this._recordRoute = this.nameAddrs('Record-Route');
      this.valid |= V_RR;
    }
    return this._recordRoute;
  }

  auth(name: AuthName): AuthHeader[] {
    if ((this.valid & V_AUTH) === 0) {
      this._auth = new Map();
      this.valid |= V_AUTH;
    }
    let list = this._auth!.get(name);
    if (list === undefined) {
      list = [];
      for (const f of this.fields) {
        if (sameName(f.name, name) && !parseAuthInto(f.value, list)) {
          list = [];
          break;
        }
      }
      this._auth!.set(name, list);
    }
    return list;
  }
}
