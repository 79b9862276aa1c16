/**
 * Crash recovery with the engine as a real process (`onair --config FILE`): some callers are
 * served and leave CDRs, more callers wait in the queue (every agent not ready), the engine is
 * killed with SIGKILL and started again on the same database. Every caller who was waiting must
 * now be a callback task, and every CDR of a call that ended before the kill must reach the CRM.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer, runSipp, startSipp } from './testing/index.ts';
import { SCENARIOS, callersFile, startSippAgents } from './testing/engine-rig.ts';
import { spawnEngine, type EngineProcess } from './testing/engine-process.ts';

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

t.test('kill -9 with callers waiting: after a restart they are callback tasks and no CDR is lost', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-crash-'));
  const engines: EngineProcess[] = [];
  t.teardown(async () => {
    for (const e of engines) await e.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const first = await spawnEngine({ dir });
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

  t.equal(await first.stop('SIGKILL'), 'SIGKILL', 'engine killed with SIGKILL');
  b.kill();
  agents.close();

  const second = await spawnEngine({ dir });
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
  t.equal(callbacks.items.length, waiting.length, 'no callback task for a served caller');

  // The served calls' CDRs were accepted before the kill: the restarted outbox delivers any not yet
  // delivered; the waiting calls get recovered CDRs.
  const cdrs = await until(10_000, () => 'CDRs missing after the restart', async () => {
    const page = await second.get<Page<CdrView>>('/api/v1/cdrs?limit=100');
    return page.items.length >= served.length + waiting.length ? page.items : undefined;
  });
  const answered = cdrs.filter((c) => c.outcome === 'answered');
  t.same(new Set(answered.map((c) => c.caller)), new Set(served), 'every served call has its answered CDR');
  t.ok(answered.every((c) => c.agent !== null), 'with the agent who answered');
  const recovered = cdrs.filter((c) => waiting.includes(c.caller));
  t.equal(recovered.length, waiting.length, 'each waiting call has a CDR too');
  t.ok(recovered.every((c) => c.outcome !== 'answered'), `none of them answered (${[...new Set(recovered.map((c) => c.outcome))].join(', ')})`);
  t.equal(cdrs.length, served.length + waiting.length, 'no duplicate CDRs');

  t.equal(await second.stop('SIGTERM'), 0, 'the restarted engine stops cleanly on SIGTERM');
});
