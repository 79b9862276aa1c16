/**
 * Ringing an agent's phone, shared by every kind of offer: an inbound caller (call control) and a
 * callback task (engine/dialer). One place builds the agent leg's media, the INVITE with its screen
 * pop, and answers the phone's re-INVITEs, so both kinds of offer look alike to a phone.
 *
 * ```
 *  agent leg (media) ─▶ agentLocalMedia ─▶ ringAgentPhone: INVITE (From = customer, screen pop headers)
 *  phone 200 ─▶ acceptAnswer (media) ─▶ toLegRemote ─▶ media.setRemote
 *  phone re-INVITE (hold) ─▶ answerReinvite: same leg, same codecs
 * ```
 */
import { toByteString, formatNameAddr } from '../sip/index.ts';
import type { Dialog, DialogDelegate, HeaderField, IncomingRequest, OutgoingInvite, OutgoingInviteDelegate } from '../sip/index.ts';
import { createOffer, negotiate } from '../../media/index.ts';
import type { G711, LegId, RemoteMedia } from '../../media/index.ts';
import type { AgentContact, CallMedia, CallUserAgent } from './types.ts';

/** Our side of an agent leg, as offered to the phone (a re-INVITE is answered with it). */
export type AgentLocalMedia = Parameters<typeof createOffer>[0];

/**
 * The agent leg's local media: the codec of the other side first (no transcoding when the phone
 * takes it), the other G.711 law as a fallback, RFC 4733 events.
 */
export function agentLocalMedia(leg: { address: string; port: number }, codec: G711): AgentLocalMedia {
  return { address: leg.address, port: leg.port, codecs: [codec, codec === 'PCMU' ? 'PCMA' : 'PCMU'], dtmf: true };
}

/** What {@link ringAgentPhone} sends. */
export interface AgentRing {
  ua: CallUserAgent;
  contact: AgentContact;
  agentId: string;
  /** The customer's number, shown as the From user (empty: anonymous). */
  number: string;
  /** The display name of the From: the customer's name, else the number. */
  display: string;
  local: AgentLocalMedia;
  /** Screen pop and marking headers (X-Onair-*, Alert-Info). */
  headers: HeaderField[];
  delegate: OutgoingInviteDelegate;
  dialogDelegate: DialogDelegate;
}

/** Send the INVITE that rings an agent's phone with an SDP offer for its leg. */
export function ringAgentPhone(r: AgentRing): OutgoingInvite {
  // Header values are byte strings: a CRM name in Chinese must go out as its UTF-8 bytes.
  const display = toByteString(r.display.replace(/["\\\r\n]/g, ''));
  return r.ua.invite({
    target: r.contact.uri,
    destination: r.contact.source,
    from: `"${display}" <sip:${encodeURIComponent(r.number) || 'anonymous'}@onair.invalid>`,
    to: `<sip:${r.agentId}@onair.invalid>`,
    body: sdpBody(createOffer(r.local)),
    contentType: 'application/sdp',
    // A phone registered through a proxy (Path, RFC 3327) is reached back through it: loose routing, the Request-URI stays the Contact.
    headers: r.contact.route === undefined ? r.headers : [...r.contact.route.map((value) => ({ name: 'Route', value })), ...r.headers],
    dialogDelegate: r.dialogDelegate,
    delegate: r.delegate,
  });
}

/**
 * Answer a re-INVITE (hold / unhold) on one leg: follow the new media and answer with the same
 * leg's SDP. `noOffer` is the body of a 2xx to a re-INVITE without an offer (RFC 3264 §5: it must
 * carry one); by default a fresh offer of `local`.
 */
export function answerReinvite(media: Pick<CallMedia, 'setRemote'>, leg: LegId | undefined, local: AgentLocalMedia | undefined,
  dialog: Dialog, req: IncomingRequest, noOffer?: Buffer): void {
  // RFC 3261 §13.3.1.4: a 2xx to an INVITE carries a Contact (the target stays ours).
  const headers = [{ name: 'Contact', value: formatNameAddr(dialog.localContact) }];
  const offer = req.request.body.toString('latin1');
  if (!leg || !local || offer.length === 0) {
    const sdp = noOffer ?? (local && sdpBody(createOffer(local)));
    req.respond(200, { headers, ...(sdp ? { body: sdp, contentType: 'application/sdp' } : {}) });
    return;
  }
  const neg = negotiate(offer, local);
  if (!neg.ok) {
    req.respond(488);
    return;
  }
  void media.setRemote(leg, toLegRemote(neg.remote));
  req.respond(200, { headers, body: sdpBody(neg.answer), contentType: 'application/sdp' });
}

/** The media layer's remote description from SDP negotiation. */
export function toLegRemote(r: RemoteMedia): { address: string; port: number; codec: G711; payloadType: number; dtmfPayloadType: number; direction: RemoteMedia['direction']; hold: boolean } {
  return {
    address: r.address, port: r.port, codec: r.codec, payloadType: r.payloadType,
    dtmfPayloadType: r.dtmfPayloadType ?? -1, direction: r.direction, hold: r.hold,
  };
}

/**
 * An SDP body in its own allocation. `Buffer.from` takes small buffers from Node's shared 8 KB
 * pool, and a body kept for the whole call (and 32 s more by the INVITE transaction) would pin
 * the whole slab with everything else allocated in it.
 */
export function sdpBody(text: string): Buffer {
  const body = Buffer.allocUnsafeSlow(Buffer.byteLength(text, 'latin1'));
  body.write(text, 'latin1');
  return body;
}
