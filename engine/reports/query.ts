/**
 * Reports from the interval tables: roll 15-minute buckets up to 30/60 minutes, days or the whole
 * range, grouped by any of queue, agent, team, programme, airing and direction.
 *
 * A query reads `report_intervals` unless it groups or filters by agent or team, then
 * `report_agent_intervals`; the whole UTC days of a range come from the day tables where the
 * query allows (`rangeParts`). Teams are the agents' `agents[].team` (engine wiring: the roster), applied after
 * the SQL grouping by agent. Agent time (occupancy, not-ready by reason, calls per agent hour) is
 * given when the grouping has no call dimension (only agent, team or nothing): an agent's time
 * belongs to no single queue or programme.
 */
import type { SqliteDatabase } from '../db/index.ts';
import type { AgentSpell, AgentTimeKind } from './agent-time.ts';
import { sliceSpell } from './agent-time.ts';
import {
  BUCKET_MS, MAX_MEASURES, SUM_MEASURES, addFigures, contribution, derive, zeroFigures,
  type AgentTime, type Derived, type Figures, type MeasureContext, type ReportCdr,
} from './measures.ts';
import { column } from './schema.ts';
import type { OrderFigures } from './orders.ts';

/** A grouping dimension. */
export type Dimension = 'queue' | 'agent' | 'team' | 'programme' | 'airing' | 'direction';
/** Every dimension, in output order. */
export const DIMENSIONS: readonly Dimension[] = ['queue', 'agent', 'team', 'programme', 'airing', 'direction'];
/** A rollup width; `all` = one row per group over the whole range. */
export type Interval = '15m' | '30m' | '60m' | 'day' | 'all';
/** Every interval. */
export const INTERVALS: readonly Interval[] = ['15m', '30m', '60m', 'day', 'all'];

/** A report request. */
export interface ReportQuery {
  group: readonly Dimension[];
  interval: Interval;
  /** Epoch ms, inclusive (rounded down to a 15-minute bucket). */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  /** Days start at local midnight of this UTC offset (minutes east of UTC). Default 0. */
  utcOffsetMinutes?: number;
  /** Only these values ('' or null = records without the dimension). */
  filter?: Partial<Record<Dimension, string | null>>;
}

/** One row of a report. */
export interface ReportRow {
  /** Interval start (epoch ms) and exclusive end. */
  start: number;
  end: number;
  /** The group's values (null = records without it), only for the grouped dimensions. */
  keys: Partial<Record<Dimension, string | null>>;
  figures: Figures;
  derived: Derived;
  /** Agent time, when the grouping allows it (see the module comment), else null. */
  agentTime: AgentTime | null;
  /** Orders and conversion (orders.ts), with the shop adapter and a grouping orders allow; else null. */
  orders: OrderFigures | null;
}

const DAY_MS = 86_400_000;

function widthOf(interval: Interval): number {
  switch (interval) {
    case '15m': return BUCKET_MS;
    case '30m': return 2 * BUCKET_MS;
    case '60m': return 4 * BUCKET_MS;
    case 'day': return DAY_MS;
    case 'all': return 0;
  }
}

/** The interval a bucket rolls up into (the same rule as the SQL of {@link ReportQueries}). */
export function intervalStart(bucket: number, q: ReportQuery): number {
  const n = widthOf(q.interval);
  if (n === 0) return q.from;
  const off = q.interval === 'day' ? (q.utcOffsetMinutes ?? 0) * 60_000 : 0;
  return Math.floor((bucket + off) / n) * n - off;
}

function intervalEnd(start: number, q: ReportQuery): number {
  const n = widthOf(q.interval);
  return n === 0 ? q.to : start + n;
}

/** True when the query needs the agent-level table. */
function needsAgents(q: ReportQuery): boolean {
  return q.group.includes('agent') || q.group.includes('team') || q.filter?.agent !== undefined || q.filter?.team !== undefined;
}

/**
 * The day table that can answer the whole UTC days of `q`, or null: `report_days` for a query
 * without agents, `report_agent_days` for one with agents that neither groups nor filters by
 * programme or airing (that table has neither); only for `day` (UTC) and `all` reports.
 */
function dayTable(q: ReportQuery, agents: boolean): string | null {
  if (!(q.interval === 'all' || (q.interval === 'day' && (q.utcOffsetMinutes ?? 0) === 0))) return null;
  if (!agents) return 'report_days';
  const perAiring = (['programme', 'airing'] as const).some((d) => q.group.includes(d) || q.filter?.[d] !== undefined);
  return perAiring ? null : 'report_agent_days';
}

/**
 * Where a range is read: its whole UTC days from a day table when one applies (96 times fewer
 * rows for a month report), the buckets before and after them from the 15-minute `table`;
 * everything else from the 15-minute table.
 */
