/**
 * Recording policy and retention: number > agent > queue > default; a share picks the same calls
 * every time and about its fraction of them; the sweep deletes only old `<call id>.wav` files.
 */
import t from 'tap';
import { existsSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { CallRecordings, isCallId, recordingFile, recordingPolicy, recordsFromAnswer, shareHit } from './recording.ts';
import { FakeMedia } from './testing.ts';

t.test('policy: the dialled number wins, then the agent, then the queue, then the default', (t) => {
  const s = { policy: 'never' as const, numbers: { 100: 'always' as const }, agents: { a1: 'onDemand' as const }, queues: { orders: { share: 0.5 } } };
  t.equal(recordingPolicy(s, { dialled: '100', agent: 'a1', queue: 'orders' }), 'always');
  t.equal(recordingPolicy(s, { dialled: '200', agent: 'a1', queue: 'orders' }), 'onDemand');
  t.same(recordingPolicy(s, { dialled: '200', agent: 'a2', queue: 'orders' }), { share: 0.5 });
  t.equal(recordingPolicy(s, { dialled: '200', agent: null, queue: null }), 'never');
  t.equal(recordingPolicy(s, { dialled: 'constructor', agent: 'toString', queue: null }), 'never', 'no prototype keys');
  t.end();
});

t.test('share: reproducible per call id, about the fraction over many calls', (t) => {
  let hits = 0;
  let unstable = 0;
  for (let i = 0; i < 10_000; i++) {
    const id = `c${i.toString(36)}-1`;
    const h = shareHit(id, 0.1);
    if (shareHit(id, 0.1) !== h) unstable++;
    if (h) hits++;
  }
  t.equal(unstable, 0, 'the same call id, the same answer');
  t.ok(hits > 900 && hits < 1100, `${hits} of 10000 at 10 %`);
  t.equal(recordsFromAnswer({ share: 0 }, 'c1-1'), false);
  t.equal(recordsFromAnswer({ share: 1 }, 'c1-1'), true);
  t.equal(recordsFromAnswer('onDemand', 'c1-1'), false);
  t.end();
});

t.test('file names only from call ids', (t) => {
  t.equal(recordingFile('/r', 'cabc-1'), path.join('/r', 'cabc-1.wav'));
  for (const bad of ['../x', 'c1-1/../../etc', '', 'C1-1', 'c1-1.wav', 'c-1']) t.equal(recordingFile('/r', bad), undefined, JSON.stringify(bad));
  t.equal(isCallId('c' + 'a'.repeat(30) + '-1'), false, 'bounded length');
  t.end();
});

t.test('the sweep deletes recordings older than the retention, nothing else', async (t) => {
  const dir = t.testdir({});
  const old = Date.now() - 3 * 86_400_000;
  for (const name of ['cold-1.wav', 'cnew-1.wav', 'notes.txt', 'other.wav']) writeFileSync(path.join(dir, name), 'x');
  for (const name of ['cold-1.wav', 'notes.txt', 'other.wav']) utimesSync(path.join(dir, name), old / 1000, old / 1000);
  const rec = new CallRecordings({ dir, layout: 'stereo', retentionDays: 2, sweepMinutes: 60, policy: 'always', numbers: {}, agents: {}, queues: {} },
    new FakeMedia(), () => 0, pino({ level: 'silent' }));
  t.equal(await rec.sweep(Date.now()), 1);
  t.notOk(existsSync(path.join(dir, 'cold-1.wav')), 'the old recording is gone');
  for (const name of ['cnew-1.wav', 'notes.txt', 'other.wav']) t.ok(existsSync(path.join(dir, name)), `${name} kept`);
});

t.test('control: never refuses start, one recording per call, pause/resume times add up', async (t) => {
  let now = 1000;
  const media = new FakeMedia();
  media.recordClock = () => now;
  const rec = new CallRecordings({ dir: '/tmp', layout: 'stereo', retentionDays: 0, sweepMinutes: 60, policy: 'onDemand', numbers: { 9: 'never' }, agents: {}, queues: {} },
    media, () => now, pino({ level: 'silent' }));
  rec.answered({ callId: 'cn-1', callerLeg: 'l1', queue: null, agent: 'a', dialled: '9' });
  t.match(await rec.control('cn-1', 'start'), { ok: false, code: 'CALLS_ERR_RECORDING_POLICY' });
  t.equal(rec.ended('cn-1'), null, 'bridged, not recorded: null in the CDR');
  rec.answered({ callId: 'co-1', callerLeg: 'l2', queue: null, agent: 'a', dialled: '100' });
  t.equal(rec.state('co-1'), 'idle', 'on demand: not from the answer');
  t.match(await rec.control('co-1', 'pause'), { ok: false, code: 'CALLS_ERR_RECORDING_STATE' });
  t.match(await rec.control('co-1', 'start'), { ok: true, state: 'recording' });
  now += 500;
  t.match(await rec.control('co-1', 'pause'), { ok: true, state: 'paused' });
  now += 300;
  t.match(await rec.control('co-1', 'resume'), { ok: true, state: 'recording', pausedMs: 300 });
  now += 200;
  t.match(await rec.control('co-1', 'stop'), { ok: true, state: 'stopped' });
  t.match(await rec.control('co-1', 'start'), { ok: false, code: 'CALLS_ERR_RECORDING_STATE' }, 'one file per call');
  t.same(rec.ended('co-1'), { path: '/tmp/co-1.wav', durationMs: 1000, pausedMs: 300 });
  t.same(media.calls.map((c) => c.op), ['recordStart', 'recordPause', 'recordResume', 'recordStop']);
  t.equal(rec.ended('cx-1'), undefined, 'never bridged: no field');
});
