/**
 * The surge bench's truth against the engine's report of the same run (issue 18 must-show 1):
 * offered, answered and abandoned from `GET /api/v1/reports` (the interval tables) minus the same
 * figures from the bench's own join of every dialled caller with the engine's records. Pure: the
 * runner reads the API and the engine's database and passes them in.
 *
 * ```
 *  bench truth, per dialled caller (sipp sent its INVITE)        engine report (run's window, programme, inbound)
 *    offered   1                                                   figures.offered      ┐
 *    answered  1 when it has an answered inbound CDR (served)      figures.answered     ├─ summed over the
 *    abandoned 1 when not served and its inbound CDR is            derived.abandoned    ┘  rows (by queue)
 *              abandoned_ivr / abandoned_queue
 *          └──────── per call: the caller's inbound CDRs (callId) ⋈ report_calls (call_id) ────────┘
 *   ─▶ report_*_diff = engine − bench (target 0); every caller or filed call whose figures differ,
 *      with why (no record, not filed, filed elsewhere, a different figure, not a call of the run)
 * ```
 * The definitions are the reports' (docs/reports.md, "Report vs bench"): `completed_ivr`,
 * `callback_requested`, `released_max_wait` and refusals are offered, not abandoned; a caller
 * refused at admission is offered on both sides exactly when the engine wrote its record.
 */
import { existsSync } from 'node:fs';
import { openDatabase } from '../../engine/db/index.ts';
import { BUCKET_MS } from '../../engine/reports/index.ts';
import type { Caller } from './schedule.ts';
import { byCaller, type Cdr } from './truth.ts';

/** The three compared figures. */
export interface Counts {
  offered: number;
  answered: number;
  abandoned: number;
}

/** One call as the engine filed it (`report_calls`: its key and the compared figures). */
export interface FiledCall {
  callId: string;
  /** 15-minute bucket (epoch ms) the record is filed under. */
  bucket: number;
  /** '' = none. */
  programme: string;
  direction: string;
  offered: number;
  answered: number;
  /** abandoned_ivr + abandoned_queue + abandoned_ringing (the report's `abandoned`). */
  abandoned: number;
}

/** What the comparison reads. */
export interface CompareInput {
  /** Callers sipp dialled (INVITE sent). */
  dialled: readonly Pick<Caller, 'number'>[];
  /** The engine's CDRs (`GET /api/v1/cdrs`, outbound ones are left out here). */
  cdrs: readonly Cdr[];
  /** The engine's report totals over the run's window (summed over its rows). */
  report: Counts;
  /** The report's window and programme (to tell a call filed elsewhere from a missing one). */
  window: { from: number; to: number; programme: string };
  /**
   * Every call the engine filed in the reports (any window and programme: those outside explain
   * a record filed elsewhere), or null when the bench cannot read the engine's database (`--target`).
   */
  filed: readonly FiledCall[] | null;
}

/** One caller or filed call whose engine figures differ from the bench's. */
export interface Explanation {
  /** The caller's number, or null for a filed call of no dialled caller. */
  number: string | null;
  callIds: string[];
  bench: Counts;
  engine: Counts;
  why: string;
}

/** The comparison of one run. */
export interface ReportComparison {
  bench: Counts;
  engine: Counts;
  /** engine − bench, per figure (target 0). */
  diff: Counts;
  /**
   * The window's report totals minus the sum of the filed calls in that window (the interval
   * tables against their own per-call contributions; null without `filed`). Non-zero: the tables drifted.
   */
  tablesDrift: Counts | null;
  /** Each caller or call that explains a difference (empty when every call agrees). */
  explanations: Explanation[];
  window: { from: number; to: number; programme: string };
}

const ABANDONS = new Set(['abandoned_ivr', 'abandoned_queue']);

function zero(): Counts {
  return { offered: 0, answered: 0, abandoned: 0 };
}

function add(a: Counts, b: Counts): void {
  a.offered += b.offered;
  a.answered += b.answered;
  a.abandoned += b.abandoned;
}

function minus(a: Counts, b: Counts): Counts {
  return { offered: a.offered - b.offered, answered: a.answered - b.answered, abandoned: a.abandoned - b.abandoned };
}

function same(a: Counts, b: Counts): boolean {
  return a.offered === b.offered && a.answered === b.answered && a.abandoned === b.abandoned;
}

/** The bench's truth for one dialled caller from its inbound CDRs (the join truth.ts's `classify` makes). */
export function benchCounts(mine: readonly Cdr[]): Counts {
  const answered = mine.some((c) => c.outcome === 'answered');
  return { offered: 1, answered: answered ? 1 : 0, abandoned: !answered && mine.some((c) => ABANDONS.has(c.outcome)) ? 1 : 0 };
}

/** Whether a filed call counts in the window's report (the API's filters: bucket range, programme, inbound). */
function inWindow(f: FiledCall, w: CompareInput['window']): boolean {
  return f.bucket >= Math.floor(w.from / BUCKET_MS) * BUCKET_MS && f.bucket < w.to && f.programme === w.programme && f.direction === 'inbound';
}

function countsOf(f: FiledCall): Counts {
  return { offered: f.offered, answered: f.answered, abandoned: f.abandoned };
}

