/**
 * Conditions of an IVR `branch` step, pure: on call variables (equals, matches, present) and on
 * the local time (office hours as calling windows, holidays as local dates). The clock windows
 * are the callback policy's (engine/callbacks), so office hours read the same everywhere.
 */
import { inCallingHours } from '../callbacks/index.ts';
import type { FlowCondition } from './types.ts';

/** Local calendar date `YYYY-MM-DD` of `t` in `timeZone` (en-CA formats dates that way). */
const dateFormats = new Map<string, Intl.DateTimeFormat>();
export function localDate(t: number, timeZone: string): string {
  let f = dateFormats.get(timeZone);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' });
    dateFormats.set(timeZone, f);
  }
  return f.format(t);
}

/** True when `c` holds for a call with `vars` at `now`. */
export function conditionHolds(c: FlowCondition, vars: Readonly<Record<string, string>>, now: number): boolean {
  switch (c.kind) {
    case 'var': {
      const v = Object.hasOwn(vars, c.var) ? vars[c.var] : undefined;
      if (c.present !== null) return (v !== undefined) === c.present;
      if (v === undefined) return false;
      if (c.equals !== null) return v === c.equals;
      return c.matches !== null && c.matches.test(v);
    }
    case 'hours': return inCallingHours(now, c.windows, c.timeZone);
    case 'dates': return c.dates.includes(localDate(now, c.timeZone));
  }
}

/** True when every condition holds. */
export function allHold(conditions: readonly FlowCondition[], vars: Readonly<Record<string, string>>, now: number): boolean {
  return conditions.every((c) => conditionHolds(c, vars, now));
}
