/**
 * End to end, what the engine's wiring reports is true, through the real engine with real sipp
 * peers: CTI events carry every field (and an agent's own stream sees its call end), metrics
 * that used to stay at 0 move (media packets, queue rejections, abandoned waits), the agent desk
 * decides what a REGISTER does, and every metric docs/operations.md names is served.
 */
import t from 'tap';
import path from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { requirePeer } from './testing/index.ts';
import {
  SCENARIOS, SippGroup, api, callersFile, demoQueues, freeUdpPort, registerSippAgents, startE2e, startEngineRig, startSippAgents, waitFor,
  waitForCdrs, within, type EngineRig,
} from './testing/engine-rig.ts';
import { freeTcpPort } from './testing/index.ts';
import { WebhookCrmAdapter } from '../crm-adapter/index.ts';
import { connectEvents, type EventClient } from './api/testkit.ts';
import { demoConfig } from './config/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SIPP_PCAP = '/usr/share/sip-tester/g711a.pcap';

async function scrape(rig: EngineRig): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`);
  return r.text();
}

/** The value of one sample (`name{labels}` exactly as prom-client writes it), or undefined. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

/**
 * A copy of sipp's G.711 capture without every `dropEvery`-th RTP packet (sipp sends a capture's
 * RTP headers as they are, so the receiver sees sequence gaps), and a caller-rtp scenario that
 * plays it once (replaying the same sequence numbers would read as duplicates, not loss).
 */
function lossyCaller(rig: EngineRig, dropEvery: number): { scenario: string; dropped: number } {
  const pcap = readFileSync(SIPP_PCAP);
  const parts: Buffer[] = [pcap.subarray(0, 24)];
  let off = 24;
  let i = 0;
  let dropped = 0;
  // Classic little-endian pcap: a 16-byte record header whose bytes 8-11 are the captured length.
  while (off + 16 <= pcap.length) {
    const len = pcap.readUInt32LE(off + 8);
    const end = off + 16 + len;
    if (i % dropEvery === dropEvery - 1) dropped++;
    else parts.push(pcap.subarray(off, end));
    off = end;
    i++;
  }
  const lossy = path.join(rig.dir, 'g711a-lossy.pcap');
  writeFileSync(lossy, Buffer.concat(parts));
  let xml = readFileSync(path.join(SCENARIOS, 'caller-rtp.xml'), 'latin1');
  const play = `<nop><action><exec play_pcap_audio="${SIPP_PCAP}"/></action></nop>`;
  xml = xml.replace(play, play.replace(SIPP_PCAP, lossy)).split(play).join('');
  const scenario = path.join(rig.dir, 'caller-rtp-lossy.xml');
  writeFileSync(scenario, xml, 'latin1');
  return { scenario, dropped };
}

t.test('CTI events carry real values; the agent stream sees its call end; media counters move', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const ws = `ws://127.0.0.1:${rig.httpPort}/api/v1/events`;
  const clients: EventClient[] = [];
  t.teardown(() => { for (const c of clients) c.close(); });
  const all = await connectEvents(ws);
  const mine = await connectEvents(`${ws}?agent=1001`);
  clients.push(all, mine);

  const agent = await startSippAgents(rig, ['1001'], 300, 1, { timeoutSec: 40 });
  sipps.add(agent.answer);
  const { scenario, dropped } = lossyCaller(rig, 10);
  const caller = await within(sipps.run({
    scenario, target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 40, args: ['-s', '100', '-mi', '127.0.0.1'],
  }), 45_000, 'the talking caller');
  t.equal(caller.successful, 1, `the caller completed (stderr: ${caller.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1);
  t.match(cdr, { outcome: 'answered', agent: '1001', queue: 'orders' });

  const text = await scrape(rig);
  const received = sample(text, 'onair_media_packets_received_total') ?? 0;
  const sent = sample(text, 'onair_media_packets_sent_total') ?? 0;
  const lost = sample(text, 'onair_media_packets_lost_total') ?? 0;
  t.ok(received > 100, `caller RTP received (${received})`);
  t.ok(sent > 100, `prompts and relayed audio sent (${sent})`);
  t.ok(lost >= dropped - 1 && lost > 0, `the gaps of the capture counted as lost (${lost}, ${dropped} dropped)`);
  t.equal(sample(text, 'onair_queue_wait_seconds_count{queue="orders",outcome="answered"}'), 1);
  t.equal(sample(text, 'onair_trunk_calls_total{trunk="local",outcome="answered"}'), 1, 'per trunk and outcome');
  const queued = await all.waitFor((m) => m.type === 'call.queued');
  t.match(queued, { callId: cdr!.callId, queue: 'orders', caller: cdr!.caller, dialled: '100', position: 1, priority: 0 });
  t.ok(cdr!.caller.length > 0, 'a real caller number');
  const offered = await mine.waitFor((m) => m.type === 'call.offered');
  t.match(offered, { callId: cdr!.callId, agentId: '1001', dialled: '100', programme: 'demo-shopping-hour', attempt: 1 });
  const ended = await within(mine.waitFor((m) => m.type === 'call.ended'), 10_000, 'call.ended on the agent stream');
  t.match(ended, { callId: cdr!.callId, agentId: '1001', queue: 'orders', outcome: 'answered' }, 'the agent sees its own call end');
  t.same(mine.messages.filter((m) => m.type.startsWith('call.')).map((m) => m.type), ['call.offered', 'call.answered', 'call.ended']);

  t.equal(sipps.running, 0, 'no sipp left running');
});

t.test('a full queue counts its rejection; a caller who gives up in the queue is an abandoned wait', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  // Nobody answers: the first caller waits (and gives up), the second finds the queue full.
  const { rig, sipps } = await startE2e(t, { queues: demoQueues({ maxLength: 1 }) });
  const before = await scrape(rig);
  t.equal(sample(before, 'onair_queue_rejected_total{queue="orders"}'), 0, 'the series exists at 0 before the first rejection');
  t.equal(sample(before, 'onair_queue_wait_seconds_count{queue="orders",outcome="abandoned"}'), 0);
  const waiting = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 30, args: ['-s', '100', '-d', '6000', '-inf', callersFile(rig, ['+4930740000001'], 'a.csv')],
  });
  await waitFor('the first caller queued', () => rig.engine.calls.list().some((c) => c.phase === 'queued'), 10_000);
  sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 30, args: ['-s', '100', '-d', '20000', '-inf', callersFile(rig, ['+4930740000002'], 'b.csv')],
  });
  await within(waiting.done, 20_000, 'the waiting caller');
  const cdrs = await waitForCdrs(rig, 2, 20_000);
  // The caller the full queue refused did not give up: its CDR says so (docs/crm-adapter.md, outcomes).
  t.same(cdrs.map((c) => c.outcome).sort(), ['abandoned_queue', 'rejected_capacity'], 'one gave up, one was refused by the full queue');
  const text = await scrape(rig);
  t.equal(sample(text, 'onair_queue_rejected_total{queue="orders"}'), 1, 'the queue-full rejection counted');
  t.equal(sample(text, 'onair_queue_wait_seconds_count{queue="orders",outcome="abandoned"}'), 1, 'the abandoned wait observed');
  const queues = await api<{ items: Array<{ id: string; totals: { rejected: number; offered: number } }> }>(rig, 'GET', '/api/v1/queues');
  t.match(queues.body.items.find((q) => q.id === 'orders')?.totals, { rejected: 1 }, '/api/v1/queues totals.rejected');
  await sipps.close();
});

t.test('the desk decides: REGISTER without autoReadyOnRegister logs in not ready; the API needs a phone', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const agents = (demoConfig().agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  const { rig } = await startE2e(t, { agents });
  await registerSippAgents(rig, ['1001'], await freeUdpPort());
  const one = await api<{ status: string; registered: boolean }>(rig, 'GET', '/api/v1/agents/1001');
  t.match(one.body, { status: 'not_ready', registered: true }, 'registered, logged in, not ready: autoReadyOnRegister is false');
  const ready = await api<{ status: string }>(rig, 'POST', '/api/v1/agents/1001/status', { status: 'available' });
  t.equal(ready.status, 200);
  t.equal(ready.body.status, 'available');
  const noPhone = await api<{ error: { code: string } }>(rig, 'POST', '/api/v1/agents/1002/status', { status: 'not_ready', reason: 'lunch' });
  t.equal(noPhone.status, 409);
  t.equal(noPhone.body.error.code, 'DESK_ERR_NOT_REGISTERED');
  t.equal((await api<{ status: string }>(rig, 'GET', '/api/v1/agents/1002')).body.status, 'logged_out');
  const text = await scrape(rig);
  t.equal(sample(text, 'onair_agents_state{state="idle"}'), 1, 'only the logged-in agent counts as idle, not the nine logged out');
  t.equal(sample(text, 'onair_agents_status{status="logged_out"}'), agents.length - 1);
});

t.test('every metric docs/operations.md lists is served, and every served metric is listed', async (t) => {
  const { rig } = await startE2e(t);
  const doc = readFileSync(path.join(root, 'docs/operations.md'), 'utf8');
  const table = doc.slice(doc.indexOf('## Metrics'));
  const documented = new Set<string>();
  const prefixes: string[] = [];
  for (const line of table.split('\n')) {
    if (!line.startsWith('| `onair_')) continue;
    const first = line.split('|')[1] ?? '';
    for (const m of first.matchAll(/`(onair_[a-z0-9_*]+)`/g)) {
      if (m[1]!.endsWith('*')) prefixes.push(m[1]!.slice(0, -1));
      else documented.add(m[1]!);
    }
  }
  t.ok(documented.size > 30, `${documented.size} metrics documented`);
  const text = await scrape(rig);
  const served = new Set([...text.matchAll(/^# TYPE (onair_[a-z0-9_]+) /gm)].map((m) => m[1]!));
  for (const name of documented) t.ok(served.has(name), `${name} is served`);
  for (const p of prefixes) t.ok([...served].some((n) => n.startsWith(p)), `${p}* is served`);
  for (const name of served) {
    if (prefixes.some((p) => name.startsWith(p))) continue;
    t.ok(documented.has(name), `${name} is documented in docs/operations.md`);
  }
  const version = (JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string }).version;
  t.equal(sample(text, `onair_build_info{version="${version}",node="${process.version}"}`), 1, 'build info from package.json');
  const health = await api<{ version: string }>(rig, 'GET', '/healthz');
  t.equal(health.body.version, version);
});

