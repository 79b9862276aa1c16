/**
 * Routes of outbound campaigns (issue 14, engine/campaigns): create, list, one campaign with its
 * figures, CSV import of contacts, start / pause / resume / stop, one contact with its script, the
 * agent's disposition, and the answer to a campaign contact's preview. Registered by server.ts
 * when the engine runs campaigns; validation and errors are server.ts's (`parse`, `fail`).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { clockMinutes, isTimeZone } from '../callbacks/index.ts';
import type { CampaignInput, CampaignRefusal, CampaignRuntime } from '../campaigns/index.ts';
import type { RouteDoc } from './openapi.ts';
import { agentId, previewBody, type RouteKit } from './callbacks-routes.ts';

const slug = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'letters, digits and _ . - (not first)');
const note = z.string().min(1).max(500);
const clock = (end: boolean) => z.string().refine((s) => {
  const m = clockMinutes(s);
  return m !== null && (end ? m > 0 : m < 1440);
}, { message: end ? 'expected HH:MM, 00:01-24:00' : 'expected HH:MM, 00:00-23:59' });
const window = z.strictObject({
  days: z.array(z.number().int().min(1).max(7)).min(1).max(7).default([1, 2, 3, 4, 5, 6, 7]),
  from: clock(false),
  to: clock(true),
}).refine((w) => clockMinutes(w.from) !== clockMinutes(w.to), { message: 'from and to are equal; for a whole day write 00:00 to 24:00', path: ['to'] });
const campaignBody = z.strictObject({
  id: slug,
  name: z.string().min(1).max(200),
  type: z.enum(['survey', 'resale', 'care']),
  mode: z.enum(['preview', 'progressive', 'predictive', 'ivr']),
  queue: slug,
  schedule: z.array(window).min(1).max(50).default([{ days: [1, 2, 3, 4, 5, 6, 7], from: '09:00', to: '21:00' }]),
  timeZone: z.string().refine(isTimeZone, { message: 'expected an IANA time zone, e.g. Asia/Shanghai' }).default('Asia/Shanghai'),
  script: z.string().max(20_000).default(''),
  resultCodes: z.array(slug).min(1).max(100).refine((c) => new Set(c).size === c.length, { message: 'each code once' }),
  pauseWhenInboundWaiting: z.number().int().min(0).max(100_000).default(0),
  callerId: z.string().regex(/^\+?[0-9]{3,20}$/, 'digits, optional +').nullable().default(null),
  survey: slug.nullable().default(null).describe('Mode ivr: the survey (config surveys.<id>) the customers answer; null otherwise.'),
  maxConcurrent: z.number().int().min(1).max(1000).default(10).describe('Mode ivr: calls in progress at most.'),
  callsPerSecond: z.number().int().min(1).max(100).default(2).describe('Mode ivr: new calls per second at most.'),
});
const idParams = z.strictObject({ id: slug });
const contactParams = z.strictObject({ id: slug, contact: z.string().regex(/^[1-9][0-9]{0,14}$/, 'a contact id').transform(Number) });
const actionParams = z.strictObject({ id: slug, action: z.enum(['start', 'pause', 'resume', 'stop']) });
const dispositionBody = z.strictObject({ code: slug, note: note.optional(), agent: agentId.optional() });
/** No query parameters (unknown ones are refused). */
const noQuery = z.strictObject({});
const csvBody = z.string().min(1).describe('text/csv: a header line with a number column (number, phone or msisdn) and custom field columns');

const ERR = { 400: 'invalid input', 401: 'missing or unknown token' } as const;
const ROUTES = {
  create: { summary: 'Create an outbound campaign (paused)', tags: ['campaigns'], body: campaignBody, responses: { 201: 'Campaign', ...ERR, 409: 'the id exists' } },
  list: { summary: 'Every campaign', tags: ['campaigns'], querystring: noQuery, responses: { 200: '{ items: Campaign[] }', ...ERR } },
  get: { summary: 'One campaign with its figures', tags: ['campaigns'], params: idParams, responses: { 200: '{ campaign, stats }', ...ERR, 404: 'no such campaign' } },
  import: { summary: 'Import contacts (text/csv, at most 1 MiB per request), every line validated', tags: ['campaigns'], params: idParams, body: csvBody, bodyContentType: 'text/csv', responses: { 200: '{ lines, added, refused, truncated, errors: [{ line, reason }], columns }', ...ERR, 404: 'no such campaign', 409: 'stopped', 413: 'body larger than 1 MiB', 415: 'not text/csv' } },
  action: { summary: 'start, pause, resume or stop a campaign (stop is final: open contacts cancelled)', tags: ['campaigns'], params: actionParams, responses: { 200: 'Campaign', ...ERR, 404: 'no such campaign', 409: 'stopped' } },
  contact: { summary: 'One contact with the script rendered with its fields', tags: ['campaigns'], params: contactParams, responses: { 200: '{ contact, script }', ...ERR, 404: 'no such contact' } },
  disposition: { summary: 'Record the agent\'s result code for a reached contact (campaign_result to the CRM)', tags: ['campaigns'], params: contactParams, body: dispositionBody, responses: { 200: 'CampaignContact', ...ERR, 404: 'no such contact', 409: 'not reached, or reached by another agent' } },
  preview: { summary: 'Answer a campaign contact\'s preview: accept, skip, or reschedule to `at`', tags: ['campaigns'], params: contactParams, body: previewBody, responses: { 200: '{ contactId, agentId, action }', ...ERR, 404: 'not in preview', 409: 'in preview with another agent' } },
} satisfies Record<string, RouteDoc>;

