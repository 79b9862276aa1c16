/**
 * The pure joins of the surge bench (truth.ts) on inputs recorded from a smoke run (2026-12-07,
 * seed 1): lines of the callers' sipp log and error file, CDRs, per-second samples.
 */
import t from 'tap';
import { loadProfile } from './profile.ts';
import { expectedCalls } from './schedule.ts';
import {
  answeredMismatch, callbackFigures, classify, firstMediaTimes, freeAgentSeconds, idleWhileWaiting, parseCallerLog, parseSeeds, parseSippErrors, scaleProfile,
  summarizeRuns, type Cdr, type RunLine, type TaskView,
} from './truth.ts';

// caller_8705_logs.log: a served caller, one whose 200 sipp aborted between two patience ticks,
// one who gave up as the 200 arrived, a blacklisted caller (603: no 183), a truncated last line.
const CALLER_LOG = [
  'invite;+491570010000000;1-8705@127.0.0.1;508',
  '183;+491570010000000;1-8705@127.0.0.1;524;m=audio',
  '200;+491570010000000;1-8705@127.0.0.1;1400',
  'invite;+491570010000026;27-8705@127.0.0.1;7084',
  '183;+491570010000026;27-8705@127.0.0.1;7084;m=audio',
  'invite;+491570010000051;52-8705@127.0.0.1;9432',
  '183;+491570010000051;52-8705@127.0.0.1;9440;m=audio',
  'cancel;+491570010000051;52-8705@127.0.0.1;13980',
  'cancel200;+491570010000051;52-8705@127.0.0.1;14100;INVITE',
  'invite;+491570010000099;100-8705@127.0.0.1;20000',
  'invite;+491570010000100;101-8705@127.0.0.1;20010',
  '183;+491570010000100;101-8705@127.0.0.1;20090;',
  '200;+491570010000100;101-8705@127.0.0.1;20500',
  'invite;+4915700100001',
].join('\n');

// caller_8705_errors.log, as sipp wrote it: timeout notes without a newline, then an abort whose
// offending message follows on its own lines.
const ERRORS = '2026-12-07\t02:37:04.347626\t1796611024.347626: Call-Id: 27-8705@127.0.0.1, receive timeout on message surge caller:43, ' +
  'jumping to label 482026-12-07\t02:37:04.348125\t1796611024.348125: Aborting call on unexpected message for Call-Id ' +
  "'27-8705@127.0.0.1': while in message type 5 (index 48), received 'SIP/2.0 200 OK\n" +
  'Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-8705-27-1;rport=5060;received=127.0.0.1\n' +
  'From: <sip:+491570010000026@127.0.0.1>;tag=8705SIPpTag0027\n\n' +
  "2026-12-07\t02:37:07.959109\t1796611027.959109: Aborting call on unexpected message for Call-Id '52-8705@127.0.0.1': while sending (index 51), received 'SIP/2.0 200 OK\n" +
  "2026-12-07\t02:37:08.000000\t1796611028.000000: Aborting call on unexpected message for Call-Id '52-8705@127.0.0.1': again\n";

const cdr = (caller: string, outcome: string, extra: Partial<Cdr> = {}): Cdr =>
  ({ caller, outcome, queue: 'orders', waitMs: 0, answeredAt: null, arrivedAt: 0, ...extra });

const dialled = ['+491570010000000', '+491570010000026', '+491570010000051', '+491570010000099', '+491570010000100'].map((number) => ({ number }));

t.test('the callers log: one record per number, 183 only with SDP, a truncated line skipped', async (t) => {
  const seen = parseCallerLog(CALLER_LOG);
  t.same([...seen.keys()], dialled.map((d) => d.number));
  t.same(seen.get('+491570010000000'), { number: '+491570010000000', callId: '1-8705@127.0.0.1', inviteAt: 508, sdp183At: 524, answeredAt: 1400, answeredAfterCancelAt: null, cancelAt: null });
  t.equal(seen.get('+491570010000051')!.cancelAt, 13980, 'patience gone: CANCEL sent');
  t.equal(seen.get('+491570010000026')!.answeredAt, null, 'the aborted caller never logged its 200');
  t.equal(seen.get('+491570010000051')!.answeredAfterCancelAt, 14100, 'a 200 to the INVITE after the CANCEL');
  t.equal(seen.get('+491570010000100')!.sdp183At, null, 'a 183 without SDP is no media');
  t.same(parseCallerLog('cancel200;+1;c;5;CANCEL').get('+1')!.answeredAfterCancelAt, null, "the CANCEL's own 200 is not an answer");
});

