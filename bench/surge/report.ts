/**
 * The report of a surge run: one JSON line for the run (the C3 names at the top level, printed on
 * stdout), JSON metric lines (ARCHITECTURE.md's bench format, `metrics.jsonl`), a markdown summary
 * a manager can read, the per-second samples (`samples.json`) and the chart (`chart.png`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchResult } from '../lib.ts';
import type { RunResult } from './run.ts';
import type { RunLine } from './truth.ts';
import { surgeChart } from './chart.ts';

const BENCH = 'surge';

/** The JSON lines of a run (durations in replay seconds; `compression` turns them into broadcast time). */
export function metricLines(r: RunResult): BenchResult[] {
  const base = { bench: BENCH, profile: r.profile.name, agents: r.agents, compression: r.profile.compression, seed: r.seed };
  const line = (metric: string, value: number, unit: string, extra: Record<string, unknown> = {}): BenchResult =>
    ({ ...base, metric, value: Number.isFinite(value) ? round(value) : null as unknown as number, unit, ...extra });
  return [
    line('offered', r.offered, 'calls', { expected: Math.round(r.expected) }),
    line('answered', r.fates.served, 'calls'),
    line('abandoned', r.abandoned, 'calls'),
    line('captured', r.fates.captured, 'calls', { callbackTasksAndRequests: r.captured }),
    line('rejected', r.fates.rejected, 'calls', { reason: 'blacklisted' }),
    line('lost', r.fates.lost, 'calls', { by: r.lostBy, sample: r.lostSeenBySipp.slice(0, 5) }),
    ...callbackLines(r, line),
    line('caller_sip_drops', r.callerSipDrops, 'datagrams'),
    line('in_progress', r.fates.in_progress, 'calls', { held: r.inProgressNumbers.slice(0, 5), openCallbackTasks: r.inProgressTasks }),
    line('answered_mismatch', r.answeredMismatch.value, 'calls', {
      sippAnswered: r.answeredMismatch.sippAnswered, engineAnswered: r.answeredMismatch.engineAnswered, held: r.answeredMismatch.held,
      disagreeing: r.answeredMismatch.numbers.length, numbers: r.answeredMismatch.numbers.slice(0, 10),
    }),
    line('agents_idle_while_waiting_s', r.idleWhileWaitingS, 'agent-s', { waitingSeconds: r.waitingSeconds, offerPendingGauge: r.gauges.offerPending }),
    line('agents_idle_while_waiting_share', r.idleWhileWaitingShare, 'ratio'),
    line('peak_offered', r.peakOfferedPerSecond, 'calls/s'),
    line('peak_waiting', r.peakWaiting, 'calls'),
    line('peak_in_progress', r.peakInProgress, 'calls'),
    line('service_level', r.serviceLevel, 'ratio', { withinSeconds: r.profile.serviceLevel.seconds / r.profile.compression }),
    line('avg_wait_s', r.avgWaitS, 's'),
    line('max_wait_s', r.maxWaitS, 's'),
    line('first_media_p99_s', r.callerFirstMediaP99S, 's', { source: 'sipp per caller: INVITE to 183 with SDP (else 200)', ...r.callerFirstMedia }),
    line('engine_first_media_p99_s', r.engineFirstMediaP99S, 's', { source: 'engine onair_first_media_seconds' }),
    line('early_media_p99_s', r.earlyMediaP99S, 's', { source: 'sipp -trace_rtt: INVITE to 183, every caller' }),
    line('ringing_held_peak', r.ringingHeldPeak, 'calls', { gauge: r.gauges.ringingHeld }),
    line('routing_p99_s', r.routingP99S, 's', { source: 'engine onair_offer_latency_seconds' }),
    line('cpu_peak', r.peakCpuCores, 'cores'),
    line('cpu_avg', r.avgCpuCores, 'cores'),
    line('rss_peak', r.peakRssMiB, 'MiB'),
    line('event_loop_p99_peak', r.peakEventLoopP99Ms, 'ms'),
    line('wall', r.wallSeconds, 's', { replaySeconds: r.replaySeconds, machine: r.machine }),
    ...wallboardLines(r, line),
    ...reportLines(r, line),
    ...pairLines(r, line),
  ];
}

