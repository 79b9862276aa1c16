/**
 * The UserAgent's UAC side against a scripted peer on a real UDP socket: 2xx retransmissions and
 * forked 2xx responses (RFC 3261 §13.2.2.4), before and after the call ended; re-INVITE glare (§14).
 */
import t from 'tap';
import dgram from 'node:dgram';
import { createResponse, parse, serialize, type IncomingInvite, type IncomingRequest, type SipRequest, type SipResponse } from './index.ts';
import { Dialog } from './dialog.ts';
import { loopbackUa } from './testing/loopback-ua.ts';
import { reachable } from './testing/retained.ts';

/** A UDP peer that records what it receives and answers by hand. */
async function peer(t: { teardown(fn: () => unknown): void }) {
  const sock = dgram.createSocket('udp4');
  const inbox: SipRequest[] = [];
  let waiting: (() => void) | undefined;
  sock.on('message', (buf) => {
    const r = parse(buf);
    if (r.ok && r.message.kind === 'request') {
      inbox.push(r.message);
      waiting?.();
    }
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => sock.close());
  const port = sock.address().port;
  return {
    port,
    inbox,
    /** Wait until `n` requests of `method` arrived (or 2 s passed). */
    async waitFor(method: string, n: number): Promise<SipRequest[]> {
      const deadline = Date.now() + 2000;
      for (;;) {
        const got = inbox.filter((m) => m.method === method);
        if (got.length >= n || Date.now() > deadline) return got;
        await new Promise<void>((resolve) => {
          waiting = resolve;
          setTimeout(resolve, 50);
        });
      }
    },
    /** Answer `request` with `status` and To tag `tag`, sent to the UA at `uaPort`. */
    answer(request: SipRequest, status: number, tag: string, uaPort: number): void {
      const res = createResponse(request, status, undefined, { toTag: tag, headers: [{ name: 'Contact', value: `<sip:agent@127.0.0.1:${port}>` }] });
      sock.send(serialize(res), uaPort, '127.0.0.1');
    },
  };
}

/** A raw UDP socket that keeps every parsed request and response it receives. */
async function rawPeer(t: { teardown(fn: () => unknown): void }) {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => sock.close());
  const responses: SipResponse[] = [];
  const requests: SipRequest[] = [];
  sock.on('message', (buf) => {
    const r = parse(buf);
    if (!r.ok) return;
    if (r.message.kind === 'response') responses.push(r.message);
    else requests.push(r.message);
  });
  return { sock, port: sock.address().port, responses, requests };
}

t.test('UAC: a 2xx retransmitted after the hang-up is acknowledged, not taken for a new answer; another fork is hung up', async (t) => {
  const { ua, port: uaPort } = await loopbackUa(t);
  const p = await peer(t);
  let accepted = 0;
  let dialog: Dialog | undefined;
  ua.invite({
    target: `sip:agent@127.0.0.1:${p.port}`,
    delegate: {
      onAccept: (d) => {
        accepted++;
        dialog = d;
      },
      onReject: () => {},
      onFailure: () => {},
    },
  });
  const [invite] = await p.waitFor('INVITE', 1);
  t.ok(invite, 'INVITE arrived');
  if (!invite) return;

  p.answer(invite, 200, 'fork-a', uaPort);
  t.equal((await p.waitFor('ACK', 1)).length, 1, 'first 2xx acknowledged');
  t.equal(accepted, 1, 'the call was answered once');
  t.equal(ua.dialogCount, 1);

  // The caller hangs up; the dialog is gone.
  if (dialog) void ua.bye(dialog);
  const [bye] = await p.waitFor('BYE', 1);
  if (bye) p.answer(bye, 200, 'fork-a', uaPort);
  t.equal(ua.dialogCount, 0, 'dialog ended');

  // A late retransmission of the same 2xx (its ACK was lost): ACK again, no new call.
  p.answer(invite, 200, 'fork-a', uaPort);
  const acks = await p.waitFor('ACK', 2);
  t.equal(acks.length, 2, 'the retransmitted 2xx is acknowledged again');
  t.equal(acks[1]?.headers.to.params.get('tag'), 'fork-a');
  t.equal(accepted, 1, 'and not reported as a second answer');
  t.equal(ua.dialogCount, 0, 'no dialog re-created');

  // A 2xx from another fork: acknowledged and hung up (§13.2.2.4).
  p.answer(invite, 200, 'fork-b', uaPort);
  const acksB = (await p.waitFor('ACK', 3)).filter((a) => a.headers.to.params.get('tag') === 'fork-b');
  t.equal(acksB.length, 1, 'the other fork is acknowledged');
  const byes = (await p.waitFor('BYE', 2)).filter((b) => b.headers.to.params.get('tag') === 'fork-b');
  t.equal(byes.length, 1, 'and hung up');
  t.equal(accepted, 1, 'never a second answer');
});