t.test('sipp errors by Call-ID: the first line of the first error of each call', async (t) => {
  const errors = parseSippErrors(ERRORS);
  t.same([...errors.keys()], ['27-8705@127.0.0.1', '52-8705@127.0.0.1']);
  t.equal(errors.get('27-8705@127.0.0.1'), "Aborting call on unexpected message for Call-Id '27-8705@127.0.0.1': while in message type 5 (index 48), received 'SIP/2.0 200 OK");
  t.match(errors.get('52-8705@127.0.0.1')!, /while sending \(index 51\)/, 'the first error wins');
  // Chunks: an entry cut at a chunk's end is taken from the next chunk, whole.
  const cut = ERRORS.indexOf('(index 48)');
  const chunked = parseSippErrors(ERRORS.slice(0, cut), new Map(), false);
  t.notOk(chunked.has('27-8705@127.0.0.1'), 'not from a cut line');
  parseSippErrors(ERRORS.slice(cut - 150), chunked, true);
  t.equal(chunked.get('27-8705@127.0.0.1'), errors.get('27-8705@127.0.0.1'));
});

t.test('fates: a caller the engine still holds is in_progress, not lost; a final record wins', async (t) => {
  const cdrs = [cdr('+491570010000000', 'answered'), cdr('+491570010000026', 'answered'), cdr('+491570010000051', 'answered'),
    cdr('+491570010000099', 'rejected_blacklist')];
  const open = new Map([['+491570010000100', 'call talking'], ['+491570010000000', 'journal answered']]);
  const r = classify(dialled, cdrs, new Set(), open);
  t.same(r.fates, { served: 3, captured: 0, reached: 0, unreached: 0, rejected: 1, in_progress: 1, lost: 0 });
  t.same(r.inProgress, [{ number: '+491570010000100', where: 'call talking' }]);
  const without = classify(dialled, cdrs, new Set());
  t.same([without.fates.in_progress, without.fates.lost, without.lost], [0, 1, ['+491570010000100']], 'not held: lost');
  const sum = Object.values(r.fates).reduce((a, b) => a + b, 0);
  t.equal(sum, dialled.length, 'one fate each');
});

t.test('answered_mismatch per number, with what each side saw', async (t) => {
  const seen = parseCallerLog(CALLER_LOG);
  const errors = parseSippErrors(ERRORS);
  const cdrs = [cdr('+491570010000000', 'answered'), cdr('+491570010000026', 'answered'), cdr('+491570010000051', 'abandoned_queue'),
    cdr('+491570010000099', 'rejected_blacklist')];
  const m = answeredMismatch(dialled, seen, cdrs, new Set(['+491570010000051']), new Map([['+491570010000100', 'CDR pending in the outbox']]), errors);
  t.same([m.sippAnswered, m.engineAnswered, m.value, m.held], [2, 2, 0, 1], 'the counts cancel out; the held caller is left out');
  t.same(m.numbers, [
    { number: '+491570010000026', callId: '27-8705@127.0.0.1', sipp: 'no 200', engine: 'answered', sippError: errors.get('27-8705@127.0.0.1') },
    { number: '+491570010000051', callId: '52-8705@127.0.0.1', sipp: '200 after CANCEL', engine: 'abandoned_queue, callback task', sippError: errors.get('52-8705@127.0.0.1') },
  ], 'yet two numbers disagree');
  const notHeld = answeredMismatch(dialled, seen, cdrs, new Set(['+491570010000051']), new Map(), errors);
  t.same([notHeld.value, notHeld.held, notHeld.numbers[2]], [1, 0, { number: '+491570010000100', callId: '101-8705@127.0.0.1', sipp: '200', engine: 'no CDR' }],
    'not held: sipp answered, the engine has nothing');
  // smoke seed 2 at ×1.5: the caller's CANCEL crossed the engine's 200.
  const race = parseCallerLog('invite;+491570020000192;193-14749@127.0.0.1;27000\ncancel;+491570020000192;193-14749@127.0.0.1;33010');
  t.same(answeredMismatch([{ number: '+491570020000192' }], race, [cdr('+491570020000192', 'answered')]).numbers.map((x) => x.sipp), ['no 200 (CANCEL sent)']);
  const agree = answeredMismatch(dialled.slice(0, 1), seen, cdrs);
  t.same([agree.value, agree.numbers], [0, []], 'a caller both sides call answered is no finding');
});

