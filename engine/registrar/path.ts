/**
 * Path (RFC 3327): the proxies a REGISTER passed through on its way here, which the registrar
 * stores with the binding and the engine puts back as the Route set of every INVITE to that
 * phone, so those INVITEs go back through the same proxies (the Kamailio in front of an
 * active-standby pair, deploy/kamailio) instead of straight at the Contact.
 *
 * ```
 *  phone ──REGISTER──▶ Kamailio (add_path_received) ──REGISTER + Path: <sip:K;lr;received=...>──▶ onair
 *  onair ──INVITE sip:contact, Route: <sip:K;lr;received=...>──▶ Kamailio (loose_route) ──▶ phone
 * ```
 *
 * Every Path value is network input, checked before anything is stored (§5.3 lets a registrar
 * refuse a Path by its policy):
 * - at most {@link MAX_PATH_ENTRIES} entries and {@link MAX_PATH_TEXT} octets, so a binding row
 *   and every INVITE built from it stay small;
 * - each a sip or sips URI with `lr` (loose routing, RFC 3261 §16.12: the Request-URI stays the
 *   Contact; a strict router would need it rewritten, which nothing we front does);
 * - the first entry names the REGISTER's source address: INVITEs to the phone go to that hop, and
 *   an authenticated phone must not be able to aim the engine's INVITEs at a third host (the same
 *   rule as a Contact's address, which is only used when it is the REGISTER's source).
 */
import { formatNameAddr, parseNameAddrListInto, resolveUri, type Endpoint, type NameAddr, type SipHeaders, type SipUri } from '../sip/index.ts';

/** Most Path entries taken from one REGISTER. */
export const MAX_PATH_ENTRIES = 5;
/** Most octets of Path header text taken from one REGISTER (every value together). */
export const MAX_PATH_TEXT = 1024;

/** The Path of a REGISTER, checked: the entries (maybe none), or why it is refused (a 400). */
export type PathResult = { ok: true; path: NameAddr[] } | { ok: false; reason: string };

const NO_PATH: NameAddr[] = [];

/** Read and check the Path header fields of a REGISTER that came from `source`. */
export function readPath(headers: Pick<SipHeaders, 'getAll'>, source: Endpoint): PathResult {
  const values = headers.getAll('Path');
  if (values.length === 0) return { ok: true, path: NO_PATH };
  let text = 0;
  for (const v of values) text += v.length;
  if (text > MAX_PATH_TEXT) return { ok: false, reason: 'Path Too Long' };
  const path: NameAddr[] = [];
  for (const v of values) {
    if (!parseNameAddrListInto(v, path)) return { ok: false, reason: 'Invalid Path' };
    if (path.length > MAX_PATH_ENTRIES) return { ok: false, reason: 'Path Too Long' };
  }
  for (const p of path) {
    if ((p.uri.scheme !== 'sip' && p.uri.scheme !== 'sips') || p.uri.host.length === 0) return { ok: false, reason: 'Invalid Path' };
    if (!p.uri.params.has('lr')) return { ok: false, reason: 'Path Must Be Loose Routing' };
  }
  if (resolveUri(path[0]!.uri, source).address !== source.address) return { ok: false, reason: 'Path Must Start At The Sending Proxy' };
  return { ok: true, path };
}

/** True when the REGISTER says its UA supports Path (`Supported: path`, §5.3: only then is Path echoed in the 200). */
export function supportsPath(headers: Pick<SipHeaders, 'getAll'>): boolean {
  for (const tag of headers.getAll('Supported')) if (tag.trim().toLowerCase() === 'path') return true;
  return false;
}

/** The stored text of a Path: its entries as one header value (`<a>, <b>`), or null when there is none. */
export function formatPath(path: readonly NameAddr[]): string | null {
  return path.length === 0 ? null : path.map(formatNameAddr).join(', ');
}

/**
 * A stored Path back to entries: [] for null, undefined when the text does not parse or breaks
 * the bounds (a row written by another version, or edited by hand: the binding is not restored).
 */
export function parseStoredPath(text: string | null): NameAddr[] | undefined {
  if (text === null || text.length === 0) return [];
  if (text.length > MAX_PATH_TEXT) return undefined;
  const out: NameAddr[] = [];
  if (!parseNameAddrListInto(text, out) || out.length > MAX_PATH_ENTRIES) return undefined;
  for (const p of out) if ((p.uri.scheme !== 'sip' && p.uri.scheme !== 'sips') || !p.uri.params.has('lr')) return undefined;
  return out;
}

/** Where an INVITE to a registered phone goes, and through which proxies. */
export interface PhoneTarget {
  /** The Request-URI: the Contact. */
  uri: SipUri;
  /** The first hop: the first Path entry when there is a Path, else the phone (see {@link phoneTarget}). */
  source: Endpoint;
  /** The Route header values (the Path, in order), present only when there is a Path. */
  route?: string[];
}

/**
 * Where to send the INVITE to a binding. With a Path: to its first entry (on the REGISTER's
 * connection when the transport is the same), the Path as the Route set (§5.4 of RFC 3327 for
 * the home proxy; we are registrar and UAC at once). Without: over TCP/TLS the connection the
 * REGISTER came on; over UDP the Contact when its host is the address the REGISTER came from (the
 * phone is not behind NAT, and may use another port for calls than for registering), else the
 * REGISTER's source (NAT).
 */
export function phoneTarget(b: { uri: SipUri; source: Endpoint; path: readonly NameAddr[] }): PhoneTarget {
  const first = b.path[0];
  if (first !== undefined) return { uri: b.uri, source: resolveUri(first.uri, b.source), route: b.path.map(formatNameAddr) };
  if (b.source.transport !== 'UDP') return { uri: b.uri, source: b.source };
  const contact = resolveUri(b.uri);
  return { uri: b.uri, source: contact.transport === 'UDP' && contact.address === b.source.address ? contact : b.source };
}
