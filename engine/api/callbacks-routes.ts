/**
 * Routes of the callback dialer (issue 14): one callback task with its attempts, and the hand
 * operations on it (claim, reschedule, cancel, complete); the do-not-call list (list, add,
 * remove, CSV import). Registered by server.ts; validation and error answers are server.ts's
 * (`parse`, `fail`), so these routes refuse bad input with the same `API_ERR_*` codes.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { normalizeDncNumber, type StoreResult } from '../store/index.ts';
import type { RouteDoc } from './openapi.ts';
import type { ApiDeps, ApiErrorCode } from './types.ts';

/** What server.ts lends the routes: its zod parse (400 on failure) and its error constructor. */
export interface RouteKit {
  parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T;
  fail(statusCode: number, code: ApiErrorCode, message: string): Error;
}

/** Largest CSV import body (bytes): about 50 000 numbers. */
export const DNC_IMPORT_MAX_BYTES = 1024 * 1024;
/** Refused lines listed in an import answer (the rest are only counted). */
const REFUSED_LISTED = 20;
/** Furthest a task may be rescheduled ahead (ms). */
const RESCHEDULE_MAX_AHEAD_MS = 90 * 86_400_000;

const taskParams = z.strictObject({ id: z.string().regex(/^[1-9][0-9]{0,14}$/, 'a task id: a positive integer').transform(Number) });
const note = z.string().min(1).max(500);
const noteBody = z.strictObject({ note: note.optional() });
const claimBody = z.strictObject({ by: z.string().min(1).max(64).regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only') });
/** Epoch milliseconds, or an ISO 8601 date-time with offset. */
const instant = z.union([
  z.number().int().min(0).max(8.64e15),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const rescheduleBody = z.strictObject({ at: instant, note: note.optional() });
/** An agent id in a body. */
export const agentId = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');
/** The agent's answer to a preview (callbacks and campaign contacts alike). */
export const previewBody = z.discriminatedUnion('action', [
  z.strictObject({ agent: agentId, action: z.literal('accept') }),
  z.strictObject({ agent: agentId, action: z.literal('skip') }),
  z.strictObject({ agent: agentId, action: z.literal('reschedule'), at: instant, note: note.optional() }),
]);
const phone = z.string().max(64).transform((s, ctx) => {
  const n = normalizeDncNumber(s);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: 'expected a phone number: optional +, 3-20 digits (spaces, - . ( ) allowed)' });
    return z.NEVER;
  }
  return n;
});
const numberParams = z.strictObject({ number: phone });
const dncBody = z.strictObject({ number: phone, note: note.optional() });
const pagingQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});
const csvBody = z.string().min(1).describe('text/csv: one number per line (the first field; a header line "number" is skipped)');

const ERR = { 400: 'invalid input', 401: 'missing or unknown token' } as const;
const ROUTES = {
  task: { summary: 'One callback task with its attempts', tags: ['callbacks'], params: taskParams, responses: { 200: '{ task: CallbackTask, attempts: CallbackAttempt[] }', ...ERR, 404: 'no such task' } },
  claim: { summary: 'Claim an open task by hand (an agent or supervisor id)', tags: ['callbacks'], params: taskParams, body: claimBody, responses: { 200: 'CallbackTask, claimed', ...ERR, 404: 'no such task', 409: 'not open' } },
  reschedule: { summary: 'Put an open (or hand-claimed) task back, due at `at`', tags: ['callbacks'], params: taskParams, body: rescheduleBody, responses: { 200: 'CallbackTask, open', ...ERR, 404: 'no such task', 409: 'closed, or an attempt is in progress' } },
  preview: { summary: 'Answer a preview (mode preview): accept (the agent\'s phone rings, then the customer), skip, or reschedule to `at`', tags: ['callbacks'], params: taskParams, body: previewBody, responses: { 200: '{ taskId, agentId, action }', ...ERR, 404: 'the task is not in preview', 409: 'in preview with another agent', 501: 'the dialer does not run' } },
  cancel: { summary: 'Cancel an open or claimed task', tags: ['callbacks'], params: taskParams, body: noteBody, responses: { 200: 'CallbackTask, cancelled', ...ERR, 404: 'no such task', 409: 'already closed' } },
  complete: { summary: 'Complete a claimed task (the customer was reached by hand)', tags: ['callbacks'], params: taskParams, body: noteBody, responses: { 200: 'CallbackTask, done', ...ERR, 404: 'no such task', 409: 'not claimed' } },
  dncList: { summary: 'The do-not-call list, by number, paged', tags: ['dnc'], querystring: pagingQuery, responses: { 200: 'Page<DncEntry> with total', ...ERR } },
  dncGet: { summary: 'One do-not-call entry', tags: ['dnc'], params: numberParams, responses: { 200: 'DncEntry', ...ERR, 404: 'not listed' } },
  dncAdd: { summary: 'Add a number; its open callback task is cancelled (note dnc)', tags: ['dnc'], body: dncBody, responses: { 200: '{ entry, added: false, cancelled } (already listed)', 201: '{ entry, added: true, cancelled }', ...ERR } },
  dncRemove: { summary: 'Remove a number from the list', tags: ['dnc'], params: numberParams, responses: { 204: 'removed', ...ERR, 404: 'not listed' } },
  dncImport: { summary: 'Import numbers from CSV (text/csv), every line validated', tags: ['dnc'], body: csvBody, bodyContentType: 'text/csv', responses: { 200: '{ lines, accepted, added, already, refused, cancelled, refusedLines: [{ line, text, reason }] }', ...ERR, 413: 'body larger than 1 MiB', 415: 'not text/csv' } },
} satisfies Record<string, RouteDoc>;

