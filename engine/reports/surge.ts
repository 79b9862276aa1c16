/**
 * Surge mode from the broadcast schedule (issue 18). For each airing of a programme with surge
 * settings, the window [start − leadMinutes, end + tail) switches the programme's back-office
 * agents into its order queue (the queue's skill added at a level); campaigns pause while any
 * surge is on; after the window everything goes back to the agents' configured skills.
 *
 * ```
 *  schedule ─▶ surgeWindows() ─▶ desiredSkills(now) ─diff─▶ SkillsPort.setSkills(agent, skills)
 *                     │                                └──▶ SurgeEvent (event stream, log)
 *                     └─ the timer is armed at the next window edge (no polling)
 * ```
 * The rule (which windows are on, which skills an agent gets) is pure and shared by the test's
 * fake port; the port itself is contract C3 (`{ setSkills(agentId, skills) }`), wired by the lead
 * to the ACD's runtime skills.
 */
import type { Clock, TimerHandle } from '../clock/index.ts';
import type { Airing, Programme } from './schedule.ts';

/** Contract C3: replace an agent's skills at run time. */
export interface SkillsPort {
  setSkills(agentId: string, skills: Record<string, number>): void;
}

/** One surge window of one airing. */
export interface SurgeWindow {
  airing: string;
  programme: string;
  from: number;
  to: number;
  skill: string;
  level: number;
  agents: readonly string[];
}

/** Manual override: `auto` follows the schedule; `on` keeps every programme's surge agents in; `off` keeps surge off. */
export type SurgeOverride = 'auto' | 'on' | 'off';

/** A switch of surge mode (the event stream's `surge` event, and a log line). */
export interface SurgeEvent {
  type: 'surge';
  at: number;
  /** On: an airing's window began (or the override turned it on); off: it ended. */
  state: 'on' | 'off';
  airing: string | null;
  programme: string | null;
  /** Agents whose skills changed with this switch. */
  agents: string[];
  /** Campaigns are paused after this switch. */
  campaignsPaused: boolean;
  override: SurgeOverride;
}

/** The surge windows of a schedule (pure). */
export function surgeWindows(programmes: readonly Programme[], airings: readonly Airing[], tailMs: number): SurgeWindow[] {
  const byId = new Map(programmes.map((p) => [p.id, p]));
  const out: SurgeWindow[] = [];
  for (const a of airings) {
    const s = byId.get(a.programme)?.surge;
    if (s === null || s === undefined) continue;
    out.push({ airing: a.id, programme: a.programme, from: a.start - s.leadMinutes * 60_000, to: a.end + tailMs, skill: s.skill ?? s.queue, level: s.level, agents: s.agents });
  }
  return out;
}

/** The windows on at `now` under an override (`on`: one open window per programme with surge). */
export function activeWindows(windows: readonly SurgeWindow[], now: number, override: SurgeOverride): SurgeWindow[] {
  if (override === 'off') return [];
  if (override === 'on') {
    const seen = new Set<string>();
    return windows.filter((w) => !seen.has(w.programme) && seen.add(w.programme));
  }
  return windows.filter((w) => w.from <= now && now < w.to);
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

/** Surge mode: applies the schedule's windows to agents' skills at their edges. */
export class SurgeMode {
  readonly #o: SurgeModeOptions;
  #windows: SurgeWindow[] = [];
  #override: SurgeOverride = 'auto';
  /** Skills applied by surge mode, per agent it changed. */
  readonly #applied = new Map<string, Record<string, number>>();
  #active = new Set<string>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: SurgeModeOptions) {
    this.#o = opts;
  }

  /** True while any surge is on: the dialer's campaigns hold their dialling. */
  get campaignsPaused(): boolean {
    return this.#active.size > 0;
  }

  /** The manual override in force. */
  get override(): SurgeOverride {
    return this.#override;
  }

  /** The airings whose surge is on now (`override:<programme>` entries under override on). */
  active(): string[] {
    return [...this.#active];
  }

  /** Read the schedule and apply it now; re-armed at every window edge. Call again after a schedule change. */
  refresh(): void {
    if (this.#stopped) return;
    this.#windows = surgeWindows(this.#o.schedule.programmes(), this.#o.schedule.airings(), this.#o.tailMs);
    this.#evaluate();
  }

  /** Set the manual override (API) and apply it now. */
  setOverride(o: SurgeOverride): void {
    this.#override = o;
    this.#evaluate();
  }

  /** Stop the timer and put every agent back to its configured skills. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#override = 'off';
    this.#evaluate();
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
  }

  #evaluate(): void {
    const now = this.#o.clock.now();
    const active = activeWindows(this.#windows, now, this.#override);
    const ids = new Set(active.map((w) => (this.#override === 'on' ? `override:${w.programme}` : w.airing)));
    const agents = new Set<string>([...this.#applied.keys(), ...active.flatMap((w) => w.agents)]);
    const changed: string[] = [];
    for (const a of agents) {
      const base = this.#o.baseSkills(a);
      const want = desiredSkills(base, a, active);
      const have = this.#applied.get(a) ?? base;
      if (sameSkills(want, have)) continue;
      this.#o.skills.setSkills(a, want);
      changed.push(a);
      if (sameSkills(want, base)) this.#applied.delete(a);
      else this.#applied.set(a, want);
    }
    const started = [...ids].filter((x) => !this.#active.has(x));
    const ended = [...this.#active].filter((x) => !ids.has(x));
    this.#active = ids;
    const programmeOf = (id: string): string | null => (id.startsWith('override:') ? id.slice(9) : this.#windows.find((w) => w.airing === id)?.programme ?? null);
    for (const id of ended) this.#emit('off', id, programmeOf(id), changed, now);
    for (const id of started) this.#emit('on', id, programmeOf(id), changed, now);
    if (started.length === 0 && ended.length === 0 && changed.length > 0) this.#emit(ids.size > 0 ? 'on' : 'off', null, null, changed, now);
    this.#arm(now);
  }

  #emit(state: 'on' | 'off', airing: string | null, programme: string | null, agents: string[], at: number): void {
    this.#o.onSwitch({ type: 'surge', at, state, airing: airing?.startsWith('override:') ? null : airing, programme, agents, campaignsPaused: this.campaignsPaused, override: this.#override });
  }

  #arm(now: number): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimer(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || this.#override !== 'auto') return;
    let next = Infinity;
    for (const w of this.#windows) {
      if (w.from > now) next = Math.min(next, w.from);
      if (w.to > now) next = Math.min(next, w.to);
    }
    if (next === Infinity) return;
    // Timers of a day or more are re-armed on the way (Node caps a timer at ~24.8 days).
    this.#timer = this.#o.clock.setTimer(Math.min(next - now, 86_400_000), () => this.#evaluate());
  }
}
