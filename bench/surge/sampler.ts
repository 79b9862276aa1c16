/**
 * What the harness reads every second: the engine's Prometheus text (`/metrics`) turned into one
 * {@link Sample}, and sipp's per-message counters (`-trace_counts`). Parsing is pure; fetching is
 * done by the runner.
 *
 * ```
 *  onair_queue_waiting{queue="orders"} 1412      name{label="value",...} value   (one per line,
 *  onair_agents_state{state="on_call"} 187       # lines are comments)
 * ```
 */
import { readFileSync, existsSync } from 'node:fs';

/** One series of the exposition: name, labels, value. */
export interface PromSeries {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parse Prometheus text exposition (the subset prom-client writes). Bad lines are skipped. */
export function parsePrometheus(text: string): PromSeries[] {
  const out: PromSeries[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    const name = brace >= 0 && brace < space ? line.slice(0, brace) : line.slice(0, space);
    const labels: Record<string, string> = {};
    if (brace >= 0 && brace < space) {
      const body = line.slice(brace + 1, line.lastIndexOf('}'));
      for (const m of body.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, '$1');
    }
    const raw = line.slice(space + 1);
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

/** Sum of the series named `name` whose labels include `where`. */
export function sum(series: readonly PromSeries[], name: string, where: Record<string, string> = {}): number {
  let s = 0;
  for (const x of series) {
    if (x.name !== name) continue;
    let match = true;
    for (const [k, v] of Object.entries(where)) if (x.labels[k] !== v) { match = false; break; }
    if (match) s += x.value;
  }
  return s;
}

/** Largest value of the series named `name` (0 when none). */
export function max(series: readonly PromSeries[], name: string): number {
  let m = 0;
  for (const x of series) if (x.name === name && Number.isFinite(x.value) && x.value > m) m = x.value;
  return m;
}

/**
 * Quantile q of a Prometheus histogram from its cumulative buckets (`name_bucket{le=...}`, summed
 * over other labels), interpolated linearly inside the bucket as Prometheus does. NaN when empty.
 */
export function histogramQuantile(series: readonly PromSeries[], name: string, q: number): number {
  const buckets = new Map<number, number>();
  for (const x of series) {
    if (x.name !== `${name}_bucket`) continue;
    const le = x.labels['le'] === '+Inf' ? Infinity : Number(x.labels['le']);
    buckets.set(le, (buckets.get(le) ?? 0) + x.value);
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted[sorted.length - 1]?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/** The engine's state at one instant (cumulative counters are totals since start). */
export interface EngineSnapshot {
  /** Cumulative. */
  answered: number;
  answeredInServiceLevel: number;
  abandoned: number;
  captured: number;
  rejected: number;
  endedByOutcome: Record<string, number>;
  /** Gauges. */
  waiting: number;
  inIvr: number;
  inProgress: number;
  oldestWaitS: number;
  agentsByState: Record<string, number>;
  agentsByStatus: Record<string, number>;
  /** Process. */
  cpuSeconds: number;
  rssBytes: number;
  eventLoopP99S: number;
  eventLoopMaxS: number;
  /** Cumulative answered waits (seconds) for the average. */
  answeredWaitSum: number;
  answeredWaitCount: number;
  outboxPending: number;
}

/** The snapshot from one scrape of `/metrics`. */
export function snapshot(series: readonly PromSeries[]): EngineSnapshot {
  const labelled = (name: string, label: string): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const x of series) if (x.name === name) out[x.labels[label] ?? ''] = (out[x.labels[label] ?? ''] ?? 0) + x.value;
    return out;
  };
  const ended = labelled('onair_calls_ended_total', 'outcome');
  return {
    answered: sum(series, 'onair_queue_answered_total'),
    answeredInServiceLevel: sum(series, 'onair_queue_answered_in_service_level_total'),
    abandoned: (ended['abandoned_ivr'] ?? 0) + (ended['abandoned_queue'] ?? 0),
    captured: sum(series, 'onair_queue_callbacks_captured_total'),
    rejected: Object.entries(ended).filter(([k]) => k.startsWith('rejected')).reduce((a, [, v]) => a + v, 0),
    endedByOutcome: ended,
    waiting: sum(series, 'onair_queue_waiting'),
    inIvr: sum(series, 'onair_calls', { phase: 'ivr' }) + sum(series, 'onair_calls', { phase: 'lookup' }),
    inProgress: sum(series, 'onair_calls'),
    oldestWaitS: max(series, 'onair_queue_oldest_wait_seconds'),
    agentsByState: labelled('onair_agents_state', 'state'),
    agentsByStatus: labelled('onair_agents_status', 'status'),
    cpuSeconds: sum(series, 'onair_process_cpu_seconds_total'),
    rssBytes: sum(series, 'onair_process_resident_memory_bytes'),
    eventLoopP99S: sum(series, 'onair_nodejs_eventloop_lag_p99_seconds'),
    eventLoopMaxS: sum(series, 'onair_nodejs_eventloop_lag_max_seconds'),
    answeredWaitSum: sum(series, 'onair_queue_wait_seconds_sum', { outcome: 'answered' }),
    answeredWaitCount: sum(series, 'onair_queue_wait_seconds_count', { outcome: 'answered' }),
    outboxPending: sum(series, 'onair_outbox_items', { status: 'pending' }),
  };
}

/**
 * sipp's `-trace_counts` file: the last row, as column name → value. Columns are
 * `<index>_<message>_<counter>` (`1_INVITE_Sent`, `47_200_Recv`, `51_CANCEL_Sent`).
 */
export function readSippCounts(file: string): Record<string, number> {
  if (!existsSync(file)) return {};
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  const header = lines[0]?.split(';') ?? [];
  const last = lines[lines.length - 1]?.split(';') ?? [];
  const out: Record<string, number> = {};
  header.forEach((h, i) => {
    if (h && h !== 'CurrentTime' && h !== 'ElapsedTime') out[h] = Number(last[i] ?? 0) || 0;
  });
  return out;
}

/** Sum of the counters whose column name ends with `suffix` (e.g. `_INVITE_Sent`). */
export function countEnding(counts: Record<string, number>, suffix: string): number {
  let s = 0;
  for (const [k, v] of Object.entries(counts)) if (k.endsWith(suffix)) s += v;
  return s;
}