t.test('first media per caller: ringing-held callers left out when the CDRs say so', async (t) => {
  const seen = parseCallerLog(CALLER_LOG);
  const before = firstMediaTimes(seen, [cdr('+491570010000000', 'answered')]);
  t.same(before, { seconds: [0.016, 0, 0.008, 0.49], treatmentKnown: false, excludedRinging: 0, by200: 1 },
    'no treatment field: every caller with media (183 with SDP, else the 200); the blacklisted one has none');
  const after = firstMediaTimes(seen, [cdr('+491570010000000', 'answered', { treatment: 'media' }), cdr('+491570010000100', 'answered', { treatment: 'ringing', ringingMs: 400 })]);
  t.same(after, { seconds: [0.016, 0, 0.008], treatmentKnown: true, excludedRinging: 1, by200: 0 });
});

t.test('idle while waiting: only the seconds a caller waited, offers not yet sent counted as idle', async (t) => {
  // smoke run samples t=1..6 and 32..33 (waiting, idle available, logged in), offerPending added.
  const samples = [
    [0, 9, 10, 0], [0, 6, 10, 0], [0, 0, 10, 0], [5, 0, 10, 0], [7, 1, 10, 2], [7, 0, 10, 0], [0, 1, 10, 0], [3, 2, 10, 1],
  ].map(([waiting, agentsIdleAvailable, agentsLoggedIn, offerPending]) => ({ waiting: waiting!, agentsIdleAvailable: agentsIdleAvailable!, agentsLoggedIn: agentsLoggedIn!, offerPending: offerPending! }));
  t.same(idleWhileWaiting(samples), { seconds: 6, share: 6 / 40, waitingSeconds: 4 });
  const none = idleWhileWaiting(samples.filter((s) => s.waiting === 0));
  t.same([none.seconds, none.waitingSeconds], [0, 0]);
  t.ok(Number.isNaN(none.share), 'no caller waited: no share');
});

t.test('seeds, scale and the summary over runs', async (t) => {
  t.same(parseSeeds('1-5'), { ok: true, seeds: [1, 2, 3, 4, 5] });
  t.same(parseSeeds('7,3,9'), { ok: true, seeds: [7, 3, 9] });
  t.same(parseSeeds('2'), { ok: true, seeds: [2] });
  for (const bad of ['5-1', 'a', '1-', '', '1-500', '1.5']) t.equal(parseSeeds(bad).ok, false, `"${bad}" refused`);

  const smoke = loadProfile('smoke');
  if (!smoke.ok) throw new Error('preset');
  const scaled = scaleProfile(smoke.profile, 1.5);
  t.ok(Math.abs(expectedCalls(scaled) - 1.5 * expectedCalls(smoke.profile)) < 1e-6, 'the arrival curve ×1.5: half as many callers again');
  t.same(scaled.agents, smoke.profile.agents, 'nothing else changes');
  t.equal(scaleProfile(smoke.profile, 1), smoke.profile);

  const line = (seed: number, lost: number, share: number | null, load: number): RunLine => ({
    bench: 'surge', metric: 'run', value: lost, unit: 'calls lost', seed, lost, agents_idle_while_waiting_share: share,
    loadavg_before: [load, 1, 1], loadavg_after: [load + 1, 2, 2],
  });
  const s = summarizeRuns([line(1, 0, 0.1, 3), line(2, 4, null, 5), line(3, 1, 0.3, 4), line(4, 0, 0.2, 9)], ['lost', 'agents_idle_while_waiting_share', 'ringing_held_peak']);
  t.same(s['lost'], { median: 0.5, min: 0, max: 4, measured: 4 });
  t.same(s['agents_idle_while_waiting_share'], { median: 0.2, min: 0.1, max: 0.3, measured: 3 }, 'a run that measured nothing is left out');
  t.same(s['ringing_held_peak'], { median: null, min: null, max: null, measured: 0 });
  t.same(s['loadavg_before'], { median: [4.5, 1, 1], min: [3, 1, 1], max: [9, 1, 1] });
  t.same([s['runs'], s['seeds']], [4, [1, 2, 3, 4]]);
});

const task = (id: number, caller: string, status: string, extra: Partial<TaskView> = {}): TaskView =>
  ({ id, caller, status, attempts: 1, createdAt: 10_000, lastResult: status === 'done' ? 'answered' : null, note: null, ...extra });

