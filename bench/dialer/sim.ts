/**
 * A seeded simulation of an outbound floor, for `npm run bench -- dialer` and its test: agents,
 * customers who answer or not, talk and wrap-up, and a dialing rule. The predictive rule is the
 * engine's own `PredictivePacer` (engine/callbacks), so the figures are the engine's pacing.
 *
 * ```
 * every 100 ms:  handles that ended ─▶ agents idle ─▶ held customers (FIFO) get them
 *                customers answering ─▶ an idle agent, else "please hold" (held)
 *                held longer than 2 s ─▶ dialer abandon
 *                the rule says how many to dial ─▶ new customer calls
 * ```
 *
 * Customers: answer with probability `answerRate` after 3-15 s; the others are busy within 1-3 s
 * (30 %) or ring out at 25 s. Talk: log-normal, mean 120 s, sd 60 s; wrap-up 10 s.
 */
import { PredictivePacer, type PacingSettings } from '../../engine/callbacks/index.ts';
import { seededRandom } from '../lib.ts';

/** One simulated shift. */
export interface SimOptions {
  agents: number;
  answerRate: number;
  seed: number;
  /** `predictive`: the pacer; `progressive`: each idle agent dials one customer and waits. */
  mode: 'predictive' | 'progressive';
  /** Simulated minutes measured, after `warmupMinutes`. */
  minutes?: number;
  warmupMinutes?: number;
  pacing?: Partial<PacingSettings>;
}

/** What a shift measured (after the warm-up). */
export interface SimResult {
  /** Agent time handling customers (talk + wrap-up) over logged-in agent time. */
  occupancy: number;
  /** Answered customers with no agent within 2 s, over answered customers. */
  abandonRatio: number;
  answered: number;
  abandoned: number;
  dialled: number;
}

const TICK = 100;
const HOLD_LIMIT_MS = 2_000;
const WRAP_MS = 10_000;

interface Customer { dialledAt: number; endsAt: number; answers: boolean; agent: number }

/** Run one shift. Pure CPU, deterministic for a seed. */
export function simulate(o: SimOptions): SimResult {
  const rnd = seededRandom(o.seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  // Log-normal with mean 120 s and sd 60 s.
  const sigma2 = Math.log(1 + (60 / 120) ** 2);
  const mu = Math.log(120_000) - sigma2 / 2;
  const talk = (): number => Math.exp(mu + Math.sqrt(sigma2) * normal());
  const pacer = new PredictivePacer(o.pacing);
  const warm = (o.warmupMinutes ?? 10) * 60_000;
  const end = warm + (o.minutes ?? 60) * 60_000;
  const busyUntil = new Array<number>(o.agents).fill(0);
  const busyFrom = new Array<number>(o.agents).fill(0);
  /** -1 idle; 0 handling; 1 reserved (progressive: waiting for its customer). */
  const state = new Array<number>(o.agents).fill(-1);
  let calls: Customer[] = [];
  let held: number[] = [];
  let busyMs = 0;
  let answered = 0;
  let abandoned = 0;
  let dialled = 0;

  const dial = (now: number, agent: number): void => {
    const answers = rnd() < o.answerRate;
    const endsAt = now + (answers ? 3_000 + rnd() * 12_000 : rnd() < 0.3 ? 1_000 + rnd() * 2_000 : 25_000);
    calls.push({ dialledAt: now, endsAt, answers, agent });
    if (now >= warm) dialled++;
  };
  const startHandle = (now: number, agent: number): void => {
    state[agent] = 0;
    busyFrom[agent] = now;
    busyUntil[agent] = now + talk() + WRAP_MS;
  };
  const count = (now: number, abandon: boolean): void => {
    pacer.answeredCustomer(now, abandon);
    if (now < warm) return;
    answered++;
    if (abandon) abandoned++;
  };
  const idleAgent = (): number => state.indexOf(-1);

  for (let now = 0; now < end; now += TICK) {
    for (let a = 0; a < o.agents; a++) {
      if (state[a] !== 0 || busyUntil[a]! > now) continue;
      pacer.handleEnded(busyUntil[a]! - busyFrom[a]!);
      if (now >= warm) busyMs += busyUntil[a]! - Math.max(busyFrom[a]!, warm);
      state[a] = -1;
    }
    held = held.filter((at) => {
      if (now - at > HOLD_LIMIT_MS) {
        count(now, true);
        return false;
      }
      const a = idleAgent();
      if (a < 0) return true;
      startHandle(now, a);
      count(now, false);
      return false;
    });
    const still: Customer[] = [];
    for (const c of calls) {
      if (c.endsAt > now) {
        still.push(c);
        continue;
      }
      pacer.attemptEnded(c.answers, c.endsAt - c.dialledAt);
      if (c.agent >= 0) {
        // Progressive: the agent waited for this customer.
        if (c.answers) {
          startHandle(now, c.agent);
          count(now, false);
        } else {
          state[c.agent] = -1;
        }
      } else if (c.answers) {
        const a = idleAgent();
        if (a >= 0) {
          startHandle(now, a);
          count(now, false);
        } else {
          held.push(now);
        }
      }
    }
    calls = still;
    if (o.mode === 'progressive') {
      for (let a = 0; a < o.agents; a++) {
        if (state[a] !== -1) continue;
        state[a] = 1;
        dial(now, a);
      }
      continue;
    }
    const busySince: number[] = [];
    let idle = 0;
    for (let a = 0; a < o.agents; a++) {
      if (state[a] === 0) busySince.push(busyFrom[a]!);
      else idle++;
    }
    const n = pacer.dials({ now, agentsLoggedIn: o.agents, agentsIdle: idle, busySince, dialing: calls.length, held: held.length });
    for (let i = 0; i < n; i++) dial(now, -1);
  }
  // Handles still running at the end count up to the end.
  for (let a = 0; a < o.agents; a++) if (state[a] === 0) busyMs += Math.min(busyUntil[a]!, end) - Math.max(busyFrom[a]!, warm);
  return {
    occupancy: busyMs / (o.agents * (end - warm)),
    abandonRatio: answered === 0 ? 0 : abandoned / answered,
    answered, abandoned, dialled,
  };
}
