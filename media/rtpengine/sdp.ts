/**
 * The two SDP chores around rtpengine: describing a party's media for an offer or answer, and
 * reading back the address and port rtpengine gave that party's peer. rtpengine's SDP is read
 * only for its media endpoint: what onair sends to a peer is always its own SDP (its origin line,
 * its session version), so a peer sees one consistent session from onair whoever relays.
 */
import { isIP } from 'node:net';
import { parseSdp } from '../sdp/index.ts';
import { createOffer } from '../sdp/index.ts';
import type { G711 } from '../codec/index.ts';

/** Where a party sends (or receives) RTP and in which codec. */
export interface RelayEndpoint {
  address: string;
  port: number;
}

/** A party's media as negotiated: the description rtpengine needs of it. */
export interface PartyMedia extends RelayEndpoint {
  codec: G711;
  /** telephone-event payload type, -1 without RFC 4733. */
  dtmfPayloadType: number;
}

/** The SDP that describes `p` to rtpengine (one audio stream, its codec and events). */
export function partySdp(p: PartyMedia, sessionId: string): string {
  return createOffer({
    address: p.address, port: p.port, codecs: [p.codec], dtmf: p.dtmfPayloadType >= 0,
    ...(p.dtmfPayloadType >= 0 ? { dtmfPayloadType: p.dtmfPayloadType } : {}), sessionId,
  });
}

/** The audio endpoint in an SDP from rtpengine, or why there is none usable. */
export function sdpEndpoint(sdp: string): { ok: true; endpoint: RelayEndpoint } | { ok: false; reason: string } {
  const parsed = parseSdp(sdp);
  if (!parsed.ok) return { ok: false, reason: parsed.reason };
  const m = parsed.sdp.media.find((x) => x.media === 'audio' && x.port !== 0);
  if (m === undefined) return { ok: false, reason: 'no active audio stream' };
  const c = m.connection ?? parsed.sdp.connection;
  if (c === undefined) return { ok: false, reason: 'no c= address' };
  if (isIP(c.address) === 0 || c.address === '0.0.0.0' || c.address === '::') return { ok: false, reason: `unusable address ${c.address.slice(0, 60)}` };
  if (!(m.port > 0 && m.port < 65536)) return { ok: false, reason: `bad port ${m.port}` };
  return { ok: true, endpoint: { address: c.address, port: m.port } };
}
