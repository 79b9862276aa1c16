/**
 * Routes of the reports (issue 18): `GET /api/v1/reports` answers JSON, CSV or XLSX from the
 * interval tables (engine/reports). Supervisors, admins and integration tokens only ('staff').
 * Registered by server.ts; input is checked here with zod and refused with server.ts's codes.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import {
  DIMENSIONS, INTERVALS, SCHEDULE_ERRORS, withOrders, type OrdersPort, airingSchema, parseScheduleCsv, parseScheduleYaml, programmeSchema, reportTable, toCsv, toXlsx,
  type Dimension, type ReportQuery, type ReportRow, type ScheduleResult, type SqliteSchedule,
} from '../reports/index.ts';
import type { RouteKit } from './callbacks-routes.ts';
import type { RouteDoc } from './openapi.ts';

/** What the reports routes need from the engine. */
export interface ReportsApiDeps {
  /** Run a report (`now` closes the agents' open state spells). */
  run(q: ReportQuery, now: number): ReportRow[];
  /** The shop's orders (the shop adapter): a report by programme / airing / nothing gets orders and conversion. */
  orders?: OrdersPort;
  /** The broadcast schedule; absent: its routes are not registered. */
  schedule?: Pick<SqliteSchedule, 'programmes' | 'airings' | 'putProgramme' | 'putAiring' | 'deleteProgramme' | 'deleteAiring' | 'import'>;
}

/** Largest schedule import body (bytes). */
export const SCHEDULE_IMPORT_MAX_BYTES = 2 * 1024 * 1024;

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

const ERR = { 400: 'invalid input', 401: 'missing or unknown token', 403: 'not a supervisor or admin' } as const;
const idParams = z.strictObject({ id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'an id') });
const ROUTES = {
  reports: {
    summary: 'A report from the interval tables (docs/reports.md): figures by interval and group; JSON, CSV or XLSX',
    tags: ['reports'], querystring: reportsQuery,
    responses: { 200: '{ query, rows: ReportRow[] } (format=json), text/csv, or an XLSX workbook', 400: 'invalid input', 401: 'missing or unknown token', 403: 'not a supervisor or admin', 413: 'more than 200 000 rows: narrow the range or grouping' },
  },
  schedule: { summary: 'The broadcast schedule: programmes and airings (by start)', tags: ['schedule'], querystring: z.strictObject({}), responses: { 200: '{ programmes: Programme[], airings: Airing[] }', ...ERR } },
  putProgramme: { summary: 'Create or replace a programme (with its surge settings)', tags: ['schedule'], params: idParams, body: programmeSchema, responses: { 200: 'Programme', ...ERR } },
  deleteProgramme: { summary: 'Delete a programme that has no airings', tags: ['schedule'], params: idParams, responses: { 204: 'deleted', ...ERR, 404: 'no such programme', 409: 'it has airings' } },
  putAiring: { summary: 'Create or replace an airing (times epoch ms or ISO 8601)', tags: ['schedule'], params: idParams, body: airingSchema, responses: { 200: 'Airing', ...ERR, 409: 'no such programme' } },
  deleteAiring: { summary: 'Delete an airing', tags: ['schedule'], params: idParams, responses: { 204: 'deleted', ...ERR, 404: 'no such airing' } },
  importSchedule: { summary: 'Import a schedule file: YAML (application/yaml) or airings CSV (text/csv), all or nothing', tags: ['schedule'], body: z.string().min(1), bodyContentType: 'application/yaml', responses: { 200: '{ programmes, airings } imported', ...ERR, 409: 'an airing names an unknown programme', 413: 'body larger than 2 MiB', 415: 'not YAML or CSV' } },
} satisfies Record<string, RouteDoc>;

