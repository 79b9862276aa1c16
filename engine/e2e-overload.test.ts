/**
 * End to end, media-aware admission (issue 13) through the real engine with sipp callers: at
 * `media.maxStreams` a new caller is held in `180 Ringing` without SDP and without RTP, keeps its
 * place in the queue, gets 183 and hold audio when a stream frees, goes straight to an agent who
 * answers it, and at its trunk's ringing limit gets 503 with Retry-After and a callback task.
 */
import t from 'tap';
import path from 'node:path';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SqliteCrmAdapter } from '../crm-adapter/index.ts';
import {
  SCENARIOS, callersFile, listCallbacks, listCdrs, startE2e, startSippAgents, waitFor, waitForCdrs, within, type EngineRig,
} from './testing/engine-rig.ts';
import type { SippGroup } from './testing/engine-rig.ts';

/** An early-media trunk (a caller who gives up CANCELs) with the given overload policy. */
function trunk(overload: Record<string, unknown>): Record<string, unknown> {
  return { id: 'local', allow: ['127.0.0.1/32'], earlyMedia: true, answerAfterSeconds: 120, overload };
}

/**
 * One sipp caller `number` running `scenario`, pausing `pauseMs` where the scenario pauses, on
 * number 100 (welcome, then the orders queue) or 200 (welcome and a menu: some 20 s in the IVR).
 */
async function caller(rig: EngineRig, sipps: SippGroup, scenario: string, number: string, pauseMs: number, dialled = '100') {
  // Each sipp its own media port: two on the default one fail to bind.
  const mediaPort = await freeUdpPort();
  return sipps.start({
    scenario: path.join(SCENARIOS, scenario), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 40,
    args: ['-s', dialled, '-d', String(pauseMs), '-mp', String(mediaPort), '-inf', callersFile(rig, [number], `${number}.csv`)],
  });
}

