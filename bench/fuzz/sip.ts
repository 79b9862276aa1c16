/**
 * `npm run fuzz -- sip [--count N] [--transport udp|tcp|both] [--seed S] [--rate R] [--sources K]
 * [--max-seconds T] [--config FILE]`: hostile SIP against a real engine process on loopback.
 * `npm run fuzz -- sip --replay fuzz/crashes/DIR` narrows a saved crash down to its one message.
 *
 * ```
 *  127.0.0.20..27 ──UDP/TCP──▶ onair (spawnEngine, fuzz/engine.json on top of the demo)
 *   corpus (RFC 4475/5118) · seeds · mutations · PROTOS-style INVITEs, paced at R msg/s
 *   every 10,000 messages: OPTIONS answered?   exit of the process: a crash
 * ```
 *
 * A crash saves the last messages sent (the engine reads datagrams asynchronously, so the culprit
 * is among the last ones, not necessarily the very last) and the engine's last output under
 * fuzz/crashes/<seed>-<n>/, then a fresh engine takes over and fuzzing goes on. Sources are
 * spread over several loopback addresses and the rate is moderate so that the engine parses most
 * messages instead of shedding them (the config file raises the per-source limits).
 *
 * stdout: JSON lines `{"bench":"fuzz-sip","metric":"crashes"|"unique_crashes"|"liveness_misses"|
 * "rss_growth_ratio"|"messages"|"sent_per_second", value, unit, ...}`; stderr: a human summary.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnEngine, type EngineBuild, type EngineProcess } from '../../engine/testing/engine-process.ts';
import { mergeConfig } from '../../engine/testing/engine-rig.ts';
import { probeAlive, rssOf } from '../../engine/testing/attack.ts';
import { demoConfig, parseConfig, type ConfigInput } from '../../engine/config/index.ts';
import { fitToSchema } from './config.ts';
import { emit, machine, say } from '../lib.ts';
import { MUTATIONS, Rng, loadCorpus, loopbackVia, mutate, protosInvite, seedRequest, type Mutation, type Target } from './mutate.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BENCH = 'fuzz-sip';
const WINDOW = 2000;
const LIVENESS_EVERY = 10_000;

interface Options {
  count: number; transport: 'udp' | 'tcp' | 'both'; seed: number; rate: number; sources: number; maxSeconds: number; config: string;
  /** The engine attacked: the build `npm start` runs (default) or the source tree (`--engine source`). */
  engine: EngineBuild;
}

function options(args: string[]): Options {
  const o: Options = {
    count: 100_000, transport: 'both', seed: (Date.now() ^ (process.pid << 16)) >>> 0, rate: 3000, sources: 8, maxSeconds: 900,
    config: path.join(root, 'fuzz', 'engine.json'), engine: 'dist',
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = args[i + 1];
    const num = (): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0) throw new Error(`${a} needs a number, got ${v}`);
      i++;
      return n;
    };
    if (a === '--count') o.count = num();
    else if (a === '--seed') o.seed = num() >>> 0;
    else if (a === '--rate') o.rate = Math.max(100, num());
    else if (a === '--sources') o.sources = Math.min(200, Math.max(1, num()));
    else if (a === '--max-seconds') o.maxSeconds = num();
    else if (a === '--transport' && (v === 'udp' || v === 'tcp' || v === 'both')) { o.transport = v; i++; }
    else if (a === '--config' && v) { o.config = path.resolve(v); i++; }
    else if (a === '--engine' && (v === 'dist' || v === 'source')) { o.engine = v; i++; }
    else throw new Error(`unknown argument ${a} (see bench/fuzz/sip.ts)`);
  }
  return o;
}

/**
 * The engine override: `file` on top of the demo, fitted to this engine's schema (see
 * {@link fitToSchema}), so one file serves before and after a fix.
 */
function engineOverrides(file: string): { overrides: Partial<ConfigInput>; notes: string[] } {
  const fitted = fitToSchema(JSON.parse(readFileSync(file, 'utf8')) as Partial<ConfigInput>);
  const r = parseConfig(mergeConfig(demoConfig(), fitted.overrides), { env: {} });
  if (r.ok && 'admission' in (r.config.sip as object) && !('admission' in (fitted.overrides.sip ?? {}))) {
    fitted.notes.push('this engine has sip.admission: set its limits in the config file, its defaults are in effect');
  }
  return fitted;
}

