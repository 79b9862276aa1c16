import t from 'tap';
import { inflateSync } from 'node:zlib';
import { Canvas, crc32 } from './png.ts';
import { niceStep, surgeChart } from './chart.ts';
import { agentsFor, erlangC, erlangEstimate, programmeServiceLevel, serviceLevel } from './erlang.ts';
import { histogramQuantile, parsePrometheus, snapshot } from './sampler.ts';
import { classify, fillTemplate, type RunResult, type Sample } from './run.ts';
import { findings, markdown, metricLines, runLine } from './report.ts';
import { loadProfile } from './profile.ts';

t.test('PNG: valid signature, chunks with correct CRCs, pixels round-trip', async (t) => {
  t.equal(crc32(Buffer.from('IEND')), 0xae426082, 'CRC-32 of IEND (the constant every PNG ends with)');
  const cv = new Canvas(4, 3, [255, 255, 255]);
  cv.set(1, 2, [10, 20, 30]);
  cv.fillRect(3, 0, 5, 5, [200, 0, 0]);
  const png = cv.toPng();
  t.same([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'signature');
  const chunks: { type: string; data: Buffer }[] = [];
  for (let o = 8; o < png.length;) {
    const len = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    const data = png.subarray(o + 8, o + 8 + len);
    t.equal(png.readUInt32BE(o + 8 + len), crc32(png.subarray(o + 4, o + 8 + len)), `${type} CRC`);
    chunks.push({ type, data });
    o += 12 + len;
  }
  t.same(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
  t.equal(chunks[0]!.data.readUInt32BE(0), 4, 'width');
  t.equal(chunks[0]!.data.readUInt32BE(4), 3, 'height');
  const raw = inflateSync(chunks[1]!.data);
  t.equal(raw.length, 3 * (1 + 4 * 3), 'one filter byte and 4 RGB pixels per row');
  const px = (x: number, y: number): number[] => [...raw.subarray(y * 13 + 1 + x * 3, y * 13 + 4 + x * 3)];
  t.same(px(1, 2), [10, 20, 30], 'the pixel set');
  t.same(px(3, 1), [200, 0, 0], 'clipped rectangle drawn inside the canvas');
  t.same(px(0, 0), [255, 255, 255], 'background');
});

t.test('text and lines draw ink where expected', async (t) => {
  const cv = new Canvas(40, 20);
  cv.text(0, 0, 'I', [0, 0, 0], 1);
  // "I" is a bar in column 2 with serifs on rows 0 and 6.
  t.same(cv.get(2, 3), [0, 0, 0], 'stem');
  t.same(cv.get(0, 3), [255, 255, 255], 'beside the stem');
  t.equal(Canvas.textWidth('AB', 2), 22);
  cv.line(0, 10, 39, 10, [0, 0, 255], 1);
  t.same(cv.get(20, 10), [0, 0, 255], 'horizontal line');
});

t.test('nice axis steps', async (t) => {
  t.equal(niceStep(250), 50);
  t.equal(niceStep(3000), 1000);
  t.equal(niceStep(8), 2);
  t.equal(niceStep(0), 1);
});

t.test('Erlang C against textbook values', async (t) => {
  // A = 10 erlangs, 12 agents: P(wait) ≈ 0.4494 (standard tables).
  t.ok(Math.abs(erlangC(12, 10) - 0.4494) < 0.001, `C(12, 10) = ${erlangC(12, 10)}`);
  t.equal(erlangC(10, 10), 1, 'no more agents than load: everyone waits');
  // 2 calls/s, 180 s handle time (360 erlangs), 20 s: more agents, better service level.
  const a = serviceLevel(370, 2, 180, 20);
  const b = serviceLevel(380, 2, 180, 20);
  t.ok(a < b && b <= 1, 'service level grows with agents');
  const n = agentsFor(2, 180, 20, 0.8);
  t.ok(serviceLevel(n, 2, 180, 20) >= 0.8 && serviceLevel(n - 1, 2, 180, 20) < 0.8, `smallest staff for 80/20 is ${n}`);
  const hs = loadProfile('home-shopping-60');
  if (!hs.ok) throw new Error('preset');
  const e = erlangEstimate(hs.profile);
  t.ok(e.peakAgents >= e.programmeAgents, 'the worst interval needs at least the programme staff');
  t.ok(programmeServiceLevel(hs.profile, e.programmeAgents) >= 0.8, 'programme staff meets the target');
  t.ok(programmeServiceLevel(hs.profile, e.programmeAgents - 1) < 0.8, 'and is the smallest that does');
});

t.test('Prometheus text parsing and histogram quantiles', async (t) => {
  const text = [
    '# HELP onair_queue_waiting x', '# TYPE onair_queue_waiting gauge',
    'onair_queue_waiting{queue="orders"} 1412', 'onair_queue_waiting{queue="vip"} 8',
    'onair_agents_state{state="on_call"} 187', 'onair_agents_state{state="idle"} 13',
    'onair_calls_ended_total{outcome="abandoned_queue"} 40', 'onair_calls_ended_total{outcome="rejected_blacklist"} 2',
    'onair_process_cpu_seconds_total 12.5',
    'h_bucket{le="0.1"} 50', 'h_bucket{le="0.2"} 90', 'h_bucket{le="0.5"} 100', 'h_bucket{le="+Inf"} 100',
    'garbage line without value x',
  ].join('\n');
  const series = parsePrometheus(text);
  const s = snapshot(series);
  t.equal(s.waiting, 1420, 'summed over queues');
  t.equal(s.agentsByState['on_call'], 187);
  t.equal(s.abandoned, 40);
  t.equal(s.rejected, 2);
  t.equal(s.cpuSeconds, 12.5);
  t.ok(Math.abs(histogramQuantile(series, 'h', 0.5) - 0.1) < 1e-9, 'median at the first bucket edge');
  t.ok(Math.abs(histogramQuantile(series, 'h', 0.7) - 0.15) < 1e-9, 'interpolated inside a bucket');
  t.ok(Number.isNaN(histogramQuantile(series, 'none', 0.99)), 'NaN without samples');
});

t.test('every caller gets a fate; lost is what is neither served, captured nor rejected', async (t) => {
  const callers = ['a', 'b', 'c', 'd', 'e', 'f'].map((n) => ({ number: n, kind: 'regular' as const, digit: null, patienceMs: 1 }));
  const cdr = (caller: string, outcome: string): { caller: string; outcome: string; queue: null; waitMs: number; answeredAt: null; arrivedAt: number } =>
    ({ caller, outcome, queue: null, waitMs: 0, answeredAt: null, arrivedAt: 0 });
  const r = classify(callers, [
    cdr('a', 'answered'), cdr('b', 'abandoned_queue'), cdr('c', 'callback_requested'), cdr('d', 'rejected_blacklist'),
    cdr('e', 'failed'),
  ], new Set(['b']));
  t.same(r.fates, { served: 1, captured: 2, reached: 0, unreached: 0, rejected: 1, in_progress: 0, lost: 2 });
  t.same(r.lost, ['e', 'f'], 'a failed call without a task, and a caller without any record');
  t.same(r.lostBy, { failed: 1, 'no CDR': 1 }, 'lost callers by what the engine recorded');
});

t.test('templates: every field filled, a missing one is an error', async (t) => {
  t.equal(fillTemplate('<pause {{talk}}/> {{talk}}', { talk: 'milliseconds="5"' }), '<pause milliseconds="5"/> milliseconds="5"');
  t.throws(() => fillTemplate('{{tick}}', {}), /\{\{tick\}\} has no value/);
});

t.test('report: metric lines, markdown and a chart from a run result', async (t) => {
  const hs = loadProfile('smoke');
  if (!hs.ok) throw new Error('preset');
  const samples: Sample[] = Array.from({ length: 40 }, (_, i) => ({
    t: i + 1, at: 1_000_000 + i * 1000, scheduledRate: 5, offered: 5, answered: 3, abandoned: 1, captured: 1, rejected: 0, waiting: i, inIvr: 2,
    inProgress: i + 5, agentsBusy: 8, agentsIdle: 2, agentsIdleAvailable: 2, agentsLoggedIn: 10, offerPending: 0, ringingHeld: 0, agentsNotReady: 0, oldestWaitS: 1, cpuCores: 0.1, rssMiB: 200, eventLoopP99Ms: 11,
  }));
  const r: RunResult = {
    profile: hs.profile, agents: 10, seed: 1, samples, offered: 200, expected: 198, fates: { served: 149, captured: 45, reached: 0, unreached: 0, rejected: 5, in_progress: 1, lost: 0 },
    lostNumbers: [], lostBy: {}, outcomes: { answered: 150, abandoned_queue: 40 }, abandoned: 40, captured: 45, peakWaiting: 39, peakInProgress: 44,
    peakOfferedPerSecond: 5, serviceLevel: 0.75, answeredWithinSl: 112, avgWaitS: 2, maxWaitS: 9, engineFirstMediaP99S: NaN, routingP99S: 0.01,
    earlyMediaP99S: 0.02, peakCpuCores: 0.2, avgCpuCores: 0.1, peakRssMiB: 200, peakEventLoopP99Ms: 11, sipp: { invites: 200 },
    replaySeconds: 30, wallSeconds: 45, machine: 'test', callbacks: null, callbackPhaseSeconds: 0, wallboard: null, pair: null,
    lostSeenBySipp: [], inProgressNumbers: [{ number: '+41790000007', where: 'call talking' }], inProgressTasks: 0, callerSipDrops: 0,
    answeredMismatch: { sippAnswered: 151, engineAnswered: 150, value: 1, held: 0, numbers: [{ number: '+41790000009', callId: '9-1@127.0.0.1', sipp: '200 after CANCEL', engine: 'abandoned_queue, callback task' }] },
    idleWhileWaitingS: 12, idleWhileWaitingShare: 0.03, waitingSeconds: 39, callerFirstMediaP99S: NaN,
    callerFirstMedia: { callers: 0, excludedRinging: 0, treatmentKnown: false, by200: 0 }, ringingHeldPeak: 0,
    gauges: { offerPending: false, ringingHeld: false }, scale: 1.5,
    reportVsBench: {
      bench: { offered: 200, answered: 149, abandoned: 40 }, engine: { offered: 199, answered: 149, abandoned: 40 }, diff: { offered: -1, answered: 0, abandoned: 0 },
      tablesDrift: { offered: 0, answered: 0, abandoned: 0 }, window: { from: 1_000_000, to: 1_060_000, programme: 'smoke' },
      byQueue: [{ queue: 'orders', offered: 150, answered: 120, abandoned: 30 }, { queue: '', offered: 49, answered: 29, abandoned: 10 }],
      explanations: [{ number: '+41790000012', callIds: [], bench: { offered: 1, answered: 0, abandoned: 0 }, engine: { offered: 0, answered: 0, abandoned: 0 }, why: 'no inbound CDR: the engine wrote no record' }],
    },
    reportVsBenchError: null,
  };
  const lines = metricLines(r);
  const byMetric = new Map(lines.map((l) => [l.metric, l]));
  for (const m of ['offered', 'answered', 'abandoned', 'captured', 'lost', 'peak_waiting', 'service_level', 'max_wait_s']) {
    t.ok(byMetric.has(m), `metric ${m}`);
  }
  t.equal(byMetric.get('lost')!.value, 0);
  t.equal(byMetric.get('first_media_p99_s')!.value, null, 'an unmeasured value is null, not NaN (valid JSON)');
  t.ok(lines.every((l) => l.bench === 'surge' && typeof l.unit === 'string'));
  t.equal(byMetric.get('answered_mismatch')!.value, 1);
  t.match(byMetric.get('report_offered_diff'), { value: -1, engine: 199, truth: 200, explained: [{ number: '+41790000012' }] }, 'engine report − bench, with the caller explaining it');
  t.match(byMetric.get('report_answered_diff'), { value: 0, explained: [] });
  t.equal(byMetric.get('report_abandoned_diff')!.value, 0);
  const run = runLine(r, { before: [1.23456, 2, 3], after: [4, 5, 6] });
  for (const m of ['lost', 'in_progress', 'answered_mismatch', 'agents_idle_while_waiting_s', 'agents_idle_while_waiting_share',
    'first_media_p99_s', 'ringing_held_peak', 'rss_peak', 'seed', 'profile', 'scale', 'loadavg_before', 'loadavg_after']) {
    t.ok(m in run, `run line has ${m} (C3)`);
  }
  t.same([run.scale, run.lost, run.in_progress, run.first_media_p99_s, run.loadavg_before], [1.5, 0, 1, null, [1.235, 2, 3]]);
  t.same(JSON.parse(JSON.stringify(run)), run, 'the run line is plain JSON');
  const found = findings(r);
  t.ok(found.some((f) => f.includes('+41790000009') && f.includes('200 after CANCEL') && f.includes('abandoned_queue')),
    'the disagreeing number is a finding, with what sipp saw and what the engine recorded');
  t.ok(found.some((f) => f.includes('in progress +41790000007')), 'a held caller is a finding');
  t.ok(found.some((f) => f.includes('engine report vs bench: offered -1')) && found.some((f) => f.includes('+41790000012') && f.includes('no inbound CDR')),
    'a report difference and its caller are findings');
  const md = markdown(r, 'chart.png');
  t.match(md, /\*\*No caller lost\.\*\*/);
  t.match(md, /## Findings[\s\S]*\+41790000009/, 'findings in the markdown');
  t.match(md, /!\[.*\]\(chart\.png\)/);
  t.match(md, /## Report vs bench[\s\S]*\| offered \| 199 \| 200 \| -1 \|\n\| answered \| 149 \| 149 \| 0 \|/, 'the report vs bench table');
  t.match(md, /orders 150\/120\/30, \(no queue\) 49\/29\/10/, 'the engine report by queue');
  t.match(markdown({ ...r, reportVsBench: null, reportVsBenchError: 'HTTP 404' }, 'chart.png'), /engine's report was not read: HTTP 404/);
  t.equal(runLine({ ...r, reportVsBench: null, reportVsBenchError: 'HTTP 404' }, { before: [0, 0, 0], after: [0, 0, 0] }).report_offered_diff, null, 'not read: null in the run line');
  const png = surgeChart(r);
  t.equal(png.readUInt32BE(16), 1400, 'chart width');
  t.notOk(byMetric.has('callbacks_completed'), 'no callback lines without a callback phase');
  t.equal(run.callback_reach_rate, null, 'and the run line says not measured');

  // With a callback phase: the must-show 4 lines, the run line's figures, the markdown rows.
  const withPhase: RunResult = {
    ...r, fates: { ...r.fates, captured: 0, reached: 40, unreached: 4, in_progress: 2 }, callbackPhaseSeconds: 61.5,
    callbacks: {
      tasks: 45, completed: 40, reachRate: 40 / 45, delaysS: [30, 60, 90], delayP50S: 60, delayP90S: 90, withinFiveMinutesOfFreeAgentShare: 0.95,
      unreached: [{ number: '+41790000011', status: 'exhausted', attempts: 3, lastResult: 'busy' }], open: 1,
    },
  };
  const cbLines = new Map(metricLines(withPhase).map((l) => [l.metric, l]));
  t.match(cbLines.get('callbacks_completed'), { value: 40, tasks: 45, open: 1, phaseSeconds: 61.5 });
  t.equal(cbLines.get('callback_reach_rate')!.value, 0.889);
  t.equal(cbLines.get('callback_delay_p50_s')!.value, 60);
  t.equal(cbLines.get('callback_delay_p90_s')!.value, 90);
  t.equal(cbLines.get('callback_within_5min_of_free_agent_share')!.value, 0.95);
  t.match(cbLines.get('unreached'), { value: 1, numbers: [{ number: '+41790000011', status: 'exhausted' }] }, 'every unreached task listed');
  const cbRun = runLine(withPhase, { before: [0, 0, 0], after: [0, 0, 0] });
  t.match(cbRun, { reached: 40, unreached: 4, callbacks_completed: 40, callback_reach_rate: 0.889, callback_delay_p90_s: 90 });
  t.match(markdown(withPhase, 'chart.png'), /reached by the callback \| 40 of 45 tasks/);
});
