/**
 * Crash recovery with the engine as a real process (`onair --config FILE`): some callers are
 * served and leave CDRs, more callers wait in the queue (every agent not ready), the engine is
 * killed with SIGKILL and started again on the same database. Every caller who was waiting must
 * now be a callback task, and every CDR of a call that ended before the kill must reach the CRM.
 * Once on the SQLite store and once with `database: { kind: postgres, url }` (a throwaway cluster,
 * engine/testing/postgres.ts), where a caller who hangs up in the queue is also seen as a callback
 * task in PostgreSQL itself.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer, runSipp, startSipp } from './testing/index.ts';
import { SCENARIOS, callersFile, startSippAgents } from './testing/engine-rig.ts';
import { spawnEngine, type EngineProcess } from './testing/engine-process.ts';
import { requirePostgres } from './testing/postgres.ts';
import pg from 'pg';

const DEMO_AGENTS = ['1001', '1002', '1003', '1004', '1005', '1006', '1007', '1008', '1009', '1010'];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Page<T> { items: T[]; total?: number }
interface CallView { callId: string; caller: string; phase: string }
interface CallbackView { caller: string; queue: string; reason: string; status: string; firstCallId: string }
interface CdrView { callId: string; caller: string; outcome: string; agent: string | null }

/** Poll `probe` every 100 ms until it returns a value, or fail after `ms`. */
async function until<T>(ms: number, what: () => string, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what()}`);
    await sleep(100);
  }
}

async function setAllAgents(e: EngineProcess, status: 'available' | 'not_ready'): Promise<void> {
  for (const id of DEMO_AGENTS) {
    const res = await fetch(`http://127.0.0.1:${e.httpPort}/api/v1/agents/${id}/status`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status, reason: 'crash-test' }),
    });
    if (!res.ok) throw new Error(`agent ${id} -> ${status}: ${res.status} ${await res.text()}`);
  }
}