/** The pair's lines (`--pair`, issue 19 must-show 3; none for one engine): the failover and how the killed node's calls ended. */
function pairLines(r: RunResult, line: (metric: string, value: number, unit: string, extra?: Record<string, unknown>) => BenchResult): BenchResult[] {
  const f = r.pair;
  if (f === null) return [];
  const at = { atReplayS: f.atReplayS, wave: f.wave?.wave ?? null, waveMinute: f.wave?.minute ?? null };
  return [
    line('pair_takeover_s', f.takeoverS ?? NaN, 's', { ...at, source: 'kill -9 of the active to the first new caller on the standby', leaseTakenS: f.leaseTakenS }),
    line('pair_calls_at_kill', f.callsAtKill, 'calls', { ...at, byState: f.byStateAtKill, endings: f.endings }),
    line('pair_served_cut', f.servedCut, 'calls', { source: 'answered at the kill, cut by it (failed CDR with an answer): counted served' }),
    line('pair_retried_callers', f.retriedCallers, 'calls', { retries: f.retries, lost: f.retriedLost, source: 'INVITEs refused with 503 during the takeover, sent again after Retry-After' }),
    line('pair_failover_done', f.aDead && f.bRoleAtEnd === 'active' ? 1 : 0, 'bool', { aDead: f.aDead, bRoleAtEnd: f.bRoleAtEnd, cdrsOnA: f.cdrsOnA, cdrsOnB: f.cdrsOnB }),
  ];
}

/**
 * The engine's report against the bench's truth (issue 18 must-show 1): engine − bench per
 * figure, target 0 (`engine` and `truth` beside it: `bench` names the bench), with the calls that
 * explain a difference; null values when the report was not read.
 */
function reportLines(r: RunResult, line: (metric: string, value: number, unit: string, extra?: Record<string, unknown>) => BenchResult): BenchResult[] {
  const c = r.reportVsBench;
  const source = 'GET /api/v1/reports (run window, programme, inbound) minus the bench truth';
  return (['offered', 'answered', 'abandoned'] as const).map((k) => line(`report_${k}_diff`, c === null ? NaN : c.diff[k], 'calls', c === null
    ? { source, error: r.reportVsBenchError }
    : { source, engine: c.engine[k], truth: c.bench[k], ...(c.tablesDrift !== null && c.tablesDrift[k] !== 0 ? { tablesDrift: c.tablesDrift[k] } : {}),
        explained: c.explanations.filter((x) => x.bench[k] !== x.engine[k]).slice(0, 10) }));
}

/** The wallboard's lines (issue 15 must-show 4; none without `--wallboard`). */
function wallboardLines(r: RunResult, line: (metric: string, value: number, unit: string, extra?: Record<string, unknown>) => BenchResult): BenchResult[] {
  const w = r.wallboard;
  if (w === null) return [];
  return [
    line('wallboard_messages_per_s', w.messagesPerS, 'messages/s', { read: w.read, taken: w.taken, source: 'the page\'s WebSocket messages' }),
    line('wallboard_stale_max_s', w.staleMaxS, 's', { source: 'longest gap between two messages while callers waited' }),
    line('wallboard_waiting_error_max', w.waitingErrorMax, 'calls', { p50: w.waitingErrorP50, source: 'orders queue: page vs engine gauge, same second' }),
  ];
}

/**
 * The callback phase's lines (issue 14 must-show 4; none without a phase). Delays in broadcast
 * seconds; `unreached` lists every task the policy gave up.
 */
function callbackLines(r: RunResult, line: (metric: string, value: number, unit: string, extra?: Record<string, unknown>) => BenchResult): BenchResult[] {
  const cb = r.callbacks;
  if (cb === null) return [];
  return [
    line('callbacks_completed', cb.completed, 'tasks', { tasks: cb.tasks, open: cb.open, phaseSeconds: round(r.callbackPhaseSeconds) }),
    line('callback_reach_rate', cb.reachRate, 'ratio', { target: 0.9 }),
    line('callback_delay_p50_s', cb.delayP50S, 's', { source: 'capture to the customer connected to an agent, broadcast time', reached: cb.delaysS.length }),
    line('callback_delay_p90_s', cb.delayP90S, 's', { source: 'capture to the customer connected to an agent, broadcast time' }),
    line('callback_within_5min_of_free_agent_share', cb.withinFiveMinutesOfFreeAgentShare, 'ratio'),
    line('unreached', cb.unreached.length, 'tasks', { numbers: cb.unreached }),
  ];
}

