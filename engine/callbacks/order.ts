/**
 * Surge mode's order of callbacks (issue 18: "callbacks of the previous airing are finished
 * first"): while airing N+1 of a programme surges, the open tasks of the callers who gave up
 * during airing N of the same programme are dialled before any other task. Pure; the dialer
 * (engine/dialer) applies it to each load of due tasks, and the ACD still gives every live caller
 * of equal or higher priority an agent first (docs/dialer.md).
 *
 * ```
 *  schedule: P#1 (20:00)  P#2 (22:00) ◀─ surging      Q#1 (21:00)
 *  first airings = { P#1 }                 (the previous airing of each airing in surge)
 *  due, oldest first: [Q#1 task 20:40, P#1 task 20:55, none 19:00, P#1 task 21:10]
 *  dialled:           [P#1 20:55, P#1 21:10]   the others wait until no P#1 task is due
 * ```
 */

/** What the rule reads of an airing (engine/reports `Airing` fits). */
export interface AiringSlot {
  id: string;
  programme: string;
  start: number;
}

/**
 * The airing of the same programme that started last before `current` did, or null (the first
 * airing, or an airing the schedule no longer has).
 */
export function previousAiring(airings: readonly AiringSlot[], current: string): string | null {
  const now = airings.find((a) => a.id === current);
  if (now === undefined) return null;
  let best: AiringSlot | null = null;
  for (const a of airings) {
    if (a.programme !== now.programme || a.start >= now.start) continue;
    if (best === null || a.start > best.start) best = a;
  }
  return best?.id ?? null;
}

/** The airings whose tasks go first now: the previous airing of each airing in surge. */
export function firstAirings(airings: readonly AiringSlot[], surging: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const id of surging) {
    const prev = previousAiring(airings, id);
    if (prev !== null) out.add(prev);
  }
  return out;
}

/**
 * Order due tasks (given oldest first) for dialing: when any is of a `first` airing, only those,
 * oldest first (the others wait for a later load, when none of them is due); otherwise all of them
 * as given. With no `first` airing (no surge) the order is unchanged.
 */
export function previousAiringFirst<T extends { id: number; airing?: string | null | undefined }>(due: readonly T[], first: ReadonlySet<string>): T[] {
  if (first.size === 0) return [...due];
  const seen = new Set<number>();
  const out: T[] = [];
  for (const t of due) {
    if (t.airing === null || t.airing === undefined || !first.has(t.airing) || seen.has(t.id)) continue;
    seen.add(t.id);
    out.push(t);
  }
  return out.length > 0 ? out : [...due];
}