/** The engine's /metrics text. */
async function metrics(rig: EngineRig): Promise<string> {
  return (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
}

/** Wait for the CDR of `number` (an answered call's comes at the end of the agent's wrap-up). */
async function cdrOf(rig: EngineRig, number: string) {
  return waitFor(`the CDR of ${number}`, async () => (await listCdrs(rig)).find((c) => c.caller === number), 20_000);
}

/** The engine's call of `number` in progress. */
function callOf(rig: EngineRig, number: string) {
  return rig.engine.calls.list().find((c) => c.caller === number);
}

/** RTP packets the engine sent to `number`'s caller leg (undefined while it has none). */
async function sentTo(rig: EngineRig, number: string): Promise<number | undefined> {
  const call = callOf(rig, number);
  if (!call) return undefined;
  return (await rig.engine.calls.mediaStats(call.id))?.caller?.sent;
}

t.test("by default (media.maxStreams 'auto') the engine measures its media capacity at start and enforces it", async (t) => {
  const { rig } = await startE2e(t, {} as never);
  const capacity = rig.engine.calls.mediaFigures().capacity;
  t.ok(capacity !== null && Number.isInteger(capacity) && capacity >= 1, `a measured capacity in force (${capacity} streams)`);
  // What an operator reads: the same figure, not +Inf (no limit).
  t.match(await metrics(rig), new RegExp(`^onair_media_capacity_streams ${capacity}$`, 'm'));
});

t.test('at media.maxStreams the next caller rings without SDP or RTP, and gets 183 and hold audio when a stream frees', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t, { media: { maxStreams: 2 }, trunks: [trunk({ whenMediaFull: 'ringing', maxRingingSeconds: 60 })] } as never);
  // Two callers take the two streams (no agent: they wait in the queue with hold audio); the
  // first gives up after 8 s, the second after 14 s.
  const first = await caller(rig, sipps, 'caller-cancel.xml', '+4930720000001', 8000);
  const second = await caller(rig, sipps, 'caller-cancel.xml', '+4930720000002', 14_000);
  await waitFor('two callers with media', async () => ((await sentTo(rig, '+4930720000001')) ?? 0) > 0 && ((await sentTo(rig, '+4930720000002')) ?? 0) > 0, 10_000);
  const held = '+4930720000003';
  const third = await caller(rig, sipps, 'caller-held.xml', held, 1500);
  const queued = await waitFor('the third caller queued', () => {
    const c = callOf(rig, held);
    return c?.phase === 'queued' ? c : undefined;
  }, 10_000);
  // Same process, same clock as the engine's CDR times: the caller was held at least from here.
  const seenHeldAt = Date.now();
  t.equal(queued.queue, 'orders', "held in the queue the flow reaches without a key pressed");
  t.equal(queued.ivrExitAt, queued.queuedAt, 'queued at once: the IVR is skipped');
  // The built-in CRM (its tables in the engine's database file) received the queued event.
  const crm = new SqliteCrmAdapter({ path: rig.dbPath });
  await crm.init();
  t.teardown(() => crm.close());
  const event = await waitFor('the queued event in the CRM', () => crm.listEvents(queued.id).find((e) => e.type === 'queued'));
  t.match(event, { type: 'queued', queue: 'orders', treatment: 'ringing' }, 'the CRM queued event says ringing');
  const scraped = await metrics(rig);
  t.match(scraped, /^onair_calls_ringing_held 1$/m, 'gauge: one caller held in ringing');
  t.match(scraped, /^onair_media_streams_in_use 2$/m, 'gauge: two streams in use');
  t.match(scraped, /^onair_media_capacity_streams 2$/m, 'gauge: the capacity in force');
  t.match(scraped, /^onair_calls_ringing_held_total 1$/m, 'counter: one caller held so far');
  // The queue's hold audio runs for the first two all along: the held caller's leg sends nothing.
  const before = await sentTo(rig, '+4930720000001');
  await waitFor('more hold audio to the first caller', async () => ((await sentTo(rig, '+4930720000001')) ?? 0) > (before ?? 0) + 50, 10_000);
  t.equal(await sentTo(rig, held), 0, 'no RTP to the held caller while the others hear hold audio');
  // The first caller gives up: its stream goes to the held caller (183 with SDP, then hold audio).
  t.equal((await within(first.done, 20_000, 'the first caller')).successful, 1, 'the first caller gave up (CANCEL)');
  await waitFor('hold audio to the promoted caller', async () => ((await sentTo(rig, held)) ?? 0) > 0, 10_000);
  const r = await within(third.done, 20_000, 'the held caller');
  t.equal(r.successful, 1, `180 without SDP, then 183 with SDP (stderr: ${r.stderr.slice(0, 300)})`);
  t.equal((await within(second.done, 20_000, 'the second caller')).successful, 1, 'the second caller gave up (CANCEL)');
  const cdrs = await waitForCdrs(rig, 3);
  const cdr3 = cdrs.find((c) => c.caller === held)!;
  const cdr1 = cdrs.find((c) => c.caller === '+4930720000001')!;
  t.equal(cdr3.treatment, 'ringing', 'CDR: treatment ringing');
  t.ok(cdr3.ringingMs! > 0, 'CDR: ringingMs > 0');
  // The hold starts after the CRM look-up (not at arrival) and ends in the turn the first caller leaves.
  t.ok(cdr3.ringingMs! >= cdr1.endedAt - seenHeldAt, 'held at least from when it was seen held until the first caller left');
  t.ok(cdr1.endedAt - cdr3.arrivedAt >= cdr3.ringingMs! - 1000, 'and no longer: media came in the turn the first caller left (bound loose by a second for a loaded machine)');
  t.ok(cdr3.arrivedAt + cdr3.ringingMs! < cdr3.endedAt, 'then heard media before it hung up');
  t.equal(cdr3.outcome, 'abandoned_queue', 'the held caller who gave up later is an abandon of the queue');
  for (const c of cdrs.filter((c) => c.caller !== held)) t.match(c, { treatment: 'media', ringingMs: 0 }, `CDR of ${c.caller}: treatment media`);
  t.equal(rig.engine.calls.mediaFigures().inUse, 0, 'every stream given back');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
});

