/**
 * `npm run bench -- failover [--rate 50] [--hold 3] [--agents 50] [--before 12] [--after 20] [--lease 2000] [--renew 250]`:
 * kill -9 of the active node of an active-standby pair under load (issue 19, "Must show" 2).
 *
 * Kamailio on 127.0.0.1 (the shipped configuration, engine/testing/kamailio.ts) in front of onair
 * node A (127.0.0.2) and node B (127.0.0.3) on one throwaway PostgreSQL database; `--agents`
 * agents registered through Kamailio (with its Path: their INVITEs come back through it) from the
 * port of the one sipp that answers them all; sipp callers through Kamailio at
 * `--rate` calls/s, each hanging up `--hold` s after the IVR answers — with 50 agents, 50 calls/s
 * and 3 s that is about 50 bridged and 100 waiting calls at any time. Both nodes deliver CDRs to one
 * webhook receiver in this process. `--before` s into the load the active is killed with SIGKILL;
 * the load goes on `--after` s more.
 *
 * Metrics (one JSON line each):
 * - `takeover_s`: from the kill to the first new call on node B (IVR answered at once), with its
 *   `takeover_breakdown` (also one line each, `takeover_<part>`): `lease_left_s` (kill → the
 *   expiry of the lease A left), `bid_after_expiry_s` (→ B took it), `activation_s` (→ B active:
 *   recovery of A's journal), `routing_s` (→ the first call on B: Kamailio routing to it);
 * - `waiting_unrecovered`: calls waiting on A at the kill (its journal, read right after) without a
 *   callback task afterwards;
 * - `cdrs_lost`: callers whose INVITE a node answered 200 (sipp's message trace) with no CDR at the CRM nor stored
 *   in the outbox (not yet delivered, or a dead letter: stored is not lost) nor still in the journal
 *   (a node fenced or stopped before the call ended: the next one to start recovers it);
 * - `duplicates`: calls with CDRs of two different outbox items (a redelivery of one item is not one);
 * - `bridged_kept_audio_ratio`: bridged calls at the kill whose audio survived. Without rtpengine
 *   the media of a bridged call is relayed by the node that died, so this is 0 by construction:
 *   reported as measured, not hidden;
 * - `lease_used_max_ms`: the most of a lease A had used when a renewal extended it, up to the
 *   kill (`onair_ha_lease_used_max_seconds`): how close the loaded active came to fencing itself;
 * - `cdrs_delivered_during_load`: CDRs at the CRM when the callers' load ended (the outbox's
 *   delivery speed; the rest are delivered after, or stay stored).
 * A lost caller is printed with the time of its 200 from the kill and the node that sent it (the
 * evidence of why it was lost).
 */
import { spawnSync } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { emit, machine, say } from './lib.ts';
import type { EngineProcess } from '../engine/testing/engine-process.ts';
import { haRole as role, spawnHaNode } from '../engine/testing/ha-pair.ts';
import { startPostgres } from '../engine/testing/postgres.ts';
import { startKamailio } from '../engine/testing/kamailio.ts';
import { runSipp, startSipp } from '../engine/testing/sipp.ts';
import { freeUdpPort } from '../engine/testing/ports.ts';
import { SCENARIOS } from '../engine/testing/engine-rig.ts';
import type { ConfigInput } from '../engine/config/index.ts';

const BENCH = 'failover';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}

async function until(what: string, ms: number, probe: () => Promise<boolean> | boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}

/** One caller's 200 to its INVITE in sipp's -trace_msg: when (epoch ms, sipp's UTC stamp) and from which node (the Contact's host). */
interface Answer { at: number; node: string }

/** Caller numbers whose INVITE got a 200 (sipp -trace_msg of the callers), with the first such 200. */
function answeredNumbers(traceFile: string): Map<string, Answer> {
  const out = new Map<string, Answer>();
  let text = '';
  try { text = readFileSync(traceFile, 'latin1'); } catch { return out; }
  const blocks = text.split('message received');
  for (let i = 1; i < blocks.length; i++) {
    const block = blocks[i]!;
    const start = block.indexOf('SIP/2.0 200');
    if (start < 0 || !/\nCSeq:\s*1 INVITE/i.test(block)) continue;
    const from = /\nFrom:\s*<sip:([^@>]+)@/i.exec(block);
    if (from?.[1] === undefined || out.has(from[1])) continue;
    // The stamp line before the block: "----- 2026-12-07\t13:27:11.123456" (the machine's time zone, UTC here).
    const stamp = /-{10,} (\d{4}-\d\d-\d\d)\s+(\d\d:\d\d:\d\d\.\d{3})\d*\s*\n[^\n]*$/.exec(blocks[i - 1]!);
    const contact = /\nContact:\s*<sip:[^@>]*@?([0-9.]+)/i.exec(block);
    const day = stamp?.[1];
    const time = stamp?.[2];
    out.set(from[1], { at: day !== undefined && time !== undefined ? Date.parse(`${day}T${time}Z`) : NaN, node: contact?.[1] ?? '?' });
  }
  return out;
}

