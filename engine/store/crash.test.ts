/**
 * At-least-once across a crash: a child process appends CDRs and is killed with SIGKILL while it
 * is still writing; every CDR it reported as accepted must be in the reopened database, and the
 * callers it had waiting must come back as callback tasks.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { eachBackend } from './backends.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const WAITING = 12;
const ANSWERED = 4;

void eachBackend(t, (t, b) => { for (const group of [true, false]) t.test(`SIGKILL mid-write loses no accepted CDR; waiting callers become callbacks (group commit ${group})`, async (t) => {
  const place = `crash_${group}`;
  const db = await b.where(place);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'fixtures', 'crash-child.ts'), db, String(WAITING), String(ANSWERED), String(group)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  const acked: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  let ready = false;
  let buf = '';
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString('latin1');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'ready') ready = true;
      else if (line.startsWith('ack ')) acked.push(line.slice(4));
    }
    // Kill it while it is busy appending: well after the journal, in the middle of the loop.
    if (acked.length >= 300 && child.signalCode === null) child.kill('SIGKILL');
  });
  const signal = await exited;
  t.equal(signal, 'SIGKILL', `child was killed, not exited (stderr: ${stderr.slice(0, 500)})`);
  t.ok(ready, 'journal was written before the loop');
  t.ok(acked.length >= 300, `${acked.length} CDRs acknowledged before the kill`);

  const store = await b.open({}, place);
  t.teardown(() => store.close());
  const present = new Set<string>(
    (await b.rows<{ call_id: string }>(store, "SELECT call_id FROM outbox WHERE kind = 'cdr'")).map((r) => r.call_id),
  );
  const missing = acked.filter((id) => !present.has(id));
  t.same(missing, [], 'every acknowledged CDR survived the kill');
  t.ok(present.size >= acked.length, 'possibly one more in flight, never fewer');

  const journal = await store.journal.list();
  t.equal(journal.length, WAITING + ANSWERED, 'calls in progress are still in the journal');
  const report = await store.recoverAfterCrash(Date.UTC(2026, 0, 1, 21), { fallbackQueue: 'orders' });
  t.equal(report.cdrs.length, WAITING + ANSWERED, 'a failed CDR for each call in progress');
  // Callers repeat every 7 numbers: the waiting ones merge into one task per number.
  const waitingCallers = new Set(journal.filter((e) => e.state !== 'answered').map((e) => e.caller));
  t.equal(report.callbacks.length, waitingCallers.size, 'one callback per waiting number');
  const open = await store.callbacks.list({ status: 'open' });
  t.same(new Set(open.map((c) => c.caller)), waitingCallers);
  t.equal(open.reduce((n, c) => n + c.abandons, 0), WAITING, 'every waiting call counted');
  for (const c of open) {
    const first = journal.filter((e) => e.caller === c.caller && e.state !== 'answered').sort((a, b) => a.arrivedAt - b.arrivedAt)[0]!;
    t.equal(c.arrivedAt, first.arrivedAt, `${c.caller} keeps the first arrival`);
    t.equal(c.reason, 'engine_restart');
  }
  t.equal(report.diedAt, Date.UTC(2026, 0, 1, 20, 0, 0) + 100_000, 'died at the last heartbeat (after the last journal write)');
  const cdr = (await store.outbox.listCall('live-0')).find((i) => i.kind === 'cdr');
  t.equal(cdr?.kind === 'cdr' && cdr.payload.endedAt, report.diedAt, 'recovered CDR ends when the engine died');
  t.same(await store.journal.list(), [], 'journal cleared');
  const again = await store.recoverAfterCrash(Date.UTC(2026, 0, 1, 21), { fallbackQueue: 'orders' });
  t.same(again.callbacks, [], 'recovery is idempotent');
}); });