t.test('a caller held past the ringing limit gets 503 with Retry-After and becomes a callback task', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t, {
    media: { maxStreams: 1 }, sip: { retryAfterSeconds: 9 },
    trunks: [trunk({ whenMediaFull: 'ringing', maxRingingSeconds: 2, atRingingLimit: 'refuse' })],
  } as never);
  const holder = await caller(rig, sipps, 'caller-cancel.xml', '+4930730000001', 6000);
  await waitFor('one caller with media', async () => ((await sentTo(rig, '+4930730000001')) ?? 0) > 0, 20_000);
  const late = '+4930730000002';
  const sippLog = path.join(rig.dir, 'held-refused.log');
  const r = await sipps.run({
    scenario: path.join(SCENARIOS, 'caller-held-refused.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 20, args: ['-s', '100', '-mp', String(await freeUdpPort()), '-inf', callersFile(rig, [late], 'late.csv'), '-trace_logs', '-log_file', sippLog],
  });
  t.equal(r.successful, 1, `180 without SDP, then 503 with Retry-After (stderr: ${r.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1);
  t.equal(cdr?.caller, late, 'the refused caller has its CDR while the other still waits');
  t.match(cdr, { outcome: 'rejected_capacity', treatment: 'ringing', queue: 'orders', answeredAt: null }, 'CDR: held in ringing, then refused');
  t.ok(cdr!.ringingMs! >= 2000, 'held for the ringing limit (2 s)');
  const callbacks = await waitFor('the callback task', async () => {
    const list = await listCallbacks(rig);
    return list.find((c) => c.caller === late);
  });
  t.equal(callbacks.reason, 'rejected_capacity', 'callback task: reason rejected_capacity');
  t.equal(rig.engine.calls.mediaFigures().held, 0, 'nobody held any more');
  t.equal((await within(holder.done, 20_000, 'the holder')).successful, 1, 'the caller with media was not disturbed');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
});

t.test("with whenMediaFull 'refuse' a caller over the media capacity gets 503 at once, treatment refused", async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t, { media: { maxStreams: 1 }, trunks: [trunk({ whenMediaFull: 'refuse' })] } as never);
  const holder = await caller(rig, sipps, 'caller-cancel.xml', '+4930740000001', 4000);
  await waitFor('one caller with media', async () => ((await sentTo(rig, '+4930740000001')) ?? 0) > 0, 20_000);
  const late = '+4930740000002';
  const r = await sipps.run({
    scenario: path.join(SCENARIOS, 'caller-busy.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 15, args: ['-s', '100', '-mp', String(await freeUdpPort()), '-inf', callersFile(rig, [late], 'late.csv')],
  });
  t.equal(r.successful, 1, `503 with Retry-After and nothing before it (stderr: ${r.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1);
  t.match(cdr, { caller: late, outcome: 'rejected_capacity', treatment: 'refused', ringingMs: 0 }, 'CDR: refused');
  const task = await waitFor('the callback task', async () => (await listCallbacks(rig)).find((c) => c.caller === late));
  t.equal(task.reason, 'rejected_capacity', 'kept as a callback task');
  t.equal((await within(holder.done, 20_000, 'the holder')).successful, 1, 'the caller with media was not disturbed');
});

t.test('an agent offered a held caller rings at once; the caller goes from 180 straight to 200 with SDP', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t, { media: { maxStreams: 1 }, trunks: [trunk({ whenMediaFull: 'ringing', maxRingingSeconds: 60 })] } as never);
  // The one stream: a caller in the IVR's menu (number 200) for longer than the test needs.
  const holder = await caller(rig, sipps, 'caller-cancel.xml', '+4930750000001', 9000, '200');
  await waitFor('one caller with media', async () => ((await sentTo(rig, '+4930750000001')) ?? 0) > 0, 20_000);
  const held = '+4930750000002';
  const run = await caller(rig, sipps, 'caller-held-agent.xml', held, 1000);
  await waitFor('the second caller held in the queue', () => callOf(rig, held)?.phase === 'queued', 10_000);
  t.equal(await sentTo(rig, held), 0, 'no RTP to the held caller');
  // An agent becomes available: the held caller is first in the queue (the other is in the IVR
  // or behind it) and is offered; its phone answers after 500 ms.
  const agents = await startSippAgents(rig, ['1001'], 500, 1);
  sipps.add(agents.answer);
  const r = await within(run.done, 30_000, 'the held caller');
  t.equal(r.successful, 1, `180 without SDP, then 200 with SDP, no 183 (stderr: ${r.stderr.slice(0, 300)})`);
  const cdr = await cdrOf(rig, held);
  t.match(cdr, { outcome: 'answered', treatment: 'ringing', agent: '1001' }, 'CDR: answered by the agent after ringing');
  t.ok(cdr.ringingMs! > 0 && cdr.arrivedAt + cdr.ringingMs! <= cdr.answeredAt!, 'held in ringing until the agent answered');
  t.equal(callOf(rig, '+4930750000001')?.phase, 'ivr', 'the caller with media still in the IVR all along');
  t.equal((await within(holder.done, 20_000, 'the holder')).successful, 1, 'the caller with media was not disturbed');
});
