/**
 * The pair behind Kamailio, all real: Kamailio on 127.0.0.1 with the shipped configuration
 * (engine/testing/kamailio.ts), onair node A on 127.0.0.2 and B on 127.0.0.3 sharing one
 * PostgreSQL database, a sipp agent phone registered THROUGH Kamailio (its binding checked in the
 * shared database: it failed before bindings rounded their fractional times), a sipp carrier caller
 * calling through Kamailio. The call reaches the active node and is answered by the agent; after
 * kill -9 of the active, a new call through the same Kamailio is answered on the other node, by
 * the same agent, whose registration the new active loaded from the database.
 *
 * Path (RFC 3327): Kamailio adds a Path to the REGISTER it forwards, the registrar stores it with
 * the binding, and the node's INVITE to the agent goes back through Kamailio with the Path as its
 * Route set. The agent's sipp (agent-answer-proxied.xml) answers only an INVITE that Kamailio
 * Record-Routed: before Path, the node sent its INVITE straight to the Contact and the call failed.
 *
 * The takeover's announcement (engine/ha/announce.ts): the new active tells Kamailio, which probed
 * it while it was standby, that it is active (X-Onair-Active with its epoch); Kamailio routes to it
 * at once and the very next call through Kamailio is answered by it. Before, B stayed out of
 * routing until Kamailio's next probe: Kamailio never logged the announcement.
 *
 * The second test runs the pair with `media.relay: rtpengine` (one rtpengine on loopback shared by
 * both): a caller through Kamailio is bridged to the agent and moved to rtpengine, A is killed, and
 * the caller's BYE reaches B through Kamailio. B adopted the call from A's journal row (its two
 * dialogs and rtpengine call id): 200 to the caller, BYE to the agent, the rtpengine session
 * deleted, and one CDR, answered, with the talk time up to the BYE. Before, B answered 481, the
 * recovery had closed the call at the takeover as `failed`, and the session stayed in rtpengine.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bindable, haRole as role, requirePeer, runSipp, spawnHaNode, startSipp, freeUdpPort } from '../testing/index.ts';
import { SCENARIOS, callersFile, waitFor } from '../testing/engine-rig.ts';
import type { EngineProcess } from '../testing/engine-process.ts';
import { requirePostgres } from '../testing/postgres.ts';
import { requireKamailio, type KamailioProxy } from '../testing/kamailio.ts';
import type { ConfigInput } from '../config/index.ts';
import type { Test } from 'tap';
import { startRtpengine } from '../testing/rtpengine.ts';
import { readFileSync, writeFileSync } from 'node:fs';
import pg from 'pg';

interface Page<T> { items: T[] }
interface CdrView { callId: string; caller: string; outcome: string; agent: string | null; talkMs: number; releasedBy: string; answeredAt: number | null; endedAt: number }

/** The pair behind Kamailio: PostgreSQL, node A active, node B standby, Kamailio, an agent phone registered through it; undefined when skipped. */
async function pairBehindKamailio(t: Test, name: string, overrides?: Partial<ConfigInput>): Promise<{
  url: string; root: string; a: EngineProcess; b: EngineProcess; ports: { a: number; b: number }; kam: KamailioProxy; agentPort: number;
} | undefined> {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'kamailio')) return undefined;
  for (const a of ['127.0.0.2', '127.0.0.3']) {
    if (!(await bindable(a))) {
      t.fail(`cannot bind ${a} on this machine`);
      return undefined;
    }
  }
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return undefined;
  const url = await cluster.createDatabase(name);
  const engines: EngineProcess[] = [];
  const root = mkdtempSync(path.join(tmpdir(), `${name}-`));
  t.teardown(async () => {
    for (const e of engines) await e.stop('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  const ports = { a: await freeUdpPort(), b: await freeUdpPort() };
  const node = async (id: string, address: string, port: number): Promise<EngineProcess> => {
    const e = await spawnHaNode({ root, nodeId: id, address, port, url, ...(overrides !== undefined ? { overrides } : {}) });
    engines.push(e);
    return e;
  };
  const a = await node(`${name}-a`, '127.0.0.2', ports.a);
  await waitFor('A active', async () => (await role(a)) === 'active', 30_000);
  const b = await node(`${name}-b`, '127.0.0.3', ports.b);
  await waitFor('B standby', async () => (await role(b)) === 'standby', 30_000);
  const kam = await requireKamailio(t, { nodes: [{ address: '127.0.0.2', port: ports.a }, { address: '127.0.0.3', port: ports.b }] });
  if (kam === undefined) return undefined;
  // The agent's phone registers through Kamailio (dispatched to the active, with Path) and answers calls.
  // It registers from the port it answers on, as a phone does: Kamailio's Path records that source
  // (add_path_received), and INVITEs along the Path are sent there.
  const agentPort = await freeUdpPort();
  // Until Kamailio's first probes have seen A up, the REGISTER may get Kamailio's own 503: try again.
  await waitFor('agent registered through kamailio', async () => {
    const r = await runSipp({
      scenario: path.join(SCENARIOS, 'agent-register.xml'), target: kam.target, transport: 'u1', localPort: agentPort, calls: 1, timeoutSec: 10,
      args: ['-s', '1001', '-au', '1001', '-ap', 'demo1001', '-key', 'agent_port', String(agentPort)],
    });
    return r.successful === 1;
  }, 60_000);
  return { url, root, a, b, ports, kam, agentPort };
}

t.test('sipp caller -> kamailio -> active onair -> sipp agent; after kill -9 the other node answers', async (t) => {
  const pair = await pairBehindKamailio(t, 'onair_kam');
  if (pair === undefined) return;
  const { url, root, a, b, ports, kam, agentPort } = pair;
  const mediaPort = await freeUdpPort();
  const phone = startSipp({
    scenario: path.join(SCENARIOS, 'agent-answer-proxied.xml'), transport: 'u1', localPort: agentPort, calls: 100, timeoutSec: 600,
    args: ['-d', '2000', '-mp', String(mediaPort)],
  });
  t.teardown(phone.kill);

  const bindings = new pg.Client({ connectionString: url });
  await bindings.connect();
  t.teardown(() => bindings.end());
  const rows = await waitFor('the registration in the database', async () => {
    const r = (await bindings.query<{ agent_id: string; contact: string; path: string | null }>('SELECT agent_id, contact, path FROM agent_bindings')).rows;
    return r.length > 0 ? r : undefined;
  }, 10_000).catch((err: unknown) => { t.comment(a.output().slice(-4000)); throw err; });
  t.equal(rows[0]?.agent_id, '1001', 'the registration made through kamailio is in the shared database');
  const stored = rows[0]?.path ?? '';
  t.ok(stored.startsWith(`<sip:127.0.0.1:${kam.port};`) && stored.includes(';lr') && stored.includes(`received=sip:127.0.0.1:${agentPort}`),
    `with Kamailio's Path (add_path_received: the proxy, then where the phone registered from): ${stored}`);

  const call = async (number: string, file: string): Promise<number> => (await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: kam.target, transport: 'u1', calls: 1, rate: 1, timeoutSec: 60,
    args: ['-s', '100', '-inf', callersFile({ dir: root }, [number], file), '-d', '6000'],
  })).successful;
  t.equal(await call('+4930666000001', 'first.csv'), 1, 'the first call through kamailio completed');
  const first = await waitFor('answered CDR on A', async () => (await a.get<Page<CdrView>>('/api/v1/cdrs?limit=10')).items.find((c) => c.caller === '+4930666000001'), 30_000)
    .catch((err: unknown) => { t.comment(`A:\n${a.output().slice(-6000)}\nkamailio:\n${kam.output().slice(-4000)}`); throw err; });
  t.equal(first.outcome, 'answered', 'answered');
  t.equal(first.agent, '1001', 'by the agent registered through kamailio');

  t.equal(await a.stop('SIGKILL'), 'SIGKILL', 'active node killed');
  await waitFor('B active', async () => (await role(b)) === 'active', 30_000);
  await waitFor('kamailio told by B that it is active', () => kam.output().includes(`onair node 127.0.0.3:${ports.b} active at epoch 2`), 10_000)
    .catch((err: unknown) => { t.comment(`kamailio:\n${kam.output().slice(-4000)}\nB:\n${b.output().slice(-3000)}`); throw err; });
  t.equal(await call('+4930666000002', 'second.csv'), 1, 'the first call through kamailio after the announcement is answered');
  const second = await waitFor('answered CDR on B', async () => (await b.get<Page<CdrView>>('/api/v1/cdrs?limit=10')).items.find((c) => c.caller === '+4930666000002' && c.outcome === 'answered'), 30_000);
  t.equal(second.agent, '1001', 'the new active rang the agent it knew from the database');
});