/** One CSV line refused by the import. */
export interface RefusedLine {
  /** 1-based line number. */
  line: number;
  /** The line as sent, cut at 80 characters. */
  text: string;
  reason: string;
}

/** What a CSV import did. */
export interface DncImportReport {
  /** Non-empty lines read (the header included). */
  lines: number;
  /** Lines that held a valid number (duplicates within the file included). */
  accepted: number;
  /** Numbers new on the list. */
  added: number;
  /** Numbers listed already (or twice in the file). */
  already: number;
  refused: number;
  /** Open callback tasks cancelled because their number is now listed. */
  cancelled: number;
  /** The first refused lines. */
  refusedLines: RefusedLine[];
}

/**
 * Read a CSV of numbers: the first field of each non-empty line (fields split at `,` or `;`,
 * optional double quotes). A first line whose field is `number`, `phone` or `msisdn` is a header.
 */
export function parseDncCsv(text: string): { numbers: string[]; lines: number; refused: number; refusedLines: RefusedLine[] } {
  const numbers: string[] = [];
  const refusedLines: RefusedLine[] = [];
  let refused = 0;
  let lines = 0;
  let lineNo = 0;
  for (const raw of text.split('\n')) {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') continue;
    lines++;
    let cut = line.length;
    for (const sep of [',', ';']) {
      const i = line.indexOf(sep);
      if (i >= 0 && i < cut) cut = i;
    }
    let field = line.slice(0, cut).trim();
    if (field.length >= 2 && field.startsWith('"') && field.endsWith('"')) field = field.slice(1, -1).trim();
    if (lines === 1 && ['number', 'phone', 'msisdn'].includes(field.toLowerCase())) continue;
    const n = normalizeDncNumber(field);
    if (n === null) {
      refused++;
      if (refusedLines.length < REFUSED_LISTED) refusedLines.push({ line: lineNo, text: line.slice(0, 80), reason: 'not a phone number' });
      continue;
    }
    numbers.push(n);
  }
  return { numbers, lines, refused, refusedLines };
}