function rangeParts(q: ReportQuery, table: string, agents: boolean): { table: string; from: number; to: number }[] {
  const from = Math.floor(q.from / BUCKET_MS) * BUCKET_MS;
  const days = dayTable(q, agents);
  const firstDay = Math.ceil(from / DAY_MS) * DAY_MS;
  const lastDay = Math.floor(q.to / DAY_MS) * DAY_MS;
  if (days === null || firstDay >= lastDay) return [{ table, from, to: q.to }];
  return [
    { table, from, to: firstDay },
    { table: days, from: firstDay, to: lastDay },
    { table, from: lastDay, to: q.to },
  ].filter((p) => p.from < p.to);
}

/** True when agent time can be given for the grouping. */
function agentTimeApplies(q: ReportQuery): boolean {
  const callDims: Dimension[] = ['queue', 'programme', 'airing', 'direction'];
  return q.group.every((d) => !callDims.includes(d)) && callDims.every((d) => q.filter?.[d] === undefined);
}

/** The row key of a group (interval start + grouped values). */
export function rowKey(start: number, keys: Partial<Record<Dimension, string | null>>, group: readonly Dimension[]): string {
  let k = String(start);
  for (const d of group) k += `\u0000${keys[d] ?? ''}`;
  return k;
}

function emptyTime(): AgentTime {
  return { staffedMs: 0, busyMs: 0, idleMs: 0, notReadyMs: {} };
}

function addTime(t: AgentTime, kind: AgentTimeKind, reason: string, ms: number): void {
  t.staffedMs += ms;
  if (kind === 'busy') t.busyMs += ms;
  else if (kind === 'idle') t.idleMs += ms;
  else t.notReadyMs[reason] = (t.notReadyMs[reason] ?? 0) + ms;
}

/** Options of {@link ReportQueries}. */
export interface ReportQueriesOptions {
  db: SqliteDatabase;
  /** An agent's team, or null (`agents[].team`). */
  teamOf?: (agentId: string) => string | null;
}

/** Report queries over the interval tables of {@link SqliteReports}. */
export class ReportQueries {
  readonly #db: SqliteDatabase;
  readonly #teamOf: (agentId: string) => string | null;

  constructor(opts: ReportQueriesOptions) {
    this.#db = opts.db;
    this.#teamOf = opts.teamOf ?? (() => null);
  }

