/**
 * `npm run bench -- flood [--rate 50000] [--seconds 30] [--cps 10] [--agents 20] [--talk 3000] [--trunk-cps 20] [--engine dist|source]`:
 * legitimate calls through a flood (issue 11). The engine runs in its own process; a C flooder
 * (`bench/flood.c`, built on first use into bench/bin/flood) sends `--rate` datagrams a second
 * for `--seconds` from 127.0.0.50, the address of a trunk of its own ("flood"): a mix of INVITEs
 * (each a new caller number), unauthenticated REGISTERs for the agents and garbage. Meanwhile
 * sipp places `--cps` calls a second from 127.0.0.1 (trunk "local") to sipp agents.
 *
 * ```
 *  flood (C, sendmmsg) 127.0.0.50 ──50k msg/s──▶ onair ◀──SIP──▶ sipp agents (127.0.0.1)
 *  sipp callers        127.0.0.1  ──10 calls/s──▶  │
 *                                   /proc/PID: CPU, RSS · /proc/net/udp: drops at the SIP socket
 * ```
 * Metrics: `legit_success_ratio` (legitimate calls whose CDR says an agent answered / placed),
 * `junk_callbacks` (callback tasks created for callers that were not legitimate), `rss_growth_mb`,
 * `engine_cpu_percent` (of one core, over the flood), `flood_sent_per_second` (what the flooder
 * achieved), `flood_drop_ratio` (datagrams the kernel dropped at the engine's full SIP socket, from
 * /proc/net/udp, over those the flooder sent),
 * `engine_crashed` (1 when the engine process died during the run).
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cBinary, emit, machine, say, SIPP_LOAD_BUFFERS } from './lib.ts';
import { FIRST_EXT, benchConfig } from './engine-calls.ts';
import { fitToSchema } from './fuzz/config.ts';
import { runSipp, startSipp, type SippRun } from '../engine/testing/sipp.ts';
import { SCENARIOS, freeUdpPort } from '../engine/testing/engine-rig.ts';
import { spawnEngine, processUsage, type EngineProcess } from '../engine/testing/engine-process.ts';
import type { ConfigInput } from '../engine/config/index.ts';

const BENCH = 'flood';
const FLOOD_SOURCE = '127.0.0.50';
const LEGIT_PREFIX = '+4930888';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(`--${name}`);
  const v = i >= 0 ? Number(args[i + 1]) : dflt;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} needs a positive number`);
  return v;
}

/**
 * The engine: the engine-calls bench's agents, queue and number 300, with the engine's own call
 * limit (sip.maxCalls) and two trunks, the legitimate carrier's and the flooding one's (with its
 * contracted calls per second, `--trunk-cps`, where the engine has `trunks[].maxCallsPerSecond`).
 */
function floodConfig(agents: number, trunkCps: number): Partial<ConfigInput> {
  return {
    ...benchConfig(agents, 1, undefined),
    sip: {},
    trunks: [
      { id: 'local', name: 'Legitimate carrier', allow: ['127.0.0.1/32'] },
      // The flooding carrier's contracted rate (contracts C6); an engine without the setting runs without it.
      { id: 'flood', name: 'Carrier whose link floods', allow: [`${FLOOD_SOURCE}/32`], maxCallsPerSecond: trunkCps } as NonNullable<ConfigInput['trunks']>[number],
    ],
    log: { level: 'error' },
  };
}

/**
 * The flood's datagrams, as the flooder's template file: INVITEs to 300 (new caller and Call-ID
 * each), REGISTERs without credentials for the bench agents (each costs a digest challenge), and
 * garbage (random bytes, a request cut in its headers, a response to nothing). `@@@@@@@@@@` is the
 * flooder's serial number.
 */