t.test('relayed by rtpengine: after kill -9 of A the caller\'s BYE reaches B, which ends the call it adopted', async (t) => {
  if (!requirePeer(t, 'rtpengine')) return;
  const rtp = await startRtpengine();
  t.teardown(() => rtp.stop());
  const pair = await pairBehindKamailio(t, 'onair_kam_relay', { media: { relay: 'rtpengine', rtpengine: { address: rtp.address, port: rtp.ngPort, timeoutMs: 1000 } } } as Partial<ConfigInput>);
  if (pair === undefined) return;
  const { url, root, a, b, kam, agentPort } = pair;
  const agent = startSipp({
    scenario: path.join(SCENARIOS, 'rtpengine/agent-answer-proxied-relay.xml'), transport: 'u1', localPort: agentPort, calls: 1, timeoutSec: 60,
    args: ['-d', '300', '-mp', String(await freeUdpPort()), '-rtp_echo'],
  });
  t.teardown(agent.kill);
  // The caller stays 6 s after its last re-INVITE (the move to rtpengine), then hangs up through Kamailio.
  const scenario = path.join(root, 'caller.xml');
  writeFileSync(scenario, readFileSync(path.join(SCENARIOS, 'rtpengine/caller-proxied-relay.xml'), 'latin1').replaceAll('HOLD_MS', '6000'));
  const caller = startSipp({
    scenario, target: kam.target, transport: 'u1', calls: 1, timeoutSec: 60,
    args: ['-s', '100', '-inf', callersFile({ dir: root }, ['+4930888000001'], 'relay.csv'), '-key', 'rtp_port', String(await freeUdpPort())],
  });
  t.teardown(caller.kill);
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  t.teardown(() => db.end());
  // Relayed: A wrote the call's dialogs into its journal row.
  const row = await waitFor('the call relayed, its dialogs in the journal', async () =>
    (await db.query<{ call_id: string; relay: string | null }>('SELECT call_id, relay FROM call_journal WHERE relay IS NOT NULL')).rows[0], 30_000)
    .catch((err: unknown) => { t.comment(`A:\n${a.output().slice(-4000)}`); throw err; });
  t.match(JSON.parse(row.relay!), { v: 1, session: `${row.call_id}.1`, caller: { role: 'uas' }, agent: { role: 'uac' } }, 'caller and agent dialogs with the rtpengine call id');
  t.equal(await a.stop('SIGKILL'), 'SIGKILL', 'active node killed while the call is relayed');
  await waitFor('B active', async () => (await role(b)) === 'active', 30_000);
  const c = await caller.done;
  t.equal(c.successful, 1, `the caller's BYE through kamailio got its 200 from B (${c.stderr.slice(0, 300)})`);
  const ag = await agent.done;
  t.equal(ag.successful, 1, `the agent got B's BYE (${ag.stderr.slice(0, 300)})`);
  const cdr = await waitFor('the CDR on B', async () => (await b.get<Page<CdrView>>('/api/v1/cdrs?limit=10')).items.find((x) => x.callId === row.call_id), 30_000)
    .catch((err: unknown) => { t.comment(`B:\n${b.output().slice(-4000)}`); throw err; });
  t.match(cdr, { outcome: 'answered', agent: '1001', releasedBy: 'caller' }, 'answered, ended by the caller');
  t.ok(cdr.talkMs >= 5000 && cdr.endedAt - (cdr.answeredAt ?? 0) === cdr.talkMs, `talk time up to the BYE after the failover (${cdr.talkMs} ms)`);
  const q = await rtp.ng.query({ callId: `${row.call_id}.1` });
  t.ok(!q.ok && q.code === 'RTPENGINE_ERR_REFUSED', 'the rtpengine session was deleted');
  t.equal((await db.query('SELECT 1 FROM call_journal')).rowCount, 0, 'the journal is empty');
});
