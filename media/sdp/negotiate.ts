/**
 * SDP offer/answer for one audio stream (RFC 3264): G.711 PCMU/PCMA, telephone-event (RFC 4733),
 * ptime, and the direction attributes that signal hold.
 */
import type { G711 } from '../codec/index.ts';
import { parseSdp } from './parse.ts';
import type { Connection, Direction, MediaDescription, SessionDescription } from './parse.ts';

/** What onair offers or accepts on one media leg. */
export interface LocalMedia {
  /** Address the leg's RTP socket is reachable at (IPv4 or IPv6). */
  address: string;
  /** The leg's RTP port. */
  port: number;
  /** Codecs onair will use on this leg, most preferred first. */
  codecs: G711[];
  /** Whether to offer/accept RFC 4733 telephone-event. */
  dtmf: boolean;
  /** Packet time onair asks the peer to send, ms (a=ptime). Default 20. */
  ptime?: number;
  /** Direction onair wants (e.g. `sendonly` to put the peer on hold). Default sendrecv. */
  direction?: Direction;
  /** telephone-event payload type in an offer. Default 101. */
  dtmfPayloadType?: number;
  /** o= session id; keep it for the life of the dialog. Default: seconds since the epoch. */
  sessionId?: string;
  /** o= version; increment on every new offer or answer in the dialog (RFC 3264 §8). Default 1. */
  sessionVersion?: number;
  /** Pick the codec by `codecs` order instead of the offer's order (avoids transcoding when the
   *  other leg already uses a codec). Default false: the offerer's preference wins. */
  preferLocalOrder?: boolean;
}

/** The negotiated stream, as the media worker needs it. */
export interface RemoteMedia {
  /** Where to send RTP (before symmetric-RTP latching). `0.0.0.0`/`::` when the peer is on hold. */
  address: string;
  port: number;
  codec: G711;
  /** Payload type to send and to expect for the codec. */
  payloadType: number;
  /** telephone-event payload type, when both sides do RFC 4733. */
  dtmfPayloadType?: number;
  /** Packet time the peer asked for (its a=ptime, else 20). */
  ptime: number;
  /**
   * onair's side of the stream: `sendrecv` normal; `recvonly` = do not send (the peer holds the
   * call or gave no address); `sendonly` = send only; `inactive` = neither.
   */
  direction: Direction;
  /** True when the peer put the call on hold (sendonly/inactive or c=0.0.0.0, RFC 3264 §8.4). */
  hold: boolean;
}

/** Why an offer or answer is not usable; the SIP layer answers 488 Not Acceptable Here. */
export type SdpErrorCode = 'SDP_ERR_PARSE' | 'SDP_ERR_NO_AUDIO' | 'SDP_ERR_NO_COMMON_CODEC' | 'SDP_ERR_NO_ADDRESS';

/** Failure of {@link negotiate} or {@link acceptAnswer}. */
export interface SdpFailure {
  ok: false;
  status: 488;
  code: SdpErrorCode;
  reason: string;
}

/** Result of {@link negotiate}. */
export type NegotiateResult = { ok: true; answer: string; remote: RemoteMedia } | SdpFailure;

/** Result of {@link acceptAnswer}. */
export type AcceptResult = { ok: true; remote: RemoteMedia } | SdpFailure;

const STATIC_PT: Record<G711, number> = { PCMU: 0, PCMA: 8 };
const SUPPORTED_PROTOS: ReadonlySet<string> = new Set(['RTP/AVP', 'RTP/AVPF']);

/**
 * Answer an offer (RFC 3264 §6). The first audio stream that is RTP/AVP with a common G.711 codec
 * is accepted; every other m= line is rejected with port 0, as §6 requires the answer to keep the
 * offer's m= lines. The answer lists the chosen codec (and telephone-event when both do it), so
 * the peer knows exactly what will be sent.
 */