t.test('a given CRM adapter object is used; its outage is counted, not silent', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  // A real webhook adapter aimed at a port nobody listens on: every delivery fails.
  const dead = await freeTcpPort();
  const crm = new WebhookCrmAdapter({ url: `http://127.0.0.1:${dead}/cdr`, lookupUrl: null, secret: 'not-a-secret', timeoutMs: 1000, name: 'given' });
  const rig = await startEngineRig({}, { crm });
  const sipps = new SippGroup();
  t.teardown(async () => { await sipps.close(); await rig.close(); });
  t.equal((await api(rig, 'GET', '/api/v1/cdrs')).status, 501, 'the given (webhook) adapter is in use: no CDR store');
  const before = await scrape(rig);
  t.equal(sample(before, 'onair_crm_deliveries_total{result="retry"}'), 0, 'the series exists at 0');
  const r = await sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 20, args: ['-s', '100', '-d', '1000', '-inf', callersFile(rig, ['+4930750000001'])],
  });
  t.equal(r.code !== null, true, 'the caller ran');
  const failed = await waitFor('a failed delivery counted', async () => {
    const n = sample(await scrape(rig), 'onair_crm_deliveries_total{result="retry"}') ?? 0;
    return n > 0 ? n : undefined;
  }, 15_000);
  t.ok(failed > 0, `failed deliveries counted (${failed})`);
  t.equal(sample(await scrape(rig), 'onair_crm_deliveries_total{result="ok"}'), 0, 'nothing reached the CRM');
});