t.test('REFER is not advertised (issue 12): Allow and Supported leave it out, a REFER outside a dialog is 405', async (t) => {
  const { port: serverPort } = await loopbackUa(t); // a UserAgent answers OPTIONS on its own
  const { ua: clientUa } = await loopbackUa(t);
  const target = `sip:x@127.0.0.1:${serverPort}`;
  const options = await clientUa.request({ method: 'OPTIONS', target });
  t.equal(typeof options === 'string' ? options : options.status, 200);
  const allow = typeof options === 'string' ? '' : options.headers.get('Allow') ?? '';
  t.match(allow, /INVITE/, 'Allow is there');
  t.notMatch(allow, /REFER/, 'without REFER');
  t.notMatch(typeof options === 'string' ? '' : options.headers.get('Supported') ?? '', /norefersub/, 'nor norefersub in Supported');
  const refer = await clientUa.request({ method: 'REFER', target, headers: [{ name: 'Refer-To', value: '<sip:y@127.0.0.1>' }] });
  t.equal(typeof refer === 'string' ? refer : refer.status, 405, 'REFER outside a dialog: 405 Method Not Allowed');
  t.notMatch(typeof refer === 'string' ? '' : refer.headers.get('Allow') ?? '', /REFER/, 'its Allow leaves REFER out too');
});