/** Why a caller's filed figures are not the bench's. */
function whyCaller(mine: readonly Cdr[], filed: readonly FiledCall[], w: CompareInput['window'], bench: Counts, engine: Counts): string {
  if (mine.length === 0) return 'no inbound CDR: the engine wrote no record for this caller (refused without a record, or lost)';
  const outcomes = mine.map((c) => c.outcome).join('+');
  if (mine.length > 1) return `${mine.length} inbound records for one caller (${outcomes})`;
  if (filed.length === 0) return `CDR ${outcomes} not filed in the reports (no report_calls row for its call id)`;
  const elsewhere = filed.filter((f) => !inWindow(f, w));
  if (elsewhere.length > 0) {
    const f = elsewhere[0]!;
    return `CDR ${outcomes} filed outside the report: programme '${f.programme}', bucket ${new Date(f.bucket).toISOString()}, ${f.direction}`;
  }
  const parts: string[] = [];
  for (const k of ['offered', 'answered', 'abandoned'] as const) if (bench[k] !== engine[k]) parts.push(`${k} ${engine[k]} in the report, ${bench[k]} in the bench`);
  return `CDR ${outcomes}: ${parts.join(', ')}`;
}

/**
 * Compare the engine's report with the bench's truth. Without `filed` the differences are counted
 * but callers are explained only as far as the CDRs go (no record at all).
 */
export function compareReport(input: CompareInput): ReportComparison {
  const { dialled, report, window: w } = input;
  const mineOf = byCaller(input.cdrs);
  const filedById = new Map<string, FiledCall>();
  for (const f of input.filed ?? []) filedById.set(f.callId, f);
  const bench = zero();
  const explanations: Explanation[] = [];
  const claimed = new Set<string>();
  for (const { number } of dialled) {
    const mine = mineOf.get(number) ?? [];
    const b = benchCounts(mine);
    add(bench, b);
    const ids = mine.map((c) => c.callId).filter((x): x is string => typeof x === 'string');
    for (const id of ids) claimed.add(id);
    if (input.filed === null) {
      if (mine.length === 0) explanations.push({ number, callIds: [], bench: b, engine: zero(), why: whyCaller(mine, [], w, b, zero()) });
      continue;
    }
    const filed = ids.map((id) => filedById.get(id)).filter((f): f is FiledCall => f !== undefined);
    const e = zero();
    for (const f of filed) if (inWindow(f, w)) add(e, countsOf(f));
    if (!same(b, e)) explanations.push({ number, callIds: ids, bench: b, engine: e, why: whyCaller(mine, filed, w, b, e) });
  }
  let tablesDrift: Counts | null = null;
  if (input.filed !== null) {
    const filedSum = zero();
    for (const f of input.filed) {
      if (!inWindow(f, w)) continue;
      const c = countsOf(f);
      add(filedSum, c);
      if (claimed.has(f.callId) || (c.offered === 0 && c.answered === 0 && c.abandoned === 0)) continue;
      explanations.push({ number: null, callIds: [f.callId], bench: zero(), engine: c, why: 'filed in the report but not the inbound record of any caller this run dialled' });
    }
    tablesDrift = minus(report, filedSum);
  }
  return { bench, engine: { ...report }, diff: minus(report, bench), tablesDrift, explanations, window: { ...w } };
}

/** The report's totals over its rows (`GET /api/v1/reports` JSON rows). */
export function reportTotals(rows: readonly { figures: { offered: number; answered: number }; derived: { abandoned: number } }[]): Counts {
  const out = zero();
  for (const r of rows) add(out, { offered: r.figures.offered, answered: r.figures.answered, abandoned: r.derived.abandoned });
  return out;
}

/** One row of `GET /api/v1/reports` (the fields compared). */
interface ReportRowView {
  keys: { queue?: string | null };
  figures: { offered: number; answered: number };
  derived: { abandoned: number };
}

/**
 * The calls the engine filed in its reports, read from its database (a second connection to the
 * WAL file: reads see the last commit and never block the engine). The table is the reports'
 * `report_calls` (engine/reports/schema.ts, version 1); null when there is no database to read.
 */
export function readFiledCalls(dbPath: string | undefined): FiledCall[] | null {
  if (dbPath === undefined || !existsSync(dbPath)) return null;
  const db = openDatabase({ path: dbPath, busyTimeoutMs: 2000 });
  try {
    return db.prepare<{ call_id: string; bucket: number; programme: string; direction: string; offered: number; answered: number; abandoned: number }>(
      `SELECT call_id, bucket, programme, direction, offered, answered, abandoned_ivr + abandoned_queue + abandoned_ringing AS abandoned
       FROM report_calls`).all()
      .map((r) => ({ callId: r.call_id, bucket: Number(r.bucket), programme: r.programme, direction: r.direction, offered: Number(r.offered), answered: Number(r.answered), abandoned: Number(r.abandoned) }));
  } finally {
    db.close();
  }
}

/** The comparison with the engine's report per queue, for the markdown table. */
export interface ReportComparisonRead extends ReportComparison {
  /** The engine's report by queue ('' = callers who reached no queue). */
  byQueue: (Counts & { queue: string })[];
}

/**
 * Read the engine's report of the run (`GET /api/v1/reports`: the window, the run's programme,
 * inbound, by queue, one row per queue over the whole range) and the filed calls, and compare
 * them with the bench's truth.
 */
export async function readComparison(http: string, headers: Record<string, string>, dbPath: string | undefined,
  dialled: readonly Pick<Caller, 'number'>[], cdrs: readonly Cdr[], window: CompareInput['window']): Promise<ReportComparisonRead> {
  const q = new URLSearchParams({
    from: String(window.from), to: String(window.to), programme: window.programme, direction: 'inbound', group: 'queue', interval: 'all',
  });
  const r = await fetch(`${http}/api/v1/reports?${q.toString()}`, { headers });
  if (!r.ok) throw new Error(`GET /api/v1/reports: HTTP ${r.status} ${await r.text()}`);
  const rows = (await r.json() as { rows: ReportRowView[] }).rows;
  const comparison = compareReport({ dialled, cdrs, report: reportTotals(rows), window, filed: readFiledCalls(dbPath) });
  return { ...comparison, byQueue: rows.map((x) => ({ queue: x.keys.queue ?? '', ...reportTotals([x]) })) };
}