/** Register the callback-task and do-not-call routes on `app`. */
export function registerCallbackRoutes(app: FastifyInstance, deps: ApiDeps, kit: RouteKit): void {
  const { parse, fail } = kit;
  const value = <T>(r: StoreResult<T>): T => {
    if (r.ok) return r.value;
    throw r.code === 'STORE_ERR_NOT_FOUND' ? fail(404, 'API_ERR_NOT_FOUND', r.reason) : fail(409, 'API_ERR_CONFLICT', r.reason);
  };

  app.get('/api/v1/callbacks/:id', { schema: ROUTES.task }, async (req) => {
    const p = parse(taskParams, req.params, 'params');
    const task = await deps.callbacks.get(p.id);
    if (task === null) throw fail(404, 'API_ERR_NOT_FOUND', `no callback task ${p.id}`);
    return { task, attempts: await deps.callbacks.attempts(p.id) };
  });

  app.post('/api/v1/callbacks/:id/claim', { schema: ROUTES.claim }, async (req) => {
    const p = parse(taskParams, req.params, 'params');
    const b = parse(claimBody, req.body, 'body');
    return value(await deps.callbacks.claim(p.id, b.by, Date.now()));
  });

  app.post('/api/v1/callbacks/:id/reschedule', { schema: ROUTES.reschedule }, async (req) => {
    const p = parse(taskParams, req.params, 'params');
    const b = parse(rescheduleBody, req.body, 'body');
    const now = Date.now();
    if (b.at > now + RESCHEDULE_MAX_AHEAD_MS) throw fail(400, 'API_ERR_VALIDATION', 'body.at: more than 90 days ahead');
    return value(await deps.callbacks.reschedule(p.id, b.at, now, b.note));
  });

  app.post('/api/v1/callbacks/:id/preview', { schema: ROUTES.preview }, async (req) => {
    const p = parse(taskParams, req.params, 'params');
    const b = parse(previewBody, req.body, 'body');
    if (!deps.callbackPreview) throw fail(501, 'API_ERR_NOT_IMPLEMENTED', 'the callback dialer does not run (no outbound trunk)');
    if (b.action === 'reschedule' && b.at > Date.now() + RESCHEDULE_MAX_AHEAD_MS) throw fail(400, 'API_ERR_VALIDATION', 'body.at: more than 90 days ahead');
    const choice = b.action === 'reschedule' ? { action: b.action, at: b.at, note: b.note } : { action: b.action };
    const r = deps.callbackPreview(p.id, b.agent, choice);
    if (!r.ok) throw r.code === 'not_found' ? fail(404, 'API_ERR_NOT_FOUND', r.reason) : fail(409, 'API_ERR_CONFLICT', r.reason);
    return { taskId: r.taskId, agentId: r.agentId, action: r.action };
  });

  app.post('/api/v1/callbacks/:id/cancel', { schema: ROUTES.cancel }, async (req) => {
    const p = parse(taskParams, req.params, 'params');
    const b = parse(noteBody, req.body, 'body');
    return value(await deps.callbacks.cancel(p.id, Date.now(), b.note));
  });

  app.post('/api/v1/callbacks/:id/complete', { schema: ROUTES.complete }, async (req) => {
    const p = parse(taskParams, req.params, 'params');
    const b = parse(noteBody, req.body, 'body');
    return value(await deps.callbacks.complete(p.id, Date.now(), b.note));
  });

  app.get('/api/v1/dnc', { schema: ROUTES.dncList }, async (req) => {
    const q = parse(pagingQuery, req.query, 'query');
    const [items, total] = await Promise.all([deps.dnc.list(q.limit + 1, q.offset), deps.dnc.count()]);
    const hasMore = items.length > q.limit;
    return { items: hasMore ? items.slice(0, q.limit) : items, limit: q.limit, offset: q.offset, hasMore, total };
  });

  app.get('/api/v1/dnc/:number', { schema: ROUTES.dncGet }, async (req) => {
    const p = parse(numberParams, req.params, 'params');
    const entry = await deps.dnc.get(p.number);
    if (entry === null) throw fail(404, 'API_ERR_NOT_FOUND', `${p.number} is not on the do-not-call list`);
    return entry;
  });

  app.post('/api/v1/dnc', { schema: ROUTES.dncAdd }, async (req, reply) => {
    const b = parse(dncBody, req.body, 'body');
    const r = await deps.dnc.add(b.number, Date.now(), 'api', b.note ?? null);
    return reply.code(r.added ? 201 : 200).send(r);
  });

  app.delete('/api/v1/dnc/:number', { schema: ROUTES.dncRemove }, async (req, reply) => {
    const p = parse(numberParams, req.params, 'params');
    if (!(await deps.dnc.remove(p.number))) throw fail(404, 'API_ERR_NOT_FOUND', `${p.number} is not on the do-not-call list`);
    return reply.code(204).send();
  });

  // Only this route reads text/csv; fastify answers 415 for other types and 413 above the limit.
  app.addContentTypeParser('text/csv', { parseAs: 'string', bodyLimit: DNC_IMPORT_MAX_BYTES }, (_req, body, done) => done(null, body));
  app.post('/api/v1/dnc/import', { schema: ROUTES.dncImport, bodyLimit: DNC_IMPORT_MAX_BYTES }, async (req): Promise<DncImportReport> => {
    if (typeof req.body !== 'string') throw fail(415, 'API_ERR_VALIDATION', 'send the numbers as text/csv');
    const text = parse(csvBody, req.body, 'body');
    const csv = parseDncCsv(text);
    const r = csv.numbers.length === 0 ? { added: 0, already: 0, cancelled: 0 } : await deps.dnc.addMany(csv.numbers, Date.now(), 'import');
    return {
      lines: csv.lines, accepted: csv.numbers.length, added: r.added, already: r.already, refused: csv.refused,
      cancelled: r.cancelled, refusedLines: csv.refusedLines,
    };
  });
}
