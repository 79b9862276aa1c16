/**
 * A short surge end to end (the `smoke` preset, ~75 s): engine child process, sipp agents and
 * callers, the rate schedule through sipp's control socket, the callback phase (sipp customers
 * behind the outbound trunk), the report. Checks that sipp followed the schedule, that every
 * captured caller was called back or given up under the policy, that no caller was lost, and that
 * the engine's report of the run says exactly the bench's offered, answered and abandoned.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer } from '../../engine/testing/index.ts';
import { loadProfile } from './profile.ts';
import { runSurge } from './run.ts';
import { writeReport } from './report.ts';

t.test('smoke surge: every caller served, reached by a callback, given up under the policy, or rejected on purpose', { timeout: 180_000 }, async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const loaded = loadProfile('smoke');
  if (!loaded.ok) throw new Error(loaded.errors.join('\n'));
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-surge-smoke-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The source tree: a test must not depend on a fresh build in dist/.
  const r = await runSurge({ profile: loaded.profile, dir: path.join(dir, 'run'), seed: 1, engineBuild: 'source' });

  t.equal(r.fates.lost, 0, `no caller lost (lost: ${r.lostNumbers.join(', ')})`);
  t.equal(r.fates.served + r.fates.captured + r.fates.reached + r.fates.unreached + r.fates.rejected + r.fates.in_progress + r.fates.lost, r.offered,
    'every dialled caller has exactly one fate');
  t.equal(r.fates.in_progress, r.inProgressNumbers.length, `callers still held are listed (${JSON.stringify(r.inProgressNumbers)})`);
  // The per-number join of sipp's 200s with the engine's answered CDRs.
  const m = r.answeredMismatch;
  t.equal(m.engineAnswered, r.fates.served, 'engine side of answered_mismatch = answered CDRs of dialled callers');
  t.equal(m.value, m.sippAnswered - m.engineAnswered, 'answered_mismatch = sipp answered - engine answered');
  t.ok(m.sippAnswered > 0, `sipp logged callers who got their 200 (${m.sippAnswered})`);
  t.ok(m.numbers.length >= Math.abs(m.value), `each difference is a disagreeing number: ${JSON.stringify(m.numbers)}`);
  // sipp aborted callers whose 200 arrived between two patience ticks (3-5 a smoke run: 'no 200'
  // without a CANCEL) until the callers ran without abortunexp.
  // What remains is a real race: the caller's CANCEL crossing the engine's 200 (the engine answers,
  // the caller has hung up). Anything else is a disagreement to look at.
  t.same(m.numbers.filter((x) => x.sipp !== 'no 200 (CANCEL sent)'), [], 'sipp and the engine agree on every answered caller but CANCEL races');
  t.ok(r.sipp['answered']! <= m.sippAnswered, 'every BYE sipp received was to a caller that logged its 200');
  // First media per caller, from the callers' log.
  t.ok(r.callerFirstMedia.callers > 0 && Number.isFinite(r.callerFirstMediaP99S) && r.callerFirstMediaP99S >= 0,
    `first media p99 over ${r.callerFirstMedia.callers} callers: ${r.callerFirstMediaP99S}`);
  t.ok(r.callerFirstMedia.callers <= r.offered - r.fates.rejected, 'blacklisted callers got no media');
  // Idle while waiting: over the seconds some caller waited, bounded by the logged-in agent-seconds.
  const waited = r.samples.filter((x) => x.waiting > 0);
  t.equal(r.waitingSeconds, waited.length, 'seconds with a caller waiting');
  t.ok(r.idleWhileWaitingS >= 0 && r.idleWhileWaitingS <= waited.reduce((a, x) => a + x.agentsLoggedIn, 0), `idle while waiting ${r.idleWhileWaitingS} agent-s`);
  t.ok(r.samples.every((x) => x.agentsLoggedIn === 10), 'every sample saw the 10 agents logged in');
  t.ok(Number.isFinite(r.idleWhileWaitingShare) && r.idleWhileWaitingShare >= 0 && r.idleWhileWaitingShare <= 1, `share ${r.idleWhileWaitingShare}`);
  t.equal(r.ringingHeldPeak, r.gauges.ringingHeld ? Math.max(...r.samples.map((x) => x.ringingHeld)) : 0, 'ringing held peak: the gauge, 0 without it');
  t.ok(Math.abs(r.offered - r.expected) <= Math.max(3, r.expected * 0.05), `sipp followed the schedule: ${r.offered} offered, ${r.expected.toFixed(0)} expected`);
  t.ok(r.fates.served > 0, `callers served (${r.fates.served})`);
  // The callback phase: the captured callers were dialled back through the outbound trunk.
  const cb = r.callbacks;
  if (cb === null) throw new Error('the smoke preset has a callback phase');
  t.equal(r.fates.captured, 0, 'with a callback phase every captured caller is reached, unreached or still open');
  t.ok(cb.completed > 0 && cb.completed === r.fates.reached, `callers reached by a callback (${cb.completed}) = the reached fate`);
  t.equal(cb.unreached.length, r.fates.unreached, 'every unreached task listed');
  t.equal(cb.tasks, cb.completed + cb.unreached.length + cb.open, 'each task reached, given up or open');
  t.equal(cb.open, 0, `the phase ran until every task was closed (${r.callbackPhaseSeconds} s)`);
  t.ok(cb.reachRate >= 0.9, `callback reach rate ${cb.reachRate} (80 % answer each attempt, 3 attempts)`);
  t.equal(cb.delaysS.length, cb.completed, 'each reached task has its connection in an outbound CDR');
  t.ok(cb.delayP50S > 0 && cb.delayP90S >= cb.delayP50S, `callback delay p50 ${cb.delayP50S} s, p90 ${cb.delayP90S} s`);
  t.ok(cb.withinFiveMinutesOfFreeAgentShare >= 0 && cb.withinFiveMinutesOfFreeAgentShare <= 1, `within 5 min of a free agent ${cb.withinFiveMinutesOfFreeAgentShare}`);
  t.ok(r.fates.rejected > 0, `blacklisted callers rejected (${r.fates.rejected})`);
  t.ok((r.outcomes['callback_requested'] ?? 0) > 0, 'DTMF 3 reached the callback option');
  // A caller who gives up as the agent answers gets the 200 after its CANCEL: answered at both
  // ends, no BYE (the caller's scenario ends the call itself). Never more BYEs than answered CDRs.
  const byes = r.sipp['answered']!;
  t.ok(byes <= r.fates.served && r.fates.served - byes <= Math.max(3, r.fates.served * 0.08),
    `callers the engine BYEd after talking (${byes}) ≈ answered CDRs (${r.fates.served})`);
  t.ok(r.peakWaiting > 0, 'callers waited in the queue');
  t.ok(r.samples.length >= r.replaySeconds, 'one sample per second');
  t.ok(r.samples.some((s) => s.agentsBusy > 0), 'agents were busy');

  // The engine's report of the same run (issue 18 must-show 1): exactly the bench's figures.
  const rep = r.reportVsBench;
  if (rep === null) throw new Error(`the engine's report was not read: ${r.reportVsBenchError}`);
  t.same(rep.diff, { offered: 0, answered: 0, abandoned: 0 }, `engine report − bench = 0 (engine ${JSON.stringify(rep.engine)}, bench ${JSON.stringify(rep.bench)})`);
  t.same(rep.explanations, [], 'no caller or filed call disagrees');
  t.same(rep.tablesDrift, { offered: 0, answered: 0, abandoned: 0 }, 'the report\'s totals = its filed calls');
  t.same([rep.bench.offered, rep.bench.answered, rep.bench.abandoned], [r.offered, r.fates.served, r.abandoned], 'the bench side is the bench report\'s offered, answered, abandoned');
  t.ok(rep.byQueue.length >= 2 && rep.engine.abandoned > 0, `a report by queue with abandons (${JSON.stringify(rep.byQueue)})`);

  const files = await writeReport(r, path.join(dir, 'report'));
  t.ok(files.every((f) => existsSync(f)), 'report files written');
  const lines = readFileSync(path.join(dir, 'report', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { metric: string; value: number });
  t.equal(lines.find((l) => l.metric === 'lost')?.value, 0, 'metrics.jsonl says lost 0');
  for (const m of ['report_offered_diff', 'report_answered_diff', 'report_abandoned_diff']) t.equal(lines.find((l) => l.metric === m)?.value, 0, `metrics.jsonl says ${m} 0`);
  t.match(readFileSync(path.join(dir, 'report', 'report.md'), 'utf8'), /## Report vs bench[\s\S]*\| offered \| \d+ \| \d+ \| 0 \|/, 'the markdown has the report vs bench table');
  for (const m of ['in_progress', 'answered_mismatch', 'agents_idle_while_waiting_s', 'agents_idle_while_waiting_share', 'first_media_p99_s', 'ringing_held_peak', 'rss_peak',
    'report_offered_diff', 'report_answered_diff', 'report_abandoned_diff',
    'callbacks_completed', 'callback_reach_rate', 'callback_delay_p50_s', 'callback_delay_p90_s', 'callback_within_5min_of_free_agent_share', 'unreached']) {
    t.ok(lines.some((l) => l.metric === m), `metrics.jsonl has ${m}`);
  }
});