export function negotiate(offer: string | SessionDescription, local: LocalMedia): NegotiateResult {
  const sdp = typeof offer === 'string' ? parseSdp(offer) : { ok: true as const, sdp: offer };
  if (!sdp.ok) return failure(sdp.code, sdp.reason);
  const session = sdp.sdp;

  let chosen = -1;
  let stream: Stream | undefined;
  let lastError: SdpFailure | undefined;
  for (let i = 0; i < session.media.length && chosen < 0; i++) {
    const r = pickStream(session, session.media[i]!, local, local.preferLocalOrder === true);
    if (r.ok) {
      chosen = i;
      stream = r;
    } else if (r.code !== 'SDP_ERR_NO_AUDIO') {
      lastError = r;
    }
  }
  if (stream === undefined) {
    return lastError ?? failure('SDP_ERR_NO_AUDIO', 'the offer has no active audio stream');
  }

  // Our direction is the mirror of the offer's, narrowed by what we want (§6.1).
  const direction = intersect(mirror(stream.remoteDirection), local.direction ?? 'sendrecv');
  const remote = remoteMedia(stream, direction);

  const lines = header(local);
  session.media.forEach((m, i) => {
    if (i !== chosen) {
      lines.push(`m=${m.media} 0 ${m.proto} ${m.formats.join(' ') || '0'}`);
      return;
    }
    const fmtp = stream.dtmfPayloadType === undefined ? undefined : m.fmtp.get(stream.dtmfPayloadType);
    lines.push(...audioLines(local, [[stream.codec, stream.payloadType]], stream.dtmfPayloadType, fmtp, direction, m.proto));
  });
  return { ok: true, answer: lines.join('\r\n') + '\r\n', remote };
}

/**
 * Create an offer for a leg (e.g. the INVITE to an agent): one audio stream with `codecs` in
 * order, telephone-event when `dtmf`, ptime and direction.
 */
export function createOffer(local: LocalMedia): string {
  const codecs = local.codecs.map((c): [G711, number] => [c, STATIC_PT[c]]);
  const dtmfPt = local.dtmf ? (local.dtmfPayloadType ?? 101) : undefined;
  const lines = header(local);
  lines.push(...audioLines(local, codecs, dtmfPt, '0-16', local.direction ?? 'sendrecv', 'RTP/AVP'));
  return lines.join('\r\n') + '\r\n';
}

/**
 * Read the answer to an offer made with {@link createOffer} and `offered` (RFC 3264 §7): the
 * codec is the first one in the answer's list that was offered.
 */
export function acceptAnswer(answer: string | SessionDescription, offered: LocalMedia): AcceptResult {
  const sdp = typeof answer === 'string' ? parseSdp(answer) : { ok: true as const, sdp: answer };
  if (!sdp.ok) return failure(sdp.code, sdp.reason);
  let lastError: SdpFailure | undefined;
  for (const m of sdp.sdp.media) {
    // The answer's own order says what the peer will send; restricted to what we offered.
    const r = pickStream(sdp.sdp, m, offered, false);
    if (r.ok) return { ok: true, remote: remoteMedia(r, intersect(mirror(r.remoteDirection), offered.direction ?? 'sendrecv')) };
    if (r.code !== 'SDP_ERR_NO_AUDIO') lastError = r;
  }
  return lastError ?? failure('SDP_ERR_NO_AUDIO', 'the answer accepted no audio stream');
}

interface Stream {
  ok: true;
  connection: Connection;
  port: number;
  codec: G711;
  payloadType: number;
  dtmfPayloadType: number | undefined;
  ptime: number;
  remoteDirection: Direction;
  hold: boolean;
}

