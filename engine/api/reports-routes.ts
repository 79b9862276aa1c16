/**
 * Routes of the reports (issue 18): `GET /api/v1/reports` answers JSON, CSV or XLSX from the
 * interval tables (engine/reports). Supervisors, admins and integration tokens only ('staff').
 * Registered by server.ts; input is checked here with zod and refused with server.ts's codes.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DIMENSIONS, INTERVALS, reportTable, toCsv, toXlsx, type Dimension, type ReportQuery, type ReportRow } from '../reports/index.ts';
import type { RouteKit } from './callbacks-routes.ts';
import type { RouteDoc } from './openapi.ts';

/** What the reports routes need from the engine. */
export interface ReportsApiDeps {
  /** Run a report (`now` closes the agents' open state spells). */
  run(q: ReportQuery, now: number): ReportRow[];
}

/** Longest range of one report: 400 days. */
export const REPORT_MAX_RANGE_MS = 400 * 86_400_000;
/** Most rows one report answers (a 15-minute report of a month by agent can be large). */
export const REPORT_MAX_ROWS = 200_000;

const instant = z.union([
  z.string().regex(/^[0-9]{1,16}$/, 'epoch ms').transform(Number),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const dimensionList = z.string().max(100).transform((s, ctx) => {
  const out: Dimension[] = [];
  for (const part of s.split(',')) {
    const d = part.trim();
    if (d === '') continue;
    if (!(DIMENSIONS as readonly string[]).includes(d)) {
      ctx.addIssue({ code: 'custom', message: `expected a comma list of ${DIMENSIONS.join(', ')}` });
      return z.NEVER;
    }
    if (!out.includes(d as Dimension)) out.push(d as Dimension);
  }
  return out;
});
const filterValue = z.string().max(128);
const reportsQuery = z.strictObject({
  group: dimensionList.default([]).describe('Comma list of queue, agent, team, programme, airing, direction'),
  interval: z.enum(INTERVALS).default('60m').describe('15m, 30m, 60m, day or all (one row per group)'),
  from: instant.describe('Start, epoch ms or ISO 8601 with offset (inclusive)'),
  to: instant.describe('End, epoch ms or ISO 8601 with offset (exclusive)'),
  utcOffsetMinutes: z.coerce.number().int().min(-720).max(840).default(0).describe('Days start at midnight of this UTC offset'),
  format: z.enum(['json', 'csv', 'xlsx']).default('json'),
  queue: filterValue.optional(), agent: filterValue.optional(), team: filterValue.optional(),
  programme: filterValue.optional(), airing: filterValue.optional(), direction: z.enum(['inbound', 'outbound']).optional(),
}).refine((q) => q.to > q.from, { message: 'to must be after from', path: ['to'] })
  .refine((q) => q.to - q.from <= REPORT_MAX_RANGE_MS, { message: 'at most 400 days', path: ['to'] });

const ROUTES = {
  reports: {
    summary: 'A report from the interval tables (docs/reports.md): figures by interval and group; JSON, CSV or XLSX',
    tags: ['reports'], querystring: reportsQuery,
    responses: { 200: '{ query, rows: ReportRow[] } (format=json), text/csv, or an XLSX workbook', 400: 'invalid input', 401: 'missing or unknown token', 403: 'not a supervisor or admin', 413: 'more than 200 000 rows: narrow the range or grouping' },
  },
} satisfies Record<string, RouteDoc>;

/** Register the reports routes. */
export function registerReportRoutes(app: FastifyInstance, deps: ReportsApiDeps, kit: RouteKit, now: () => number = Date.now): void {
  const { parse, fail } = kit;
  app.get('/api/v1/reports', { schema: ROUTES.reports, config: { access: 'staff' } }, async (req, reply) => {
    const q = parse(reportsQuery, req.query, 'query');
    const filter: ReportQuery['filter'] = {};
    for (const d of ['queue', 'agent', 'team', 'programme', 'airing', 'direction'] as const) {
      const v = q[d];
      if (v !== undefined) filter[d] = v === '' ? null : v;
    }
    const query: ReportQuery = { group: q.group, interval: q.interval, from: q.from, to: q.to, utcOffsetMinutes: q.utcOffsetMinutes, filter };
    const rows = deps.run(query, now());
    if (rows.length > REPORT_MAX_ROWS) throw fail(413, 'API_ERR_VALIDATION', `${rows.length} rows: narrow the range or the grouping`);
    if (q.format === 'json') return { query, rows };
    const table = reportTable(rows, q.group);
    const name = `onair-report-${new Date(q.from).toISOString().slice(0, 10)}`;
    if (q.format === 'csv') {
      return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}.csv"`).send(toCsv(table));
    }
    const xlsx = await toXlsx(table);
    return reply.type('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')
      .header('content-disposition', `attachment; filename="${name}.xlsx"`).send(xlsx);
  });
}