/** The C3 metrics of a run line, in order (also what the seeds summary spreads). */
export const RUN_METRICS = [
  'offered', 'served', 'captured', 'rejected', 'in_progress', 'lost', 'answered_mismatch',
  'agents_idle_while_waiting_s', 'agents_idle_while_waiting_share', 'first_media_p99_s', 'ringing_held_peak', 'rss_peak',
  'peak_waiting', 'service_level', 'cpu_peak', 'wall',
  'reached', 'unreached', 'callbacks_completed', 'callback_reach_rate', 'callback_delay_p50_s', 'callback_delay_p90_s',
  'callback_within_5min_of_free_agent_share', 'caller_sip_drops',
  'report_offered_diff', 'report_answered_diff', 'report_abandoned_diff',
] as const;

/**
 * The run's one JSON line (C3): every metric at the top level under its C3 name, null when not
 * measured; `value` is `lost` so that the line is also in the bench format.
 */
export function runLine(r: RunResult, loadavg: { before: number[]; after: number[] }): RunLine {
  const n = (x: number): number | null => (Number.isFinite(x) ? round(x) : null);
  const metrics: Record<(typeof RUN_METRICS)[number], number | null> = {
    offered: r.offered, served: r.fates.served, captured: r.fates.captured, rejected: r.fates.rejected,
    in_progress: r.fates.in_progress, lost: r.fates.lost, answered_mismatch: r.answeredMismatch.value,
    agents_idle_while_waiting_s: n(r.idleWhileWaitingS), agents_idle_while_waiting_share: n(r.idleWhileWaitingShare),
    first_media_p99_s: n(r.callerFirstMediaP99S), ringing_held_peak: r.ringingHeldPeak, rss_peak: n(r.peakRssMiB),
    peak_waiting: r.peakWaiting, service_level: n(r.serviceLevel), cpu_peak: n(r.peakCpuCores), wall: n(r.wallSeconds),
    reached: r.callbacks ? r.fates.reached : null, unreached: r.callbacks ? r.fates.unreached : null,
    callbacks_completed: r.callbacks?.completed ?? null, callback_reach_rate: r.callbacks ? n(r.callbacks.reachRate) : null,
    callback_delay_p50_s: r.callbacks ? n(r.callbacks.delayP50S) : null, callback_delay_p90_s: r.callbacks ? n(r.callbacks.delayP90S) : null,
    callback_within_5min_of_free_agent_share: r.callbacks ? n(r.callbacks.withinFiveMinutesOfFreeAgentShare) : null,
    caller_sip_drops: r.callerSipDrops,
    report_offered_diff: r.reportVsBench?.diff.offered ?? null, report_answered_diff: r.reportVsBench?.diff.answered ?? null,
    report_abandoned_diff: r.reportVsBench?.diff.abandoned ?? null,
  };
  return {
    bench: BENCH, metric: 'run', value: r.fates.lost, unit: 'calls lost',
    profile: r.profile.name, scale: r.scale, seed: r.seed, agents: r.agents, compression: r.profile.compression,
    loadavg_before: loadavg.before.map(round), loadavg_after: loadavg.after.map(round),
    ...metrics,
    findings: findings(r),
    gauges: r.gauges,
    ...(r.pair === null ? {} : {
      pair: {
        at_replay_s: r.pair.atReplayS, wave: r.pair.wave?.wave ?? null, takeover_s: r.pair.takeoverS, lease_taken_s: r.pair.leaseTakenS,
        calls_at_kill: r.pair.callsAtKill, endings: r.pair.endings, served_cut: r.pair.servedCut,
        retried_callers: r.pair.retriedCallers, retried_lost: r.pair.retriedLost, a_dead: r.pair.aDead, b_role: r.pair.bRoleAtEnd,
      },
    }),
  };
}

