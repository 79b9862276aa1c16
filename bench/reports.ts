/**
 * `npm run bench -- reports [--cdrs N] [--days D] [--order time|random] [--late F] [--corrections F]`:
 * the interval tables (engine/reports) under a month of call records. Builds the tables for N
 * synthetic CDRs (default 10 000 000 over 30 days, 4 queues, 12 programmes of which three are on
 * air each hour, one airing per programme-hour, 200 agents) on a SQLite file through
 * `SqliteReports.ingestSync`, the engine's own path, then runs 20 month reports by queue and
 * programme (per day) and 20 by agent (whole month).
 *
 * Order (`--order time`, default): as the engine files them. Calls arrive through the month,
 * carry the engine's call ids (`c<arrival base 36>-<n>`) and are filed when they end; each
 * transaction holds the calls that ended while the next 1 000 arrived (the engine's group
 * commit). A share `--late` (default 0.002) is filed 1-24 h after its end (a node that was away,
 * records recovered at start-up) and a share `--corrections` (default 0.01) is filed again 1-60 min
 * later with other figures (wrap-up longer; one in ten under another agent). `--order random`
 * files N records of random arrival times in generation order, no late records nor corrections:
 * the first version of this bench, a worst case (every write to a table keyed by time lands on a
 * cold page), not the engine's.
 *
 * Metrics: `aggregation_cdrs_per_s` (every record filed, corrections included, per second of
 * build; target >= 1 000/s), `aggregation_segment_cdrs_per_s` (each million on its own: is filing
 * flat with size?), `build_s`, `db_bytes`, `month_report_p99_ms` (target < 1 000 ms),
 * `month_agent_report_p99_ms`. Every line carries the load average (`os.loadavg()`) at its time.
 * The bench fails when the tables do not count each call exactly once.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, SqliteWriter, transact, type SqliteDatabase } from '../engine/db/index.ts';
import { ReportQueries, SqliteReports, measureContext, type ReportCdr, type ReportQuery } from '../engine/reports/index.ts';
import type { CdrOutcome } from '../crm-adapter/index.ts';
import { emit, machine, quantile, say, seededRandom } from './lib.ts';

const BENCH = 'reports';
const HOUR_MS = 3_600_000;
const BATCH = 1000;

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : dflt;
}

function load(): number[] {
  return os.loadavg().map((x) => +x.toFixed(2));
}

const QUEUES = ['orders', 'service', 'vip', 'returns'];
const PROGRAMMES = Array.from({ length: 12 }, (_, i) => `prog-${i}`);
const OUTCOMES: CdrOutcome[] = ['answered', 'answered', 'answered', 'answered', 'answered', 'answered', 'abandoned_queue', 'abandoned_ivr', 'callback_requested', 'rejected_blacklist'];

/**
 * One synthetic record of call `callId`, arriving at `arrivedAt` (`start`: the month's start). The
 * random draws are those of the first version of this bench, so `--order random` files its input.
 */
function makeCdr(rnd: () => number, callId: string, arrivedAt: number, start: number): ReportCdr {
  const outcome = OUTCOMES[Math.floor(rnd() * OUTCOMES.length)]!;
  // Three programmes on air each hour (channels), each airing one hour: the attribution by time.
  const hour = Math.floor((arrivedAt - start) / HOUR_MS);
  const p = PROGRAMMES[(hour + Math.floor(rnd() * 3)) % PROGRAMMES.length]!;
  const queuedAt = outcome === 'abandoned_ivr' || outcome === 'rejected_blacklist' ? null : arrivedAt + 5000;
  const answeredAt = outcome === 'answered' ? arrivedAt + 5000 + Math.floor(rnd() * 60_000) : null;
  const endedAt = answeredAt !== null ? answeredAt + Math.floor(rnd() * 300_000) : arrivedAt + Math.floor(rnd() * 90_000);
  return {
    contractVersion: 1, callId, caller: '1', dialled: '400', programme: p, airing: `${p}-${hour}`,
    queue: queuedAt === null ? null : QUEUES[Math.floor(rnd() * QUEUES.length)]!, agent: answeredAt === null ? null : `a${Math.floor(rnd() * 200)}`,
    customerId: null, outcome, arrivedAt, ivrExitAt: null, queuedAt, offeredAt: null, answeredAt, endedAt, wrapUpEndAt: null,
    waitMs: (answeredAt ?? endedAt) - arrivedAt, talkMs: answeredAt === null ? 0 : endedAt - answeredAt, wrapUpMs: answeredAt === null ? 0 : 20_000,
    offers: 1, releasedBy: 'caller', callbackId: null, direction: 'inbound', treatment: 'media', ringingMs: 0,
  };
}

