/**
 * `npm run bench -- reports [--cdrs N] [--days D]`: the interval tables (engine/reports) under a
 * month of call records. Builds the tables for N synthetic CDRs (default 10 000 000 over 30 days,
 * 4 queues, 12 programmes of which three are on air each hour, one airing per hour, 200 agents) on a SQLite file, filed 1 000
 * per transaction as the engine's group commit does, then runs 20 month reports by queue and
 * programme (per day) and 20 by agent (whole month).
 *
 * Metrics: `aggregation_cdrs_per_s` (target >= 1 000/s), `build_s`, `month_report_p99_ms`
 * (target < 1 000 ms), `month_agent_report_p99_ms`, `db_bytes`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase, SqliteWriter, transact } from '../engine/db/index.ts';
import { ReportQueries, SqliteReports, measureContext, type ReportCdr } from '../engine/reports/index.ts';
import type { CdrOutcome } from '../crm-adapter/index.ts';
import { emit, machine, quantile, say, seededRandom } from './lib.ts';

const BENCH = 'reports';

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : dflt;
}

/** main */
export async function main(args: string[]): Promise<void> {
  const n = arg(args, '--cdrs', 10_000_000);
  const days = arg(args, '--days', 30);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'onair-bench-reports-'));
  const keep = args.includes('--keep');
  const file = keep ? args[args.indexOf('--keep') + 1]! : path.join(dir, 'reports.db');
  const db = openDatabase({ path: file });
  try {
    const queues = ['orders', 'service', 'vip', 'returns'];
    const reports = new SqliteReports({
      db, writer: new SqliteWriter(db, false), now: Date.now(),
      context: measureContext(queues.map((id) => ({ id, serviceLevelMs: 20_000 })), () => null),
    });
    const rnd = seededRandom(18);
    const start = Date.UTC(2026, 10, 1);
    const span = days * 86_400_000;
    const programmes = Array.from({ length: 12 }, (_, i) => `prog-${i}`);
    const outcomes: CdrOutcome[] = ['answered', 'answered', 'answered', 'answered', 'answered', 'answered', 'abandoned_queue', 'abandoned_ivr', 'callback_requested', 'rejected_blacklist'];
    const make = (i: number): ReportCdr => {
      const arrivedAt = start + Math.floor(rnd() * span);
      const outcome = outcomes[Math.floor(rnd() * outcomes.length)]!;
      // Three programmes on air each hour (channels), each airing one hour: the attribution by time.
      const hour = Math.floor((arrivedAt - start) / 3_600_000);
      const p = programmes[(hour + Math.floor(rnd() * 3)) % programmes.length]!;
      const queuedAt = outcome === 'abandoned_ivr' || outcome === 'rejected_blacklist' ? null : arrivedAt + 5000;
      const answeredAt = outcome === 'answered' ? arrivedAt + 5000 + Math.floor(rnd() * 60_000) : null;
      const endedAt = answeredAt !== null ? answeredAt + Math.floor(rnd() * 300_000) : arrivedAt + Math.floor(rnd() * 90_000);
      return {
        contractVersion: 1, callId: `b${i}`, caller: '1', dialled: '400', programme: p, airing: `${p}-${hour}`,
        queue: queuedAt === null ? null : queues[Math.floor(rnd() * queues.length)]!, agent: answeredAt === null ? null : `a${Math.floor(rnd() * 200)}`,
        customerId: null, outcome, arrivedAt, ivrExitAt: null, queuedAt, offeredAt: null, answeredAt, endedAt, wrapUpEndAt: null,
        waitMs: (answeredAt ?? endedAt) - arrivedAt, talkMs: answeredAt === null ? 0 : endedAt - answeredAt, wrapUpMs: answeredAt === null ? 0 : 20_000,
        offers: 1, releasedBy: 'caller', callbackId: null, direction: 'inbound', treatment: 'media', ringingMs: 0,
      };
    };
    say(`reports bench: ${n} CDRs over ${days} days into ${file} (${machine()}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
    const t0 = performance.now();
    const batch = 1000;
    for (let i = 0; i < n; i += batch) {
      transact(db, () => { for (let j = i; j < Math.min(n, i + batch); j++) reports.ingestSync(make(j)); });
      if (i % 1_000_000 === 0 && i > 0) say(`  ${i} filed, ${Math.round(i / ((performance.now() - t0) / 1000))}/s`);
    }
    const buildS = (performance.now() - t0) / 1000;
    const bytes = statSync(file).size;
    emit({ bench: BENCH, metric: 'aggregation_cdrs_per_s', value: Math.round(n / buildS), unit: 'cdrs/s', cdrs: n, machine: machine() });
    emit({ bench: BENCH, metric: 'build_s', value: Math.round(buildS), unit: 's', cdrs: n });
    emit({ bench: BENCH, metric: 'db_bytes', value: bytes, unit: 'bytes' });
    const queries = new ReportQueries({ db });
    const timed = (q: Parameters<ReportQueries['run']>[0]): { ms: number[]; rows: number } => {
      const ms: number[] = [];
      let rows = 0;
      for (let k = 0; k < 20; k++) {
        const s = performance.now();
        rows = queries.run(q).length;
        ms.push(performance.now() - s);
      }
      return { ms, rows };
    };
    const month = timed({ group: ['queue', 'programme'], interval: 'day', from: start, to: start + span });
    emit({ bench: BENCH, metric: 'month_report_p99_ms', value: +quantile(month.ms, 0.99).toFixed(1), unit: 'ms', p50: +quantile(month.ms, 0.5).toFixed(1), rows: month.rows, queries: 20 });
    const agents = timed({ group: ['agent'], interval: 'all', from: start, to: start + span });
    emit({ bench: BENCH, metric: 'month_agent_report_p99_ms', value: +quantile(agents.ms, 0.99).toFixed(1), unit: 'ms', p50: +quantile(agents.ms, 0.5).toFixed(1), rows: agents.rows, queries: 20 });
    say(`built in ${buildS.toFixed(0)} s (${Math.round(n / buildS)} CDRs/s), ${Math.round(bytes / 2 ** 20)} MiB; month by queue and programme per day: p99 ${quantile(month.ms, 0.99).toFixed(1)} ms (${month.rows} rows); by agent: p99 ${quantile(agents.ms, 0.99).toFixed(1)} ms`);
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    if (!keep) rmSync(file, { force: true });
  }
}
