/**
 * Property tests: random event sequences against the invariants of issue 3, checked after every
 * event (and every tick) with a small reference model built from the inputs and the effects.
 */
import t from 'tap';
import fc from 'fast-check';
import { Acd } from './index.ts';
import type { AcdConfig, AcdEffect, AgentStatus, CallView, QueueConfig } from './index.ts';

const SKILLS = ['s0', 's1', 's2', 's3'];
const QUEUES: QueueConfig[] = [
  { id: 'q0', skill: 's0', ringTimeoutMs: 8000, abandonToCallback: true, callbackShare: 0.3, preferredAgentTimeoutMs: 3000,
    announcePeriodMs: 4000, expansion: [{ afterMs: 5000, add: [{ skill: 's1', minLevel: 1 }] }] },
  { id: 'q1', skill: 's1', minLevel: 3, strategy: 'skillLevel', wrapUpMs: 2000, weight: 2, maxWaitMs: 20_000, maxWaitQueueId: 'q2',
    expansion: [{ afterMs: 3000, add: [{ skill: 's1', minLevel: 1 }] }, { queueLengthAtLeast: 3, add: [{ skill: 's2', minLevel: 1 }] }] },
  { id: 'q2', skill: 's2', strategy: 'roundRobin', maxLength: 4, fullOverflowQueueId: 'q0', abandonToCallback: true, ringTimeoutMs: 5000 },
  { id: 'q3', skill: 's3', strategy: 'leastCalls', maxWaitMs: 15_000, initialHandleTimeMs: 50_000, wrapUpMs: 1000,
    admission: { callbackAboveMs: 40_000, overflowAboveMs: 120_000, overflowQueueId: 'q0' } },
];

type Ev =
  | { k: 'arrive'; q: number; prio: number; num: number; pref: number }
  | { k: 'advance'; ms: number }
  | { k: 'answer' | 'reject' | 'noAnswer' | 'abandon' | 'end' | 'acceptCallback' | 'unreached' | 'sent' | 'ringing' | 'undelivered'; pick: number }
  | { k: 'transfer'; pick: number; q: number }
  | { k: 'status'; agent: number; status: AgentStatus }
  | { k: 'skills'; agent: number; skills: Record<string, number> }
  | { k: 'callback'; q: number; num: number; back: number; prio: number }
  | { k: 'stale'; pick: number };

