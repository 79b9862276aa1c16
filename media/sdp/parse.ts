/**
 * SDP parsing (RFC 8866, formerly RFC 4566) — the subset an audio-only B2BUA reads. SDP arrives
 * once per offer/answer, not per packet, so this works on strings.
 */

/** SDP direction attribute (RFC 3264 §5.1); `inactive`/`sendonly` are how hold is signalled (§8.4). */
export type Direction = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/** A `c=` line. */
export interface Connection {
  /** `IP4` or `IP6`. */
  addrType: 'IP4' | 'IP6';
  /** Unicast address (a TTL or count suffix is dropped). */
  address: string;
}

/** An `a=rtpmap` entry. */
export interface RtpMap {
  payloadType: number;
  /** Encoding name as written (`PCMU`, `telephone-event`). */
  encoding: string;
  clockRate: number;
  channels: number;
}

/** One `m=` section with the attributes onair reads. */
export interface MediaDescription {
  /** `audio`, `video`, ... */
  media: string;
  port: number;
  /** `RTP/AVP`, `RTP/SAVP`, ... */
  proto: string;
  /** Format list as written (payload type numbers for RTP). */
  formats: string[];
  /** Media-level `c=`, else undefined (use the session's). */
  connection: Connection | undefined;
  /** Media-level direction attribute, else undefined (use the session's, default sendrecv). */
  direction: Direction | undefined;
  /** `a=rtpmap` by payload type. */
  rtpmap: Map<number, RtpMap>;
  /** `a=fmtp` parameters by payload type. */
  fmtp: Map<number, string>;
  /** `a=ptime`, ms. */
  ptime: number | undefined;
  /** `a=maxptime`, ms. */
  maxptime: number | undefined;
}

/** A parsed session description. */
export interface SessionDescription {
  origin: { username: string; sessionId: string; sessionVersion: string; addrType: string; address: string };
  sessionName: string;
  /** Session-level `c=`. */
  connection: Connection | undefined;
  /** Session-level direction attribute. */
  direction: Direction | undefined;
  media: MediaDescription[];
}

/** Result of {@link parseSdp}. */
export type SdpParseResult =
  | { ok: true; sdp: SessionDescription }
  | { ok: false; code: 'SDP_ERR_PARSE'; reason: string };

const DIRECTIONS: ReadonlySet<string> = new Set(['sendrecv', 'sendonly', 'recvonly', 'inactive']);
const MAX_SDP = 16 * 1024;

/**
 * Parse an SDP body. Unknown lines and attributes are skipped; structural errors (no `v=0` first,
 * bad `o=`/`c=`/`m=`) are results, never exceptions.
 *
 * ```
 * v=0
 * o=- 2890844526 2890844527 IN IP4 192.0.2.10
 * s=-
 * c=IN IP4 192.0.2.10            ← session level, unless each m= has its own c=
 * t=0 0
 * m=audio 49170 RTP/AVP 0 8 101  ← port, profile, payload types in preference order
 * a=rtpmap:101 telephone-event/8000
 * a=fmtp:101 0-16
 * a=ptime:20
 * a=sendrecv
 * ```
 */
export function parseSdp(text: string): SdpParseResult {
  if (text.length > MAX_SDP) return fail(`SDP body of ${text.length} bytes exceeds ${MAX_SDP}`);
  const lines = text.split(/\r?\n/);
  if (lines[0]?.trim() !== 'v=0') return fail('SDP must start with v=0');
  const sdp: SessionDescription = {
    origin: { username: '', sessionId: '', sessionVersion: '', addrType: '', address: '' },
    sessionName: '',
    connection: undefined,
    direction: undefined,
    media: [],
  };
  let haveOrigin = false;
  let m: MediaDescription | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!.trimEnd();
    if (line === '') continue;
    if (line.length < 2 || line[1] !== '=') return fail(`line ${i + 1} is not <type>=<value>: "${clip(line)}"`);
    const type = line[0];
    const value = line.slice(2);
    switch (type) {
      case 'o': {
        const f = value.split(' ');
        if (f.length !== 6 || f[3] !== 'IN') return fail(`bad o= line: "${clip(line)}"`);
        sdp.origin = { username: f[0]!, sessionId: f[1]!, sessionVersion: f[2]!, addrType: f[4]!, address: f[5]! };
        haveOrigin = true;
        break;
      }
      case 's':
        sdp.sessionName = value;
        break;
      case 'c': {
        const c = parseConnection(value);
        if (c === undefined) return fail(`bad c= line: "${clip(line)}"`);
        if (m === undefined) sdp.connection = c;
        else m.connection = c;
        break;
      }
      case 'm': {
        const f = value.split(' ');
        const port = Number.parseInt(f[1] ?? '', 10);
        if (f.length < 4 || !(port >= 0 && port <= 65535) || !/^\d+(\/\d+)?$/.test(f[1]!)) {
          return fail(`bad m= line: "${clip(line)}"`);
        }
        m = {
          media: f[0]!, port, proto: f[2]!, formats: f.slice(3).filter((x) => x !== ''),
          connection: undefined, direction: undefined, rtpmap: new Map(), fmtp: new Map(),
          ptime: undefined, maxptime: undefined,
        };
        sdp.media.push(m);
        break;
      }
      case 'a':
        if (m === undefined) {
          if (DIRECTIONS.has(value)) sdp.direction = value as Direction;
        } else {
          attribute(m, value);
        }
        break;
      default:
        break; // i= u= e= p= b= t= r= z= k=: nothing onair needs
    }
  }
  if (!haveOrigin) return fail('missing o= line');
  return { ok: true, sdp };
}

function attribute(m: MediaDescription, value: string): void {
  if (DIRECTIONS.has(value)) {
    m.direction = value as Direction;
    return;
  }
  const colon = value.indexOf(':');
  if (colon < 0) return;
  const name = value.slice(0, colon);
  const rest = value.slice(colon + 1);
  if (name === 'rtpmap') {
    // a=rtpmap:<payload type> <encoding name>/<clock rate>[/<channels>]
    const sp = rest.indexOf(' ');
    const pt = Number.parseInt(rest.slice(0, sp), 10);
    const parts = rest.slice(sp + 1).trim().split('/');
    const clockRate = Number.parseInt(parts[1] ?? '', 10);
    if (sp > 0 && pt >= 0 && pt <= 127 && clockRate > 0) {
      m.rtpmap.set(pt, { payloadType: pt, encoding: parts[0]!, clockRate, channels: Number.parseInt(parts[2] ?? '1', 10) || 1 });
    }
  } else if (name === 'fmtp') {
    const sp = rest.indexOf(' ');
    const pt = Number.parseInt(rest.slice(0, sp), 10);
    if (sp > 0 && pt >= 0 && pt <= 127) m.fmtp.set(pt, rest.slice(sp + 1).trim());
  } else if (name === 'ptime' || name === 'maxptime') {
    const ms = Number.parseFloat(rest);
    if (ms > 0) m[name] = ms;
  }
}

function parseConnection(value: string): Connection | undefined {
  const f = value.split(' ');
  if (f.length !== 3 || f[0] !== 'IN' || (f[1] !== 'IP4' && f[1] !== 'IP6')) return undefined;
  const address = f[2]!.split('/')[0]!;
  if (address === '') return undefined;
  return { addrType: f[1], address };
}

function fail(reason: string): SdpParseResult {
  return { ok: false, code: 'SDP_ERR_PARSE', reason };
}

function clip(line: string): string {
  return line.length > 60 ? `${line.slice(0, 60)}...` : line;
}