/** Register the campaign routes on `app`. */
export function registerCampaignRoutes(app: FastifyInstance, campaigns: CampaignRuntime, kit: RouteKit): void {
  const { parse, fail } = kit;
  const refused = (r: CampaignRefusal): Error => r.code === 'not_found' ? fail(404, 'API_ERR_NOT_FOUND', r.reason)
    : r.code === 'invalid' ? fail(400, 'API_ERR_VALIDATION', r.reason) : fail(409, 'API_ERR_CONFLICT', r.reason);

  app.post('/api/v1/campaigns', { schema: ROUTES.create }, async (req, reply) => {
    const b: CampaignInput = parse(campaignBody, req.body, 'body');
    const r = await campaigns.create(b, Date.now());
    if (!r.ok) throw refused(r);
    return reply.code(201).send(r.campaign);
  });

  app.get('/api/v1/campaigns', { schema: ROUTES.list }, async (req) => {
    parse(noQuery, req.query, 'query');
    return { items: campaigns.list() };
  });

  app.get('/api/v1/campaigns/:id', { schema: ROUTES.get }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const c = campaigns.get(p.id);
    if (c === null) throw fail(404, 'API_ERR_NOT_FOUND', `no campaign ${p.id}`);
    return c;
  });

  // text/csv bodies are read by the parser callbacks-routes.ts registers (1 MiB).
  app.post('/api/v1/campaigns/:id/contacts/import', { schema: ROUTES.import }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    if (typeof req.body !== 'string') throw fail(415, 'API_ERR_VALIDATION', 'send the contacts as text/csv');
    const r = await campaigns.importCsv(p.id, parse(csvBody, req.body, 'body'), Date.now());
    if (!r.ok) throw refused(r);
    return r.report;
  });

  app.post('/api/v1/campaigns/:id/:action', { schema: ROUTES.action }, async (req) => {
    const p = parse(actionParams, req.params, 'params');
    const r = await campaigns.setState(p.id, p.action, Date.now());
    if (!r.ok) throw refused(r);
    return r.campaign;
  });

  app.get('/api/v1/campaigns/:id/contacts/:contact', { schema: ROUTES.contact }, async (req) => {
    const p = parse(contactParams, req.params, 'params');
    const c = await campaigns.contact(p.id, p.contact);
    if (c === null) throw fail(404, 'API_ERR_NOT_FOUND', `no contact ${p.contact} in campaign ${p.id}`);
    return c;
  });

  app.post('/api/v1/campaigns/:id/contacts/:contact/disposition', { schema: ROUTES.disposition }, async (req) => {
    const p = parse(contactParams, req.params, 'params');
    const b = parse(dispositionBody, req.body, 'body');
    const r = await campaigns.dispose(p.id, p.contact, { code: b.code, note: b.note ?? null, agent: b.agent ?? null }, Date.now());
    if (!r.ok) throw refused(r);
    return r.contact;
  });

  app.post('/api/v1/campaigns/:id/contacts/:contact/preview', { schema: ROUTES.preview }, async (req) => {
    const p = parse(contactParams, req.params, 'params');
    const b = parse(previewBody, req.body, 'body');
    const choice = b.action === 'reschedule' ? { action: b.action, at: b.at, note: b.note } : { action: b.action };
    const r = campaigns.answerPreview(p.id, p.contact, b.agent, choice);
    if (!r.ok) throw r.code === 'not_found' ? fail(404, 'API_ERR_NOT_FOUND', r.reason) : fail(409, 'API_ERR_CONFLICT', r.reason);
    return { contactId: r.taskId, agentId: r.agentId, action: r.action };
  });
}
