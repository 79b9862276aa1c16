/**
 * The ACD core under a TV-shopping surge.
 * 10,000 waiting callers, 2,000 agents, 50 skills (agents with 1-5 skills), expansion rules on,
 * then a random mix of events. Each core call (enqueue, answer, end, status, tick...) is one decision.
 *
 * `npm run bench -- acd [--events N] [--runs R] [--seed S] [--cpu-clock]`; each metric is the median
 * over the runs. `--cpu-clock` times each decision in process CPU time instead of wall time (see
 * `elapsed`), for machines shared with other work; the JSON lines then say `"clock": "cpu"`.
 * Metrics: decision_p50_ns, decision_p99_ns, decision_p999_ns, decision_max_ns (per core call, two
 * clock reads included: see clock_overhead_ns), events_per_s (events / time inside the core),
 * loop_events_per_s (with the harness's own bookkeeping), cpu_events_per_s (events / process CPU time,
 * harness included: robust when other processes share the cores), bytes_per_waiting_call.
 */
import os from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { Acd } from '../engine/acd/index.ts';
import type { AcdConfig, AcdEffect, AgentStatus, QueueConfig } from '../engine/acd/index.ts';
import { emit, machine, median, say, seededRandom } from './lib.ts';

const SKILLS = 50;
const AGENTS = 2000;
const WAITING = 10_000;
const STRATEGIES = ['longestIdle', 'skillLevel', 'leastCalls', 'roundRobin', 'leastTalkTime'];

function config(rand: () => number): AcdConfig {
  const queues: QueueConfig[] = [];
  for (let i = 0; i < SKILLS; i++) {
    queues.push({
      id: `q${i}`,
      skill: `s${i}`,
      minLevel: 2,
      strategy: STRATEGIES[i % STRATEGIES.length],
      wrapUpMs: 5000,
      ringTimeoutMs: 30_000,
      announcePeriodMs: 30_000,
      abandonToCallback: i % 2 === 0,
      callbackShare: 0.1,
      weight: 1 + (i % 3),
      preferredAgentTimeoutMs: 10_000,
      expansion: [
        { afterMs: 20_000, add: [{ skill: `s${i}`, minLevel: 1 }] },
        { afterMs: 40_000, queueLengthAtLeast: 400, add: [{ skill: `s${(i + 1) % SKILLS}`, minLevel: 3 }] },
        { afterMs: 90_000, add: [{ skill: `s${(i + 7) % SKILLS}`, minLevel: 1 }] },
      ],
    });
  }
  const agents = [];
  for (let a = 0; a < AGENTS; a++) {
    const skills: Record<string, number> = {};
    const n = 1 + Math.floor(rand() * 5);
    while (Object.keys(skills).length < n) skills[`s${Math.floor(rand() * SKILLS)}`] = 1 + Math.floor(rand() * 5);
    agents.push({ id: `agent${a}`, skills });
  }
  return { queues, agents };
}

/** A set with O(1) add, delete and random pick (swap-remove), for the harness's bookkeeping. */
class PickSet {
  private readonly items: string[] = [];
  private readonly index = new Map<string, number>();
  get size(): number {
    return this.items.length;
  }
  add(id: string): void {
    if (this.index.has(id)) return;
    this.index.set(id, this.items.length);
    this.items.push(id);
  }
  delete(id: string): void {
    const i = this.index.get(id);
    if (i === undefined) return;
    const last = this.items.pop()!;
    this.index.delete(id);
    if (last !== id) {
      this.items[i] = last;
      this.index.set(last, i);
    }
  }
  pick(rand: () => number): string | undefined {
    return this.items[Math.floor(rand() * this.items.length)];
  }
}

/** Keeps the harness's view of who waits, rings and talks, from the effects. */
class World {
  readonly waiting = new PickSet();
  readonly offered = new PickSet();
  readonly talking = new PickSet();
  readonly notReady = new PickSet();
  apply(effects: AcdEffect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'offer':
          this.waiting.delete(e.callId);
          this.offered.add(e.callId);
          break;
        case 'cancelOffer':
          this.offered.delete(e.callId);
          this.waiting.add(e.callId);
          break;
        case 'callbackCreated':
          this.waiting.add(e.callId);
          break;
        case 'ended':
          this.waiting.delete(e.callId);
          this.offered.delete(e.callId);
          this.talking.delete(e.callId);
          break;
        case 'agentStateChanged':
          if (e.status === 'notReady') this.notReady.add(e.agentId);
          else this.notReady.delete(e.agentId);
          break;
        default:
          break;
      }
    }
  }
}