function pickStream(session: SessionDescription, m: MediaDescription, local: LocalMedia, localOrder: boolean): Stream | SdpFailure {
  if (m.media !== 'audio' || m.port === 0) return failure('SDP_ERR_NO_AUDIO', 'not an active audio stream');
  if (!SUPPORTED_PROTOS.has(m.proto)) {
    return failure('SDP_ERR_NO_COMMON_CODEC', `audio transport ${m.proto} is not supported (plain RTP/AVP only, no SRTP)`);
  }
  const connection = m.connection ?? session.connection;
  if (connection === undefined) return failure('SDP_ERR_NO_ADDRESS', 'audio stream without a c= address');

  let codec: G711 | undefined;
  let payloadType = -1;
  let best = Infinity;
  let dtmfPayloadType: number | undefined;
  for (const f of m.formats) {
    const pt = Number.parseInt(f, 10);
    if (!(pt >= 0 && pt <= 127)) continue;
    const map = m.rtpmap.get(pt);
    const name = map?.encoding.toUpperCase();
    // Static payload types need no rtpmap (RFC 3551 Table 4); a dynamic one may carry G.711 too.
    const c: G711 | undefined = map === undefined
      ? (pt === 0 ? 'PCMU' : pt === 8 ? 'PCMA' : undefined)
      : map.clockRate === 8000 && map.channels === 1 && (name === 'PCMU' || name === 'PCMA') ? name : undefined;
    if (c !== undefined) {
      const rank = localOrder ? local.codecs.indexOf(c) : (local.codecs.includes(c) ? 0 : -1);
      if (rank >= 0 && rank < best) {
        best = rank;
        codec = c;
        payloadType = pt;
      }
    } else if (name === 'TELEPHONE-EVENT' && map!.clockRate === 8000 && local.dtmf && dtmfPayloadType === undefined) {
      dtmfPayloadType = pt;
    }
  }
  if (codec === undefined) {
    return failure('SDP_ERR_NO_COMMON_CODEC', `no common codec: offered ${describeFormats(m)}, supported ${local.codecs.join(', ')}`);
  }
  let remoteDirection = m.direction ?? session.direction ?? 'sendrecv';
  // RFC 3264 §8.4: c=0.0.0.0 is the RFC 2543 way to say "do not send to me".
  const nullAddress = connection.address === '0.0.0.0' || connection.address === '::';
  if (nullAddress) remoteDirection = intersect(remoteDirection, 'sendonly');
  return {
    ok: true, connection, port: m.port, codec, payloadType, dtmfPayloadType,
    ptime: m.ptime ?? 20,
    remoteDirection,
    hold: nullAddress || remoteDirection === 'sendonly' || remoteDirection === 'inactive',
  };
}

function remoteMedia(s: Stream, direction: Direction): RemoteMedia {
  const remote: RemoteMedia = {
    address: s.connection.address, port: s.port, codec: s.codec, payloadType: s.payloadType,
    ptime: s.ptime, direction, hold: s.hold,
  };
  if (s.dtmfPayloadType !== undefined) remote.dtmfPayloadType = s.dtmfPayloadType;
  return remote;
}

function header(local: LocalMedia): string[] {
  const addrType = local.address.includes(':') ? 'IP6' : 'IP4';
  const id = local.sessionId ?? String(Math.floor(Date.now() / 1000));
  return [
    'v=0',
    `o=onair ${id} ${local.sessionVersion ?? 1} IN ${addrType} ${local.address}`,
    's=onair',
    `c=IN ${addrType} ${local.address}`,
    't=0 0',
  ];
}

function audioLines(
  local: LocalMedia, codecs: [G711, number][], dtmfPt: number | undefined, dtmfFmtp: string | undefined,
  direction: Direction, proto: string,
): string[] {
  const pts = codecs.map(([, pt]) => pt);
  if (dtmfPt !== undefined) pts.push(dtmfPt);
  const lines = [`m=audio ${local.port} ${proto} ${pts.join(' ')}`];
  for (const [codec, pt] of codecs) lines.push(`a=rtpmap:${pt} ${codec}/8000`);
  if (dtmfPt !== undefined) {
    lines.push(`a=rtpmap:${dtmfPt} telephone-event/8000`, `a=fmtp:${dtmfPt} ${dtmfFmtp ?? '0-16'}`);
  }
  lines.push(`a=ptime:${local.ptime ?? 20}`, `a=${direction}`);
  return lines;
}

/** The direction seen from the other side: what they send, we receive. */
function mirror(d: Direction): Direction {
  return d === 'sendonly' ? 'recvonly' : d === 'recvonly' ? 'sendonly' : d;
}

/** Both constraints at once (send only if both allow sending, receive likewise). */
function intersect(a: Direction, b: Direction): Direction {
  const send = canSend(a) && canSend(b);
  const recv = canRecv(a) && canRecv(b);
  return send ? (recv ? 'sendrecv' : 'sendonly') : recv ? 'recvonly' : 'inactive';
}

function canSend(d: Direction): boolean {
  return d === 'sendrecv' || d === 'sendonly';
}

function canRecv(d: Direction): boolean {
  return d === 'sendrecv' || d === 'recvonly';
}

function describeFormats(m: MediaDescription): string {
  return m.formats.map((f) => m.rtpmap.get(Number(f))?.encoding ?? `PT ${f}`).join(', ') || 'nothing';
}

function failure(code: SdpErrorCode, reason: string): SdpFailure {
  return { ok: false, status: 488, code, reason };
}