  /**
   * Run a report. `now` closes the agents' open state spells for agent time (default: the spells
   * are counted up to their last change only).
   */
  run(q: ReportQuery, now?: number): ReportRow[] {
    const agents = needsAgents(q);
    const table = agents ? 'report_agent_intervals' : 'report_intervals';
    // Team is grouped in SQL by agent, then mapped.
    const sqlDims = [...new Set(q.group.map((d) => (d === 'team' ? 'agent' : d)))];
    const n = widthOf(q.interval);
    const off = q.interval === 'day' ? (q.utcOffsetMinutes ?? 0) * 60_000 : 0;
    // `%` casts to INTEGER (numbers are bound as REAL, and `/` would not truncate).
    const startExpr = n === 0 ? '@start' : 'bucket - ((bucket + @off) % @n)';
    const where = ['bucket >= @from', 'bucket < @to'];
    const params: Record<string, string | number> = { n, off, start: q.from };
    for (const d of DIMENSIONS) {
      const v = q.filter?.[d];
      if (v === undefined || d === 'team') continue;
      where.push(`${d} = @f_${d}`);
      params[`f_${d}`] = v ?? '';
    }
    const sums = SUM_MEASURES.map((m) => `sum(${column(m)}) AS ${column(m)}`);
    const maxes = MAX_MEASURES.map((m) => `max(${column(m)}) AS ${column(m)}`);
    const groupBy = ['t', ...sqlDims];
    const sqlOf = (tbl: string): string => `SELECT ${startExpr} AS t${sqlDims.map((d) => `, ${d}`).join('')}, ${[...sums, ...maxes].join(', ')}
      FROM ${tbl} WHERE ${where.join(' AND ')} GROUP BY ${groupBy.join(', ')}`;
    const rows: Record<string, number | string>[] = [];
    for (const part of rangeParts(q, table, agents)) {
      rows.push(...this.#db.prepare<Record<string, number | string>>(sqlOf(part.table)).all({ ...params, from: part.from, to: part.to }));
    }
    const teamFilter = q.filter?.team;
    const out = new Map<string, ReportRow>();
    for (const r of rows) {
      const agent = r.agent === undefined ? undefined : String(r.agent);
      const team = agent === undefined || agent === '' ? null : this.#teamOf(agent);
      if (teamFilter !== undefined && (team ?? '') !== (teamFilter ?? '')) continue;
      const keys: Partial<Record<Dimension, string | null>> = {};
      for (const d of q.group) {
        const v = d === 'team' ? team : String(r[d]);
        keys[d] = v === null || v === '' ? null : v;
      }
      const start = Number(r.t);
      const f = zeroFigures();
      for (const m of SUM_MEASURES) f[m] = Number(r[column(m)]);
      for (const m of MAX_MEASURES) f[m] = Number(r[column(m)]);
      mergeRow(out, start, keys, f, q);
    }
    if (agentTimeApplies(q)) this.#attachAgentTime(out, q, now);
    return finish(out);
  }

  #attachAgentTime(out: Map<string, ReportRow>, q: ReportQuery, now: number | undefined): void {
    const params = { from: Math.floor(q.from / BUCKET_MS) * BUCKET_MS, to: q.to };
    const slices = this.#db.prepare<{ bucket: number; agent: string; kind: AgentTimeKind; reason: string; ms: number }>(
      'SELECT bucket, agent, kind, reason, ms FROM report_agent_time WHERE bucket >= @from AND bucket < @to').all(params);
    if (now !== undefined) {
      const open = this.#db.prepare<AgentSpell & { agent: string }>('SELECT agent, since, status, state, reason FROM report_agent_current').all();
      for (const s of open) {
        for (const x of sliceSpell(s, now)) if (x.bucket >= params.from && x.bucket < q.to) slices.push({ ...x, agent: s.agent });
      }
    }
    const agentFilter = q.filter?.agent;
    const teamFilter = q.filter?.team;
    for (const s of slices) {
      if (agentFilter !== undefined && s.agent !== (agentFilter ?? '')) continue;
      const team = this.#teamOf(s.agent);
      if (teamFilter !== undefined && (team ?? '') !== (teamFilter ?? '')) continue;
      const keys: Partial<Record<Dimension, string | null>> = {};
      for (const d of q.group) keys[d] = d === 'team' ? team : s.agent;
      const start = intervalStart(s.bucket, q);
      const k = rowKey(start, keys, q.group);
      let row = out.get(k);
      if (row === undefined) {
        row = emptyRow(start, keys, q);
        out.set(k, row);
      }
      row.agentTime ??= emptyTime();
      addTime(row.agentTime, s.kind, s.reason, s.ms);
    }
    // Rows of a grouping with agent time and no time recorded: zero time, not unknown.
    for (const row of out.values()) row.agentTime ??= emptyTime();
  }
}

/** A row of a group with nothing counted yet. */
export function emptyRow(start: number, keys: Partial<Record<Dimension, string | null>>, q: ReportQuery): ReportRow {
  return { start, end: intervalEnd(start, q), keys, figures: zeroFigures(), derived: derive(zeroFigures(), null), agentTime: null, orders: null };
}

function mergeRow(out: Map<string, ReportRow>, start: number, keys: Partial<Record<Dimension, string | null>>, f: Figures, q: ReportQuery): void {
  const k = rowKey(start, keys, q.group);
  const row = out.get(k);
  if (row === undefined) out.set(k, { ...emptyRow(start, keys, q), figures: f, derived: derive(f, null) });
  else addFigures(row.figures, f);
}

function finish(out: Map<string, ReportRow>): ReportRow[] {
  const rows = [...out.entries()].sort((a, b) => (a[1].start - b[1].start) || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]);
  for (const r of rows) r.derived = derive(r.figures, r.agentTime);
  return rows;
}

/**
 * The same report computed from scratch from the final call records (no tables): the reference the
 * incremental tables are checked against, and the rule the API's clients can reproduce.
 */
export function batchReport(cdrs: Iterable<ReportCdr>, ctx: MeasureContext, q: ReportQuery, teamOf: (agentId: string) => string | null = () => null): ReportRow[] {
  const out = new Map<string, ReportRow>();
  const from = Math.floor(q.from / BUCKET_MS) * BUCKET_MS;
  for (const cdr of cdrs) {
    const { key, figures } = contribution(cdr, ctx);
    if (key.bucket < from || key.bucket >= q.to) continue;
    const team = key.agent === '' ? null : teamOf(key.agent);
    let skip = false;
    for (const d of DIMENSIONS) {
      const v = q.filter?.[d];
      if (v === undefined) continue;
      const actual = d === 'team' ? team ?? '' : key[d];
      if (actual !== (v ?? '')) skip = true;
    }
    if (skip) continue;
    const keys: Partial<Record<Dimension, string | null>> = {};
    for (const d of q.group) {
      const v = d === 'team' ? team : key[d];
      keys[d] = v === null || v === '' ? null : v;
    }
    mergeRow(out, intervalStart(key.bucket, q), keys, figures, q);
  }
  return finish(out);
}
