/**
 * Calling hours in an IANA time zone, with the platform's `Intl` (ICU) and no dependency.
 *
 * A window is a span of local wall-clock minutes on some weekdays (ISO numbering, 1 = Monday).
 * A window whose `to` is earlier than its `from` crosses midnight: `{ days: [5], from: '21:00',
 * to: '02:00' }` is Friday 21:00 to Saturday 02:00 (the day names the evening it starts on).
 * `to: '24:00'` is the end of the day. Local time is read per instant, so a DST change is handled
 * as the local clock shows it: no instant is inside a window unless its local time is.
 */

/** One calling-hours window: local `from` ≤ time < `to` on `days` (1 = Monday … 7 = Sunday). */
export interface CallingWindow {
  readonly days: readonly number[];
  /** `HH:MM`, 00:00–23:59. */
  readonly from: string;
  /** `HH:MM`, 00:01–24:00; earlier than `from` = the window ends the next day. */
  readonly to: string;
}

/** Local weekday (1 = Monday … 7 = Sunday) and minute of the day (0–1439) of an instant. */
export interface LocalTime {
  weekday: number;
  minute: number;
}

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;
const WEEKDAYS: Readonly<Record<string, number>> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

/** `HH:MM` → minutes since midnight; `24:00` → 1440. Null when malformed or out of range. */
export function clockMinutes(text: string): number | null {
  if (text.length !== 5 || text[2] !== ':') return null;
  const h = digits2(text, 0);
  const m = digits2(text, 3);
  if (h === null || m === null || m > 59) return null;
  if (h === 24 && m === 0) return DAY_MINUTES;
  return h > 23 ? null : h * 60 + m;
}

function digits2(s: string, at: number): number | null {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : null;
}

/** True when `tz` is a time zone this platform's Intl knows (IANA names such as `Asia/Shanghai`). */
export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

// Building a DateTimeFormat costs far more than using one: one per zone, kept.
const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz);
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(tz, f);
  }
  return f;
}

/** Local weekday and minute of `t` (epoch ms) in `tz`. Throws RangeError for an unknown zone. */
export function localTime(t: number, tz: string): LocalTime {
  let weekday = 0;
  let hour = 0;
  let minute = 0;
  for (const p of formatter(tz).formatToParts(t)) {
    if (p.type === 'weekday') weekday = WEEKDAYS[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value);
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { weekday, minute: hour * 60 + minute };
}

/** Span of a window in minutes: `[from, to)` on its days, `to` past 1440 when it crosses midnight. */
function span(w: CallingWindow): { from: number; to: number } | null {
  const from = clockMinutes(w.from);
  const to = clockMinutes(w.to);
  if (from === null || to === null || from === to || from === DAY_MINUTES) return null;
  return { from, to: to < from ? to + DAY_MINUTES : to };
}

/** True when the local time `l` is inside one of `windows`. An empty list means no restriction. */
export function inWindows(l: LocalTime, windows: readonly CallingWindow[]): boolean {
  if (windows.length === 0) return true;
  const yesterday = l.weekday === 1 ? 7 : l.weekday - 1;
  for (const w of windows) {
    const s = span(w);
    if (s === null) continue;
    if (w.days.includes(l.weekday) && l.minute >= s.from && l.minute < s.to) return true;
    // The part after midnight of a window that started the evening before.
    if (s.to > DAY_MINUTES && w.days.includes(yesterday) && l.minute < s.to - DAY_MINUTES) return true;
  }
  return false;
}

/** True when `t` is inside the calling hours in `tz`. */
export function inCallingHours(t: number, windows: readonly CallingWindow[], tz: string): boolean {
  return inWindows(localTime(t, tz), windows);
}

/**
 * Local minutes from `l` to the next start of any window (> 0), or null when no window can ever
 * open (every window malformed or without days).
 */
function minutesToNextStart(l: LocalTime, windows: readonly CallingWindow[]): number | null {
  let best: number | null = null;
  for (const w of windows) {
    const s = span(w);
    if (s === null) continue;
    for (let d = 0; d <= 7; d++) {
      const day = ((l.weekday - 1 + d) % 7) + 1;
      if (!w.days.includes(day)) continue;
      const delta = d * DAY_MINUTES + s.from - l.minute;
      if (delta > 0 && (best === null || delta < best)) best = delta;
    }
  }
  return best;
}

/**
 * The first instant at or after `t` inside the calling hours in `tz` (to the minute: a start found
 * by jumping is the first minute the local clock shows inside), or null when no window ever opens.
 */
export function nextCallingTime(t: number, windows: readonly CallingWindow[], tz: string): number | null {
  if (inCallingHours(t, windows, tz)) return t;
  let outside = t;
  // Each step jumps to the next window start as the local clock counts; a DST change can make the
  // jump land an hour early (try again) or inside but late (search back for the first inside minute).
  for (let step = 0; step < 16; step++) {
    const delta = minutesToNextStart(localTime(outside, tz), windows);
    if (delta === null) return null;
    const at = Math.floor(outside / MINUTE_MS) * MINUTE_MS + delta * MINUTE_MS;
    if (!inCallingHours(at, windows, tz)) {
      outside = at;
      continue;
    }
    // Inside or outside is decided per local minute: search whole minutes.
    let lo = Math.floor(outside / MINUTE_MS);
    let hi = at / MINUTE_MS;
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (inCallingHours(mid * MINUTE_MS, windows, tz)) hi = mid;
      else lo = mid;
    }
    return hi * MINUTE_MS;
  }
  return null;
}
