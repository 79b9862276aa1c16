/**
 * Recording and monitoring routes through the real API server, real user directory and the real
 * recordings (engine/calls, with the fake media pool): an agent controls and fetches only its own
 * call's recording, monitoring is for staff, fetches and monitoring are audited, and a path in
 * place of a call id is refused before anything reads the disk.
 */
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { openStore } from '../store/index.ts';
import { UserDirectory, type AccountSeed } from '../users/index.ts';
import { CallRecordings, recordingPort } from '../calls/index.ts';
import { FakeMedia } from '../calls/testing.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';
import type { AuditSink, RecordingRoutesDeps } from './recording-routes.ts';

const SEEDS: AccountSeed[] = [
  { username: '1001', role: 'agent', agentId: '1001', name: 'Agent One', password: 'pw-1001' },
  { username: '1002', role: 'agent', agentId: '1002', name: 'Agent Two', password: 'pw-1002' },
  { username: 'boss', role: 'supervisor', agentId: null, name: 'Boss', password: 'pw-boss' },
];

type AuditEntry = Parameters<AuditSink['record']>[0];

async function setup(t: Test) {
  const dir = t.testdir({});
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, SEEDS, new Set(['1001', '1002', '1003']), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 },
    sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const live = [{ id: 'ca-1', agentId: '1001' }, { id: 'cb-2', agentId: '1002' }];
  const recordings = new CallRecordings({ dir, layout: 'stereo', retentionDays: 0, sweepMinutes: 60, policy: 'always', numbers: {}, agents: {}, queues: {} },
    new FakeMedia(), () => 0, pino({ level: 'silent' }));
  for (const c of live) recordings.answered({ callId: c.id, callerLeg: `leg-${c.id}`, queue: 'orders', agent: c.agentId, dialled: '100' });
  for (const c of live) writeFileSync(path.join(dir, `${c.id}.wav`), `RIFF-${c.id}`);
  const audits: AuditEntry[] = [];
  const monitors: string[] = [];
  const recording: RecordingRoutesDeps = {
    ...recordingPort({ list: () => live, inWrapUp: () => undefined }, recordings),
    monitor: async (id, req) => {
      monitors.push(`${id}:${req.mode}:${req.supervisor}`);
      return { ok: true, monitorId: 'm1' };
    },
    audit: { record: (e) => audits.push(e) },
    log: pino({ level: 'silent' }),
  };
  const engine = Object.assign(new FakeEngine(), { recording });
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [], users, maskNumbersFor: ['agent'] });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const cookie = async (username: string, password: string): Promise<string> => {
    const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };
  const req = async (method: string, p: string, who: string, body?: unknown): Promise<{ status: number; text: string }> => {
    const r = await fetch(`${base}${p}`, {
      method, headers: { cookie: who, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, text: await r.text() };
  };
  return { req, agent: await cookie('1001', 'pw-1001'), boss: await cookie('boss', 'pw-boss'), audits, monitors };
}

t.test('an agent controls the recording of its own call only', async (t) => {
  const { req, agent, boss } = await setup(t);
  t.equal((await req('POST', '/api/v1/calls/ca-1/recording/pause', agent)).status, 200, 'own call: paused');
  t.equal((await req('POST', '/api/v1/calls/cb-2/recording/pause', agent)).status, 403, 'another agent\'s call: 403');
  t.equal((await req('POST', '/api/v1/calls/cb-2/recording/pause', boss)).status, 200, 'a supervisor: any call');
  t.equal((await req('POST', '/api/v1/calls/cb-2/recording/pause', boss)).status, 409, 'paused already: 409');
  t.equal((await req('POST', '/api/v1/calls/cz-9/recording/stop', boss)).status, 404, 'no such call: 404');
  t.equal((await req('POST', '/api/v1/calls/ca-1/recording/explode', boss)).status, 400, 'no such action: 400');
  t.equal((await req('POST', '/api/v1/calls/ca-1/recording/resume', '')).status, 401, 'nobody: 401');
});

t.test('fetching: own call for an agent, any for a supervisor, audited; a path is no call id', async (t) => {
  const { req, agent, boss, audits } = await setup(t);
  const own = await req('GET', '/api/v1/recordings/ca-1', agent);
  t.match(own, { status: 200, text: 'RIFF-ca-1' }, 'the agent fetches its own call\'s file');
  t.equal((await req('GET', '/api/v1/recordings/cb-2', agent)).status, 403, 'not another agent\'s');
  t.match(await req('GET', '/api/v1/recordings/cb-2', boss), { status: 200, text: 'RIFF-cb-2' });
  t.match(audits, [
    { actor: '1001', role: 'agent', action: 'recording.fetch', target: 'ca-1' },
    { actor: 'boss', role: 'supervisor', action: 'recording.fetch', target: 'cb-2' },
  ], 'each fetch audited, refusals not (nothing was read)');
  for (const bad of ['..%2F..%2Fetc%2Fpasswd', 'ca-1.wav', '%00', 'c' + 'a'.repeat(40) + '-1']) {
    t.equal((await req('GET', `/api/v1/recordings/${bad}`, boss)).status, 400, `${bad.slice(0, 20)}: 400`);
  }
  t.equal((await req('GET', '/api/v1/recordings/cq-7', boss)).status, 404, 'no file: 404');
});

t.test('monitoring is for supervisors, and audited', async (t) => {
  const { req, agent, boss, audits, monitors } = await setup(t);
  t.equal((await req('POST', '/api/v1/calls/ca-1/monitor', agent, { mode: 'listen', supervisor: '1009' })).status, 403, 'an agent: 403');
  t.equal((await req('POST', '/api/v1/calls/ca-1/monitor', boss, { mode: 'listen' })).status, 400, 'neither phone nor number: 400');
  t.equal((await req('POST', '/api/v1/calls/ca-1/monitor', boss, { mode: 'whisper', supervisor: '1009' })).status, 200);
  t.same(monitors, ['ca-1:whisper:1009']);
  t.match(audits, [{ actor: 'boss', role: 'supervisor', action: 'monitoring.start', target: 'ca-1', detail: { mode: 'whisper', supervisor: '1009', ok: true } }]);
});