/** What a reader must not miss: lost, held and mismatched callers, each by number. */
export function findings(r: RunResult): string[] {
  const out: string[] = [];
  for (const l of r.lostSeenBySipp) out.push(`lost ${l.number} (sipp Call-ID ${l.callId ?? '-'}: ${l.sipp || 'nothing logged'})`);
  const heldWithout = r.fates.in_progress - r.inProgressTasks;
  // An open callback task is a durable record of a captured caller not yet called back (the
  // callback phase was capped or ran out of time), not a caller the engine might still drop.
  if (r.inProgressTasks > 0) out.push(`${r.inProgressTasks} captured callers whose callback task was still open at the records deadline (not yet called back)`);
  if (heldWithout > 0) out.push(`${heldWithout} callers still held by the engine without a final record at the records deadline`);
  for (const h of r.inProgressNumbers) out.push(`  in progress ${h.number}: ${h.where}`);
  const fm = r.callerFirstMedia;
  if (fm.by200 > 0) out.push(`${fm.by200} of ${fm.callers} callers got no 183 before their 200: their first media was the answer`);
  if (r.callerSipDrops > 0) {
    out.push(`${r.callerSipDrops} SIP datagrams dropped by the kernel at the caller sipp's socket (receive buffer full): ` +
      'a 183 dropped there is never retransmitted, so that caller\'s first media is its 200');
  }
  const m = r.answeredMismatch;
  if (m.value !== 0 || m.numbers.length > 0) {
    out.push(`answered_mismatch ${m.value}: sipp saw ${m.sippAnswered} answered, the engine recorded ${m.engineAnswered}` +
      (m.held > 0 ? ` (${m.held} callers still held by the engine left out)` : ''));
    for (const x of m.numbers) {
      out.push(`  ${x.number} (Call-ID ${x.callId ?? '-'}): sipp ${x.sipp}, engine ${x.engine}${x.sippError !== undefined ? `; sipp error: ${x.sippError}` : ''}`);
    }
  }
  const f = r.pair;
  if (f !== null) {
    out.push(`failover at replay second ${f.atReplayS}${f.wave ? ` (start of wave ${f.wave.wave}, minute ${f.wave.minute})` : ''}: ` +
      `${f.callsAtKill} calls on the killed node, the standby active after ${f.leaseTakenS?.toFixed(2) ?? 'never'} s, ` +
      `first new caller after ${f.takeoverS?.toFixed(2) ?? 'never'} s; node A ${f.aDead ? 'dead' : 'STILL ALIVE'}, node B ${f.bRoleAtEnd ?? 'no answer'}`);
    for (const [ending, n] of Object.entries(f.endings).sort((a, b) => b[1] - a[1])) out.push(`  at the kill ${ending}: ${n}`);
    if (f.retriedCallers > 0) out.push(`${f.retriedCallers} callers refused with 503 during the takeover sent their INVITE again (${f.retries} retries); ${f.retriedLost} of them lost`);
  }
  const c = r.reportVsBench;
  if (c === null) out.push(`engine report not read: ${r.reportVsBenchError ?? 'unknown'}`);
  else {
    const d = c.diff;
    if (d.offered !== 0 || d.answered !== 0 || d.abandoned !== 0 || c.explanations.length > 0) {
      out.push(`engine report vs bench: offered ${signed(d.offered)}, answered ${signed(d.answered)}, abandoned ${signed(d.abandoned)} (engine − bench)`);
    }
    const drift = c.tablesDrift;
    if (drift !== null && (drift.offered !== 0 || drift.answered !== 0 || drift.abandoned !== 0)) {
      out.push(`  the report's totals differ from its filed calls: offered ${signed(drift.offered)}, answered ${signed(drift.answered)}, abandoned ${signed(drift.abandoned)}`);
    }
    for (const x of c.explanations.slice(0, 50)) out.push(`  ${x.number ?? 'no dialled caller'} (call ${x.callIds.join(', ') || '-'}): ${x.why}`);
  }
  return out;
}

function signed(x: number): string {
  return x > 0 ? `+${x}` : String(x);
}