/** One sent message, kept for the crash report. */
interface Sent { n: number; transport: 'UDP' | 'TCP'; source: string; kind: string; bytes: Buffer }

/** The engine under attack, with its own tail of output. */
interface Victim { e: EngineProcess; dir: string; tail: string[]; rssStart: number; rssLast: number; messagesAtStart: number }

async function startVictim(overrides: Partial<ConfigInput>, messages: number, build: EngineBuild = 'source'): Promise<Victim> {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-fuzz-'));
  const tail: string[] = [];
  const e = await spawnEngine({
    dir, tcp: true, overrides, startTimeoutMs: 60_000, build,
    onOutput: (d) => { tail.push(d.toString()); if (tail.length > 200) tail.splice(0, 100); },
  });
  const l = await probeAlive(e);
  if (!l.alive) throw new Error(`engine not alive at start: ${l.detail}`);
  const rss = rssOf(e.pid) ?? 0;
  return { e, dir, tail, rssStart: rss, rssLast: rss, messagesAtStart: messages };
}

/**
 * The exception that ended the engine, as one line (message and the first engine frame): the
 * last "XxxError: ..." line Node printed for the uncaught exception, else the last logged error.
 */
function signature(output: string): string {
  const lines = output.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const l = lines[i]!;
    if (!/^\s*\w*Error(\s*\[\w+\])?:/.test(l)) continue;
    const where = lines.slice(i + 1).find((x) => /^\s+at /.test(x) && x.includes('/engine/'))?.trim() ?? '';
    return `${l.trim().slice(0, 160)} ${where.replace(/^at /, '@ ').replace(root, '')}`.trim();
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /"message":"([^"]*)"/.exec(lines[i]!);
    if (m && /"type":"\w*Error"/.test(lines[i]!)) return `logged: ${m[1]!.slice(0, 160)}`;
  }
  return 'no exception in the output';
}

/** Save the window of last messages and the engine's output; returns the folder. */
function saveCrash(seed: number, n: number, window: Sent[], output: string): string {
  const dir = path.join(root, 'fuzz', 'crashes', `${seed}-${n}`);
  mkdirSync(dir, { recursive: true });
  for (const s of window) writeFileSync(path.join(dir, `${String(s.n).padStart(8, '0')}-${s.transport.toLowerCase()}-${s.source}-${s.kind}.sip`), s.bytes);
  writeFileSync(path.join(dir, 'engine-output.txt'), output);
  return dir;
}

/** Send saved messages to a fresh engine, paced, and say whether it died. */
async function killsEngine(overrides: Partial<ConfigInput>, msgs: Sent[]): Promise<boolean> {
  const v = await startVictim(overrides, 0);
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.20', () => r()));
  sock.on('error', () => {});
  const conns: net.Socket[] = [];
  try {
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i]!;
      if (m.transport === 'UDP') sock.send(m.bytes, v.e.sipPort, '127.0.0.1');
      else {
        const c = net.connect({ port: v.e.sipTcpPort!, host: '127.0.0.1', localAddress: '127.0.0.20' });
        c.on('error', () => {});
        c.write(m.bytes);
        conns.push(c);
      }
      if (i % 20 === 19) await new Promise((r) => setTimeout(r, 10));
    }
    // Long enough for answers sent from timers: the 100 Trying of an INVITE (200 ms), the first
    // retransmissions of a final answer over UDP (Timer G: 500 ms, 1 s, 2 s).
    await new Promise((r) => setTimeout(r, 4000));
    return v.e.child.exitCode !== null || v.e.child.signalCode !== null;
  } finally {
    for (const c of conns) c.destroy();
    sock.close();
    await v.e.stop('SIGKILL');
    rmSync(v.dir, { recursive: true, force: true });
  }
}