/** Records filed later than their end, by the hour they are due. */
class Later {
  readonly #byHour = new Map<number, ReportCdr[]>();
  size = 0;

  add(due: number, cdr: ReportCdr): void {
    const h = Math.floor(due / HOUR_MS);
    let list = this.#byHour.get(h);
    if (list === undefined) this.#byHour.set(h, list = []);
    list.push(cdr);
    this.size++;
  }

  /** Every record due before the hour of `now` (all of them with Infinity). */
  take(now: number): ReportCdr[] {
    const until = now === Infinity ? Infinity : Math.floor(now / HOUR_MS);
    const out: ReportCdr[] = [];
    for (const h of [...this.#byHour.keys()].sort((a, b) => a - b)) {
      if (h >= until) break;
      out.push(...this.#byHour.get(h)!);
      this.#byHour.delete(h);
    }
    this.size -= out.length;
    return out;
  }
}

/** Sum of `records` in a table: each call must count once. */
function recordsIn(db: SqliteDatabase, table: string): number {
  return db.prepare<{ n: number | null }>(`SELECT sum(records) AS n FROM ${table}`).get()?.n ?? 0;
}

/** main */
export async function main(args: string[]): Promise<void> {
  const n = arg(args, '--cdrs', 10_000_000);
  const days = arg(args, '--days', 30);
  const random = args.includes('--order') && args[args.indexOf('--order') + 1] === 'random';
  const lateShare = random ? 0 : arg(args, '--late', 0.002);
  const correctionShare = random ? 0 : arg(args, '--corrections', 0.01);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-reports-'));
  const keep = args.includes('--keep');
  const file = keep ? args[args.indexOf('--keep') + 1]! : path.join(dir, 'reports.db');
  const db = openDatabase({ path: file });
  try {
    const reports = new SqliteReports({
      db, writer: new SqliteWriter(db, false), now: Date.now(),
      context: measureContext(QUEUES.map((id) => ({ id, serviceLevelMs: 20_000 })), () => null),
    });
    const rnd = seededRandom(18);
    const start = Date.UTC(2026, 10, 1);
    const span = days * 86_400_000;
    const order = random ? 'random' : 'time';
    say(`reports bench: ${n} CDRs over ${days} days, order ${order}, late ${lateShare}, corrections ${correctionShare}, into ${file} (${machine()}, load ${load().join(' ')})`);
    let filed = 0;
    let corrections = 0;
    let late = 0;
    const file1 = (list: readonly ReportCdr[]): void => {
      if (list.length === 0) return;
      transact(db, () => { for (const c of list) reports.ingestSync(c); });
      filed += list.length;
    };
    const later = new Later();
    let pending: ReportCdr[] = [];
    const t0 = performance.now();
    let seg = { t: t0, filed: 0 };
    let nextReport = 1_000_000;
    const segment = (): void => {
      const now = performance.now();
      const value = Math.round((filed - seg.filed) / ((now - seg.t) / 1000));
      emit({ bench: BENCH, metric: 'aggregation_segment_cdrs_per_s', value, unit: 'cdrs/s', at: filed, order, load: load() });
      say(`  ${filed} filed, this million ${value}/s, load ${load().join(' ')}`);
      seg = { t: now, filed };
    };
    for (let i = 0; i < n; i += BATCH) {
      const batch: ReportCdr[] = [];
      let clock = 0;
      for (let j = i; j < Math.min(n, i + BATCH); j++) {
        clock = random ? start + Math.floor(rnd() * span) : start + Math.floor((j + rnd()) * span / n);
        const cdr = makeCdr(rnd, random ? `b${j}` : `c${clock.toString(36)}-${j.toString(36)}`, clock, start);
        if (random) { batch.push(cdr); continue; }
        const r = rnd();
        if (r < lateShare) {
          later.add(cdr.endedAt + HOUR_MS + Math.floor(rnd() * 23 * HOUR_MS), cdr);
          late++;
          continue;
        }
        pending.push(cdr);
        if (r < lateShare + correctionShare) {
          const moved = cdr.agent !== null && rnd() < 0.1 ? { agent: `a${Math.floor(rnd() * 200)}` } : {};
          later.add(cdr.endedAt + 60_000 + Math.floor(rnd() * 59 * 60_000), { ...cdr, wrapUpMs: cdr.wrapUpMs + 10_000, ...moved });
          corrections++;
        }
      }
      if (random) {
        file1(batch);
      } else {
        // The calls that ended while this batch arrived, in the order they ended; late ones due by now.
        pending.sort((a, b) => a.endedAt - b.endedAt);
        let k = 0;
        while (k < pending.length && pending[k]!.endedAt <= clock) k++;
        const ended = pending.slice(0, k);
        pending = pending.slice(k);
        ended.push(...later.take(clock));
        file1(ended);
      }
      if (filed >= nextReport) {
        segment();
        nextReport += 1_000_000;
      }
    }
    pending.sort((a, b) => a.endedAt - b.endedAt);
    file1(pending);
    file1(later.take(Infinity));
    const buildS = (performance.now() - t0) / 1000;
    const bytes = statSync(file).size;
    const counted = ['report_intervals', 'report_days', 'report_agent_intervals', 'report_agent_days'].map((t) => [t, recordsIn(db, t)] as const);
    const wrong = counted.filter(([, c]) => c !== n);
    if (wrong.length > 0) throw new Error(`reports bench: the tables do not count ${n} calls: ${wrong.map(([t, c]) => `${t} ${c}`).join(', ')}`);
    const rows = (t: string): number => db.prepare<{ n: number }>(`SELECT count(*) AS n FROM ${t}`).get()!.n;
    emit({
      bench: BENCH, metric: 'aggregation_cdrs_per_s', value: Math.round(filed / buildS), unit: 'cdrs/s', cdrs: n, filed, corrections, late, order,
      calls_per_s: Math.round(n / buildS), machine: machine(), load: load(),
    });
    emit({ bench: BENCH, metric: 'build_s', value: Math.round(buildS), unit: 's', cdrs: n, load: load() });
    emit({
      bench: BENCH, metric: 'db_bytes', value: bytes, unit: 'bytes',
      rows: Object.fromEntries(['report_calls', 'report_intervals', 'report_days', 'report_agent_intervals', 'report_agent_days'].map((t) => [t, rows(t)])),
    });
    const queries = new ReportQueries({ db });
    const timed = (q: ReportQuery): { ms: number[]; rows: number } => {
      const ms: number[] = [];
      let count = 0;
      for (let k = 0; k < 20; k++) {
        const s = performance.now();
        count = queries.run(q).length;
        ms.push(performance.now() - s);
      }
      return { ms, rows: count };
    };
    const month = timed({ group: ['queue', 'programme'], interval: 'day', from: start, to: start + span });
    emit({ bench: BENCH, metric: 'month_report_p99_ms', value: +quantile(month.ms, 0.99).toFixed(1), unit: 'ms', p50: +quantile(month.ms, 0.5).toFixed(1), rows: month.rows, queries: 20, load: load() });
    const agents = timed({ group: ['agent'], interval: 'all', from: start, to: start + span });
    emit({ bench: BENCH, metric: 'month_agent_report_p99_ms', value: +quantile(agents.ms, 0.99).toFixed(1), unit: 'ms', p50: +quantile(agents.ms, 0.5).toFixed(1), rows: agents.rows, queries: 20, load: load() });
    say(`built in ${buildS.toFixed(0)} s (${Math.round(filed / buildS)} records/s, ${corrections} corrections, ${late} late), ${Math.round(bytes / 2 ** 20)} MiB; `
      + `month by queue and programme per day: p99 ${quantile(month.ms, 0.99).toFixed(1)} ms (${month.rows} rows); by agent: p99 ${quantile(agents.ms, 0.99).toFixed(1)} ms; load ${load().join(' ')}`);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    if (!keep) rmSync(file, { force: true });
  }
}