/** The markdown table of the engine's report against the bench's truth. */
function reportTable(r: RunResult): string {
  const c = r.reportVsBench;
  if (c === null) return `## Report vs bench\n\nThe engine's report was not read: ${r.reportVsBenchError ?? 'unknown'}.\n\n`;
  const row = (k: 'offered' | 'answered' | 'abandoned'): string => `| ${k} | ${c.engine[k]} | ${c.bench[k]} | ${signed(c.diff[k])} |`;
  const queues = c.byQueue.map((q) => `${q.queue === '' ? '(no queue)' : q.queue} ${q.offered}/${q.answered}/${q.abandoned}`).join(', ');
  return `## Report vs bench

The engine's report of this run (\`GET /api/v1/reports\`: ${new Date(c.window.from).toISOString()} to
${new Date(c.window.to).toISOString()}, programme ${c.window.programme}, inbound) against the bench's
own join of every dialled caller with its records (docs/reports.md, Report vs bench).

| Figure | Engine report | Bench | Difference |
|---|---|---|---|
${row('offered')}
${row('answered')}
${row('abandoned')}

By queue in the engine's report (offered/answered/abandoned): ${queues || 'no rows'}.
${c.explanations.length === 0 ? 'Every call agrees.' : `${c.explanations.length} calls explain the difference (Findings).`}

`;
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

function pct(x: number): string {
  return Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : 'n/a';
}

function sec(x: number, digits = 1): string {
  return Number.isFinite(x) ? `${x.toFixed(digits)} s` : 'n/a';
}

/** The markdown summary. */
export function markdown(r: RunResult, chartFile: string): string {
  const p = r.profile;
  const c = p.compression;
  const verdict = (r.fates.lost === 0 ? '**No caller lost.**' : `**${r.fates.lost} callers lost** (numbers in samples.json).`) +
    (r.inProgressTasks > 0 ? ` ${r.inProgressTasks} captured callers not yet called back (callback task open).` : '') +
    (r.fates.in_progress > r.inProgressTasks ? ` ${r.fates.in_progress - r.inProgressTasks} callers still held by the engine at the records deadline.` : '');
  const found = findings(r);
  const rows: [string, string][] = [
    ['Callers offered', `${r.offered} (expected ${Math.round(r.expected)})`],
    ['Served by an agent', `${r.fates.served}`],
    ...(r.callbacks === null ? [['Hung up before an agent, captured for callback', `${r.fates.captured} (abandoned ${r.abandoned})`] as [string, string]] : [
      ['Captured for callback, reached by the callback', `${r.fates.reached} of ${r.callbacks.tasks} tasks (${pct(r.callbacks.reachRate)}; abandoned ${r.abandoned})`],
      ['Captured, given up under the policy (exhausted, expired)', `${r.fates.unreached}`],
      ['Callback delay p50 / p90 (capture → connected to an agent)', `${sec(r.callbacks.delayP50S, 0)} / ${sec(r.callbacks.delayP90S, 0)} broadcast time`],
      ['Called back within 5 minutes of a free agent', pct(r.callbacks.withinFiveMinutesOfFreeAgentShare)],
      ['Callback phase after the curve', `${r.callbackPhaseSeconds.toFixed(0)} s replay, ${r.callbacks.open} tasks still open at its end`],
    ] as [string, string][]),
    ['Rejected on purpose (blacklisted)', `${r.fates.rejected}`],
    ['Still in progress at the records deadline (held by the engine, no final record yet)', `${r.fates.in_progress}`],
    [r.callbacks === null ? '**Lost** (neither served nor captured nor rejected, and not held)' : '**Lost** (neither served, nor reached by a callback, nor given up under the policy, nor rejected, and not held)', `**${r.fates.lost}**`],
    ['Answered: sipp (200 to the INVITE) − engine (answered CDRs)', `${r.answeredMismatch.value} (${r.answeredMismatch.sippAnswered} − ${r.answeredMismatch.engineAnswered}; ${r.answeredMismatch.numbers.length} numbers disagree)`],
    ['Agents idle while callers waited', `${r.idleWhileWaitingS.toFixed(0)} agent-seconds, ${pct(r.idleWhileWaitingShare)} of the logged-in agent-seconds (${r.waitingSeconds} sampled seconds with a caller waiting${r.gauges.offerPending ? ', offers not yet sent included' : ''})`],
    ['Callers held in ringing, peak', r.gauges.ringingHeld ? `${r.ringingHeldPeak}` : '0 (the engine has no onair_calls_ringing_held)'],
    ['Peak offered', `${r.peakOfferedPerSecond} calls/s (replay), ${(r.peakOfferedPerSecond / c).toFixed(1)} calls/s broadcast`],
    ['Peak callers waiting at once', `${r.peakWaiting} in queue (${r.peakInProgress} calls in progress)`],
    ['Service level', `${pct(r.serviceLevel)} answered within ${p.serviceLevel.seconds} s (target ${pct(p.serviceLevel.target)})`],
    ['Average / longest wait', `${sec(r.avgWaitS * c)} / ${sec(r.maxWaitS * c)} broadcast time`],
    ['First media p99, per caller given media (INVITE → 183 with SDP)', `${sec(r.callerFirstMediaP99S, 3)} over ${r.callerFirstMedia.callers} callers` +
      (r.callerFirstMedia.treatmentKnown ? `, ${r.callerFirstMedia.excludedRinging} held in ringing left out` : ', every caller (the CDRs carry no treatment)') +
      (r.callerFirstMedia.by200 > 0 ? `; ${r.callerFirstMedia.by200} of them got no 183, first media at the 200` : '')],
    ['First media p99 (engine histogram)', sec(r.engineFirstMediaP99S, 3)],
    ['Routing p99 (matchable → INVITE to agent)', sec(r.routingP99S, 3)],
    ['Engine CPU peak / average', `${r.peakCpuCores.toFixed(2)} / ${r.avgCpuCores.toFixed(2)} cores`],
    ['Engine RSS peak', `${r.peakRssMiB.toFixed(0)} MiB`],
    ['Event-loop delay p99, worst second', `${r.peakEventLoopP99Ms.toFixed(1)} ms`],
    ...(r.wallboard === null ? [] : [[
      'Wallboard (one supervisor browser open all the run)',
      `${r.wallboard.messagesPerS.toFixed(1)} WebSocket messages/s, longest silence while callers waited ${r.wallboard.staleMaxS.toFixed(1)} s, ` +
        `orders waiting shown vs engine: median error ${r.wallboard.waitingErrorP50}, max ${r.wallboard.waitingErrorMax}; ` +
        `${r.wallboard.read} of ${r.wallboard.taken} seconds read` +
        (r.wallboard.screenshots.length > 0 ? `; screenshots ${r.wallboard.screenshots.map((f) => path.basename(f)).join(', ')}` : ''),
    ] as [string, string]]),
  ];
  const outcomes = Object.entries(r.outcomes).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', ');
  return `# Surge report: ${p.name}

${p.description}

${verdict} ${r.agents} agents, ${p.durationMinutes} broadcast minutes replayed in ${r.replaySeconds} s
(compression ${c}); the whole run took ${r.wallSeconds.toFixed(0)} s on ${r.machine}.

![offered, answered and abandoned per second, callers waiting, agents busy](${chartFile})

| | |
|---|---|
${rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n')}

${reportTable(r)}${found.length > 0 ? `## Findings\n\n${found.map((f) => `- ${f}`).join('\n')}\n\n` : ''}CDR outcomes: ${outcomes}.
sipp's view: ${Object.entries(r.sipp).map(([k, v]) => `${k} ${v}`).join(', ')}.

Times are broadcast time unless marked: replay seconds × ${c}. "Lost" joins every number sipp
dialled with the engine's CDRs and callback tasks (docs/surge.md).
`;
}

/** Write report.md, chart.png, samples.json and metrics.jsonl (the metric lines, then the run line) into `dir`; returns their paths. */
export async function writeReport(r: RunResult, dir: string, run?: RunLine): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const chart = path.join(dir, 'chart.png');
  writeFileSync(chart, surgeChart(r));
  const md = path.join(dir, 'report.md');
  writeFileSync(md, markdown(r, 'chart.png'));
  const samples = path.join(dir, 'samples.json');
  const { samples: series, ...summary } = r;
  writeFileSync(samples, JSON.stringify({ summary, samples: series }, null, 1));
  const jsonl = path.join(dir, 'metrics.jsonl');
  writeFileSync(jsonl, [...metricLines(r), ...(run ? [run] : [])].map((l) => JSON.stringify(l)).join('\n') + '\n');
  return [md, chart, samples, jsonl];
}
