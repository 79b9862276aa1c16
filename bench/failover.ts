/**
 * `npm run bench -- failover [--relay onair|rtpengine] [--smoke] [--rate 50] [--hold 3] [--talk 12] [--agents 50] [--before 12] [--after 20] [--lease 2000] [--renew 250]`:
 * kill -9 of the active node of an active-standby pair under load (issue 19, "Must show" 2).
 *
 * Kamailio on 127.0.0.1 (the shipped configuration, engine/testing/kamailio.ts) in front of onair
 * node A (127.0.0.2) and node B (127.0.0.3) on one throwaway PostgreSQL database; `--agents`
 * agents registered through Kamailio (with its Path: their INVITEs come back through it) from the
 * port of the one sipp that answers them all; sipp callers through Kamailio at
 * `--rate` calls/s, each hanging up `--hold` s after the IVR answers — with 50 agents, 50 calls/s
 * and 3 s that is about 150 calls in progress, nearly all waiting: the queue stays long, so an agent
 * takes a caller about to give up and few calls are bridged at any instant (with `--relay
 * rtpengine` a moved caller talks on, and about 50 are). Both nodes deliver CDRs to one
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
 * - `bridged_kept_audio_ratio`: of the calls bridged at the kill, the share whose two phones still
 *   exchange audio after the takeover. Measured the same way for both relays (bench/failover/audio.ts):
 *   every caller's SDP names one RTP socket of this process, the agents' phones echo what they get
 *   (sipp `-rtp_echo`, replying to the sender). From the kill on the bench sends 50 packets/s to
 *   where each bridged caller's phone was sending at the kill (the last SDP in its sipp trace: A's
 *   leg, or the rtpengine port of its re-INVITE), and a call kept its audio when at least half of
 *   what was sent in the second from 0.25 s after the takeover came back from there (caller →
 *   relay → agent → echo → relay → caller: both directions). The calls bridged at the kill: with
 *   `--relay rtpengine` the sessions in rtpengine's ng `list` right after the SIGKILL, each with its
 *   two ports from ng `query` (not A's journal: it lags its calls); with onair's relay the calls
 *   `talking` in A's API read just before the kill. With rtpengine a call also needs both phones on
 *   the session's ports at the kill (the caller's trace and the agents' trace: an echo answers any
 *   sender, so it would pass for an agent never moved). Calls whose caller hung up before the end of
 *   the check are left out of the ratio (counted in `byFate.ended`); NaN when none is left. The same
 *   over the half second from 0.3 s after the kill is `bridged_audio_after_kill_ratio` (before B does
 *   anything: with onair's relay and `--hold 3` no bridged call outlives the takeover, so this is
 *   where its 0 is measured). `--relay rtpengine` (one rtpengine on loopback shared by both nodes,
 *   `media.relay: rtpengine`) lets a bridged caller talk on for `--talk` s (uniform over half to
 *   one and a half times it) after its move, instead of hanging up `--hold` s after the IVR: so that
 *   the calls bridged at the kill outlive the takeover. `--smoke`: 10 calls/s, 10 agents, 8 s before
 *   and after the kill (any option given still wins), to see the bench work, not to measure;
 * - `lease_used_max_ms`: the most of a lease A had used when a renewal extended it, up to the
 *   kill (`onair_ha_lease_used_max_seconds`): how close the loaded active came to fencing itself;
 * - `cdrs_delivered_during_load`: CDRs at the CRM when the callers' load ended (the outbox's
 *   delivery speed; the rest are delivered after, or stay stored).
 * A lost caller is printed with the time of its 200 from the kill and the node that sent it (the
 * evidence of why it was lost).
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
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
import { startRtpengine, type Rtpengine } from '../engine/testing/rtpengine.ts';
import {
  answeredNumbers, callerDialogs, hangups, keptAudio, listedCalls, mediaTargets, sessionPorts, tracedMessages,
  type BridgedCall, type SessionPorts, type Traced,
} from './failover/index.ts';
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

/** The value of an unlabelled gauge in a /metrics text, or NaN. */
function gauge(text: string, name: string): number {
  for (const line of text.split('\n')) if (line.startsWith(`${name} `)) return Number(line.slice(name.length + 1));
  return NaN;
}

