/**
 * OPTIONS through the real engine (engine.ts wiring of TrunkTable.answerOptions): a trunk's source
 * gets 200, a registered agent phone's source gets 200, anyone else gets nothing. Raw UDP sockets
 * on distinct loopback addresses; "nothing" is proved without a timer: the unknown source's
 * REGISTER, sent after its OPTIONS on the same socket, is answered, and the OPTIONS never was.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { answerChallenge, newBranch, parse, type SipResponse } from '../sip/index.ts';
import { startEngineRig } from '../testing/engine-rig.ts';

/** A UDP socket that writes SIP text and collects every response by Call-ID. */
async function socketAt(address: string, sipPort: number): Promise<{
  port: number;
  send(method: string, callId: string, cseq: number, extra?: string[]): Promise<SipResponse>;
  seen: Map<string, SipResponse[]>;
  close(): void;
}> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  const port = s.address().port;
  const seen = new Map<string, SipResponse[]>();
  const waiting = new Map<string, (r: SipResponse) => void>();
  s.on('message', (buf) => {
    const r = parse(buf);
    if (!r.ok || r.message.kind !== 'response' || r.message.status < 200) return;
    const id = r.message.headers.callId;
    seen.set(id, [...(seen.get(id) ?? []), r.message]);
    waiting.get(`${id}|${r.message.headers.cseq.seq}`)?.(r.message);
  });
  return {
    port, seen,
    send: (method, callId, cseq, extra = []) => new Promise((resolve) => {
      waiting.set(`${callId}|${cseq}`, resolve);
      const text = [
        `${method} sip:127.0.0.1:${sipPort} SIP/2.0`, `Via: SIP/2.0/UDP ${address}:${port};branch=${newBranch()};rport`, 'Max-Forwards: 70',
        `From: <sip:1001@127.0.0.1>;tag=o${cseq}`, 'To: <sip:1001@127.0.0.1>', `Call-ID: ${callId}`, `CSeq: ${cseq} ${method}`,
        `Contact: <sip:1001@${address}:${port}>`, ...extra, 'Content-Length: 0', '', '',
      ].join('\r\n');
      s.send(text, sipPort, '127.0.0.1');
    }),
    close: () => s.close(),
  };
}

t.test('engine OPTIONS: trunk 200, registered phone 200, unknown source dropped', async (t) => {
  const rig = await startEngineRig({ trunks: [{ id: 'carrier', allow: ['127.0.0.1/32'] }] } as never);
  t.teardown(rig.close);
  const carrier = await socketAt('127.0.0.1', rig.sipPort);
  const stranger = await socketAt('127.0.0.41', rig.sipPort);
  const phone = await socketAt('127.0.0.42', rig.sipPort);
  t.teardown(() => { carrier.close(); stranger.close(); phone.close(); });

  const fromTrunk = await carrier.send('OPTIONS', 'opt-trunk', 1);
  t.equal(fromTrunk.status, 200, 'trunk source: 200');
  t.match(fromTrunk.headers.get('Allow') ?? '', /INVITE/);

  void stranger.send('OPTIONS', 'opt-stranger', 1);
  const challenge = await stranger.send('REGISTER', 'reg-stranger', 1);
  t.equal(challenge.status, 401, 'the stranger is heard (its REGISTER after the OPTIONS is answered)');
  t.equal(stranger.seen.get('opt-stranger'), undefined, 'but its OPTIONS got no answer');

  // The phone registers from 127.0.0.42, then its keep-alive OPTIONS is answered.
  const first = await phone.send('REGISTER', 'reg-phone', 1, ['Expires: 300']);
  const c = first.headers.auth('WWW-Authenticate')[0]!;
  const a = answerChallenge(c, { username: '1001', password: 'demo1001', method: 'REGISTER', uri: `sip:127.0.0.1:${rig.sipPort}` }, 1);
  if (!a.ok) throw new Error(a.reason);
  t.equal((await phone.send('REGISTER', 'reg-phone', 2, ['Expires: 300', `Authorization: ${a.header}`])).status, 200);
  t.equal((await phone.send('OPTIONS', 'opt-phone', 1)).status, 200, 'registered phone: 200');
});