/**
 * `--replay DIR`: find the message of a saved crash that kills the engine alone, by halving the
 * saved window against fresh engines; writes it to DIR/culprit.sip.
 */
async function replay(dir: string, config: string): Promise<void> {
  const { overrides } = engineOverrides(config);
  let msgs: Sent[] = readdirSync(dir).filter((f) => f.endsWith('.sip') && f !== 'culprit.sip').sort().map((f) => {
    const [n, transport, source] = f.split('-');
    return { n: Number(n), transport: transport === 'tcp' ? 'TCP' : 'UDP', source: source ?? '', kind: f, bytes: readFileSync(path.join(dir, f)) };
  });
  say(`fuzz replay: ${msgs.length} messages from ${dir}`);
  if (!(await killsEngine(overrides, msgs))) { say('fuzz replay: the saved window does not crash a fresh engine'); return; }
  while (msgs.length > 1) {
    const half = Math.ceil(msgs.length / 2);
    const first = msgs.slice(0, half);
    const second = msgs.slice(half);
    if (await killsEngine(overrides, second)) msgs = second;
    else if (await killsEngine(overrides, first)) msgs = first;
    else { say(`fuzz replay: it takes messages from both halves (${msgs.length} left); stopping`); break; }
    say(`  ${msgs.length} left`);
  }
  if (msgs.length === 1) {
    writeFileSync(path.join(dir, 'culprit.sip'), msgs[0]!.bytes);
    say(`fuzz replay: culprit ${msgs[0]!.kind} (${msgs[0]!.transport}) → ${path.join(dir, 'culprit.sip')}\n${msgs[0]!.bytes.toString('latin1').slice(0, 600)}`);
  }
}

