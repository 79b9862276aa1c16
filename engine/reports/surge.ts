/**
 * Surge mode from the broadcast schedule (issue 18). For each airing of a programme with surge
 * settings, the window [start − leadMinutes, end + tail) switches the programme's back-office
 * agents into its order queue (the queue's skill added at a level); campaigns pause while any
 * surge is on; after the window everything goes back to the agents' configured skills.
 *
 * ```
 *  schedule ─▶ surgeWindows() ─▶ isOn(window, now, holds) ─▶ desiredSkills ─diff─▶ SkillsPort.setSkills(agent, skills)
 *                     │          manual holds (API) ─┘                        └──▶ SurgeEvent (event stream, audit)
 *                     └─ the timer is armed at the next window edge (no polling)
 * ```
 * The rule (which windows are on, which skills an agent gets) is pure and shared by the test's
 * fake port; the port itself is contract C3 (`{ setSkills(agentId, skills) }`), wired by the lead
 * to the ACD's runtime skills.
 *
 * Manual override (docs/reports.md): `start` or `stop` on a target (an airing, a queue: every
 * programme surging into it, or everything) sets a hold that applies at once and stays against the
 * schedule until `release`d. For each window the latest hold whose target covers it decides: `off`
 * keeps it off even inside its window; `on` keeps it on after its window (a queue's or everything's
 * `on` switches one window per programme: the one on now, else the next, else the last). A window
 * no hold covers follows the schedule. `release` removes the holds set on the same target (no
 * target: every hold).
 */
import type { Clock, TimerHandle } from '../clock/index.ts';
import { SCHEDULE_ERRORS, type Airing, type Programme, type ScheduleResult } from './schedule.ts';

/** Contract C3: replace an agent's skills at run time. */
export interface SkillsPort {
  setSkills(agentId: string, skills: Record<string, number>): void;
}

/** One surge window of one airing. */
export interface SurgeWindow {
  airing: string;
  programme: string;
  /** The order queue the programme surges into. */
  queue: string;
  from: number;
  to: number;
  skill: string;
  level: number;
  agents: readonly string[];
}

/** What caused a switch: the schedule (a window edge, a schedule change) or a manual override (API). */
export type SurgeReason = 'schedule' | 'override';

/** What a manual hold covers: one airing, every programme surging into a queue, or (both null) everything. */
export interface SurgeTarget {
  airing: string | null;
  queue: string | null;
}

/** A manual hold (API `POST /api/v1/surge`): on or off against the schedule until released. */
export interface SurgeHold extends SurgeTarget {
  state: 'on' | 'off';
  at: number;
  /** Who set it, and why (their words). */
  by: string;
  note: string;
}

/** A switch of surge mode (the event stream's `surge` event, and the audit). */
export interface SurgeEvent {
  type: 'surge';
  at: number;
  /** On: an airing's surge began; off: it ended. */
  state: 'on' | 'off';
  /** The airing switched (null: only agents changed, e.g. a programme's agent list was edited). */
  airing: string | null;
  programme: string | null;
  queue: string | null;
  /** Agents whose skills changed with this switch. */
  agents: string[];
  reason: SurgeReason;
  /** On: when the surge ends by the schedule (epoch ms); null when it is held on until released, and for off. */
  until: number | null;
  /** Campaigns are paused after this switch. */
  campaignsPaused: boolean;
}

/** One airing's surge in force (API `GET /api/v1/surge`, wallboard). */
export interface ActiveSurge {
  airing: string;
  programme: string;
  queue: string;
  agents: readonly string[];
  from: number;
  /** Null: held on until released. */
  until: number | null;
  held: boolean;
}

/** Surge mode now. */
export interface SurgeState {
  active: ActiveSurge[];
  holds: SurgeHold[];
  campaignsPaused: boolean;
}

/** The surge windows of a schedule (pure). */
export function surgeWindows(programmes: readonly Programme[], airings: readonly Airing[], tailMs: number): SurgeWindow[] {
  const byId = new Map(programmes.map((p) => [p.id, p]));
  const out: SurgeWindow[] = [];
  for (const a of airings) {
    const s = byId.get(a.programme)?.surge;
    if (s === null || s === undefined) continue;
    out.push({
      airing: a.id, programme: a.programme, queue: s.queue, from: a.start - s.leadMinutes * 60_000, to: a.end + tailMs, skill: s.skill ?? s.queue, level: s.level, agents: s.agents,
    });
  }
  return out;
}

