/**
 * The chart of a surge run, for a manager: three stacked panels over the minutes of the programme.
 *
 * ```
 *  ┌ title: profile, agents, verdict (LOST 0) ───────────────────────┐
 *  │ calls per second: offered · answered · abandoned (+ the curve)   │
 *  │ callers waiting for an agent (and in the IVR)                    │
 *  │ agents: busy · not ready, out of N                               │
 *  └ x: minute of the programme (broadcast time) ─────────────────────┘
 * ```
 */
import { Canvas, type Rgb } from './png.ts';
import type { RunResult } from './run.ts';

const W = 1400;
const H = 1000;
const LEFT = 110;
const RIGHT = 40;
const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const COLORS = {
  curve: [170, 170, 170] as Rgb,
  offered: [31, 119, 180] as Rgb,
  answered: [44, 160, 44] as Rgb,
  abandoned: [214, 39, 40] as Rgb,
  waiting: [255, 127, 14] as Rgb,
  ivr: [188, 189, 34] as Rgb,
  busy: [148, 103, 189] as Rgb,
  notReady: [127, 127, 127] as Rgb,
  staffed: [60, 60, 60] as Rgb,
};

/** A step of 1, 2 or 5 × 10^k giving about `n` ticks up to `max`. */
export function niceStep(max: number, n = 5): number {
  if (!(max > 0)) return 1;
  const raw = max / n;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

interface Series {
  label: string;
  color: Rgb;
  values: number[];
  thickness?: number;
}

/** One panel: axes, grid, ticks, the series as lines, a legend. */
function panel(cv: Canvas, top: number, height: number, title: string, xs: number[], series: Series[], xMax: number, yMaxHint = 0): void {
  const x0 = LEFT;
  const x1 = W - RIGHT;
  const y0 = top + 34;
  const y1 = top + height - 10;
  cv.text(x0, top + 6, title, INK, 2);
  const yTop = Math.max(yMaxHint, 1, ...series.flatMap((s) => s.values.filter(Number.isFinite)));
  const step = niceStep(yTop);
  const yMax = Math.ceil(yTop / step) * step;
  const px = (x: number): number => x0 + ((x1 - x0) * x) / xMax;
  const py = (y: number): number => y1 - ((y1 - y0) * y) / yMax;
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    cv.line(x0, py(v), x1, py(v), GRID);
    const label = fmt(v);
    cv.text(x0 - 10 - Canvas.textWidth(label), py(v) - 7, label, INK, 2);
  }
  const xStep = niceStep(xMax, 12);
  for (let m = 0; m <= xMax + 1e-9; m += xStep) cv.line(px(m), y0, px(m), y1, GRID);
  cv.line(x0, y1, x1, y1, INK, 2);
  cv.line(x0, y0, x0, y1, INK, 2);
  for (const s of series) {
    for (let i = 1; i < xs.length; i++) {
      const a = s.values[i - 1]!;
      const b = s.values[i]!;
      if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
      cv.line(px(xs[i - 1]!), py(a), px(xs[i]!), py(b), s.color, s.thickness ?? 2);
    }
  }
  // Legend, top right, in the order given.
  let lx = x1 - series.reduce((w, s) => w + Canvas.textWidth(s.label) + 50, 0);
  for (const s of series) {
    cv.fillRect(lx, top + 10, 26, 6, s.color);
    cv.text(lx + 32, top + 6, s.label, INK, 2);
    lx += Canvas.textWidth(s.label) + 50;
  }
}

function fmt(v: number): string {
  return v >= 10_000 ? `${Math.round(v / 1000)}K` : Number.isInteger(v) ? String(v) : v.toFixed(1);
}

/** Average of each value with its neighbours within `k` seconds (offered/answered are bursty per second). */
function smooth(xs: number[], k: number): number[] {
  return xs.map((_, i) => {
    let s = 0;
    let n = 0;
    for (let j = Math.max(0, i - k); j <= Math.min(xs.length - 1, i + k); j++) {
      s += xs[j]!;
      n++;
    }
    return s / n;
  });
}