const evArb: fc.Arbitrary<Ev> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('arrive' as const), q: fc.nat(3), prio: fc.nat(2), num: fc.nat(7), pref: fc.integer({ min: -3, max: 5 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 12_000 }) }) },
  { weight: 5, arbitrary: fc.record({ k: fc.constantFrom('answer' as const, 'end' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constantFrom('reject' as const, 'noAnswer' as const, 'abandon' as const, 'acceptCallback' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('transfer' as const), pick: fc.nat(), q: fc.nat(3) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('unreached' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constantFrom('sent' as const, 'ringing' as const, 'undelivered' as const), pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('status' as const), agent: fc.nat(5), status: fc.constantFrom<AgentStatus>('available', 'available', 'notReady', 'loggedOut') }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('skills' as const), agent: fc.nat(5),
    skills: fc.dictionary(fc.constantFrom(...SKILLS), fc.integer({ min: 1, max: 5 }), { minKeys: 0, maxKeys: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('callback' as const), q: fc.nat(3), num: fc.nat(7), back: fc.nat(20_000), prio: fc.nat(2) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('stale' as const), pick: fc.nat() }) },
);

const agentsArb = fc.array(
  fc.dictionary(fc.constantFrom(...SKILLS), fc.integer({ min: 1, max: 5 }), { minKeys: 1, maxKeys: 3 }),
  { minLength: 6, maxLength: 6 },
);

/** Cumulative (skill, minLevel) targets of a queue up to a step, from the configuration alone. */
function targets(queueId: string, step: number): { skill: string; minLevel: number }[] {
  const qc = QUEUES.find((q) => q.id === queueId)!;
  const out = [{ skill: qc.skill ?? qc.id, minLevel: qc.minLevel ?? 1 }];
  for (let i = 0; i < step; i++) out.push(...qc.expansion![i]!.add);
  return out;
}

function eligible(call: CallView, agentId: string, skills: Record<string, number>): boolean {
  if (call.preferredOnly) return call.preferredAgentId === agentId;
  return targets(call.queueId, call.step).some((t) => (skills[t.skill] ?? 0) >= t.minLevel);
}

/** Call a comes before call b in its queue (equal priority and kind assumed). */
function fifoAhead(a: CallView, b: CallView): boolean {
  if (a.returnedToHead !== b.returnedToHead) return a.returnedToHead;
  return a.arrivalTime < b.arrivalTime;
}

class Harness {
  readonly acd: Acd;
  now = 0;
  readonly ids: string[] = [];
  readonly known = new Set<string>();
  readonly ended = new Map<string, number>();
  readonly assigned = new Map<string, string>(); // callId -> agentId (ringing or talking)
  /** `callId:agentId` of offers whose phone confirmed ringing. */
  readonly rang = new Set<string>();
  readonly agentCall = new Map<string, string>();
  readonly arrival = new Map<string, number>(); // expected arrival time of every live entry
  readonly callbackByNumber = new Map<string, string>();
  readonly numberOf = new Map<string, string>();
  nextId = 0;
  failures: string[] = [];

  /** Each agent's current skills (a `skills` event replaces one); a copy, so runs never share it. */
  readonly agentSkills: Record<string, number>[];

  constructor(initialSkills: Record<string, number>[]) {
    this.agentSkills = initialSkills.map((s) => ({ ...s }));
    const config: AcdConfig = { queues: QUEUES, agents: this.agentSkills.map((skills, i) => ({ id: `a${i}`, skills })) };
    this.acd = new Acd(config);
  }

  private fail(msg: string): void {
    if (this.failures.length < 5) this.failures.push(`t=${this.now}: ${msg}`);
  }

  live(): CallView[] {
    const out: CallView[] = [];
    for (const id of this.known) {
      const v = this.acd.inspectCall(id);
      if (v !== undefined) out.push(v);
    }
    return out;
  }

  pick(n: number, pred: (c: CallView) => boolean): CallView | undefined {
    const c = this.live().filter(pred);
    return c.length === 0 ? undefined : c[n % c.length];
  }

  /** Apply one batch of effects to the model, checking the per-effect invariants. */
  apply(effects: AcdEffect[], before: Map<string, CallView>): void {
    for (const e of effects) {
      switch (e.type) {
        case 'offer': {
          if (this.assigned.has(e.callId)) this.fail(`${e.callId} offered to ${e.agentId} while with ${this.assigned.get(e.callId)}`);
          if (this.agentCall.has(e.agentId)) this.fail(`${e.agentId} offered ${e.callId} while it has ${this.agentCall.get(e.agentId)}`);
          this.assigned.set(e.callId, e.agentId);
          this.agentCall.set(e.agentId, e.callId);
          this.rang.delete(`${e.callId}:${e.agentId}`);
          this.checkFifo(e.callId, before);
          break;
        }
        case 'cancelOffer':
          this.release(e.callId);
          break;
        case 'callbackCreated': {
          this.known.add(e.callId);
          this.numberOf.set(e.callId, e.callerNumber);
          this.callbackByNumber.set(e.callerNumber, e.callId);
          if (e.fromCallId !== null) {
            const orig = this.arrival.get(e.fromCallId);
            if (orig !== e.arrivalTime) this.fail(`callback ${e.callId} arrival ${e.arrivalTime} != caller's ${orig}`);
          }
          this.arrival.set(e.callId, e.arrivalTime);
          break;
        }
        case 'ended': {
          const n = (this.ended.get(e.callId) ?? 0) + 1;
          this.ended.set(e.callId, n);
          if (n > 1) this.fail(`${e.callId} ended twice`);
          this.release(e.callId);
          const num = this.numberOf.get(e.callId);
          if (num !== undefined && this.callbackByNumber.get(num) === e.callId) this.callbackByNumber.delete(num);
          break;
        }
        default:
          break;
      }
    }
  }

  release(callId: string): void {
    const a = this.assigned.get(callId);
    if (a !== undefined) this.agentCall.delete(a);
    this.assigned.delete(callId);
  }

  /** FIFO: no call of the same queue, kind, priority and eligibility, waiting throughout, was ahead. */
  checkFifo(callId: string, before: Map<string, CallView>): void {
    const xb = before.get(callId);
    const x = this.acd.inspectCall(callId);
    if (xb === undefined || x === undefined || xb.preferredOnly || xb.state !== 'waiting') return;
    // Re-entered a queue within the batch (overflow, max wait): it was not waiting throughout.
    if (xb.queueId !== x.queueId || xb.enteredAt !== x.enteredAt) return;
    for (const yb of before.values()) {
      if (yb.id === callId || yb.state !== 'waiting' || yb.preferredOnly) continue;
      const y = this.acd.inspectCall(yb.id);
      if (y === undefined || y.state !== 'waiting' || y.queueId !== x.queueId || y.kind !== x.kind || y.priority !== x.priority) continue;
      if (y.step !== yb.step || y.step !== x.step || y.enteredAt !== yb.enteredAt || y.preferredOnly) continue;
      if (fifoAhead(y, x)) this.fail(`FIFO: ${x.id} offered before ${y.id}`);
    }
  }

  /** Invariants on the whole state after a batch. */
  checkState(): void {
    const calls = this.live();
    const waiting = calls.filter((c) => c.state === 'waiting');
    for (let i = 0; i < this.agentSkills.length; i++) {
      const id = `a${i}`;
      const a = this.acd.inspectAgent(id)!;
      const modelCall = this.agentCall.get(id);
      if (a.state === 'reserved' && (a.callId === null || modelCall !== a.callId)) this.fail(`${id} reserved for ${a.callId}, model says ${modelCall}`);
      if (a.state === 'idle' && a.status === 'available') {
        for (const c of waiting) if (eligible(c, id, this.agentSkills[i]!)) this.fail(`${c.id} waits while eligible ${id} is idle`);
      }
    }
    const holders = new Map<string, string>();
    for (let i = 0; i < this.agentSkills.length; i++) {
      const a = this.acd.inspectAgent(`a${i}`)!;
      if (a.callId === null) continue;
      if (holders.has(a.callId)) this.fail(`${a.callId} held by ${holders.get(a.callId)} and a${i}`);
      holders.set(a.callId, `a${i}`);
    }
    // Snapshot figures kept incrementally must match a recount.
    for (const qs of this.acd.snapshot(this.now).queues) {
      // Staffed / idle of the queue's own pool, recounted from the agents' current skills.
      const own = targets(qs.queueId, 0)[0]!;
      let staffed = 0;
      let idle = 0;
      for (let i = 0; i < this.agentSkills.length; i++) {
        const a = this.acd.inspectAgent(`a${i}`)!;
        if (a.status !== 'available' || (this.agentSkills[i]![own.skill] ?? 0) < own.minLevel) continue;
        staffed++;
        if (a.state === 'idle') idle++;
      }
      if (qs.staffed !== staffed || qs.idle !== idle) this.fail(`${qs.queueId}: staffed ${qs.staffed} idle ${qs.idle}, recount ${staffed} / ${idle}`);
      const mine = waiting.filter((c) => c.queueId === qs.queueId);
      const oldest = mine.length === 0 ? 0 : Math.max(0, this.now - Math.min(...mine.map((c) => c.arrivalTime)));
      const live = mine.filter((c) => c.kind === 'call').length;
      if (qs.oldestWaitMs !== oldest || qs.waiting !== live || qs.callbacksWaiting !== mine.length - live) {
        this.fail(`snapshot of ${qs.queueId}: ${JSON.stringify(qs)} vs oldest ${oldest}, live ${live}, all ${mine.length}`);
      }
    }
    for (const c of calls) {
      if (this.arrival.get(c.id) !== c.arrivalTime) this.fail(`${c.id} arrival ${c.arrivalTime}, expected ${this.arrival.get(c.id)}`);
      if ((c.state === 'offered' || c.state === 'talking') && this.assigned.get(c.id) !== c.agentId) this.fail(`${c.id} with ${c.agentId}, model ${this.assigned.get(c.id)}`);
    }
  }

  snapshotViews(): Map<string, CallView> {
    const m = new Map<string, CallView>();
    for (const c of this.live()) m.set(c.id, c);
    return m;
  }

  run(fn: () => AcdEffect[], after?: (effects: AcdEffect[]) => void): void {
    const before = this.snapshotViews();
    const effects = fn();
    this.apply(effects, before);
    after?.(effects);
    this.checkState();
  }

  /** Advance the clock to `to`, ticking at every deadline on the way (one batch per deadline). */
  advance(to: number): void {
    for (;;) {
      const d = this.acd.nextDeadline();
      if (d === null || d > to) break;
      this.now = Math.max(this.now, d);
      this.run(() => this.acd.tick(this.now), (effects) => this.checkRingTimeouts(effects));
    }
    this.now = to;
  }

  /**
   * A ring timeout sets the agent not-ready for ring-no-answer only when its phone had rung for
   * that offer; a late offer (never confirmed ringing) leaves the agent's status alone once.
   */
  checkRingTimeouts(effects: AcdEffect[]): void {
    for (const e of effects) {
      if (e.type !== 'cancelOffer' || e.reason !== 'ringTimeout') continue;
      const a = this.acd.inspectAgent(e.agentId)!;
      const rang = this.rang.has(`${e.callId}:${e.agentId}`);
      if (!rang && a.reason === 'ringNoAnswer' && a.status === 'notReady') this.fail(`late offer ${e.callId} set ${e.agentId} not-ready for ring-no-answer`);
      if (rang && a.status === 'available' && a.state === 'idle') this.fail(`ring-no-answer of ${e.callId} left ${e.agentId} available`);
    }
    const offered = this.live().filter((c) => c.state === 'offered').length;
    const pending = this.acd.offersPendingSend();
    if (pending < 0 || pending > offered) this.fail(`${pending} offers pending send, ${offered} offered`);
  }

  /**
   * An unreached callback ends 'unreached', its agent is idle or offered the next call (never in
   * wrap-up), and its status is the one it had or asked for (the system never sets not-ready here).
   */
  checkUnreached(c: CallView, effects: AcdEffect[]): void {
    const ends = effects.filter((e) => e.type === 'ended' && e.callId === c.id);
    if (ends.length !== 1 || ends[0]!.type !== 'ended' || ends[0]!.outcome !== 'unreached') this.fail(`unreached ${c.id}: ${JSON.stringify(ends)}`);
    const a = this.acd.inspectAgent(c.agentId!)!;
    if (a.state === 'wrapUp' || a.state === 'onCall') this.fail(`unreached ${c.id}: agent ${a.id} is ${a.state}`);
    if (a.status === 'notReady' && a.reason !== 'test') this.fail(`unreached ${c.id}: agent ${a.id} set not-ready (${a.reason})`);
  }

  /** A live caller or callback that merged into an existing task lowers its expected arrival. */
  foldInto(number: string, arrival: number): void {
    const cb = this.callbackByNumber.get(number);
    if (cb === undefined) return;
    const cur = this.arrival.get(cb)!;
    if (arrival < cur) this.arrival.set(cb, arrival);
  }

  /** A departed caller whose callback was deduplicated folds its arrival into the existing task. */
  foldAbandoned(c: CallView, accepted: boolean, effects: AcdEffect[]): void {
    const toCallback = accepted || QUEUES.find((q) => q.id === c.queueId)?.abandonToCallback === true;
    if (c.kind === 'call' && toCallback && !effects.some((e) => e.type === 'callbackCreated')) {
      this.foldInto(c.callerNumber, c.arrivalTime);
    }
  }

  step(ev: Ev): void {
    const acd = this.acd;
    const now = this.now;
    switch (ev.k) {
      case 'advance':
        this.advance(now + ev.ms);
        return;
      case 'arrive': {
        const id = `c${this.nextId++}`;
        const number = `+${ev.num}`;
        this.run(() => acd.enqueue({ id, queueId: QUEUES[ev.q]!.id, callerNumber: number, priority: ev.prio,
          ...(ev.pref >= 0 ? { preferredAgentId: `a${ev.pref}` } : {}) }, now), () => {
          this.known.add(id);
          this.numberOf.set(id, number);
          this.arrival.set(id, now);
        });
        return;
      }
      case 'callback': {
        const id = `w${this.nextId++}`;
        const number = `+${ev.num}`;
        const arrivalTime = now - ev.back;
        this.known.add(id);
        this.numberOf.set(id, number);
        this.run(() => acd.addCallback({ id, queueId: QUEUES[ev.q]!.id, callerNumber: number, arrivalTime, priority: ev.prio }, now), (effects) => {
          if (effects.some((e) => e.type === 'ended' && e.callId === id && e.outcome === 'merged')) this.foldInto(number, arrivalTime);
          else this.arrival.set(id, arrivalTime);
        });
        return;
      }
      case 'status':
        this.run(() => acd.setAgentStatus(`a${ev.agent}`, ev.status, 'test', now));
        return;
      case 'skills':
        this.run(() => {
          this.agentSkills[ev.agent] = ev.skills;
          return acd.setAgentSkills(`a${ev.agent}`, ev.skills, now);
        }, (effects) => {
          if (effects.some((e) => e.type === 'error')) this.fail(`skills of a${ev.agent} refused: ${JSON.stringify(effects)}`);
          const a = acd.inspectAgent(`a${ev.agent}`)!;
          if (JSON.stringify(a.skills) !== JSON.stringify(ev.skills)) this.fail(`a${ev.agent} skills ${JSON.stringify(a.skills)}`);
        });
        return;
      case 'stale': {
        const ended = [...this.ended.keys()];
        const id = ended.length === 0 ? 'nothing' : ended[ev.pick % ended.length]!;
        this.run(() => acd.offerAnswered(id, now), (effects) => {
          if (effects.length !== 1 || effects[0]!.type !== 'error') this.fail(`stale answer of ${id} was not refused`);
        });
        return;
      }
      case 'transfer': {
        const c = this.pick(ev.pick, () => true);
        if (c === undefined) return;
        this.run(() => {
          this.release(c.id); // the input itself frees the agent; effects may then re-offer the call
          return acd.transfer(c.id, QUEUES[ev.q]!.id, now);
        });
        return;
      }
      default: {
        const wanted: Record<typeof ev.k, (c: CallView) => boolean> = {
          answer: (c) => c.state === 'offered',
          reject: (c) => c.state === 'offered',
          noAnswer: (c) => c.state === 'offered',
          end: (c) => c.state === 'talking',
          abandon: (c) => c.state === 'waiting' || c.state === 'offered',
          acceptCallback: (c) => c.kind === 'call' && c.state === 'waiting',
          unreached: (c) => c.kind === 'callback' && (c.state === 'offered' || c.state === 'talking'),
          sent: (c) => c.state === 'offered',
          ringing: (c) => c.state === 'offered',
          undelivered: (c) => c.state === 'offered',
        };
        const c = this.pick(ev.pick, wanted[ev.k]);
        if (c === undefined) return;
        this.run(() => {
          switch (ev.k) {
            case 'answer': return acd.offerAnswered(c.id, now);
            case 'reject': this.release(c.id); return acd.offerRejected(c.id, now);
            case 'noAnswer': this.release(c.id); return acd.offerTimedOut(c.id, now);
            case 'end': return acd.callEnded(c.id, now);
            case 'abandon': return acd.abandon(c.id, now);
            case 'acceptCallback': return acd.acceptCallback(c.id, now);
            case 'unreached': return acd.callbackUnreached(c.id, now);
            case 'sent': return acd.offerSent(c.id, now);
            case 'ringing': this.rang.add(`${c.id}:${c.agentId}`); return acd.offerRinging(c.id, now);
            case 'undelivered': this.release(c.id); return acd.offerUndelivered(c.id, now);
          }
        }, (effects) => {
          if (effects.some((e) => e.type === 'error')) this.fail(`${ev.k} ${c.id} refused: ${JSON.stringify(effects)}`);
          if (ev.k === 'unreached') this.checkUnreached(c, effects);
          if (ev.k === 'acceptCallback' || ev.k === 'abandon') this.foldAbandoned(c, ev.k === 'acceptCallback', effects);
        });
      }
    }
  }

  /** End everything still in the core; afterwards every id must have exactly one terminal outcome. */
  drain(): void {
    for (let round = 0; round < 50; round++) {
      const calls = this.live();
      if (calls.length === 0) break;
      for (const c of calls) {
        const v = this.acd.inspectCall(c.id);
        if (v === undefined) continue;
        if (v.state === 'talking') this.run(() => this.acd.callEnded(c.id, this.now));
        else this.run(() => this.acd.abandon(c.id, this.now), (effects) => this.foldAbandoned(v, false, effects));
      }
    }
    for (const id of this.known) {
      const n = this.ended.get(id) ?? 0;
      if (n !== 1) this.fail(`${id} has ${n} terminal outcomes`);
    }
    if (this.acd.size !== 0) this.fail(`${this.acd.size} calls left after drain`);
  }
}

t.test('invariants hold after every event of random sequences', async (t) => {
  let runs = 0;
  fc.assert(
    fc.property(agentsArb, fc.array(evArb, { minLength: 1, maxLength: 150, size: 'max' }), (skills, events) => {
      runs++;
      const h = new Harness(skills);
      for (let i = 0; i < 6; i++) h.run(() => h.acd.agentLoggedIn(`a${i}`, 0));
      for (const ev of events) {
        h.step(ev);
        if (h.failures.length > 0) break;
      }
      if (h.failures.length === 0) h.drain();
      if (h.failures.length > 0) throw new Error(h.failures.join('\n'));
    }),
    { numRuns: Number(process.env.ACD_PROPERTY_RUNS ?? 300), seed: process.env.ACD_SEED ? Number(process.env.ACD_SEED) : undefined },
  );
  t.ok(runs > 0, `${runs} random sequences checked`);
});

t.test('the core is deterministic: the same inputs give the same effects', async (t) => {
  fc.assert(
    fc.property(agentsArb, fc.array(evArb, { minLength: 1, maxLength: 80, size: 'max' }), (skills, events) => {
      const logs: string[] = [];
      for (let round = 0; round < 2; round++) {
        const h = new Harness(skills);
        const log: AcdEffect[] = [];
        const run = h.run.bind(h);
        h.run = (fn, after) => run(() => {
          const effects = fn();
          log.push(...effects);
          return effects;
        }, after);
        for (let i = 0; i < 6; i++) h.run(() => h.acd.agentLoggedIn(`a${i}`, 0));
        for (const ev of events) h.step(ev);
        logs.push(JSON.stringify(log));
      }
      return logs[0] === logs[1];
    }),
    { numRuns: 50 },
  );
  t.pass('two runs of each sequence matched');
});