/** A full collection, repeated: one pass can leave pages of the previous run unswept in heapUsed. */
function gcFunction(): () => void {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  return () => {
    for (let i = 0; i < 3; i++) gc();
  };
}

/** Build the surge state: all agents logged in and busy, `WAITING` callers waiting. */
function fill(acd: Acd, world: World, rand: () => number, from: number, count: number, now: number): number {
  let id = from;
  for (let i = 0; i < count; i++, id++) {
    const q = Math.floor(rand() * SKILLS);
    world.waiting.add(`c${id}`);
    world.apply(acd.enqueue({ id: `c${id}`, queueId: `q${q}`, callerNumber: `+4930${id}`, priority: rand() < 0.05 ? 1 : 0 }, now));
  }
  return id;
}

interface RunResult {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  eventsPerS: number;
  loopEventsPerS: number;
  cpuEventsPerS: number;
  bytesPerCall: number;
  waitingEnd: number;
}

const KINDS = ['tick', 'tick+offer', 'enqueue', 'answer', 'reject', 'end', 'abandon', 'transfer', 'status', 'callback', 'ewt'] as const;
type Kind = (typeof KINDS)[number];

/** Nearest-rank quantile of an ascending-sorted array, in ns (values in ms). */
function qns(sorted: Float64Array, n: number, p: number): number {
  return n === 0 ? 0 : sorted[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]! * 1e6;
}

/** One full run: build the surge, measure memory, then `events` random events. */
/**
 * Elapsed time of `fn` in ms. 'wall' reads the monotonic clock; 'cpu' reads the process's CPU time
 * (getrusage), which leaves out the time the process was not running: on a machine shared with other
 * work it shows what a decision costs on a core of its own (resolution 1 us, about 0.5 us per read).
 */
type Clock = 'wall' | 'cpu';
function elapsed(clock: Clock, fn: () => void): number {
  if (clock === 'wall') {
    const s = performance.now();
    fn();
    return performance.now() - s;
  }
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1000;
}