function floodTemplates(sipPort: number, agents: number): Buffer {
  const S = '@@@@@@@@@@';
  const host = `127.0.0.1:${sipPort}`;
  const sdp = ['v=0', `o=flood 1 1 IN IP4 ${FLOOD_SOURCE}`, 's=-', `c=IN IP4 ${FLOOD_SOURCE}`, 't=0 0', 'm=audio 9 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
  const invite = [
    `INVITE sip:300@${host} SIP/2.0`, `Via: SIP/2.0/UDP ${FLOOD_SOURCE}:5060;rport;branch=z9hG4bKfl${S}`, 'Max-Forwards: 70',
    `From: <sip:+4930777${S}@${FLOOD_SOURCE}>;tag=f${S}`, `To: <sip:300@${host}>`, `Call-ID: flood-${S}@${FLOOD_SOURCE}`, 'CSeq: 1 INVITE',
    `Contact: <sip:flood@${FLOOD_SOURCE}:5060>`, 'Content-Type: application/sdp', `Content-Length: ${sdp.length}`, '', sdp,
  ].join('\r\n');
  const register = (ext: number): string => [
    `REGISTER sip:${host} SIP/2.0`, `Via: SIP/2.0/UDP ${FLOOD_SOURCE}:5060;rport;branch=z9hG4bKrg${S}`, 'Max-Forwards: 70',
    `From: <sip:${ext}@127.0.0.1>;tag=r${S}`, `To: <sip:${ext}@127.0.0.1>`, `Call-ID: reg-${S}@${FLOOD_SOURCE}`, 'CSeq: 1 REGISTER',
    `Contact: <sip:${ext}@${FLOOD_SOURCE}:5060>`, 'Expires: 3600', 'Content-Length: 0', '', '',
  ].join('\r\n');
  let seed = 7;
  const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => { seed = (seed * 1103515245 + 12345) >>> 0; return seed >>> 24; }));
  const garbage = [
    random(300),
    Buffer.from(`INVITE sip:300@${host} SIP/2.0\r\nVia: SIP/2.0/UDP ${FLOOD_SOURCE}:5060;branch=z9hG4bKcut${S}\r\nFrom: <sip:x@y>;tag=${S}\r\nTo: <sip`, 'latin1'),
    Buffer.from(`SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:${sipPort};branch=z9hG4bKnothing${S}\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: none-${S}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n`, 'latin1'),
  ];
  // The mix: 4 INVITEs, 3 REGISTERs, 3 garbage in every 10 datagrams.
  const records: Buffer[] = [];
  for (let i = 0; i < 4; i++) records.push(Buffer.from(invite, 'latin1'));
  for (let i = 0; i < 3; i++) records.push(Buffer.from(register(FIRST_EXT + (i % agents)), 'latin1'));
  records.push(...garbage);
  return Buffer.concat(records.flatMap((r) => { const h = Buffer.alloc(4); h.writeUInt32LE(r.length); return [h, r]; }));
}

/**
 * Datagrams the kernel dropped at the engine's SIP socket (its receive buffer was full): the last
 * column ("drops") of the socket's line in /proc/net/udp, found by its local address and port.
 */
function socketDrops(port: number): number {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of readFileSync('/proc/net/udp', 'latin1').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === local) return Number(f[f.length - 1]);
  }
  return NaN;
}

/** Every item of a paged API list (limit 1000 a page), up to `max` items. */
async function all<T>(e: EngineProcess, url: string, max = 200_000): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; offset < max; offset += 1000) {
    const page = await e.get<{ items: T[] }>(`${url}${url.includes('?') ? '&' : '?'}limit=1000&offset=${offset}`);
    out.push(...page.items);
    if (page.items.length < 1000) break;
  }
  return out;
}