/** The value of an unlabelled gauge in a /metrics text, or NaN. */
function gauge(text: string, name: string): number {
  for (const line of text.split('\n')) if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  return NaN;
}

export async function main(args: string[]): Promise<void> {
  const rate = arg(args, 'rate', 50);
  const hold = arg(args, 'hold', 3);
  const agentCount = Math.round(arg(args, 'agents', 50));
  const before = arg(args, 'before', 12);
  const after = arg(args, 'after', 20);
  const leaseMs = Math.round(arg(args, 'lease', 2000));
  const renewMs = Math.round(arg(args, 'renew', 250));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-failover-'));
  const cleanups: (() => Promise<void> | void)[] = [() => rmSync(dir, { recursive: true, force: true })];
  try {
    const cluster = await startPostgres();
    if (cluster === undefined) throw new Error('PostgreSQL is not installed (Debian: postgresql)');
    cleanups.push(() => cluster.stop());
    const url = await cluster.createDatabase('onair_failover');

    const cdrs: { deliveryId: string; callId: string; caller: string }[] = [];
    const crm = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => { body += d.toString(); });
      req.on('end', () => {
        try {
          const m = JSON.parse(body) as { kind: string; deliveryId?: string; cdr?: { callId: string; caller: string } };
          if (m.kind === 'cdr' && m.cdr !== undefined) cdrs.push({ deliveryId: m.deliveryId ?? '', callId: m.cdr.callId, caller: m.cdr.caller });
        } catch { /* counted as nothing */ }
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => crm.close(() => resolve())));
    const crmUrl = `http://127.0.0.1:${(crm.address() as { port: number }).port}/crm`;

    const agents = Array.from({ length: agentCount }, (_, i) => String(3001 + i));
    const engines: EngineProcess[] = [];
    cleanups.push(async () => { for (const e of engines) await e.stop('SIGKILL'); });
    const node = async (id: string, address: string, port: number): Promise<EngineProcess> => {
      const e = await spawnHaNode({
        root: dir, nodeId: id, address, port, url, leaseMs, renewIntervalMs: renewMs, startTimeoutMs: 60_000,
        overrides: {
          sip: { maxCalls: 2000 },
          crm: { adapter: 'webhook', url: crmUrl, secret: 'bench-failover' },
          agents: agents.map((ext) => ({ id: ext, extension: ext, password: `demo${ext}`, skills: { orders: 80 }, autoReadyOnRegister: true })),
        } as Partial<ConfigInput>,
      });
      engines.push(e);
      return e;
    };
    const ports = { a: await freeUdpPort(), b: await freeUdpPort() };
    const a = await node('bench-a', '127.0.0.2', ports.a);
    await until('A active', 30_000, async () => (await role(a)) === 'active');
    const b = await node('bench-b', '127.0.0.3', ports.b);
    await until('B standby', 30_000, async () => (await role(b)) === 'standby');
    const kam = await startKamailio({ nodes: [{ address: '127.0.0.2', port: ports.a }, { address: '127.0.0.3', port: ports.b }] });
    cleanups.push(() => kam.stop());
    // Kamailio's first probe marks A up.
    await sleep(2500);

    const agentPort = await freeUdpPort();
    // Registered through Kamailio, a few at a time, again for those a loaded node did not answer in time;
    // from the port the phones answer on (Kamailio's Path records it as the received address).
    const agentsCsv = path.join(dir, 'agents.csv');
    for (let round = 0; ; round++) {
      const { items } = await a.get<{ items: { id: string; registered: boolean }[] }>('/api/v1/agents');
      const missing = agents.filter((x) => items.find((i) => i.id === x)?.registered !== true);
      if (missing.length === 0) break;
      if (round === 10) throw new Error(`agents not registered: ${missing.join(' ')}`);
      writeFileSync(agentsCsv, `SEQUENTIAL\n${missing.map((x) => `${x};[authentication username=${x} password=demo${x}]`).join('\n')}\n`);
      await runSipp({
        scenario: path.join(SCENARIOS, 'agents-register.xml'), target: kam.target, transport: 'u1', localPort: agentPort, calls: missing.length, rate: 10, timeoutSec: 60,
        args: ['-inf', agentsCsv, '-key', 'agent_port', String(agentPort)],
      });
    }
    // The phones answer only INVITEs that came through Kamailio (its Record-Route: the Path at work).
    const phones = startSipp({
      scenario: path.join(SCENARIOS, 'agent-answer-proxied.xml'), transport: 'u1', localPort: agentPort, calls: 1_000_000, timeoutSec: 3600,
      args: ['-d', '200', '-mp', String(await freeUdpPort())],
    });
    cleanups.push(() => phones.kill());
    const total = Math.ceil(rate * (before + after));
    const callersCsv = path.join(dir, 'callers.csv');
    writeFileSync(callersCsv, `SEQUENTIAL\n${Array.from({ length: total }, (_, i) => `+49301${String(i).padStart(7, '0')}`).join('\n')}\n`);
    const trace = path.join(dir, 'callers.msg');
    const callers = startSipp({
      scenario: path.join(SCENARIOS, 'caller.xml'), target: kam.target, transport: 'u1', calls: total, rate, limit: 5000, timeoutSec: before + after + 120,
      args: ['-s', '100', '-inf', callersCsv, '-d', String(hold * 1000), '-trace_msg', '-message_file', trace],
    });
    cleanups.push(() => callers.kill());
    await sleep(before * 1000);

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    cleanups.push(() => db.end());
    const leaseUsedMaxMs = gauge(await a.get<string>('/metrics').catch(() => ''), 'onair_ha_lease_used_max_seconds') * 1000;
    const killedAt = performance.now();
    const killedAtEpoch = Date.now();
    process.kill(a.pid, 'SIGKILL');
    // What died with A: its calls in progress, from the journal (B cannot have recovered it yet: the lease runs 2 s).
    const journal = (await db.query<{ call_id: string; state: string; caller: string }>('SELECT call_id, state, caller FROM call_journal')).rows;
    // The lease A left: it runs out at expires_at (A's last renewal sent + the lease).
    const leftLease = (await db.query<{ expires_at: string }>("SELECT expires_at FROM ha_lease WHERE name = 'engine'")).rows[0];
    await a.stop('SIGKILL');
    let takeoverS = NaN;
    let activeAtEpoch = NaN;
    let firstCallAtEpoch = NaN;
    await until('a new call on B', 60_000, async () => {
      const [calls, r] = await Promise.all([
        b.get<{ items: unknown[] }>('/api/v1/calls').catch(() => ({ items: [] })),
        Number.isNaN(activeAtEpoch) ? role(b) : Promise.resolve('active'),
      ]);
      if (r === 'active' && Number.isNaN(activeAtEpoch)) activeAtEpoch = Date.now();
      if (calls.items.length === 0) return false;
      takeoverS = (performance.now() - killedAt) / 1000;
      firstCallAtEpoch = Date.now();
      if (Number.isNaN(activeAtEpoch)) activeAtEpoch = firstCallAtEpoch;
      return true;
    }).catch(async (err: unknown) => {
      say(`B: ${String(await role(b))}\n${b.output().slice(-3000)}\nkamailio:\n${kam.output().slice(-3000)}`);
      throw err;
    });
    say(`takeover after ${takeoverS.toFixed(2)} s; A had ${journal.length} calls (${journal.filter((j) => j.state === 'answered').length} bridged)`);
    // Where the takeover went (epoch ms, polled every 50 ms): the lease A left, B's bid after its
    // expiry, B's activation (recovery of A's journal, outbox, registrations), then routing (Kamailio
    // sending B a call: the announcement, or the next probe, or an INVITE failing over from A).
    const taken = (await db.query<{ acquired_at: string }>("SELECT acquired_at FROM ha_lease WHERE name = 'engine'")).rows[0];
    const expiresAt = Number(leftLease?.expires_at ?? NaN);
    const acquiredAt = Number(taken?.acquired_at ?? NaN);
    const s3 = (ms: number): number => Number((ms / 1000).toFixed(3));
    const breakdown = {
      lease_left_s: s3(expiresAt - killedAtEpoch), bid_after_expiry_s: s3(acquiredAt - expiresAt),
      activation_s: s3(activeAtEpoch - acquiredAt), routing_s: s3(firstCallAtEpoch - activeAtEpoch),
    };
    say(`takeover breakdown: ${JSON.stringify(breakdown)}`);
    await callers.done;
    const cdrsDuringLoad = new Set(cdrs.map((c) => c.callId)).size;
    // Calls whose sipp caller gave up without a BYE would stay up (no RTP timeout here): B's graceful
    // stop hangs them up and writes their CDRs, and its outbox drain delivers what is left.
    await until('B idle', 30_000, async () => (await b.get<{ items: unknown[] }>('/api/v1/calls')).items.length === 0).catch(() => say('B still had calls after the load: stopped with SIGTERM'));
    await b.stop('SIGTERM');
    // CDRs not delivered yet (the CRM slower than the load) or dead letters are stored, not lost.
    const stored = (await db.query<{ id: number; call_id: string; caller: string; status: string }>(
      "SELECT id, call_id, payload::json->>'caller' AS caller, status FROM outbox WHERE kind = 'cdr'")).rows;
    const outboxLeft = stored.length;

    const waitingAtKill = journal.filter((j) => j.state !== 'answered');
    const tasks = new Set((await db.query<{ first_call_id: string; last_call_id: string }>('SELECT first_call_id, last_call_id FROM callbacks')).rows
      .flatMap((r) => [r.first_call_id, r.last_call_id]));
    const waitingUnrecovered = waitingAtKill.filter((j) => !tasks.has(j.call_id)).length;
    // A call still in the journal is stored too: the next node to start (or take the lease) recovers it into a CDR.
    const journalLeft = (await db.query<{ caller: string }>('SELECT caller FROM call_journal')).rows.map((r) => r.caller);
    const withCdr = new Set([...cdrs.map((c) => c.caller), ...stored.map((r) => r.caller), ...journalLeft]);
    const answered = answeredNumbers(trace);
    const lostCallers = [...answered.keys()].filter((n) => !withCdr.has(n));
    const lost = lostCallers.length;
    const inJournal = new Set(journal.map((j) => j.caller));
    for (const n of lostCallers) {
      const x = answered.get(n)!;
      say(`lost: ${n} answered 200 by ${x.node} ${((x.at - killedAtEpoch) / 1000).toFixed(3)} s from the kill; in A's journal at the kill: ${inJournal.has(n)}`);
    }
    // Outbox items of a call, delivered or still stored: two different ones are a duplicate CDR.
    const items = new Map<string, Set<string>>();
    for (const c of cdrs) items.set(c.callId, (items.get(c.callId) ?? new Set()).add(c.deliveryId));
    for (const r of stored) items.set(r.call_id, (items.get(r.call_id) ?? new Set()).add(`${r.call_id}/${r.id}`));
    const duplicates = [...items.values()].filter((s) => s.size > 1).length;
    const bridged = journal.filter((j) => j.state === 'answered').length;
    const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const common = {
      rate, holdS: hold, agents: agentCount, callsAtKill: journal.length, waitingAtKill: waitingAtKill.length, bridgedAtKill: bridged,
      answeredCallers: answered.size, cdrs: items.size, cdrsDelivered: new Set(cdrs.map((c) => c.callId)).size, cdrsLeftInOutbox: outboxLeft, cdrsDead: stored.filter((r) => r.status === 'dead').length, journalLeft: journalLeft.length, leaseMs, renewMs, load, machine: machine(),
      uptime: spawnSync('uptime', { encoding: 'utf8' }).stdout.trim(),
    };
    emit({ bench: BENCH, metric: 'takeover_s', value: Number(takeoverS.toFixed(3)), unit: 's', ...common, takeover_breakdown: breakdown });
    for (const [metric, value] of Object.entries(breakdown)) emit({ bench: BENCH, metric: `takeover_${metric}`, value, unit: 's', ...common });
    emit({ bench: BENCH, metric: 'waiting_unrecovered', value: waitingUnrecovered, unit: 'calls', ...common });
    emit({ bench: BENCH, metric: 'cdrs_lost', value: lost, unit: 'calls', ...common });
    emit({ bench: BENCH, metric: 'duplicates', value: duplicates, unit: 'calls', ...common });
    emit({ bench: BENCH, metric: 'lease_used_max_ms', value: Math.round(leaseUsedMaxMs), unit: 'ms', ...common });
    emit({ bench: BENCH, metric: 'cdrs_delivered_during_load', value: cdrsDuringLoad, unit: 'calls', ...common });
    // Without rtpengine the media of every bridged call ran in the killed process: none kept its audio.
    emit({ bench: BENCH, metric: 'bridged_kept_audio_ratio', value: 0, unit: 'ratio', ...common, relay: 'onair (no rtpengine)' });
  } finally {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch { /* best effort */ }
    }
  }
}
