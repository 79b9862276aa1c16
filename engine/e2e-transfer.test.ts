/**
 * End to end, a blind transfer by REFER (RFC 3515) from a real softphone: baresip registers as
 * agent 1001 (orders), auto-answers a sipp caller of number 100, and its `transfer` command sends
 * REFER with `Refer-To: sip:service@…`. The engine answers 202, NOTIFYs the progress, keeps the
 * carrier's leg (the caller never sees the REFER), plays the service queue's hold music and offers
 * the caller to agent 1006 (service 80; orders 30 is below the orders queue's level 50), a sipp
 * phone that answers. The caller hangs up there: one CDR with both legs.
 */
import t from 'tap';
import path from 'node:path';
import { freeTcpPort, requirePeer, startBaresip } from './testing/index.ts';
import { SCENARIOS, callersFile, startE2e, startSippAgents, waitForCdrs, within } from './testing/engine-rig.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` every 50 ms until it returns a value, or fail after `ms` with `what`. */
async function until<T>(ms: number, what: () => string, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await sleep(50);
  }
}

t.test('baresip transfers its caller by REFER to the service queue; a sipp agent there answers; one CDR, both legs', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'baresip')) return;
  const { rig, sipps } = await startE2e(t);
  const engine = rig.engine;
  const ctrlPort = await freeTcpPort();
  const phone = startBaresip({ registrar: { address: '127.0.0.1', port: rig.sipPort }, user: '1001', password: 'demo1001', ctrlPort });
  t.teardown(phone.close);
  await until(10_000, () => `baresip did not register:\n${phone.output()}`,
    () => (engine.acd.inspectAgent('1001')?.status === 'available' ? true : undefined));
  const second = await startSippAgents(rig, ['1006'], 200, 1, { scenario: 'agent-answer.xml', timeoutSec: 40 });
  sipps.add(second.answer);

  const caller = '+4930760000016';
  const callerRun = sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 40, args: ['-s', '100', '-d', '9000', '-inf', callersFile(rig, [caller])],
  });
  const talking = await until(15_000, () => `baresip never talked: ${JSON.stringify(engine.calls.list())}\n${phone.output().slice(-800)}`,
    () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'));
  await sleep(500);
  const reply = await phone.command('transfer', `sip:service@127.0.0.1:${rig.sipPort}`);
  t.match(reply, /"ok":true/, `baresip took the transfer command (${reply})`);

  const moved = await until(10_000, () => `no second agent: ${JSON.stringify(engine.calls.list())}\n${phone.output().slice(-1500)}`,
    () => engine.calls.list().find((c) => c.id === talking.id && c.phase === 'talking' && c.agentId === '1006'));
  t.equal(moved.queue, 'service', 'the caller reached agent 1006 through the service queue');
  t.not(engine.acd.inspectAgent('1001')?.state, 'talking', 'the transferring agent is free of the caller (wrap-up)');

  const r = await within(callerRun, 30_000, 'the caller');
  t.equal(r.successful, 1, `the caller stayed up through the transfer and hung up itself (stderr: ${r.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: talking.id, outcome: 'answered', caller, agent: '1006', queue: 'service', transfers: 1, releasedBy: 'caller' },
    'one CDR under the one call id, the last agent');
  t.match(cdr?.legs, [
    { kind: 'agent', agent: '1001', queue: 'orders', endedBy: 'transfer' },
    { kind: 'agent', agent: '1006', queue: 'service', endedBy: 'hangup' },
  ], 'both legs in the CDR');
  t.same(engine.calls.transferCounters().accepted, 1);
  t.equal(engine.calls.size, 0, 'no call left in progress');
});