for (const kind of ['sqlite', 'postgres'] as const) t.test(`kill -9 with callers waiting: after a restart they are callback tasks and no CDR is lost (${kind} store)`, async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  let overrides = {};
  let url = '';
  if (kind === 'postgres') {
    const cluster = await requirePostgres(t);
    if (cluster === undefined) return;
    url = await cluster.createDatabase('onair');
    overrides = { database: { kind: 'postgres', url } };
  }
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-crash-'));
  const engines: EngineProcess[] = [];
  t.teardown(async () => {
    for (const e of engines) await e.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const first = await spawnEngine({ dir, overrides });
  engines.push(first);
  const agents = await startSippAgents({ sipPort: first.sipPort }, DEMO_AGENTS, 100);
  t.teardown(agents.close);

  // Served callers: answered by the sipp agents, a few seconds of talk after the greeting, hang up.
  const served = ['+4930111000001', '+4930111000002', '+4930111000003', '+4930111000004'];
  const a = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${first.sipPort}`, transport: 'u1',
    calls: served.length, rate: 10, timeoutSec: 30, args: ['-s', '100', '-inf', callersFile({ dir }, served, 'served.csv'), '-d', '5000'],
  });
  t.equal(a.successful, served.length, `served callers completed (stderr: ${a.stderr.slice(0, 300)})`);

  // Nobody answers now: every agent not ready; the next callers wait in the queue.
  await setAllAgents(first, 'not_ready');
  const waiting = ['+4930222000001', '+4930222000002', '+4930222000003', '+4930222000004', '+4930222000005'];
  const b = startSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${first.sipPort}`, transport: 'u1',
    calls: waiting.length, rate: 20, timeoutSec: 60, args: ['-s', '100', '-inf', callersFile({ dir }, waiting, 'waiting.csv'), '-d', '60000'],
  });
  t.teardown(b.kill);
  const queued = await until(10_000, () => 'callers did not queue', async () => {
    const calls = await first.get<Page<CallView>>('/api/v1/calls');
    const q = calls.items.filter((c) => c.phase === 'queued');
    return q.length === waiting.length ? q : undefined;
  });
  t.same(new Set(queued.map((c) => c.caller)), new Set(waiting), 'the waiting callers are queued');

  // One more caller gives up after 3 s in the queue: an abandon becomes a callback task.
  const quitter = '+4930333000001';
  const q = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${first.sipPort}`, transport: 'u1',
    calls: 1, rate: 1, timeoutSec: 30, args: ['-s', '100', '-inf', callersFile({ dir }, [quitter], 'quitter.csv'), '-d', '3000'],
  });
  t.equal(q.successful, 1, `the quitter hung up (stderr: ${q.stderr.slice(0, 300)})`);
  const abandoned = await until(10_000, () => 'no callback task for the caller who hung up in the queue', async () => {
    const page = await first.get<Page<CallbackView>>('/api/v1/callbacks?limit=100');
    return page.items.find((c) => c.caller === quitter);
  });
  t.equal(abandoned.reason, 'abandoned_queue', 'the abandon is a callback task');
  if (kind === 'postgres') {
    // Read from PostgreSQL itself, not through the engine: the task is there, committed.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const rows = (await client.query<{ reason: string; status: string }>('SELECT reason, status FROM callbacks WHERE caller = $1', [quitter])).rows;
    await client.end();
    t.same(rows, [{ reason: 'abandoned_queue', status: 'open' }], 'the callback task is a row in PostgreSQL');
  }

  t.equal(await first.stop('SIGKILL'), 'SIGKILL', 'engine killed with SIGKILL');
  b.kill();
  agents.close();

  const second = await spawnEngine({ dir, overrides });
  engines.push(second);
  const callbacks = await second.get<Page<CallbackView>>('/api/v1/callbacks?limit=100');
  const byCaller = new Map(callbacks.items.map((c) => [c.caller, c]));
  for (const n of waiting) {
    const c = byCaller.get(n);
    t.ok(c, `waiting caller ${n} is a callback task`);
    t.equal(c?.reason, 'engine_restart', `${n}: reason engine_restart`);
    t.equal(c?.queue, 'orders', `${n}: in the queue it waited in`);
    t.ok(queued.some((q) => q.callId === c?.firstCallId), `${n}: linked to the call that was waiting`);
  }
  t.equal(byCaller.get(quitter)?.reason, 'abandoned_queue', 'the abandon survived the kill');
  t.equal(callbacks.items.length, waiting.length + 1, 'no callback task for a served caller');

  // The served calls' CDRs were accepted before the kill: the restarted outbox delivers any not yet
  // delivered; the waiting calls get recovered CDRs.
  const cdrs = await until(10_000, () => 'CDRs missing after the restart', async () => {
    const page = await second.get<Page<CdrView>>('/api/v1/cdrs?limit=100');
    return page.items.length >= served.length + waiting.length + 1 ? page.items : undefined;
  });
  const answered = cdrs.filter((c) => c.outcome === 'answered');
  t.same(new Set(answered.map((c) => c.caller)), new Set(served), 'every served call has its answered CDR');
  t.ok(answered.every((c) => c.agent !== null), 'with the agent who answered');
  const recovered = cdrs.filter((c) => waiting.includes(c.caller));
  t.equal(recovered.length, waiting.length, 'each waiting call has a CDR too');
  t.ok(recovered.every((c) => c.outcome !== 'answered'), `none of them answered (${[...new Set(recovered.map((c) => c.outcome))].join(', ')})`);
  t.equal(cdrs.filter((c) => c.caller === quitter).length, 1, 'the abandoned call has its CDR');
  t.equal(cdrs.length, served.length + waiting.length + 1, 'no duplicate CDRs');

  t.equal(await second.stop('SIGTERM'), 0, 'the restarted engine stops cleanly on SIGTERM');
});