/** Register the reports routes. */
export function registerReportRoutes(app: FastifyInstance, deps: ReportsApiDeps, kit: RouteKit, now: () => number = Date.now): void {
  const { parse, fail } = kit;
  if (deps.schedule !== undefined) registerScheduleRoutes(app, deps.schedule, kit);
  app.get('/api/v1/reports', { schema: ROUTES.reports, config: { access: 'staff' } }, async (req, reply) => {
    const q = parse(reportsQuery, req.query, 'query');
    const filter: ReportQuery['filter'] = {};
    for (const d of ['queue', 'agent', 'team', 'programme', 'airing', 'direction'] as const) {
      const v = q[d];
      if (v !== undefined) filter[d] = v === '' ? null : v;
    }
    const query: ReportQuery = { group: q.group, interval: q.interval, from: q.from, to: q.to, utcOffsetMinutes: q.utcOffsetMinutes, filter };
    let rows = deps.run(query, now());
    if (deps.orders !== undefined) rows = await withOrders(rows, deps.orders, query);
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

/** Register the schedule routes (staff). */
export function registerScheduleRoutes(app: FastifyInstance, schedule: NonNullable<ReportsApiDeps['schedule']>, kit: RouteKit): void {
  const { parse, fail } = kit;
  const value = <T>(r: ScheduleResult<T>): T => {
    if (r.ok) return r.value;
    if (r.code === SCHEDULE_ERRORS.notFound) throw fail(404, 'API_ERR_NOT_FOUND', r.reason);
    if (r.code === SCHEDULE_ERRORS.invalid) throw fail(400, 'API_ERR_VALIDATION', r.reason);
    throw fail(409, 'API_ERR_CONFLICT', r.reason);
  };
  const sameId = (id: string, body: { id: string }): void => {
    if (body.id !== id) throw fail(400, 'API_ERR_VALIDATION', `body.id ${body.id} is not the path's ${id}`);
  };
  app.get('/api/v1/schedule', { schema: ROUTES.schedule, config: { access: 'staff' } }, async (req) => {
    parse(z.strictObject({}), req.query, 'query');
    return { programmes: schedule.programmes(), airings: schedule.airings() };
  });
  // Programmes and airings have the same four routes: put by id (body id = path id), delete by id.
  const crud = [
    { path: 'programmes', put: ROUTES.putProgramme, del: ROUTES.deleteProgramme, body: programmeSchema as z.ZodType<{ id: string }>,
      save: async (b: unknown): Promise<ScheduleResult<unknown>> => schedule.putProgramme(b as Parameters<typeof schedule.putProgramme>[0]), remove: (id: string) => schedule.deleteProgramme(id) },
    { path: 'airings', put: ROUTES.putAiring, del: ROUTES.deleteAiring, body: airingSchema as z.ZodType<{ id: string }>,
      save: async (b: unknown): Promise<ScheduleResult<unknown>> => schedule.putAiring(b as Parameters<typeof schedule.putAiring>[0]), remove: (id: string) => schedule.deleteAiring(id) },
  ] as const;
  for (const c of crud) {
    app.put(`/api/v1/schedule/${c.path}/:id`, { schema: c.put, config: { access: 'staff' } }, async (req) => {
      const p = parse(idParams, req.params, 'params');
      const b = parse(c.body, req.body, 'body');
      sameId(p.id, b);
      return value(await c.save(b));
    });
    app.delete(`/api/v1/schedule/${c.path}/:id`, { schema: c.del, config: { access: 'staff' } }, async (req, reply) => {
      value(await c.remove(parse(idParams, req.params, 'params').id));
      return reply.code(204).send();
    });
  }
  for (const type of ['application/yaml', 'text/yaml']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: SCHEDULE_IMPORT_MAX_BYTES }, (_req, body, done) => done(null, body));
  }
  app.post('/api/v1/schedule/import', { schema: ROUTES.importSchedule, bodyLimit: SCHEDULE_IMPORT_MAX_BYTES, config: { access: 'staff' } }, async (req) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'text/csv' && type !== 'application/yaml' && type !== 'text/yaml') throw fail(415, 'API_ERR_VALIDATION', 'send application/yaml or text/csv');
    const text = parse(z.string().min(1), req.body, 'body');
    const parsed = type === 'text/csv' ? parseScheduleCsv(text, new Set(schedule.programmes().map((p) => p.id))) : parseScheduleYaml(text);
    return value(await schedule.import(value(parsed)));
  });
}