/** The messages of a sipp trace file so far (sipp flushes after each), or none. */
function readTrace(file: string): Traced[] {
  try {
    return tracedMessages(readFileSync(file, 'latin1'));
  } catch {
    return [];
  }
}

/**
 * The caller's scenario with rtpengine: engine/testdata/rtpengine/caller-proxied-relay.xml, whose
 * callers hang up `hold` after the IVR answers or after a re-INVITE, here talking on for a
 * uniform `talk/2 .. 3·talk/2` once the first re-INVITE (the move to rtpengine) is answered.
 * With onair's relay no re-INVITE comes: the same scenario is the 3 s caller of caller.xml.
 */
function callerScenario(holdMs: number, talkMs: number | undefined): string {
  let xml = readFileSync(path.join(SCENARIOS, 'rtpengine/caller-proxied-relay.xml'), 'latin1').replaceAll('HOLD_MS', String(holdMs));
  if (talkMs !== undefined) {
    const anchor = '<recv request="ACK" crlf="true" next="talk"/>';
    if (xml.split(anchor).length !== 2) throw new Error('caller-proxied-relay.xml changed: its re-INVITE ACK is not where the bench expects it');
    // After the move the caller talks, then falls through to its BYE (the label after the anchor).
    xml = xml.replace(anchor, `<recv request="ACK" crlf="true"/>\n  <pause distribution="uniform" min="${Math.round(talkMs / 2)}" max="${Math.round(talkMs * 1.5)}"/>`);
  }
  return xml;
}

/** The relayed calls at this instant, from rtpengine itself: ng `list`, then `query` of each. */
async function rtpengineSessions(rtp: Rtpengine): Promise<{ id: string; ports: SessionPorts | undefined }[]> {
  const limit = 5000;
  const listed = await rtp.ng.request({ command: 'list', limit });
  const ids = listed.ok ? listedCalls(listed.value) : undefined;
  if (ids === undefined) throw new Error(`rtpengine list failed: ${listed.ok ? 'not a list reply' : listed.reason}`);
  if (ids.length >= limit) throw new Error(`rtpengine lists ${ids.length} calls, the most one list returns: raise the limit`);
  return Promise.all(ids.map(async (id) => {
    const q = await rtp.ng.request({ command: 'query', 'call-id': id });
    return { id, ports: q.ok ? sessionPorts(q.value) : undefined };
  }));
}

/** A check window (epoch ms) and what was sent to each target and heard back from it in it. */
interface AudioWindow { start: number; end: number; sent: number; heard: Map<string, number> }

/**
 * The callers' RTP: one socket that every caller's SDP names. `talk(targets)` sends a 20 ms PCMU
 * packet to each target every 20 ms; what comes back is counted per sender (`address:port`) in
 * each window.
 */
async function callerRtp(): Promise<{ port: number; talk(targets: readonly string[]): void; window(start: number, end: number): AudioWindow; close(): void }> {
  const socket = dgram.createSocket('udp4');
  // A target that died (A's leg) may answer with ICMP: nothing to do with it.
  socket.on('error', () => undefined);
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const windows: AudioWindow[] = [];
  socket.on('message', (_m, from) => {
    const now = Date.now();
    const key = `${from.address}:${from.port}`;
    for (const w of windows) if (now >= w.start && now < w.end) w.heard.set(key, (w.heard.get(key) ?? 0) + 1);
  });
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const packet = Buffer.alloc(172, 0xff);
  packet[0] = 0x80;
  packet[1] = 0;
  return {
    port: socket.address().port,
    talk: (targets) => {
      const to = targets.map((t) => { const i = t.lastIndexOf(':'); return { address: t.slice(0, i), port: Number(t.slice(i + 1)) }; });
      let seq = 0;
      timer = setInterval(() => {
        packet.writeUInt16BE(seq & 0xffff, 2);
        packet.writeUInt32BE((seq * 160) >>> 0, 4);
        seq++;
        const now = Date.now();
        for (const w of windows) if (now >= w.start && now < w.end) w.sent++;
        for (const x of to) socket.send(packet, x.port, x.address);
      }, 20);
    },
    window: (start, end) => {
      const w: AudioWindow = { start, end, sent: 0, heard: new Map() };
      windows.push(w);
      return w;
    },
    close: () => {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      if (!closed) socket.close();
      closed = true;
    },
  };
}

