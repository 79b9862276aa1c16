/** Times and durations as the UI shows them: clock times in the center's time zone, durations m:ss. */
import type { Lang } from './messages.ts';

/** `h:mm:ss` / `m:ss` of a duration in ms. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** Clock time of epoch `ms` in `timeZone`. */
export function clock(ms: number, lang: Lang, timeZone: string): string {
  return new Intl.DateTimeFormat(lang, { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }).format(ms);
}