function covers(h: SurgeTarget, w: SurgeWindow): boolean {
  if (h.airing !== null) return h.airing === w.airing;
  return h.queue === null || h.queue === w.queue;
}

/** The window of each programme a queue's or everything's `on` switches: on now, else the next, else the last. */
function representatives(windows: readonly SurgeWindow[], now: number): Set<string> {
  const best = new Map<string, SurgeWindow>();
  const rank = (w: SurgeWindow): number => (w.from <= now && now < w.to ? 0 : w.from > now ? 1 : 2);
  for (const w of windows) {
    const b = best.get(w.programme);
    if (b === undefined) { best.set(w.programme, w); continue; }
    const rw = rank(w);
    const rb = rank(b);
    if (rw < rb || (rw === rb && (rw === 2 ? w.to > b.to : w.from < b.from))) best.set(w.programme, w);
  }
  return new Set([...best.values()].map((w) => w.airing));
}

/** The windows on at `now` under the holds (latest covering hold decides, else the schedule), each with its end or null when held on. */
export function activeWindows(windows: readonly SurgeWindow[], now: number, holds: readonly SurgeHold[] = []): Array<SurgeWindow & { until: number | null; held: boolean }> {
  const reps = holds.some((h) => h.state === 'on' && h.airing === null) ? representatives(windows, now) : new Set<string>();
  const out: Array<SurgeWindow & { until: number | null; held: boolean }> = [];
  for (const w of windows) {
    let h: SurgeHold | undefined;
    for (const x of holds) if (covers(x, w)) h = x;
    const scheduled = w.from <= now && now < w.to;
    if (h?.state === 'off') continue;
    const heldOn = h?.state === 'on' && (h.airing !== null || reps.has(w.airing));
    if (heldOn) out.push({ ...w, until: null, held: true });
    else if (scheduled) out.push({ ...w, until: w.to, held: false });
  }
  return out;
}

/** An agent's skills with the active windows: its own, plus each surge skill at the higher level. */
export function desiredSkills(base: Readonly<Record<string, number>>, agentId: string, active: readonly SurgeWindow[]): Record<string, number> {
  const out: Record<string, number> = { ...base };
  for (const w of active) {
    if (!w.agents.includes(agentId)) continue;
    out[w.skill] = Math.max(out[w.skill] ?? 0, w.level);
  }
  return out;
}

