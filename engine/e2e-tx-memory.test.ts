/**
 * End to end, through a real engine on loopback: `sip.limits.maxRetainedNonInviteTransactions`
 * bounds the answered non-INVITE transactions the engine keeps for timer J, and every eviction
 * shows in `onair_sip_transactions_evicted_total` (issue 11).
 */
import t from 'tap';
import { startEngineRig } from './testing/engine-rig.ts';
import { RawUdp, rawRequest, token, statusOf } from './testing/attack.ts';

function counter(text: string, name: string): number | undefined {
  for (const line of text.split('\n')) if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  return undefined;
}

t.test('30 answered OPTIONS against a bound of 10: the 20 oldest are evicted and counted', async (t) => {
  const rig = await startEngineRig({ sip: { limits: { maxRetainedNonInviteTransactions: 10 } } }, { quiet: true });
  t.teardown(() => rig.close());
  const peer = await RawUdp.open('127.0.0.1');
  t.teardown(() => peer.close());
  const scrape = async (): Promise<number | undefined> =>
    counter(await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text(), 'onair_sip_transactions_evicted_total');
  t.equal(await scrape(), 0, 'served, at 0 before any traffic');
  for (let i = 0; i < 30; i++) {
    const callId = token('mem-');
    await peer.send(rawRequest({
      method: 'OPTIONS', uri: 'sip:127.0.0.1',
      headers: [
        `Via: SIP/2.0/UDP 127.0.0.1:${peer.port};rport;branch=${token()}`, 'Max-Forwards: 70',
        `From: <sip:probe@127.0.0.1>;tag=${token('t')}`, 'To: <sip:127.0.0.1>', `Call-ID: ${callId}`, 'CSeq: 1 OPTIONS',
      ],
    }), rig.sipPort);
    const answer = await peer.finalFor(callId, 5000);
    t.equal(answer && statusOf(answer.text), 200, `OPTIONS ${i} answered`);
  }
  t.equal(await scrape(), 20);
});