function runOnce(seed: number, events: number, gc: () => void, verbose: boolean, clock: Clock): RunResult {
  const rand = seededRandom(seed);
  // ---- all agents busy, then 10,000 more callers who must wait.
  const acd = new Acd(config(rand));
  const world = new World();
  let now = 1_000_000;
  for (let a = 0; a < AGENTS; a++) world.apply(acd.agentLoggedIn(`agent${a}`, now));
  let nextId = 0;
  // Enough callers for every agent to be offered one (agents whose skills no caller needs stay idle).
  nextId = fill(acd, world, rand, nextId, AGENTS * 3, now);
  for (let id = world.offered.pick(rand); id !== undefined; id = world.offered.pick(rand)) {
    world.offered.delete(id);
    world.talking.add(id);
    acd.offerAnswered(id, now);
  }
  // Memory: the harness keeps no record of these callers while they are added, so the heap grows by
  // what the core holds for them (their id and number strings included).
  const before = acd.snapshot(now).queues.reduce((s, x) => s + x.waiting, 0);
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  for (let i = 0; i < WAITING; i++, nextId++) {
    acd.enqueue({ id: `c${nextId}`, queueId: `q${Math.floor(rand() * SKILLS)}`, callerNumber: `+4930${nextId}`, priority: rand() < 0.05 ? 1 : 0 }, now);
  }
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  const after = acd.snapshot(now).queues.reduce((s, x) => s + x.waiting, 0);
  const bytesPerCall = (heap1 - heap0) / (after - before);
  for (let id = nextId - WAITING; id < nextId; id++) if (acd.inspectCall(`c${id}`)?.state === 'waiting') world.waiting.add(`c${id}`);
  while (world.waiting.size > WAITING) world.apply(acd.abandon(world.waiting.pick(rand)!, now));
  if (verbose) {
    say(`memory: ${after - before} more waiting callers (${after} in all) took ${((heap1 - heap0) / 2 ** 20).toFixed(2)} MiB: ${bytesPerCall.toFixed(0)} B each (ids and numbers included)`);
    say(`start: ${world.waiting.size} waiting, ${world.offered.size} ringing, ${world.talking.size} talking`);
  }

  // ---- random mix of events; each core call is timed alone.
  const lat = new Float64Array(events);
  const perKind = new Map<Kind, { lat: Float64Array; n: number }>();
  for (const k of KINDS) perKind.set(k, { lat: new Float64Array(events), n: 0 });
  let n = 0;
  let coreMs = 0;
  gc();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let effects: AcdEffect[] = [];
  const run = (kind: Kind, fn: () => AcdEffect[]): void => {
    const d = elapsed(clock, () => {
      effects = fn();
    });
    lat[n++] = d;
    coreMs += d;
    // Ticks that hand a call to an agent (wrap-up ends, mostly) apart from announcements and steps.
    const k = perKind.get(kind === 'tick' && effects.some((e) => e.type === 'offer') ? 'tick+offer' : kind)!;
    k.lat[k.n++] = d;
    world.apply(effects);
  };
  while (n < events) {
    now += 1 + Math.floor(rand() * 3);
    const deadline = acd.nextDeadline();
    if (deadline !== null && deadline <= now) {
      run('tick', () => acd.tick(now));
      continue;
    }
    const r = rand();
    if (r < (world.waiting.size < WAITING ? 0.3 : 0.2)) {
      const id = `c${nextId++}`;
      const vip = rand() < 0.05;
      const pref = rand() < 0.02 ? `agent${Math.floor(rand() * AGENTS)}` : undefined;
      const input = { id, queueId: `q${Math.floor(rand() * SKILLS)}`, callerNumber: `+4930${nextId % 50_000}`, priority: vip ? 1 : 0, preferredAgentId: pref };
      world.waiting.add(id);
      run('enqueue', () => acd.enqueue(input, now));
    } else if (r < 0.46) {
      // A ringing call is answered, or (1 in 26) rejected and back in the queue.
      const id = world.offered.pick(rand);
      if (id === undefined) continue;
      const answered = r < 0.45;
      world.offered.delete(id);
      (answered ? world.talking : world.waiting).add(id);
      if (answered) run('answer', () => acd.offerAnswered(id, now));
      else run('reject', () => acd.offerRejected(id, now));
    } else if (r < 0.62) {
      const id = world.talking.pick(rand);
      if (id === undefined) continue;
      run('end', () => acd.callEnded(id, now));
    } else if (r < 0.7) {
      const id = world.waiting.pick(rand);
      if (id === undefined) continue;
      run('abandon', () => acd.abandon(id, now));
    } else if (r < 0.72) {
      const id = world.waiting.pick(rand);
      if (id === undefined) continue;
      const to = `q${Math.floor(rand() * SKILLS)}`;
      run('transfer', () => acd.transfer(id, to, now));
    } else if (r < 0.8) {
      // Breaks: about 5% of the agents are not ready at any time (rejects send agents there too).
      const back = world.notReady.size > AGENTS * 0.05 || (world.notReady.size > 0 && rand() < 0.5);
      const agent = back ? world.notReady.pick(rand)! : `agent${Math.floor(rand() * AGENTS)}`;
      const status: AgentStatus = back ? 'available' : 'notReady';
      run('status', () => acd.setAgentStatus(agent, status, back ? null : 'break', now));
    } else if (r < 0.81) {
      const task = { id: `w${nextId++}`, queueId: `q${Math.floor(rand() * SKILLS)}`, callerNumber: `+4930${Math.floor(rand() * 50_000)}`, arrivalTime: now - 60_000 };
      run('callback', () => acd.addCallback(task, now));
    } else {
      const queueId = `q${Math.floor(rand() * SKILLS)}`;
      run('ewt', () => {
        acd.estimatedWait(queueId, now);
        return [];
      });
    }
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;

  const sorted = lat.sort();
  const snap = acd.snapshot(now);
  const waitingEnd = snap.queues.reduce((s, x) => s + x.waiting + x.callbacksWaiting, 0);
  if (verbose) {
    for (const [k, v] of perKind) {
      const ks = v.lat.subarray(0, v.n).sort();
      let slow = 0;
      for (let i = 0; i < v.n; i++) if (ks[i]! > 0.01) slow++;
      say(`  ${k.padEnd(9)} n=${String(v.n).padStart(7)}  p50 ${qns(ks, v.n, 0.5).toFixed(0)} ns  p99 ${qns(ks, v.n, 0.99).toFixed(0)} ns  p99.9 ${qns(ks, v.n, 0.999).toFixed(0)} ns  >10us: ${slow}`);
    }
    say(`end: ${waitingEnd} waiting; agents ${JSON.stringify(snap.agentsByState)} ${JSON.stringify(snap.agentsByStatus)}`);
  }
  return {
    p50: qns(sorted, n, 0.5),
    p99: qns(sorted, n, 0.99),
    p999: qns(sorted, n, 0.999),
    max: sorted[n - 1]! * 1e6,
    eventsPerS: n / (coreMs / 1000),
    loopEventsPerS: n / (wallMs / 1000),
    cpuEventsPerS: n / (cpuMs / 1000),
    bytesPerCall,
    waitingEnd,
  };
}

export async function main(args: string[]): Promise<void> {
  const arg = (name: string, d: number): number => {
    const i = args.indexOf(name);
    return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : d;
  };
  const events = arg('--events', 200_000);
  const runs = arg('--runs', 3);
  const seed = arg('--seed', 42);
  const clock: Clock = args.includes('--cpu-clock') ? 'cpu' : 'wall';
  const gc = gcFunction();
  say(`acd bench: ${AGENTS} agents, ${SKILLS} skills, ${WAITING} waiting callers, ${events} events x ${runs} runs, seed ${seed}, ${clock} clock; ${machine()}`);

  // Cost of the measurement itself: two clock reads around nothing.
  const probe = new Float64Array(100_000);
  for (let i = 0; i < probe.length; i++) probe[i] = elapsed(clock, () => undefined);
  const clockNs = qns(probe.sort(), probe.length, 0.5);

  const results: RunResult[] = [];
  for (let r = 0; r < runs; r++) {
    const res = runOnce(seed + r, events, gc, r === 0, clock);
    results.push(res);
    say(`run ${r + 1}: p50 ${res.p50.toFixed(0)} ns, p99 ${res.p99.toFixed(0)} ns, p99.9 ${res.p999.toFixed(0)} ns, max ${(res.max / 1e3).toFixed(0)} us; ` +
      `${res.eventsPerS.toFixed(0)} events/s core, ${res.loopEventsPerS.toFixed(0)} with harness, ${res.cpuEventsPerS.toFixed(0)} per CPU-s; ${res.bytesPerCall.toFixed(0)} B/call`);
  }
  const med = (f: (r: RunResult) => number): number => median(results.map(f));
  const common = {
    events, runs, seed, agents: AGENTS, skills: SKILLS, waiting: WAITING, stat: 'median of runs', clock,
    loadavg_1m: Number(os.loadavg()[0]!.toFixed(2)), machine: machine(),
  };
  const out = (metric: string, value: number, unit: string): void => emit({ bench: 'acd', metric, value: Math.round(value), unit, ...common });
  out('decision_p50_ns', med((r) => r.p50), 'ns');
  out('decision_p99_ns', med((r) => r.p99), 'ns');
  out('decision_p999_ns', med((r) => r.p999), 'ns');
  out('decision_max_ns', med((r) => r.max), 'ns');
  out('events_per_s', med((r) => r.eventsPerS), 'events/s');
  out('loop_events_per_s', med((r) => r.loopEventsPerS), 'events/s');
  out('cpu_events_per_s', med((r) => r.cpuEventsPerS), 'events/s');
  out('clock_overhead_ns', clockNs, 'ns');
  // Memory from the first run only: later runs start with the previous run's heap being reclaimed,
  // which can make the difference come out negative.
  emit({ bench: 'acd', metric: 'bytes_per_waiting_call', value: Math.round(results[0]!.bytesPerCall), unit: 'B', ...common, stat: 'first run' });
  say(`median of ${runs}: p50 ${med((r) => r.p50).toFixed(0)} ns, p99 ${med((r) => r.p99).toFixed(0)} ns, p99.9 ${med((r) => r.p999).toFixed(0)} ns; ` +
    `${med((r) => r.eventsPerS).toFixed(0)} events/s; ${results[0]!.bytesPerCall.toFixed(0)} B per waiting call; clock read ${clockNs.toFixed(0)} ns; load ${os.loadavg()[0]!.toFixed(1)}`);
}