export async function main(args: string[]): Promise<void> {
  const rate = arg(args, 'rate', 50_000);
  const seconds = arg(args, 'seconds', 30);
  const cps = arg(args, 'cps', 10);
  const agents = arg(args, 'agents', 20);
  const talkMs = arg(args, 'talk', 3000);
  const trunkCps = arg(args, 'trunk-cps', 20);
  // The build `npm start` runs, unless told otherwise: the tsx loader adds memory the product does not have.
  const build = args[args.indexOf('--engine') + 1] === 'source' && args.includes('--engine') ? 'source' : 'dist';
  const fitted = fitToSchema(floodConfig(agents, trunkCps));
  for (const n of fitted.notes) say(`${BENCH}: ${n}`);
  const flooder = cBinary('flood');
  say(`${BENCH}: ${machine()}; flood ${rate}/s for ${seconds} s from ${FLOOD_SOURCE}, ${cps} legitimate calls/s to ${agents} agents, talk ${talkMs} ms`);

  const dir = mkdtempSync(path.join(tmpdir(), 'onair-bench-flood-'));
  let engine: EngineProcess | undefined;
  let answerer: SippRun | undefined;
  const media = dgram.createSocket('udp4');
  try {
    engine = await spawnEngine({ dir, overrides: fitted.overrides, startTimeoutMs: 60_000, build });
    const e = engine;
    const agentPort = await freeUdpPort();
    answerer = startSipp({
      scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: agentPort, calls: 10_000_000, timeoutSec: 3600,
      args: ['-d', '50', '-key', 'media_port', String(await freeUdpPort()), ...SIPP_LOAD_BUFFERS],
    });
    const agentsFile = path.join(dir, 'agents.csv');
    writeFileSync(agentsFile, `SEQUENTIAL\n${Array.from({ length: agents }, (_, i) => `${FIRST_EXT + i};[authentication username=${FIRST_EXT + i} password=bench${FIRST_EXT + i}]`).join('\n')}\n`);
    const reg = await runSipp({
      scenario: path.join(SCENARIOS, 'agents-register.xml'), target: `127.0.0.1:${e.sipPort}`, transport: 'u1',
      calls: agents, rate: 200, limit: 100, timeoutSec: 60, args: ['-inf', agentsFile, '-key', 'agent_port', String(agentPort)],
    });
    if (reg.successful !== agents) throw new Error(`agents registered: ${reg.successful}/${agents}\n${reg.stderr.slice(0, 500)}`);

    // Legitimate callers' media goes to one socket nobody reads (the engine's hold audio).
    await new Promise<void>((r) => media.bind(0, '127.0.0.1', () => r()));
    const mediaPort = media.address().port;
    const calls = Math.round(cps * seconds);
    const callers = path.join(dir, 'callers.csv');
    writeFileSync(callers, `SEQUENTIAL\n${Array.from({ length: calls }, (_, i) => `${LEGIT_PREFIX}${String(i).padStart(6, '0')};${mediaPort}`).join('\n')}\n`);
    const templates = path.join(dir, 'flood.bin');
    writeFileSync(templates, floodTemplates(e.sipPort, agents));

    const callbacksBefore = (await e.get<{ total: number }>('/api/v1/callbacks?limit=1')).total;
    const u0 = processUsage(e.pid);
    const drops0 = socketDrops(e.sipPort);
    const t0 = performance.now();
    let rssPeak = u0.rssBytes;
    const sampler = setInterval(() => {
      try { rssPeak = Math.max(rssPeak, processUsage(e.pid).rssBytes); } catch { /* the engine is gone */ }
    }, 500);

    const flood = spawn(flooder, [String(e.sipPort), FLOOD_SOURCE, String(rate), String(seconds), templates], { stdio: ['ignore', 'pipe', 'inherit'] });
    let floodOut = '';
    flood.stdout.on('data', (d: Buffer) => { floodOut += d.toString(); });
    const floodDone = new Promise<void>((r) => flood.on('close', () => r()));
    const legit = await runSipp({
      scenario: path.join(SCENARIOS, 'caller-bench.xml'), target: `127.0.0.1:${e.sipPort}`, transport: 'u1',
      calls, rate: cps, limit: Math.ceil(cps * (talkMs / 1000 + 40)), timeoutSec: seconds + talkMs / 1000 + 60,
      args: ['-s', '300', '-inf', callers, '-d', String(talkMs), ...SIPP_LOAD_BUFFERS],
    });
    await floodDone;
    const wallMs = performance.now() - t0;
    const crashed = e.child.exitCode !== null || e.child.signalCode !== null;
    const u1 = crashed ? undefined : processUsage(e.pid);
    const drops = crashed ? NaN : socketDrops(e.sipPort) - drops0;
    clearInterval(sampler);
    const f = JSON.parse(floodOut.trim() || '{"sent":0,"errors":0,"seconds":1}') as { sent: number; errors: number; seconds: number };

    let answered = 0;
    let junk = NaN;
    if (!crashed) {
      // Let the calls in progress end and their CDRs reach the CRM.
      for (let i = 0; i < 600; i++) {
        const h = await e.get<{ calls?: number }>('/healthz');
        if ((h.calls ?? 0) === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 2000));
      const cdrs = await all<{ caller: string; agent: string | null }>(e, '/api/v1/cdrs?outcome=answered');
      answered = cdrs.filter((c) => c.caller.startsWith(LEGIT_PREFIX) && c.agent !== null).length;
      const callbacks = await all<{ caller: string }>(e, '/api/v1/callbacks');
      const total = (await e.get<{ total: number }>('/api/v1/callbacks?limit=1')).total;
      junk = total - callbacksBefore - callbacks.filter((c) => c.caller.startsWith(LEGIT_PREFIX)).length;
    } else {
      say(`engine died during the flood:\n${e.output().slice(-1500)}`);
    }
    const extra = { rate, seconds, cps, agents, talk_ms: talkMs, trunk_cps: fitted.notes.some((n) => n.includes('maxCallsPerSecond')) ? null : trunkCps, machine: machine() };
    const cpu = u1 ? ((u1.cpuMs - u0.cpuMs) / wallMs) * 100 : NaN;
    const rssGrowth = ((u1?.rssBytes ?? rssPeak) - u0.rssBytes) / 2 ** 20;
    emit({ bench: BENCH, metric: 'engine_crashed', value: crashed ? 1 : 0, unit: 'bool', ...extra });
    emit({ bench: BENCH, metric: 'legit_success_ratio', value: round(answered / calls), unit: 'ratio', placed: calls, reached_agent: answered, sipp_ok: legit.successful, sipp_failed: legit.failed, ...extra });
    emit({ bench: BENCH, metric: 'junk_callbacks', value: junk, unit: 'count', ...extra });
    emit({ bench: BENCH, metric: 'rss_growth_mb', value: round(rssGrowth), unit: 'MB', rss_start_mb: round(u0.rssBytes / 2 ** 20), rss_peak_mb: round(rssPeak / 2 ** 20), ...extra });
    emit({ bench: BENCH, metric: 'engine_cpu_percent', value: round(cpu), unit: '% of one core', ...extra });
    emit({ bench: BENCH, metric: 'flood_sent_per_second', value: Math.round(f.sent / f.seconds), unit: 'msg/s', sent: f.sent, send_errors: f.errors, ...extra });
    emit({ bench: BENCH, metric: 'flood_drop_ratio', value: round(f.sent > 0 ? drops / f.sent : NaN), unit: 'ratio', engine_socket_drops: drops, ...extra });
    say(`${BENCH}: flooder ${Math.round(f.sent / f.seconds)}/s (${f.sent} sent, ${f.errors} errors), dropped at the engine's socket ${drops} (${(100 * drops / Math.max(1, f.sent)).toFixed(1)} %); ` +
      `legitimate calls reaching an agent ${answered}/${calls} (sipp ok ${legit.successful}, failed ${legit.failed}); junk callback tasks ${junk}; ` +
      `engine CPU ${cpu.toFixed(0)} % of a core, RSS ${(u0.rssBytes / 2 ** 20).toFixed(0)} → ${((u1?.rssBytes ?? rssPeak) / 2 ** 20).toFixed(0)} MB (peak ${(rssPeak / 2 ** 20).toFixed(0)})${crashed ? '; ENGINE CRASHED' : ''}`);
  } finally {
    answerer?.kill();
    media.close();
    if (engine) await engine.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}
