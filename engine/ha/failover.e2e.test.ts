/**
 * Failover of the active-standby pair with real engine processes (`onair --config FILE`) on one
 * throwaway PostgreSQL database: node A on 127.0.0.2, node B on 127.0.0.3 (loopback addresses,
 * sipp callers from 127.0.0.1, the demo trunk's address), both delivering CDRs to one webhook
 * receiver in this test, so what reaches "the CRM" is counted across both nodes.
 *
 * 1. Exactly one node is active; the standby answers 503 with Retry-After to INVITE, REGISTER and
 *    OPTIONS (the dispatcher's probe fails there).
 * 2. kill -9 the active with callers waiting: the standby takes the lease, each waiting caller is a
 *    callback task (engine_restart), every call has exactly one CDR at the CRM (none lost, none
 *    twice), and the new active answers new callers.
 * 3. A third node (A restarted) is standby; SIGSTOP the active (B) until A has taken over, then
 *    SIGCONT: B is fenced — it answers 503, shows role fenced, hangs up its waiting caller without
 *    writing a second CDR (the new active's recovery wrote the one CDR and the callback task).
 * No timed assertion: waits are bounded only so that a failure ends the test.
 */
import t from 'tap';
import dgram from 'node:dgram';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { newBranch, parse } from '../sip/index.ts';
import { bindable, haRole as role, requirePeer, runSipp, spawnHaNode, startSipp, freeUdpPort } from '../testing/index.ts';
import { SCENARIOS, callersFile, waitFor } from '../testing/engine-rig.ts';
import type { EngineProcess } from '../testing/engine-process.ts';
import { requirePostgres } from '../testing/postgres.ts';
import type { ConfigInput } from '../config/index.ts';
import pg from 'pg';

interface Page<T> { items: T[] }
interface CallView { callId: string; caller: string; phase: string }
interface CallbackView { caller: string; reason: string; status: string; firstCallId: string }
interface Delivery { deliveryId: string; callId: string; outcome: string; caller: string }

/** One out-of-dialog request over UDP from 127.0.0.1; resolves with the final status and raw text. */
async function request(method: 'OPTIONS' | 'REGISTER', address: string, port: number): Promise<{ status: number; text: string }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const local = s.address().port;
  try {
    return await new Promise((resolve) => {
      s.on('message', (buf) => {
        const r = parse(buf);
        if (r.ok && r.message.kind === 'response' && r.message.status >= 200) resolve({ status: r.message.status, text: buf.toString('latin1') });
      });
      const text = [
        `${method} sip:${address}:${port} SIP/2.0`, `Via: SIP/2.0/UDP 127.0.0.1:${local};branch=${newBranch()};rport`, 'Max-Forwards: 70',
        'From: <sip:1001@127.0.0.1>;tag=ha1', 'To: <sip:1001@127.0.0.1>', `Call-ID: ha-${method}-${local}`, `CSeq: 1 ${method}`,
        `Contact: <sip:1001@127.0.0.1:${local}>`, 'Content-Length: 0', '', '',
      ].join('\r\n');
      s.send(text, port, address);
    });
  } finally {
    s.close();
  }
}

