/**
 * An agent's answer read behind a burst of new callers (issue 13), for the work-class test and
 * the `sched` bench. One loopback socket (a {@link RawUdp}) plays both the carrier and the
 * agent's phone (registered elsewhere with its Contact on that socket): the burst's INVITEs and
 * the agent's 200 OK are written in that order before the engine reads any of them, so they
 * wait in one kernel buffer in that order.
 */
import { RawUdp, dialogHeaders, headerOf, headersOf, rawRequest, sdpOffer, statusOf, token } from './attack.ts';

/** Where the engine listens. */
export interface SipTarget { sipPort: number }

/** A 200 OK with SDP answering the request text `invite` from agent `ext` (RFC 3261 §8.2.6). */
export function okFor(invite: string, phone: RawUdp, ext: string): Buffer {
  const body = sdpOffer('127.0.0.1', 40100);
  const lines = [
    'SIP/2.0 200 OK',
    ...headersOf(invite, 'Via').map((v) => `Via: ${v}`),
    `From: ${headerOf(invite, 'From')}`,
    `To: ${headerOf(invite, 'To')};tag=${token('a')}`,
    `Call-ID: ${headerOf(invite, 'Call-ID')}`,
    `CSeq: ${headerOf(invite, 'CSeq')}`,
    `Contact: <sip:${ext}@127.0.0.1:${phone.port}>`,
    'Content-Type: application/sdp',
    `Content-Length: ${Buffer.byteLength(body)}`,
    '', body,
  ];
  return Buffer.from(lines.join('\r\n'), 'latin1');
}

/** A new caller's INVITE to `number` from `phone`'s socket. */
export function inviteFrom(phone: RawUdp, target: SipTarget, number: string, caller: string, callId: string): Buffer {
  const uri = `sip:${number}@127.0.0.1:${target.sipPort}`;
  return rawRequest({
    method: 'INVITE', uri,
    headers: [
      ...dialogHeaders({ via: `SIP/2.0/UDP 127.0.0.1:${phone.port}`, fromUser: caller, fromHost: '127.0.0.1', toUri: uri, method: 'INVITE', callId }),
      `Contact: <sip:${caller}@127.0.0.1:${phone.port}>`, 'Content-Type: application/sdp',
    ],
    body: sdpOffer('127.0.0.1', 40000),
  });
}

/**
 * One caller to `number` (answered 200 and acknowledged: the queue step waits for the ACK) and
 * the engine's INVITE offering it to agent `ext` on `phone`. Throws when either does not come.
 */
export async function offerToPhone(target: SipTarget, phone: RawUdp, number: string, ext: string, ms = 10_000): Promise<string> {
  const callId = token('c');
  await phone.send(inviteFrom(phone, target, number, '+4930111000001', callId), target.sipPort);
  const answered = await phone.finalFor(callId, ms);
  if (!answered || statusOf(answered.text) !== 200) throw new Error(`the first caller was not answered 200 (${answered?.text.slice(0, 40)})`);
  await phone.send(rawRequest({
    method: 'ACK', uri: `sip:${number}@127.0.0.1:${target.sipPort}`,
    headers: [
      `Via: SIP/2.0/UDP 127.0.0.1:${phone.port};branch=${token()}`, 'Max-Forwards: 70',
      `From: ${headerOf(answered.text, 'From')}`, `To: ${headerOf(answered.text, 'To')}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK',
    ],
  }), target.sipPort);
  const offer = await phone.next((h) => h.text.startsWith(`INVITE sip:${ext}@`), ms);
  if (!offer) throw new Error(`no offer to ${ext}`);
  return offer.text;
}

/**
 * Write `n` new INVITEs to `number` (callers `prefix` + 4 digits), then the agent's 200 OK to
 * `offer`, without yielding in between. Resolves with the time the 200 OK was handed to the
 * kernel and the time the engine's ACK for it arrived (performance.now(), ms), or `ackAt`
 * undefined after `ms`.
 */
export async function answerBehindBurst(
  target: SipTarget, phone: RawUdp, offer: string, o: { n: number; number: string; prefix: string; ext: string; ms?: number },
): Promise<{ sentAt: number; ackAt: number | undefined }> {
  const callId = headerOf(offer, 'Call-ID');
  for (let i = 0; i < o.n; i++) {
    void phone.send(inviteFrom(phone, target, o.number, `${o.prefix}${String(i).padStart(4, '0')}`, token('b')), target.sipPort);
  }
  const ok = okFor(offer, phone, o.ext);
  // On loopback the kernel queues the datagram at the engine's socket inside this call.
  const sentAt = performance.now();
  void phone.send(ok, target.sipPort);
  const ack = await phone.next((h) => h.text.startsWith('ACK ') && headerOf(h.text, 'Call-ID') === callId, o.ms ?? 20_000);
  return { sentAt, ackAt: ack ? ack.at : undefined };
}
