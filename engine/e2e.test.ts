/**
 * End to end through the demo configuration with real peers: sipp callers on the trunk, sipp agent
 * phones that REGISTER with digest and answer after a ring delay; CDRs checked in the database.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer, runSipp } from './testing/index.ts';
import { SCENARIOS, callersFile, startEngineRig, startSippAgents } from './testing/engine-rig.ts';
import { SqliteCrmAdapter } from '../crm-adapter/index.ts';

const DEMO_AGENTS = ['1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008', '1009', '1010'];

t.test('callers on number 100 are all answered by agents and leave answered CDRs', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const rig = await startEngineRig();
  t.teardown(rig.close);
  // The demo's orders queue is served by 1001-1005, 1009 and 1010 (level >= 50): 7 agents.
  const agents = await startSippAgents(rig, DEMO_AGENTS, 300);
  t.teardown(agents.close);
  await new Promise((r) => setTimeout(r, 200));
  const numbers = Array.from({ length: 7 }, (_, i) => `+4930555${String(i).padStart(4, '0')}`);
  const r = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: numbers.length, rate: 4, timeoutSec: 60,
    args: ['-s', '100', '-inf', callersFile(rig, numbers), '-d', '9000'],
  });
  t.equal(r.failed, 0, `no failed caller (stderr: ${r.stderr.slice(0, 300)})`);
  t.equal(r.successful, numbers.length, 'every caller completed');
  // CDRs reach the CRM through the durable outbox, asynchronously: wait for them (bounded).
  const crm = new SqliteCrmAdapter({ path: rig.dbPath });
  await crm.init();
  t.teardown(() => crm.close());
  let cdrs = crm.listCdrs({ limit: 100 });
  for (let i = 0; i < 100 && cdrs.length < numbers.length; i++) {
    await new Promise((res) => setTimeout(res, 100));
    cdrs = crm.listCdrs({ limit: 100 });
  }
  t.equal(cdrs.length, numbers.length, 'one CDR per call delivered to the CRM');
  const answered = cdrs.filter((c) => c.outcome === 'answered');
  t.equal(answered.length, numbers.length, 'every CDR answered');
  t.ok(answered.every((c) => c.agent !== null && c.answeredAt !== null && c.queue === 'orders'), 'each with its agent, answer time and queue');
  t.same(new Set(cdrs.map((c) => c.caller)), new Set(numbers), 'caller numbers recorded');
  t.ok(cdrs.every((c) => c.programme === 'demo-shopping-hour' && c.dialled === '100'), 'attribution to the programme');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
});
