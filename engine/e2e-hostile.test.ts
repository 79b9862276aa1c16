/**
 * Issue 11 through the real engine: the datagram that used to take it down (top Via port 0) gets
 * a 400 and the engine keeps serving; a source flooding INVITEs is limited and then blocked
 * without an answer while another source is served; /metrics shows the drops and the block.
 */
import t from 'tap';
import { startEngineRig } from './testing/engine-rig.ts';
import { RawUdp, headerOf, statusOf } from './testing/attack.ts';

async function udpPeer(t: { teardown(fn: () => unknown): void }, address: string): Promise<RawUdp> {
  const peer = await RawUdp.open(address);
  t.teardown(() => peer.close());
  return peer;
}

const request = (method: string, host: string, viaPort: number, callId: string): string =>
  `${method} sip:q@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP ${host}:${viaPort};branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\n` +
  `From: <sip:c@${host}>;tag=f${callId}\r\nTo: <sip:q@127.0.0.1>\r\nCall-ID: ${callId}\r\nCSeq: 1 ${method}\r\n` +
  `Contact: <sip:c@${host}:${viaPort}>\r\nContent-Length: 0\r\n\r\n`;

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

  await bad.send(Buffer.from(request('OPTIONS', '127.0.0.2', 0, 'port-zero'), 'latin1'), rig.sipPort);
  const zero = await bad.finalFor('port-zero', 3000);
  t.equal(zero && statusOf(zero.text), 400, 'Via port 0 → 400 at the packet source');

  for (let i = 0; i < 20; i++) await bad.send(Buffer.from(request('INVITE', '127.0.0.2', bad.port, `flood-${i}`), 'latin1'), rig.sipPort);
  // A REGISTER, not an OPTIONS: OPTIONS from a source that is neither a trunk nor a phone gets no
  // answer by policy (engine/trunks), a REGISTER is challenged.
  await good.send(Buffer.from(request('REGISTER', '127.0.0.3', good.port, 'good'), 'latin1'), rig.sipPort);
  const served = await good.finalFor('good', 3000);
  t.equal(served && statusOf(served.text), 401, 'another source is served (challenged) during the flood');

  const res = await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`);
  const text = await res.text();
  t.equal(sample(text, 'onair_sip_parse_rejects_total{code="SIP_ERR_BAD_VIA"}'), 1, 'the bad Via is counted');
  t.equal(sample(text, 'onair_sip_admission_dropped_total{kind="invite"}') + sample(text, 'onair_sip_admission_dropped_total{kind="blocked"}'), 18,
    '18 of the 20 INVITEs dropped by admission (2 admitted by the burst)');
  t.equal(sample(text, 'onair_sip_admission_blocked_sources'), 1, 'the flooding source is blocked');
  t.ok(text.includes('onair_sip_dropped_total{reason="dispatch_error"} 0'), 'the drop counter is exported');
  const flooded = new Set(bad.heard.filter((h) => headerOf(h.text, 'CSeq')?.endsWith('INVITE')).map((h) => headerOf(h.text, 'Call-ID')));
  t.ok(flooded.size <= 2, `only the admitted INVITEs were answered (${[...flooded].join(', ')})`);
});
