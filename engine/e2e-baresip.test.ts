/**
 * baresip as a real agent softphone through the demo configuration: it registers as agent 1001
 * with digest auth and auto answer; a sipp carrier caller that sends real RTP (a G.711 A-law pcap)
 * calls number 100, is queued, offered to baresip, answered and bridged. While they talk, RTP is
 * counted on both legs of the call: each leg receives from its phone and sends what the other leg
 * received (the relay), so audio flows both ways.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer, startSipp, startBaresip } from './testing/index.ts';
import { SCENARIOS, startEngineRig } from './testing/engine-rig.ts';
import { SqliteCrmAdapter } from '../crm-adapter/index.ts';
import type { CallMediaStats } from './calls/index.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` every 50 ms until it returns a value, or fail after `ms` with `what`. */
async function until<T>(ms: number, what: () => string, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await sleep(50);
  }
}

t.test('baresip registers as agent 1001, auto-answers a queued caller, RTP flows both ways', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'baresip')) return;
  const rig = await startEngineRig();
  t.teardown(rig.close);
  const phone = startBaresip({ registrar: { address: '127.0.0.1', port: rig.sipPort }, user: '1001', password: 'demo1001' });
  t.teardown(phone.close);
  const engine = rig.engine;

  // Digest REGISTER, then the demo's autoReadyOnRegister makes the agent available.
  await until(10_000, () => `baresip did not register; it said:\n${phone.output()}`,
    () => (engine.registrar.isRegistered('1001') && engine.acd.inspectAgent('1001')?.status === 'available' ? true : undefined));
  t.pass('baresip registered with digest auth and agent 1001 is available');

  const caller = startSipp({
    scenario: path.join(SCENARIOS, 'caller-rtp.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 60, args: ['-s', '100', '-mi', '127.0.0.1'],
  });
  t.teardown(caller.kill);

  const call = await until(15_000, () => `no call reached an agent; calls: ${JSON.stringify(engine.calls.list())}\nbaresip:\n${phone.output()}`,
    () => engine.calls.list().find((c) => c.phase === 'talking'));
  t.equal(call.agentId, '1001', 'the call was offered to and answered by baresip');
  t.equal(call.queue, 'orders');

  // Let the bridge settle, then count what flows over two seconds of conversation.
  await sleep(1000);
  const before = await engine.calls.mediaStats(call.id);
  await sleep(2000);
  const after = await engine.calls.mediaStats(call.id);
  const counters = (s: CallMediaStats | undefined): string => JSON.stringify(s);
  t.ok(before?.caller && before.agent && after?.caller && after.agent, `both legs present (${counters(after)})`);
  const b = before!;
  const a = after!;
  const callerIn = a.caller!.received - b.caller!.received;
  const agentIn = a.agent!.received - b.agent!.received;
  const toAgent = a.agent!.sent - b.agent!.sent;
  const toCaller = a.caller!.sent - b.caller!.sent;
  t.ok(a.caller!.received > 0, `caller leg received RTP from sipp (${a.caller!.received} packets)`);
  t.ok(a.agent!.received > 0, `agent leg received RTP from baresip (${a.agent!.received} packets)`);
  // 20 ms packets: about 100 in two seconds from each side.
  t.ok(callerIn >= 50, `caller -> engine during the talk: ${callerIn} packets`);
  t.ok(agentIn >= 50, `baresip -> engine during the talk: ${agentIn} packets`);
  // The relay forwards every packet it receives on one leg out of the other.
  t.ok(Math.abs(toAgent - callerIn) <= 10, `caller audio relayed to baresip: ${toAgent} sent for ${callerIn} received`);
  t.ok(Math.abs(toCaller - agentIn) <= 10, `baresip audio relayed to the caller: ${toCaller} sent for ${agentIn} received`);

  const r = await caller.done;
  t.equal(r.failed, 0, `caller scenario completed (stderr: ${r.stderr.slice(0, 300)})`);
  t.equal(r.successful, 1);

  const crm = new SqliteCrmAdapter({ path: rig.dbPath });
  await crm.init();
  t.teardown(() => crm.close());
  const cdr = await until(5000, () => 'no CDR', () => crm.listCdrs({ limit: 10 }).find((c) => c.callId === call.id));
  t.equal(cdr.outcome, 'answered');
  t.equal(cdr.agent, '1001');
  t.equal(cdr.releasedBy, 'caller');
  await until(5000, () => 'call still in progress', () => (engine.calls.size === 0 ? true : undefined));
});