export async function main(args: string[]): Promise<void> {
  const [what, ...rest] = args;
  if (what !== 'sip') throw new Error('usage: npm run fuzz -- sip [--count N] [--transport udp|tcp|both] [--seed S] [--engine dist|source] | sip --replay DIR');
  const r = rest.indexOf('--replay');
  if (r >= 0 && rest[r + 1]) {
    const c = rest.indexOf('--config');
    await replay(path.resolve(rest[r + 1]!), c >= 0 && rest[c + 1] ? path.resolve(rest[c + 1]!) : path.join(root, 'fuzz', 'engine.json'));
    return;
  }
  const o = options(rest);
  const rng = new Rng(o.seed);
  const corpus = loadCorpus(path.join(root, 'fuzz', 'corpus'));
  const { overrides, notes } = engineOverrides(o.config);
  for (const n of notes) say(`fuzz: ${n}`);
  say(`fuzz sip: seed ${o.seed}, ${o.count} messages, ${o.transport}, ${o.rate}/s from ${o.sources} sources, ${corpus.length} corpus files; ${machine()}`);

  const sources = Array.from({ length: o.sources }, (_, i) => `127.0.0.${20 + i}`);
  const udp = await Promise.all(sources.map((address) => new Promise<dgram.Socket>((resolve) => {
    const s = dgram.createSocket('udp4');
    s.on('error', () => {});
    s.on('message', () => {});
    s.bind(0, address, () => resolve(s));
  })));
  const udpPort = (i: number): number => udp[i]!.address().port;
  // Two TCP connections per source, reopened when the engine closes one (that is often the point).
  const tcp: (net.Socket | undefined)[] = new Array<net.Socket | undefined>(sources.length * 2).fill(undefined);
  let victim = await startVictim(overrides, 0, o.engine);
  const connect = (slot: number): net.Socket => {
    const s = net.connect({ port: victim.e.sipTcpPort!, host: '127.0.0.1', localAddress: sources[slot >> 1]! });
    s.on('error', () => {});
    s.on('data', () => {});
    s.on('close', () => { if (tcp[slot] === s) tcp[slot] = undefined; });
    tcp[slot] = s;
    return s;
  };

  const window: Sent[] = [];
  const kinds = new Map<string, number>();
  const signatures = new Map<string, { count: number; dir: string }>();
  let crashes = 0;
  let livenessMisses = 0;
  let livenessChecks = 0;
  let sent = 0;
  let bytes = 0;
  const t0 = Date.now();
  const deadline = t0 + o.maxSeconds * 1000;
  const perTick = Math.max(1, Math.round(o.rate / 100));

  const generate = (n: number, t: Target): { kind: string; text: string } => {
    const r = rng.next();
    if (r < 0.2) {
      const c = rng.pick(corpus);
      const text = loopbackVia(c.bytes.toString('latin1'), t);
      if (rng.next() < 0.5) return { kind: `corpus:${c.name.replace('/', '_')}`, text };
      const m = rng.pick(MUTATIONS);
      return { kind: `corpus+${m}`, text: mutate(rng, text, m, t) };
    }
    if (r < 0.4) return { kind: 'protos', text: protosInvite(rng, t, n) };
    let text = seedRequest(rng, t, n);
    const applied: Mutation[] = [];
    for (let k = 1 + rng.int(3); k > 0; k--) {
      const m = rng.pick(MUTATIONS);
      applied.push(m);
      text = mutate(rng, text, m, t);
    }
    return { kind: applied.join('+'), text };
  };

  const crashed = (): boolean => victim.e.child.exitCode !== null || victim.e.child.signalCode !== null;
  // The RSS figure comes from the engine instance that took the most messages (a crash ends one).
  let longest: { messages: number; rssStart: number; rssEnd: number; curve: { messages: number; mb: number }[] } = { messages: 0, rssStart: 0, rssEnd: 0, curve: [] };
  let rssCurve: { messages: number; mb: number }[] = [];
  const retire = (): void => {
    const messages = sent - victim.messagesAtStart;
    if (messages >= longest.messages) longest = { messages, rssStart: victim.rssStart, rssEnd: victim.rssLast, curve: rssCurve };
    rssCurve = [];
  };
  const handleCrash = async (restart: boolean): Promise<void> => {
    crashes++;
    retire();
    const output = victim.tail.join('');
    const sig = signature(output);
    const known = signatures.get(sig);
    const dir = known?.dir ?? saveCrash(o.seed, sent, window, output);
    signatures.set(sig, { count: (known?.count ?? 0) + 1, dir });
    say(`fuzz: CRASH #${crashes} after ${sent} messages: ${sig}${known ? '' : ` (saved ${path.relative(root, dir)})`}`);
    if (!restart) return;
    rmSync(victim.dir, { recursive: true, force: true });
    victim = await startVictim(overrides, sent, o.engine);
    for (let i = 0; i < tcp.length; i++) { tcp[i]?.destroy(); tcp[i] = undefined; }
  };

  while (sent < o.count && Date.now() < deadline) {
    const tickStart = Date.now();
    for (let k = 0; k < perTick && sent < o.count; k++) {
      const n = sent;
      const src = n % sources.length;
      const useTcp = o.transport === 'tcp' || (o.transport === 'both' && rng.next() < 0.5);
      const transport = useTcp ? 'TCP' : 'UDP';
      const slot = src * 2 + (n & 1);
      const target: Target = { port: useTcp ? victim.e.sipTcpPort! : victim.e.sipPort, from: sources[src]!, fromPort: useTcp ? 5060 : udpPort(src), transport };
      const g = generate(n, target);
      const buf = Buffer.from(g.text, 'latin1');
      const family = g.kind.split(/[+:]/)[0]!;
      kinds.set(family, (kinds.get(family) ?? 0) + 1);
      window.push({ n, transport, source: target.from, kind: g.kind.slice(0, 60), bytes: buf });
      if (window.length > WINDOW) window.splice(0, WINDOW / 4);
      if (useTcp) {
        const s = tcp[slot] ?? connect(slot);
        s.write(buf);
      } else {
        udp[src]!.send(buf, victim.e.sipPort, '127.0.0.1');
      }
      sent++;
      bytes += buf.length;
      if (sent % LIVENESS_EVERY === 0 && !crashed()) {
        livenessChecks++;
        // The RSS curve, one sample per 10,000 messages: a leak climbs to the end, retained
        // state (32 s of answered transactions, calls waiting for Timer H) levels off.
        rssCurve.push({ messages: sent - victim.messagesAtStart, mb: Math.round((rssOf(victim.e.pid) ?? 0) / 2 ** 20) });
        const l = await probeAlive(victim.e, 10_000);
        // A probe that fails because the process is dying is a crash, not a liveness miss.
        if (!l.alive) await new Promise((r) => setTimeout(r, 1000));
        if (!l.alive && !crashed()) {
          livenessMisses++;
          say(`fuzz: liveness miss after ${sent} messages: ${l.detail}`);
        }
      }
    }
    if (crashed()) await handleCrash(true);
    else if (sent % (perTick * 100) < perTick) victim.rssLast = rssOf(victim.e.pid) ?? victim.rssLast;
    const wait = 10 - (Date.now() - tickStart);
    await new Promise((r) => setTimeout(r, Math.max(0, wait)));
  }
  // The last messages get their chance to crash it.
  await new Promise((r) => setTimeout(r, 1500));
  if (crashed()) {
    await handleCrash(false);
  } else {
    const final = await probeAlive(victim.e, 10_000);
    livenessChecks++;
    if (!final.alive) livenessMisses++;
    victim.rssLast = rssOf(victim.e.pid) ?? victim.rssLast;
    retire();
  }
  const seconds = (Date.now() - t0) / 1000;
  for (const s of tcp) s?.destroy();
  for (const s of udp) s.close();
  await victim.e.stop('SIGKILL');
  rmSync(victim.dir, { recursive: true, force: true });

  const common = { seed: o.seed, messages: sent, transport: o.transport, rate: o.rate, sources: o.sources, machine: machine() };
  emit({ bench: BENCH, metric: 'crashes', value: crashes, unit: 'count', ...common });
  emit({ bench: BENCH, metric: 'unique_crashes', value: signatures.size, unit: 'count', signatures: Object.fromEntries([...signatures].map(([k, v]) => [k, v.count])), ...common });
  emit({ bench: BENCH, metric: 'liveness_misses', value: livenessMisses, unit: 'count', checks: livenessChecks, ...common });
  const ratio = longest.rssStart > 0 ? longest.rssEnd / longest.rssStart : NaN;
  emit({
    bench: BENCH, metric: 'rss_growth_ratio', value: Number(ratio.toFixed(3)), unit: 'ratio', rssStartMb: Math.round(longest.rssStart / 2 ** 20),
    rssEndMb: Math.round(longest.rssEnd / 2 ** 20), messagesSeen: longest.messages, ...common,
  });
  // The same growth from the first quarter of the run on (the retained state has built up by then).
  const warm = longest.curve[Math.floor(longest.curve.length / 4)];
  emit({
    bench: BENCH, metric: 'rss_growth_ratio_after_warmup', value: warm && warm.mb > 0 ? Number((longest.rssEnd / 2 ** 20 / warm.mb).toFixed(3)) : NaN,
    unit: 'ratio', warmupMessages: warm?.messages ?? null, warmupMb: warm?.mb ?? null, rssEndMb: Math.round(longest.rssEnd / 2 ** 20),
    curveMb: longest.curve.map((c) => c.mb), ...common,
  });
  emit({ bench: BENCH, metric: 'messages', value: sent, unit: 'count', bytes, kinds: Object.fromEntries(kinds), ...common });
  emit({ bench: BENCH, metric: 'sent_per_second', value: Math.round(sent / seconds), unit: 'msg/s', seconds: Math.round(seconds), ...common });
  say(`fuzz sip: ${sent} messages in ${seconds.toFixed(0)} s (${Math.round(sent / seconds)}/s), ${crashes} crashes (${signatures.size} distinct), ` +
    `${livenessMisses} liveness misses of ${livenessChecks}, RSS ${Math.round(longest.rssStart / 2 ** 20)} → ${Math.round(longest.rssEnd / 2 ** 20)} MB over the ${longest.messages} messages of the longest-lived engine`);
  for (const [sig, v] of signatures) say(`  ${v.count}× ${sig}  → ${path.relative(root, v.dir)}`);
  if (!existsSync(path.join(root, 'fuzz', 'crashes'))) say('  no crash saved');
}