/** What the bench takes at the kill to judge the audio of the calls bridged then. */
interface AtKill {
  /** onair's call id → its rtpengine session (rtpengine), or null (onair's relay). */
  bridged: Map<string, { id: string; ports: SessionPorts | undefined } | null>;
  /** onair's call id → caller number (A's API just before the kill, else A's journal). */
  callers: Map<string, string>;
  /** Caller's sipp Call-ID → where its phone sent at the kill. */
  callerTargets: Map<string, string>;
  /** Caller number → its sipp Call-ID. */
  dialogs: Map<string, string>;
}

export async function main(args: string[]): Promise<void> {
  const smoke = args.includes('--smoke');
  const rate = arg(args, 'rate', smoke ? 10 : 50);
  const hold = arg(args, 'hold', 3);
  const talk = arg(args, 'talk', 12);
  const agentCount = Math.round(arg(args, 'agents', smoke ? 10 : 50));
  const before = arg(args, 'before', smoke ? 8 : 12);
  const after = arg(args, 'after', smoke ? 8 : 20);
  const leaseMs = Math.round(arg(args, 'lease', 2000));
  const renewMs = Math.round(arg(args, 'renew', 250));
  const ri = args.indexOf('--relay');
  const relay = ri >= 0 ? args[ri + 1] : 'onair';
  if (relay !== 'onair' && relay !== 'rtpengine') throw new Error('--relay must be onair or rtpengine');
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

    // --relay rtpengine: one rtpengine outside both nodes (its default port range, below the ephemeral ports).
    const rtp = relay === 'rtpengine' ? await startRtpengine() : undefined;
    if (rtp !== undefined) cleanups.push(() => rtp.stop());
    const voice = await callerRtp();
    cleanups.push(() => voice.close());

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
          ...(rtp !== undefined ? { media: { relay: 'rtpengine', rtpengine: { address: rtp.address, port: rtp.ngPort, timeoutMs: 1000 } } } : {}),
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
    // The phones answer only INVITEs that came through Kamailio (its Record-Route: the Path at work),
    // answer the re-INVITEs that move their media, and echo the RTP they get to its sender.
    const phonesTrace = path.join(dir, 'phones.msg');
    const phones = startSipp({
      scenario: path.join(SCENARIOS, 'rtpengine/agent-answer-proxied-relay.xml'), transport: 'u1', localPort: agentPort, calls: 1_000_000, timeoutSec: 3600,
      args: ['-d', '200', '-mp', String(await freeUdpPort()), '-rtp_echo', '-trace_msg', '-message_file', phonesTrace],
    });
    cleanups.push(() => phones.kill());
    const total = Math.ceil(rate * (before + after));
    const callersCsv = path.join(dir, 'callers.csv');
    writeFileSync(callersCsv, `SEQUENTIAL\n${Array.from({ length: total }, (_, i) => `+49301${String(i).padStart(7, '0')}`).join('\n')}\n`);
    const trace = path.join(dir, 'callers.msg');
    const callerXml = path.join(dir, 'caller.xml');
    writeFileSync(callerXml, callerScenario(hold * 1000, rtp !== undefined ? talk * 1000 : undefined));
    const callers = startSipp({
      scenario: callerXml, target: kam.target, transport: 'u1', calls: total, rate, limit: 5000, timeoutSec: before + after + 120,
      args: ['-s', '100', '-inf', callersCsv, '-trace_msg', '-message_file', trace, '-key', 'rtp_port', String(voice.port)],
    });
    cleanups.push(() => callers.kill());
    await sleep(before * 1000);

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    cleanups.push(() => db.end());
    const metricsA = await a.get<string>('/metrics').catch(() => '');
    const leaseUsedMaxMs = gauge(metricsA, 'onair_ha_lease_used_max_seconds') * 1000;
    // A's own view of its calls, just before the kill (its API, not the journal that lags it).
    const liveOnA = (await a.get<{ items: { callId: string; phase: string; caller: string }[] }>('/api/v1/calls').catch(() => ({ items: [] }))).items;
    const killedAt = performance.now();
    const killedAtEpoch = Date.now();
    process.kill(a.pid, 'SIGKILL');
    // rtpengine's sessions right after the kill: no node creates or deletes one until B is active.
    const sessions = rtp !== undefined ? await rtpengineSessions(rtp) : [];
    // What died with A: its calls in progress, from the journal (B cannot have recovered it yet: the lease runs 2 s).
    const journal = (await db.query<{ call_id: string; state: string; caller: string; relayed: boolean }>(
      'SELECT call_id, state, caller, relay IS NOT NULL AS relayed FROM call_journal')).rows;
    // The lease A left: it runs out at expires_at (A's last renewal sent + the lease).
    const leftLease = (await db.query<{ expires_at: string }>("SELECT expires_at FROM ha_lease WHERE name = 'engine'")).rows[0];
    await a.stop('SIGKILL');

    // The calls bridged at the kill, and where each caller's phone was sending then: the callers'
    // trace read now (A is dead: nothing moves a phone any more) — then talk to all of them.
    const callerMessages = readTrace(trace);
    const atKill: AtKill = {
      bridged: new Map<string, { id: string; ports: SessionPorts | undefined } | null>(rtp !== undefined
        // The relay names a session `<onair call id>.<n>`.
        ? sessions.map((x) => [x.id.slice(0, x.id.lastIndexOf('.')), x] as const)
        : liveOnA.filter((c) => c.phase === 'talking').map((c) => [c.callId, null] as const)),
      // The journal last: the API may mask numbers for its principal, the journal has them whole.
      callers: new Map([...liveOnA.map((c) => [c.callId, c.caller] as const), ...journal.map((j) => [j.call_id, j.caller] as const)]),
      callerTargets: mediaTargets(callerMessages, killedAtEpoch + 500),
      dialogs: callerDialogs(callerMessages),
    };
    const targetOf = (callId: string): string | undefined => {
      const number = atKill.callers.get(callId);
      const dialog = number === undefined ? undefined : atKill.dialogs.get(number);
      return dialog === undefined ? undefined : atKill.callerTargets.get(dialog);
    };
    const targets = [...new Set([...atKill.bridged.keys()].map(targetOf).filter((x): x is string => x !== undefined))];
    voice.talk(targets);
    // Early: with onair's relay and a 3 s hold most calls bridged at the kill have hung up a second later.
    const afterKill = voice.window(killedAtEpoch + 300, killedAtEpoch + 800);

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
    const afterTakeover = voice.window(firstCallAtEpoch + 250, firstCallAtEpoch + 1250);
    say(`takeover after ${takeoverS.toFixed(2)} s; A had ${journal.length} calls (${journal.filter((j) => j.state === 'answered').length} bridged in its journal, `
      + `${liveOnA.filter((c) => c.phase === 'talking').length} talking in its API${rtp !== undefined ? `, ${sessions.length} sessions in rtpengine` : ''})`);
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
    await sleep(Math.max(0, afterTakeover.end - Date.now()));
    voice.close();
    // Where the agents' phones were sending at the kill (an echo answers any sender: the move is read from the trace).
    const agentTargets = new Set(mediaTargets(readTrace(phonesTrace), killedAtEpoch + 500).values());
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
    const allCallerMessages = readTrace(trace);
    const answered = answeredNumbers(allCallerMessages);
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

    // The audio of the calls bridged at the kill, in each window (bench/failover/audio.ts).
    const hungUp = hangups(allCallerMessages);
    const rtpAddress = rtp?.address ?? '';
    const bridgedCalls = (w: AudioWindow): BridgedCall[] => [...atKill.bridged].map(([callId, session]) => {
      const caller = atKill.callers.get(callId);
      const dialog = caller === undefined ? undefined : atKill.dialogs.get(caller);
      const target = targetOf(callId);
      return {
        callId, caller, callerTarget: target,
        ...(session !== null ? {
          session: {
            id: session.id, forCaller: session.ports === undefined ? undefined : `${rtpAddress}:${session.ports.caller}`,
            agentOnSession: session.ports !== undefined && agentTargets.has(`${rtpAddress}:${session.ports.agent}`),
          },
        } : {}),
        hungUpAt: dialog === undefined ? undefined : hungUp.get(dialog),
        heard: target === undefined ? 0 : w.heard.get(target) ?? 0,
      };
    });
    const checkedCalls = bridgedCalls(afterTakeover);
    const kept = keptAudio(checkedCalls, afterTakeover.end, afterTakeover.sent);
    // The sessions whose dialogs A's journal did not have yet: B cannot adopt them (docs/operations.md).
    const snapshots = new Set(journal.filter((j) => j.relayed).map((j) => j.call_id));
    const keptOrphans = keptAudio(checkedCalls.filter((c) => c.session !== undefined && !snapshots.has(c.callId)), afterTakeover.end, afterTakeover.sent);
    const keptEarly = keptAudio(bridgedCalls(afterKill), afterKill.end, afterKill.sent);
    say(`bridged at the kill: ${kept.bridged}; after the takeover ${JSON.stringify(kept.byFate)} (${afterTakeover.sent} packets sent to each); `
      + `after the kill ${JSON.stringify(keptEarly.byFate)} (${afterKill.sent} sent)`);

    const bridged = journal.filter((j) => j.state === 'answered').length;
    const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');
    const common = {
      relay, rate, holdS: hold, ...(rtp !== undefined ? { talkS: talk } : {}), agents: agentCount, callsAtKill: journal.length, waitingAtKill: waitingAtKill.length, bridgedAtKill: bridged,
      answeredCallers: answered.size, cdrs: items.size, cdrsDelivered: new Set(cdrs.map((c) => c.callId)).size, cdrsLeftInOutbox: outboxLeft, cdrsDead: stored.filter((r) => r.status === 'dead').length, journalLeft: journalLeft.length, leaseMs, renewMs, load, machine: machine(),
      uptime: spawnSync('uptime', { encoding: 'utf8' }).stdout.trim(),
    };
    emit({ bench: BENCH, metric: 'takeover_s', value: Number(takeoverS.toFixed(3)), unit: 's', ...common, takeover_breakdown: breakdown });
    for (const [metric, value] of Object.entries(breakdown)) emit({ bench: BENCH, metric: `takeover_${metric}`, value, unit: 's', ...common });
    emit({ bench: BENCH, metric: 'waiting_unrecovered', value: waitingUnrecovered, unit: 'calls', ...common });
    emit({ bench: BENCH, metric: 'cdrs_lost', value: lost, unit: 'calls', ...common });
    // `lost` in the brief's words: a caller answered with no CDR anywhere, or a waiting caller without a callback task.
    emit({ bench: BENCH, metric: 'lost', value: lost + waitingUnrecovered, unit: 'calls', ...common, cdrsLost: lost, waitingUnrecovered });
    emit({ bench: BENCH, metric: 'duplicates', value: duplicates, unit: 'calls', ...common });
    emit({ bench: BENCH, metric: 'lease_used_max_ms', value: Math.round(leaseUsedMaxMs), unit: 'ms', ...common });
    emit({ bench: BENCH, metric: 'cdrs_delivered_during_load', value: cdrsDuringLoad, unit: 'calls', ...common });
    const audioFields = {
      talkingOnA: liveOnA.filter((c) => c.phase === 'talking').length,
      ...(rtp !== undefined ? {
        rtpengineSessionsAtKill: sessions.length, relayedOnA: gauge(metricsA, 'onair_rtpengine_calls'),
        relaySnapshotsInJournal: journal.filter((j) => j.relayed).length,
        // Of the sessions at the kill, those whose dialogs A's journal had (the ones B can adopt and end).
        sessionsWithSnapshot: journal.filter((j) => j.relayed && atKill.bridged.has(j.call_id)).length,
        withoutSnapshotByFate: keptOrphans.byFate,
      } : {}),
    };
    emit({
      bench: BENCH, metric: 'bridged_kept_audio_ratio', value: kept.ratio, unit: 'ratio', ...common, ...audioFields,
      bridged: kept.bridged, checked: kept.checked, kept: kept.kept, byFate: kept.byFate, packetsSentPerCall: afterTakeover.sent, window: 'takeover + 0.25..1.25 s',
    });
    emit({
      bench: BENCH, metric: 'bridged_audio_after_kill_ratio', value: keptEarly.ratio, unit: 'ratio', ...common, ...audioFields,
      bridged: keptEarly.bridged, checked: keptEarly.checked, kept: keptEarly.kept, byFate: keptEarly.byFate, packetsSentPerCall: afterKill.sent, window: 'kill + 0.3..0.8 s',
    });
  } finally {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch { /* best effort */ }
    }
  }
}
