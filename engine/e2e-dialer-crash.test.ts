/**
 * Crash during a callback attempt, with the engine as a real process: the agent has answered and
 * the customer (a sipp UAS that never answers) is ringing when the engine is killed with SIGKILL.
 * After a restart on the same database the task is intact, the attempt is `interrupted` and the
 * task rescheduled (open, or already claimed again by a new attempt), and no attempt has two ends.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freeUdpPort, requirePeer, runSipp, startSipp } from './testing/index.ts';
import { SCENARIOS, callersFile, startSippAgents } from './testing/engine-rig.ts';
import { spawnEngine, type EngineProcess } from './testing/engine-process.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Page<T> { items: T[] }
interface TaskView { id: number; caller: string; status: string; attempts: number; lastResult: string | null }
interface AttemptView { id: number; callId: string; endedAt: number | null; result: string | null }

async function until<T>(ms: number, what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}

t.test('kill -9 during an attempt: after a restart the attempt is interrupted, the task rescheduled, nothing completed twice', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-dialer-crash-'));
  const engines: EngineProcess[] = [];
  const customerPort = await freeUdpPort();
  const control = await freeUdpPort();
  const customer = startSipp({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-noanswer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 5, timeoutSec: 90,
    args: ['-cp', String(control)],
  });
  t.teardown(async () => {
    customer.kill();
    for (const e of engines) await e.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const overrides = {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', ringTimeoutSeconds: 60 }] },
    callbacks: { dialing: { pollSeconds: 1, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] } },
  } as never;
  const first = await spawnEngine({ dir, overrides });
  engines.push(first);
  const number = '+4930770000001';
  const gaveUp = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${first.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '100', '-d', '4000', '-inf', callersFile({ dir }, [number], 'abandon.csv')],
  });
  t.equal(gaveUp.successful, 1, 'the caller hung up in the queue');
  const task = await until(10_000, 'the callback task', async () =>
    (await first.get<Page<TaskView>>('/api/v1/callbacks')).items.find((c) => c.caller === number));
  const agents = await startSippAgents({ sipPort: first.sipPort }, ['1009'], 100, 1, { timeoutSec: 90 });
  t.teardown(agents.close);
  const open = await until(20_000, 'an attempt in progress', async () => {
    const v = await first.get<{ task: TaskView; attempts: AttemptView[] }>(`/api/v1/callbacks/${task.id}`);
    return v.task.status === 'claimed' && v.attempts.length === 1 && v.attempts[0]!.endedAt === null ? v : undefined;
  });
  // The agent answered and the customer rings (the attempt stays open while it does).
  await sleep(1500);
  t.equal(await first.stop('SIGKILL'), 'SIGKILL', 'engine killed during the attempt');
  agents.close();

  const second = await spawnEngine({ dir, overrides });
  engines.push(second);
  const after = await until(10_000, 'the task after restart', async () => {
    const v = await second.get<{ task: TaskView; attempts: AttemptView[] }>(`/api/v1/callbacks/${task.id}`);
    return v.attempts[0]?.result !== null ? v : undefined;
  });
  t.equal(after.task.caller, number, 'the task is intact');
  t.equal(after.attempts[0]!.callId, open.attempts[0]!.callId);
  t.equal(after.attempts[0]!.result, 'interrupted', 'the attempt cut off by the crash is interrupted');
  t.ok(after.task.status === 'open' || after.task.status === 'claimed', `rescheduled (status ${after.task.status})`);
  t.equal(after.attempts.filter((a) => a.result === 'answered').length, 0, 'nothing completed');
  t.equal(new Set(after.attempts.map((a) => a.id)).size, after.attempts.length, 'each attempt once');
});