/** The PNG chart of a run. */
export function surgeChart(r: RunResult): Buffer {
  const cv = new Canvas(W, H);
  const c = r.profile.compression;
  const xs = r.samples.map((s) => (s.t * c) / 60);
  const xMax = Math.max(r.profile.durationMinutes, xs[xs.length - 1] ?? 1);
  const lost = r.fates.lost;
  cv.text(LEFT, 14, `SURGE ${r.profile.name}: ${r.agents} AGENTS, ${r.offered} CALLERS`, INK, 3);
  cv.text(W - RIGHT - Canvas.textWidth(`LOST ${lost}`, 3), 14, `LOST ${lost}`, lost === 0 ? COLORS.answered : COLORS.abandoned, 3);
  // After a callback phase most captured callers are `reached` or `unreached`; the header shows
  // all three so a run with callbacks does not read "CALLBACK 0".
  const callbacks = r.fates.reached + r.fates.unreached > 0
    ? `CALLED BACK ${r.fates.reached}  GAVE UP ${r.fates.unreached}${r.fates.captured > 0 ? `  OPEN ${r.fates.captured}` : ''}`
    : `CALLBACK ${r.fates.captured}`;
  cv.text(LEFT, 44, `SERVED ${r.fates.served}   ${callbacks}   BLACKLISTED ${r.fates.rejected}   ` +
    `PEAK ${r.peakOfferedPerSecond}/S, ${r.peakWaiting} WAITING   REPLAY X${c}`, INK, 2);
  const pTop = 74;
  const pH = (H - pTop - 50) / 3;
  const k = r.samples.length > 120 ? 2 : 0;
  panel(cv, pTop, pH, 'CALLS PER SECOND (REPLAY)', xs, [
    { label: 'PLANNED', color: COLORS.curve, values: r.samples.map((s) => s.scheduledRate), thickness: 1 },
    { label: 'OFFERED', color: COLORS.offered, values: smooth(r.samples.map((s) => s.offered), k) },
    { label: 'ANSWERED', color: COLORS.answered, values: smooth(r.samples.map((s) => s.answered), k) },
    { label: 'ABANDONED', color: COLORS.abandoned, values: smooth(r.samples.map((s) => s.abandoned), k) },
  ], xMax);
  panel(cv, pTop + pH, pH, 'CALLERS WAITING FOR AN AGENT', xs, [
    { label: 'IN QUEUE', color: COLORS.waiting, values: r.samples.map((s) => s.waiting), thickness: 3 },
    { label: 'IN IVR', color: COLORS.ivr, values: r.samples.map((s) => s.inIvr) },
  ], xMax);
  panel(cv, pTop + 2 * pH, pH, `AGENTS (OF ${r.agents})`, xs, [
    { label: 'STAFFED', color: COLORS.staffed, values: r.samples.map(() => r.agents), thickness: 1 },
    { label: 'BUSY', color: COLORS.busy, values: r.samples.map((s) => s.agentsBusy), thickness: 3 },
    { label: 'NOT READY', color: COLORS.notReady, values: r.samples.map((s) => s.agentsNotReady) },
  ], xMax, r.agents);
  const xStep = niceStep(xMax, 12);
  for (let m = 0; m <= xMax + 1e-9; m += xStep) {
    const x = LEFT + ((W - RIGHT - LEFT) * m) / xMax;
    const label = fmt(m);
    cv.text(x - Canvas.textWidth(label) / 2, H - 42, label, INK, 2);
  }
  const xl = 'MINUTE OF THE PROGRAMME (BROADCAST TIME)';
  cv.text((W - Canvas.textWidth(xl)) / 2, H - 20, xl, INK, 2);
  return cv.toPng();
}
