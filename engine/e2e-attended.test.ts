/**
 * End to end, the attended-transfer REFERs onair refuses today (issue 16; docs/transfer.md,
 * "Attended transfer"): a sipp agent 1001 talking to a sipp caller sends a REFER whose Refer-To
 * carries a well-formed Replaces (RFC 3891) naming a dialog onair does not own, then one with a
 * Replaces without from-tag. The sipp scenario requires 488 then 400 (any other status fails it);
 * the call stays with the agent, the caller hangs up itself, and both count as
 * `onair_transfers_total{kind="attended",result="refused"}` in /metrics.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { SCENARIOS, callersFile, startE2e, startSippAgents, waitFor, waitForCdrs, within } from './testing/engine-rig.ts';

t.test('a sipp agent\'s REFERs with Replaces: foreign dialog 488, malformed 400, counted attended/refused, the call goes on', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const engine = rig.engine;
  const agent = await startSippAgents(rig, ['1001'], 200, 1, { scenario: 'agent-refer-replaces.xml', timeoutSec: 40 });
  sipps.add(agent.answer);
  const caller = '+4930760000031';
  const callerRun = sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 40, args: ['-s', '100', '-d', '4000', '-inf', callersFile(rig, [caller])],
  });
  const talking = await waitFor('agent 1001 talking', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 15_000);
  await waitFor(`both REFERs answered (${JSON.stringify(engine.calls.transferCounters())})`,
    () => (engine.calls.transferOutcomes().attended.refused >= 2 ? true : undefined), 15_000)
    .catch(async (err: unknown) => {
      const a = await within(agent.answer.done, 15_000, 'agent 1001');
      throw new Error(`${String(err)}; counters ${JSON.stringify(engine.calls.transferCounters())}; agent sipp: ${a.stderr.slice(0, 1500)}`);
    });
  t.match(engine.calls.list().find((c) => c.id === talking.id), { phase: 'talking', agentId: '1001' }, 'the call stays with its agent');

  const c = await within(callerRun, 30_000, 'the caller');
  t.equal(c.successful, 1, `the caller hung up itself (stderr: ${c.stderr.slice(0, 300)})`);
  const a = await within(agent.answer.done, 15_000, 'agent 1001');
  t.equal(a.successful, 1, `the agent's sipp got 488 then 400, then the engine's BYE (stderr: ${a.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: talking.id, outcome: 'answered', agent: '1001', transfers: 0 }, 'one CDR, no transfer');
  t.match(engine.calls.transferCounters(), { unsupported: 1, malformed: 1, accepted: 0 });
  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, /onair_transfers_total\{kind="attended",result="refused"\} 2/, 'both counted attended/refused in /metrics');
  t.match(metrics, /onair_transfers_total\{kind="attended",result="ok"\} 0/, 'none done');
});