t.test('UAS: a 2xx never acknowledged is resent unchanged, then the dialog ends with a BYE and "no-ack" (§13.3.1.4)', async (t) => {
  // T1 = 10 ms: 64*T1 = 640 ms instead of 32 s; the rule is the same.
  const { ua, port: uaPort } = await loopbackUa(t, { timers: { T1: 10 } });
  const sock = dgram.createSocket('udp4');
  const oks: string[] = [];
  const byes: SipRequest[] = [];
  sock.on('message', (buf) => {
    const r = parse(buf);
    if (!r.ok) return;
    if (r.message.kind === 'response' && r.message.status === 200 && r.message.headers.cseq.method === 'INVITE') oks.push(buf.toString('latin1'));
    if (r.message.kind === 'request' && r.message.method === 'BYE') {
      byes.push(r.message);
      sock.send(serialize(createResponse(r.message, 200)), uaPort, '127.0.0.1');
    }
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  t.teardown(() => sock.close());
  const port = sock.address().port;
  const ended: string[] = [];
  ua.setDelegate({
    onInvite: (invite) => {
      invite.accept({ body: Buffer.from('v=0\r\n'), contentType: 'application/sdp', delegate: { onTerminated: (_d, reason) => ended.push(reason) } });
    },
  });
  const invite = [
    `INVITE sip:onair@127.0.0.1:${uaPort} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=z9hG4bKnoack1`,
    'Max-Forwards: 70',
    `From: <sip:caller@127.0.0.1>;tag=caller1`,
    `To: <sip:onair@127.0.0.1>`,
    'Call-ID: no-ack-1@127.0.0.1',
    'CSeq: 1 INVITE',
    `Contact: <sip:caller@127.0.0.1:${port}>`,
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  sock.send(Buffer.from(invite), uaPort, '127.0.0.1');
  const deadline = Date.now() + 5000;
  while ((byes.length === 0 || ended.length === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.ok(oks.length >= 3, `the 2xx was retransmitted (${oks.length} sent)`);
  t.ok(oks.every((o) => o === oks[0]), 'every retransmission is the first 2xx, byte for byte');
  t.equal(byes.length, 1, 'then a BYE');
  t.equal(byes[0]?.headers.callId, 'no-ack-1@127.0.0.1');
  t.equal(byes[0]?.headers.to.params.get('tag'), 'caller1', 'in the dialog: the caller\'s tag is the remote one');
  t.same(ended, ['no-ack'], 'the TU hears "no-ack"');
  t.equal(ua.transactions.successes.size, 0, 'nothing left to retransmit');
});

t.test('UAS: an INVITE in early media (183) holds no Dialog; accept builds the one the 183 began, same tag', async (t) => {
  const { ua, port: uaPort } = await loopbackUa(t);
  const { sock, port, responses } = await rawPeer(t);
  let invite: IncomingInvite | undefined;
  ua.setDelegate({ onInvite: (i) => { invite = i; } });
  const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';
  sock.send(Buffer.from(
    `INVITE sip:300@127.0.0.1:${uaPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=z9hG4bKearly1\r\n` +
    'Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=c1\r\nTo: <sip:300@127.0.0.1>\r\nCall-ID: early-1@127.0.0.1\r\n' +
    `CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:${port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`,
    'latin1'), uaPort, '127.0.0.1');
  const until = async (ok: () => boolean): Promise<void> => {
    for (let i = 0; i < 200 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  };
  await until(() => invite !== undefined);
  const inv = invite!;
  t.ok(inv.progress(183, { body: Buffer.from(sdp), contentType: 'application/sdp' }));
  await until(() => responses.some((r) => r.status === 183));
  // What the waiting caller's INVITE keeps, the UA and its layers aside (they hold every call).
  const dialogs = reachable(inv, (o) => o instanceof Dialog, [ua, ua.transactions, ua.transport]);
  t.equal(dialogs.length, 0, 'no Dialog while the caller waits in early media');
  const tag = responses.find((r) => r.status === 183)!.headers.to.params.get('tag');
  t.ok(tag, 'the 183 carries our To tag');
  const dialog = inv.accept({ body: Buffer.from(sdp), contentType: 'application/sdp' });
  t.ok(dialog, 'accepted');
  t.equal(dialog!.localTag, tag, 'the 2xx confirms the dialog the 183 began (RFC 3261 §12.1.1)');
  t.equal(dialog!.state, 'confirmed');
  t.equal(dialog!.remoteTag, 'c1');
  t.equal(ua.dialogCount, 1);
  await until(() => responses.some((r) => r.status === 200));
  t.equal(responses.find((r) => r.status === 200)!.headers.to.params.get('tag'), tag, 'the 200 has the same To tag');
});

t.test('re-INVITE glare (§14.1, §14.2): 491 to a crossing re-INVITE, ours retried after 491, one INVITE transaction at a time', async (t) => {
  const { ua, port: uaPort } = await loopbackUa(t);
  const { sock, port, responses, requests } = await rawPeer(t);
  const send = (text: string): void => { sock.send(Buffer.from(text, 'latin1'), uaPort, '127.0.0.1'); };
  const until = async (what: string, ok: () => boolean, ms = 6000): Promise<void> => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  const sdp = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\n';
  const peerReinvites: IncomingRequest[] = [];
  let dialog: Dialog | undefined;
  ua.setDelegate({
    onInvite: (invite) => {
      // The layer above answers the peer's re-INVITEs when it pleases (here: when the test says).
      dialog = invite.accept({ body: Buffer.from(sdp), contentType: 'application/sdp', delegate: { onReinvite: (_d, req) => { peerReinvites.push(req); } } });
    },
  });
  const callId = 'glare-1@127.0.0.1';
  send(`INVITE sip:onair@127.0.0.1:${uaPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=z9hG4bKglare0\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=g1\r\nTo: <sip:onair@127.0.0.1>\r\nCall-ID: ${callId}\r\n` +
    `CSeq: 1 INVITE\r\nContact: <sip:caller@127.0.0.1:${port}>\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`);
  await until('the 200', () => responses.some((r) => r.status === 200 && r.headers.cseq.seq === 1));
  const ourTag = responses.find((r) => r.status === 200)!.headers.to.params.get('tag')!;
  const inDialog = (method: string, seq: number, branch: string, body = ''): string =>
    `${method} sip:onair@127.0.0.1:${uaPort} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=${branch}\r\n` +
    `Max-Forwards: 70\r\nFrom: <sip:caller@127.0.0.1>;tag=g1\r\nTo: <sip:onair@127.0.0.1>;tag=${ourTag}\r\nCall-ID: ${callId}\r\n` +
    `CSeq: ${seq} ${method === 'ACK' ? 'ACK' : method}\r\nContact: <sip:caller@127.0.0.1:${port}>\r\n` +
    (body ? `Content-Type: application/sdp\r\nContent-Length: ${body.length}\r\n\r\n${body}` : 'Content-Length: 0\r\n\r\n');
  send(inDialog('ACK', 1, 'z9hG4bKglare0a'));
  t.ok(dialog, 'the call is up');
  if (!dialog) return;
  const answer = (req: SipRequest, status: number): void => { sock.send(serialize(createResponse(req, status)), uaPort, '127.0.0.1'); };

  // 1. Both sides re-INVITE at once: the peer's crosses ours and gets 491; ours gets 491 too.
  const ours = ua.sendInDialog(dialog, 'INVITE', { body: Buffer.from(sdp), contentType: 'application/sdp' });
  await until('our re-INVITE', () => requests.some((r) => r.method === 'INVITE'));
  const first = requests.find((r) => r.method === 'INVITE')!;
  send(inDialog('INVITE', 2, 'z9hG4bKglare2', sdp));
  await until('491 to the crossing re-INVITE', () => responses.some((r) => r.headers.cseq.seq === 2 && r.headers.cseq.method === 'INVITE' && r.status >= 200));
  t.equal(responses.find((r) => r.headers.cseq.seq === 2 && r.status >= 200)?.status, 491, 'the crossing re-INVITE is answered 491 Request Pending');
  t.equal(peerReinvites.length, 0, 'the layer above never saw it');
  answer(first, 491);
  const sentAt = Date.now();
  // We are not the Call-ID's owner (the peer called us): our retry comes within 0-2 s.
  await until('our retry', () => requests.filter((r) => r.method === 'INVITE').length === 2);
  const waited = Date.now() - sentAt;
  const second = requests.filter((r) => r.method === 'INVITE')[1]!;
  t.ok(waited <= 2500, `retried after ${waited} ms (the 0-2 s of the side that did not choose the Call-ID)`);
  t.ok(second.headers.cseq.seq > first.headers.cseq.seq, 'the retry is a new transaction with a higher CSeq');
  t.not(second.headers.via[0]?.params.get('branch'), first.headers.via[0]?.params.get('branch'), 'and a new branch');
  answer(second, 200);
  const result = await ours;
  t.equal(result !== 'timeout' && result !== 'transport' ? result.status : result, 200, 'the caller of sendInDialog gets the retry\'s 200');
  await until('the ACK of our re-INVITE', () => requests.some((r) => r.method === 'ACK' && r.headers.cseq.seq === second.headers.cseq.seq));

  // 2. The peer's re-INVITE is unanswered: ours waits for it; a second one from the peer gets 500 + Retry-After.
  send(inDialog('INVITE', 3, 'z9hG4bKglare3', sdp));
  await until('the peer\'s re-INVITE reaching the layer above', () => peerReinvites.length === 1);
  const again = ua.sendInDialog(dialog, 'INVITE', { body: Buffer.from(sdp), contentType: 'application/sdp' });
  send(inDialog('INVITE', 4, 'z9hG4bKglare4', sdp));
  await until('the answer to the second re-INVITE', () => responses.some((r) => r.headers.cseq.seq === 4 && r.status >= 200));
  const r500 = responses.find((r) => r.headers.cseq.seq === 4 && r.status >= 200)!;
  t.equal(r500.status, 500, 'a re-INVITE while the previous one is unanswered: 500');
  const retryAfter = Number(r500.headers.get('Retry-After'));
  t.ok(Number.isInteger(retryAfter) && retryAfter >= 0 && retryAfter <= 10, `with Retry-After 0-10 (${r500.headers.get('Retry-After')})`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  t.equal(requests.filter((r) => r.method === 'INVITE').length, 2, 'no re-INVITE of ours while the peer\'s is unanswered');
  peerReinvites[0]!.respond(200, { body: Buffer.from(sdp), contentType: 'application/sdp' });
  send(inDialog('ACK', 3, 'z9hG4bKglare3a'));
  await until('our re-INVITE after the peer\'s was answered', () => requests.filter((r) => r.method === 'INVITE').length === 3, 3000);
  answer(requests.filter((r) => r.method === 'INVITE')[2]!, 200);
  const result2 = await again;
  t.equal(result2 !== 'timeout' && result2 !== 'transport' ? result2.status : result2, 200, 'then it went out and was answered');
});
