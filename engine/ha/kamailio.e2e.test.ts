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
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bindable, haRole as role, requirePeer, runSipp, spawnHaNode, startSipp, freeUdpPort } from '../testing/index.ts';
import { SCENARIOS, callersFile, waitFor } from '../testing/engine-rig.ts';
import type { EngineProcess } from '../testing/engine-process.ts';
import { requirePostgres } from '../testing/postgres.ts';
import { requireKamailio } from '../testing/kamailio.ts';
import pg from 'pg';

interface Page<T> { items: T[] }
interface CdrView { callId: string; caller: string; outcome: string; agent: string | null }

t.test('sipp caller -> kamailio -> active onair -> sipp agent; after kill -9 the other node answers', async (t) => {
  if (!requirePeer(t, 'sipp') || !requirePeer(t, 'kamailio')) return;
  for (const a of ['127.0.0.2', '127.0.0.3']) {
    if (!(await bindable(a))) {
      t.fail(`cannot bind ${a} on this machine`);
      return;
    }
  }
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  const url = await cluster.createDatabase('onair_kam');
  const engines: EngineProcess[] = [];
  const dirs: string[] = [];
  t.teardown(async () => {
    for (const e of engines) await e.stop('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const ports = { a: await freeUdpPort(), b: await freeUdpPort() };
  const root = mkdtempSync(path.join(tmpdir(), 'onair-kam-'));
  dirs.push(root);
  const node = async (id: string, address: string, port: number): Promise<EngineProcess> => {
    const e = await spawnHaNode({ root, nodeId: id, address, port, url });
    engines.push(e);
    return e;
  };
  const a = await node('kam-a', '127.0.0.2', ports.a);
  await waitFor('A active', async () => (await role(a)) === 'active', 30_000);
  const b = await node('kam-b', '127.0.0.3', ports.b);
  await waitFor('B standby', async () => (await role(b)) === 'standby', 30_000);
  const kam = await requireKamailio(t, { nodes: [{ address: '127.0.0.2', port: ports.a }, { address: '127.0.0.3', port: ports.b }] });
  if (kam === undefined) return;

  // The agent's phone registers through Kamailio (dispatched to the active, with Path) and answers calls.
  // It registers from the port it answers on, as a phone does: Kamailio's Path records that source
  // (add_path_received), and INVITEs along the Path are sent there.
  const agentPort = await freeUdpPort();
  const mediaPort = await freeUdpPort();
  // Until Kamailio's first probes have seen A up, the REGISTER may get Kamailio's own 503: try again.
  await waitFor('agent registered through kamailio', async () => {
    const r = await runSipp({
      scenario: path.join(SCENARIOS, 'agent-register.xml'), target: kam.target, transport: 'u1', localPort: agentPort, calls: 1, timeoutSec: 10,
      args: ['-s', '1001', '-au', '1001', '-ap', 'demo1001', '-key', 'agent_port', String(agentPort)],
    });
    return r.successful === 1;
  }, 60_000);
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
    args: ['-s', '100', '-inf', callersFile({ dir: dirs[0]! }, [number], file), '-d', '6000'],
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
