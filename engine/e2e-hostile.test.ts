/**
 * Issue 11 through the real engine: the datagram that used to take it down (top Via port 0) gets
 * a 400 and the engine keeps serving; a source flooding INVITEs is limited and then blocked
 * without an answer while another source is served; /metrics shows the drops and the block.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { parse, type SipResponse } from './sip/index.ts';
import { startEngineRig } from './testing/engine-rig.ts';

async function udpPeer(t: { teardown(fn: () => unknown): void }, address: string) {
  const sock = dgram.createSocket('udp4');
  const replies: SipResponse[] = [];
  sock.on('message', (b) => {
    const r = parse(b);
    if (r.ok && r.message.kind === 'response') replies.push(r.message);
  });
  await new Promise<void>((r) => sock.bind(0, address, () => r()));
  t.teardown(() => sock.close());
  return { sock, replies, port: sock.address().port };
}

const request = (method: string, host: string, viaPort: number, callId: string): string =>
  `${method} sip:q@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${host}:${viaPort};branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\n` +
  `From: <sip:c@${host}>;tag=f${callId}\r\nTo: <sip:q@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\n` +
  `Contact: <sip:c@${host}:${viaPort}>\r\nContent-Length: 0\r\n\r\n`;

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 300 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

/** One sample of the Prometheus text, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

t.test('the engine survives the port-0 datagram and limits a flooding source; metrics show both', async (t) => {
  const rig = await startEngineRig({
    sip: { admission: { invitesPerSecond: 0.01, inviteBurst: 2, blockAfterDrops: 5 } },
  } as Parameters<typeof startEngineRig>[0]);
  t.teardown(() => rig.close());
  const bad = await udpPeer(t, '127.0.0.2');
  const good = await udpPeer(t, '127.0.0.3');

  bad.sock.send(request('OPTIONS', '127.0.0.2', 0, 'port-zero'), rig.sipPort, '127.0.0.1');
  await until(() => bad.replies.some((r) => r.headers.callId === 'port-zero'));
  t.equal(bad.replies.find((r) => r.headers.callId === 'port-zero')?.status, 400, 'Via port 0 → 400 at the packet source');

  for (let i = 0; i < 20; i++) bad.sock.send(request('INVITE', '127.0.0.2', bad.port, `flood-${i}`), rig.sipPort, '127.0.0.1');
  // A REGISTER, not an OPTIONS: OPTIONS from a source that is neither a trunk nor a phone gets no
  // answer by policy (engine/trunks), a REGISTER is challenged.
  good.sock.send(request('REGISTER', '127.0.0.3', good.port, 'good'), rig.sipPort, '127.0.0.1');
  await until(() => good.replies.some((r) => r.headers.callId === 'good'));
  t.equal(good.replies.find((r) => r.headers.callId === 'good')?.status, 401, 'another source is served (challenged) during the flood');

  const res = await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`);
  const text = await res.text();
  t.equal(sample(text, 'onair_sip_parse_rejects_total{code="SIP_ERR_BAD_VIA"}'), 1, 'the bad Via is counted');
  t.equal(sample(text, 'onair_sip_admission_dropped_total{kind="invite"}') + sample(text, 'onair_sip_admission_dropped_total{kind="blocked"}'), 18,
    '18 of the 20 INVITEs dropped by admission (2 admitted by the burst)');
  t.equal(sample(text, 'onair_sip_admission_blocked_sources'), 1, 'the flooding source is blocked');
  t.ok(text.includes('onair_sip_dropped_total{reason="dispatch_error"} 0'), 'the drop counter is exported');
  const flooded = new Set(bad.replies.filter((r) => r.headers.cseq.method === 'INVITE').map((r) => r.headers.callId));
  t.ok(flooded.size <= 2, `only the admitted INVITEs were answered (${[...flooded].join(', ')})`);
});