t.test('active-standby: 503 on the standby, kill -9 takeover with callbacks and one CDR per call, SIGSTOP fencing', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  for (const a of ['127.0.0.2', '127.0.0.3']) {
    if (!(await bindable(a))) {
      t.fail(`cannot bind ${a} on this machine: the pair test needs loopback addresses 127.0.0.2 and 127.0.0.3`);
      return;
    }
  }
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const url = await cluster.createDatabase('onair_ha');

  // The CRM: every delivery of either node, as it came.
  const deliveries: Delivery[] = [];
  const crm = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d.toString(); });
    req.on('end', () => {
      try {
        const m = JSON.parse(body) as { kind: string; deliveryId?: string; cdr?: { callId: string; outcome: string; caller: string } };
        if (m.kind === 'cdr' && m.cdr !== undefined) deliveries.push({ deliveryId: m.deliveryId ?? '', callId: m.cdr.callId, outcome: m.cdr.outcome, caller: m.cdr.caller });
      } catch { /* not ours to judge */ }
      res.writeHead(200).end('{}');
    });
  });
  await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => crm.close(() => resolve())));
  const crmUrl = `http://127.0.0.1:${(crm.address() as { port: number }).port}/crm`;

  const engines: EngineProcess[] = [];
  const dirs: string[] = [];
  t.teardown(async () => {
    for (const e of engines) {
      try { process.kill(e.pid, 'SIGCONT'); } catch { /* gone */ }
      await e.stop('SIGKILL');
    }
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const root = mkdtempSync(path.join(tmpdir(), 'onair-ha-'));
  dirs.push(root);
  const node = async (id: string, address: string): Promise<{ e: EngineProcess; sip: string }> => {
    const port = await freeUdpPort();
    const e = await spawnHaNode({
      root, nodeId: id, address, port, url,
      overrides: { crm: { adapter: 'webhook', url: crmUrl, secret: 'ha-test-secret' } } as Partial<ConfigInput>,
    });
    engines.push(e);
    return { e, sip: `${address}:${port}` };
  };
  const host = (sip: string): [string, number] => [sip.slice(0, sip.lastIndexOf(':')), Number(sip.slice(sip.lastIndexOf(':') + 1))];

  const a = await node('node-a', '127.0.0.2');
  await waitFor('node A active', async () => (await role(a.e)) === 'active', 30_000);
  const b = await node('node-b', '127.0.0.3');
  await waitFor('node B standby', async () => (await role(b.e)) === 'standby', 30_000);

  // 1. The standby refuses everything new, OPTIONS probes included; the active answers them.
  const [bHost, bPort] = host(b.sip);
  const [aHost, aPort] = host(a.sip);
  const probeB = await request('OPTIONS', bHost, bPort);
  t.equal(probeB.status, 503, 'standby: OPTIONS 503 (the dispatcher probe fails)');
  t.match(probeB.text, /Retry-After: \d+/, 'with Retry-After');
  t.equal((await request('REGISTER', bHost, bPort)).status, 503, 'standby: REGISTER 503');
  t.equal((await request('OPTIONS', aHost, aPort)).status, 200, 'active: OPTIONS 200 (a trunk source)');
  t.equal((await request('REGISTER', aHost, aPort)).status, 401, 'active: REGISTER challenged');
  const refused = await runSipp({
    scenario: path.join(SCENARIOS, 'caller-busy.xml'), target: b.sip, transport: 'u1', calls: 1, rate: 1, timeoutSec: 20,
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, ['+4930999000001'], 'refused.csv')],
  });
  t.equal(refused.successful, 1, `standby: INVITE 503 with Retry-After (stderr: ${refused.stderr.slice(0, 200)})`);

  // 2. Callers wait on A (no agent registered), one gives up first; then kill -9 A.
  const quitter = '+4930333000001';
  const q = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: a.sip, transport: 'u1', calls: 1, rate: 1, timeoutSec: 30,
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, [quitter], 'quitter.csv'), '-d', '3000'],
  });
  t.equal(q.successful, 1, 'the quitter was answered by the IVR and hung up');
  const waiting = ['+4930222000001', '+4930222000002', '+4930222000003'];
  const held = startSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: a.sip, transport: 'u1', calls: waiting.length, rate: 20, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, waiting, 'waiting.csv'), '-d', '100000'],
  });
  t.teardown(held.kill);
  const queued = await waitFor('callers queued on A', async () => {
    const calls = await a.e.get<Page<CallView>>('/api/v1/calls');
    const inQueue = calls.items.filter((c) => c.phase === 'queued');
    return inQueue.length === waiting.length ? inQueue : undefined;
  }, 30_000);
  await waitFor('the quitter\'s CDR at the CRM', () => deliveries.some((d) => d.caller === quitter), 30_000);

  t.equal(await a.e.stop('SIGKILL'), 'SIGKILL', 'node A killed with SIGKILL');
  await waitFor('node B active after the kill', async () => (await role(b.e)) === 'active', 30_000);
  t.pass('the standby took over');
  const metrics = await b.e.get<string>('/metrics');
  t.match(metrics, /onair_ha_lease_epoch 2/, 'at epoch 2');
  t.match(metrics, /onair_ha_takeovers_total 1/, 'one takeover counted');

  const callbacks = await b.e.get<Page<CallbackView>>('/api/v1/callbacks?limit=100');
  for (const n of waiting) {
    const c = callbacks.items.find((x) => x.caller === n);
    t.equal(c?.reason, 'engine_restart', `waiting caller ${n} is a callback task of the new active`);
    t.ok(queued.some((x) => x.callId === c?.firstCallId), `${n}: linked to the call that waited on A`);
  }
  const expected = new Set([...queued.map((c) => c.callId)]);
  await waitFor('a CDR of every waiting call at the CRM', () => [...expected].every((id) => deliveries.some((d) => d.callId === id)), 30_000);
  const byCall = new Map<string, Set<string>>();
  for (const d of deliveries) byCall.set(d.callId, (byCall.get(d.callId) ?? new Set()).add(d.deliveryId));
  t.same([...byCall.values()].filter((ids) => ids.size > 1), [], 'no call has two different CDRs (redeliveries of one item carry its one delivery id)');
  t.equal(deliveries.filter((d) => d.caller === quitter).length >= 1, true, 'the CDR delivered before the kill is there');

  // New callers reach the new active.
  const after = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: b.sip, transport: 'u1', calls: 1, rate: 1, timeoutSec: 30,
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, ['+4930444000001'], 'after.csv'), '-d', '500'],
  });
  t.equal(after.successful, 1, 'a new caller is answered by node B');
  held.kill();

  // 3. A comes back as standby; SIGSTOP B past its lease; A takes over; SIGCONT B: fenced.
  const a2 = await node('node-a2', '127.0.0.2');
  await waitFor('node A2 standby', async () => (await role(a2.e)) === 'standby', 30_000);
  const stuck = '+4930555000001';
  const onB = startSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: b.sip, transport: 'u1', calls: 1, rate: 1, timeoutSec: 120,
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, [stuck], 'stuck.csv'), '-d', '100000'],
  });
  t.teardown(onB.kill);
  const stuckCall = await waitFor('a caller queued on B', async () => {
    const calls = await b.e.get<Page<CallView>>('/api/v1/calls');
    return calls.items.find((c) => c.caller === stuck && c.phase === 'queued');
  }, 30_000);
  process.kill(b.e.pid, 'SIGSTOP');
  await waitFor('node A2 active while B is stopped', async () => (await role(a2.e)) === 'active', 30_000);
  process.kill(b.e.pid, 'SIGCONT');
  await waitFor('node B fenced after SIGCONT', async () => (await role(b.e)) === 'fenced', 30_000);
  t.pass('the resumed node knows it lost the lease');
  t.equal((await request('OPTIONS', bHost, bPort)).status, 503, 'fenced: OPTIONS 503');
  const again = await runSipp({
    scenario: path.join(SCENARIOS, 'caller-busy.xml'), target: b.sip, transport: 'u1', calls: 1, rate: 1, timeoutSec: 20,
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, ['+4930999000002'], 'refused2.csv')],
  });
  t.equal(again.successful, 1, 'fenced: a new INVITE gets 503, the node takes no calls again');
  await waitFor('B hung up its caller', async () => (await b.e.get<Page<CallView>>('/api/v1/calls')).items.length === 0, 30_000);
  const cbs = await a2.e.get<Page<CallbackView>>('/api/v1/callbacks?limit=100');
  t.equal(cbs.items.find((c) => c.caller === stuck)?.reason, 'engine_restart', "B's waiting caller is a callback task of the new active");
  await waitFor('the CDR of the caller waiting on B', () => deliveries.some((d) => d.callId === stuckCall.callId), 30_000);
  // Everything in the outbox delivered: a CDR the fenced node had managed to write would be out by now.
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.teardown(() => db.end());
  await waitFor('the outbox empty', async () => (await db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox')).rows[0]?.n === 0, 30_000);
  const ids = new Set(deliveries.filter((d) => d.callId === stuckCall.callId).map((d) => d.deliveryId));
  t.equal(ids.size, 1, "one CDR for B's waiting caller: the fenced node's own end of the call was refused by the database");
  onB.kill();
});