function sameSkills(a: Readonly<Record<string, number>>, b: Readonly<Record<string, number>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** Options of {@link SurgeMode}. */
export interface SurgeModeOptions {
  schedule: { programmes(): Programme[]; airings(): Airing[] };
  tailMs: number;
  skills: SkillsPort;
  /** An agent's configured skills (what it goes back to). */
  baseSkills(agentId: string): Readonly<Record<string, number>>;
  /** Epoch clock and timers (a FakeClock in tests). */
  clock: Clock;
  /** Each switch (event stream, log, audit). */
  onSwitch(e: SurgeEvent): void;
}

/** Surge mode: applies the schedule's windows and the manual holds to agents' skills. */
export class SurgeMode {
  readonly #o: SurgeModeOptions;
  #windows: SurgeWindow[] = [];
  #holds: SurgeHold[] = [];
  /** Skills applied by surge mode, per agent it changed. */
  readonly #applied = new Map<string, Record<string, number>>();
  /** The windows on after the last evaluation, by airing. */
  #active = new Map<string, SurgeWindow & { until: number | null; held: boolean }>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: SurgeModeOptions) {
    this.#o = opts;
  }

  /** True while any surge is on: the dialer's campaigns hold their dialling. */
  get campaignsPaused(): boolean {
    return this.#active.size > 0;
  }

  /** The airings whose surge is on now. */
  active(): string[] {
    return [...this.#active.keys()];
  }

  /** Surge mode now: the airings on (with their end), the manual holds. */
  state(): SurgeState {
    return {
      active: [...this.#active.values()].map((w) => ({ airing: w.airing, programme: w.programme, queue: w.queue, agents: w.agents, from: w.from, until: w.until, held: w.held })),
      holds: this.#holds.map((h) => ({ ...h })),
      campaignsPaused: this.campaignsPaused,
    };
  }

  /** Read the schedule and apply it now; re-armed at every window edge. Call again after a schedule change. */
  refresh(): void {
    if (this.#stopped) return;
    this.#windows = surgeWindows(this.#o.schedule.programmes(), this.#o.schedule.airings(), this.#o.tailMs);
    this.#evaluate('schedule');
  }

  /**
   * Manual override: `start`/`stop` set a hold on the target (replacing the holds of the same
   * target) and apply it now; `release` removes the holds of the target (every hold with no target).
   * Refused when the airing has no surge window or no programme surges into the queue.
   */
  override(action: 'start' | 'stop' | 'release', target: SurgeTarget, by: string, note: string): ScheduleResult<SurgeState> {
    if (this.#stopped) return { ok: false, code: SCHEDULE_ERRORS.stopped, reason: 'surge mode is stopped' };
    if (target.airing !== null && !this.#windows.some((w) => w.airing === target.airing)) {
      return { ok: false, code: SCHEDULE_ERRORS.notFound, reason: `airing ${target.airing} has no surge window (no such airing, or its programme has no surge settings)` };
    }
    if (target.airing === null && target.queue !== null && !this.#windows.some((w) => w.queue === target.queue)) {
      return { ok: false, code: SCHEDULE_ERRORS.notFound, reason: `no programme with airings surges into queue ${target.queue}` };
    }
    const same = (h: SurgeTarget): boolean => h.airing === target.airing && h.queue === target.queue;
    if (action === 'release') {
      this.#holds = target.airing === null && target.queue === null ? [] : this.#holds.filter((h) => !same(h));
    } else {
      this.#holds = this.#holds.filter((h) => !same(h));
      this.#holds.push({ airing: target.airing, queue: target.airing === null ? target.queue : null, state: action === 'start' ? 'on' : 'off', at: this.#o.clock.now(), by, note });
    }
    this.#evaluate('override');
    return { ok: true, value: this.state() };
  }

  /** Stop the timer and put every agent back to its configured skills. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#holds = [{ airing: null, queue: null, state: 'off', at: this.#o.clock.now(), by: 'engine', note: 'stopping' }];
    this.#evaluate('schedule');
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
  }

  #evaluate(reason: SurgeReason): void {
    const now = this.#o.clock.now();
    const active = activeWindows(this.#windows, now, this.#holds);
    const agents = new Set<string>([...this.#applied.keys(), ...active.flatMap((w) => w.agents)]);
    const changed = new Set<string>();
    for (const a of agents) {
      const base = this.#o.baseSkills(a);
      const want = desiredSkills(base, a, active);
      const have = this.#applied.get(a) ?? base;
      if (sameSkills(want, have)) continue;
      this.#o.skills.setSkills(a, want);
      changed.add(a);
      if (sameSkills(want, base)) this.#applied.delete(a);
      else this.#applied.set(a, want);
    }
    const before = this.#active;
    this.#active = new Map(active.map((w) => [w.airing, w]));
    const mine = (w: SurgeWindow): string[] => w.agents.filter((a) => changed.has(a));
    let emitted = 0;
    for (const [id, w] of before) {
      if (this.#active.has(id)) continue;
      this.#emit({ state: 'off', airing: id, programme: w.programme, queue: w.queue, agents: mine(w), reason, until: null, at: now });
      emitted++;
    }
    for (const [id, w] of this.#active) {
      const was = before.get(id);
      // A window held on, or let go back to its scheduled end, is a switch too (its end changed).
      if (was !== undefined && was.until === w.until) continue;
      this.#emit({ state: 'on', airing: id, programme: w.programme, queue: w.queue, agents: mine(w), reason, until: w.until, at: now });
      emitted++;
    }
    if (emitted === 0 && changed.size > 0) {
      this.#emit({ state: this.#active.size > 0 ? 'on' : 'off', airing: null, programme: null, queue: null, agents: [...changed], reason, until: null, at: now });
    }
    this.#arm(now);
  }

  #emit(e: Omit<SurgeEvent, 'type' | 'campaignsPaused'>): void {
    this.#o.onSwitch({ type: 'surge', ...e, campaignsPaused: this.campaignsPaused });
  }

  #arm(now: number): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    let next = Infinity;
    for (const w of this.#windows) {
      if (w.from > now) next = Math.min(next, w.from);
      if (w.to > now) next = Math.min(next, w.to);
    }
    if (next === Infinity) return;
    // Timers of a day or more are re-armed on the way (Node caps a timer at ~24.8 days).
    this.#timer = this.#o.clock.setTimer(Math.min(next - now, 86_400_000), () => this.#evaluate('schedule'));
  }
}