t.test('after a callback phase: reached, unreached under the policy, still open, and lost redefined', async (t) => {
  const callers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((number) => ({ number }));
  const cdrs = [
    cdr('a', 'answered'),
    cdr('b', 'abandoned_queue'), cdr('b', 'answered', { direction: 'outbound', callbackId: 1, answeredAt: 40_000 }),
    cdr('c', 'abandoned_queue'), cdr('c', 'failed', { direction: 'outbound', callbackId: 2 }),
    cdr('d', 'abandoned_ivr'),
    cdr('e', 'callback_requested'),
    cdr('f', 'abandoned_queue'),
    cdr('g', 'rejected_blacklist'),
  ];
  const tasks = new Map([task(1, 'b', 'done'), task(2, 'c', 'exhausted', { attempts: 3 }), task(3, 'd', 'expired'), task(4, 'e', 'open', { attempts: 2 })]
    .map((x) => [x.caller, x] as const));
  const numbers = new Set(tasks.keys());
  const r = classify(callers, cdrs, numbers, new Map(), tasks);
  t.same(r.fates, { served: 1, captured: 0, reached: 1, unreached: 2, rejected: 1, in_progress: 1, lost: 2 });
  t.same(r.inProgress, [{ number: 'e', where: 'callback task open after 2 attempts' }], 'an open task: the engine holds the caller');
  t.same(r.lost, ['f', 'h'], 'an abandon with no task, and a caller with no record: neither served, reached nor given up');
  // The callback's outbound answered CDR is the task's record, not the caller served.
  const noPhase = classify([{ number: 'b' }], [cdr('b', 'answered', { direction: 'outbound', callbackId: 1 })], new Set(['b']));
  t.same(noPhase.fates, { served: 0, captured: 1, reached: 0, unreached: 0, rejected: 0, in_progress: 0, lost: 0 }, 'an outbound CDR never serves a caller');
  const m = answeredMismatch([{ number: 'b' }], new Map(), [cdr('b', 'answered', { direction: 'outbound' })]);
  t.equal(m.engineAnswered, 0, 'nor counts as an inbound answer at the engine');
});

t.test('callback figures: reach rate, delays in broadcast time, within 5 minutes of a free agent, unreached listed', async (t) => {
  const callers = ['b', 'c', 'd', 'e', 'x'].map((number) => ({ number }));
  const tasks = new Map([
    task(1, 'b', 'done', { createdAt: 10_000 }),
    task(2, 'c', 'done', { createdAt: 20_000 }),
    task(3, 'd', 'exhausted', { createdAt: 20_000, attempts: 3, lastResult: 'busy' }),
    task(4, 'e', 'open', { createdAt: 500_000 }),
  ].map((x) => [x.caller, x] as const));
  const cdrs = [
    // b: two attempts, the first answered one is the connection; c: reached 40 s (replay) after a free agent.
    cdr('b', 'failed', { direction: 'outbound', callbackId: 1, answeredAt: null }),
    cdr('b', 'answered', { direction: 'outbound', callbackId: 1, answeredAt: 13_000 }),
    cdr('c', 'answered', { direction: 'outbound', callbackId: 2, answeredAt: 80_000 }),
    cdr('c', 'abandoned_queue'),
  ];
  const samples = [
    { at: 12_000, waiting: 0, agentsIdleAvailable: 1 },
    { at: 11_000, waiting: 3, agentsIdleAvailable: 2 },
    { at: 30_000, waiting: 0, agentsIdleAvailable: 0 },
    { at: 40_000, waiting: 0, agentsIdleAvailable: 4 },
  ];
  const free = freeAgentSeconds(samples);
  t.same(free, [12_000, 40_000], 'free: an idle available agent while no live caller waits');
  const f = callbackFigures(callers, tasks, cdrs, free, 10);
  t.equal(f.tasks, 4);
  t.equal(f.completed, 2);
  t.equal(f.reachRate, 0.5);
  t.same(f.delaysS, [30, 600], 'capture to connection × compression 10');
  t.equal(f.delayP50S, 30);
  t.equal(f.delayP90S, 600);
  // b: connected 1 s after its free second (within); c: free at 40 s, connected at 80 s = 400
  // broadcast s (not within 300); d: free at 40 s, never reached (not within); e: no free second
  // after its capture and not reached (left out).
  t.equal(f.withinFiveMinutesOfFreeAgentShare, 1 / 3);
  t.same(f.unreached, [{ number: 'd', status: 'exhausted', attempts: 3, lastResult: 'busy' }]);
  t.equal(f.open, 1);
  t.ok(Number.isNaN(callbackFigures(callers, new Map(), [], [], 1).reachRate), 'no tasks: not measured');
});
