/**
 * Routes of surge mode (issue 18, docs/reports.md): `GET /api/v1/surge` (what is on, until when,
 * the manual holds) and `POST /api/v1/surge` (manual override: start, stop, release), for
 * supervisors, admins and integration tokens ('staff'; overriding needs the token scope `agents`, reading `read`). Every override is
 * audited with the caller and its reason; each switch it causes is audited by the engine
 * (`surge.on` / `surge.off`) and sent on the event stream (`surge`).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { SCHEDULE_ERRORS, type ScheduleResult, type SurgeState, type SurgeTarget } from '../reports/index.ts';
import type { RouteKit } from './callbacks-routes.ts';
import type { AuditPort } from './desk-routes.ts';
import { requestActor } from './desk-routes.ts';
import type { RouteDoc } from './openapi.ts';

/** What the surge routes need from the engine (engine/reports' `SurgeMode`). */
export interface SurgeApiDeps {
  state(): SurgeState;
  override(action: 'start' | 'stop' | 'release', target: SurgeTarget, by: string, note: string): ScheduleResult<SurgeState>;
}

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'an id');
const surgeBody = z.strictObject({
  action: z.enum(['start', 'stop', 'release']).describe('start: surge on now and held; stop: off now and held; release: back to the schedule'),
  airing: id.optional().describe('One airing (its programme must have surge settings)'),
  queue: id.optional().describe('Every programme surging into this queue (ignored when airing is given)'),
  reason: z.string().trim().min(1).max(200).describe('Why (audited)'),
});

const ERR = { 400: 'invalid input', 401: 'missing or unknown token', 403: 'not a supervisor or admin, or the token lacks the scope' } as const;
const ROUTES = {
  state: { summary: 'Surge mode now: the airings on (until when, held or not), the manual holds, campaigns paused', tags: ['schedule'], querystring: z.strictObject({}), responses: { 200: 'SurgeState', ...ERR } },
  override: {
    summary: 'Manual override of surge mode: start or stop now and hold against the schedule, or release back to it (docs/reports.md)',
    tags: ['schedule'], body: surgeBody,
    responses: { 200: 'SurgeState after the override', ...ERR, 404: 'the airing has no surge window, or no programme surges into the queue', 409: 'the engine is stopping' },
  },
} satisfies Record<string, RouteDoc>;

/** Register the surge routes. */
export function registerSurgeRoutes(app: FastifyInstance, surge: SurgeApiDeps, kit: RouteKit & { audit?: AuditPort | undefined }): void {
  const { parse, fail } = kit;
  app.get('/api/v1/surge', { schema: ROUTES.state, config: { access: 'staff' } }, async (req) => {
    parse(z.strictObject({}), req.query, 'query');
    return surge.state();
  });
  app.post('/api/v1/surge', { schema: ROUTES.override, config: { access: 'staff', scope: 'agents' } }, async (req) => {
    const b = parse(surgeBody, req.body, 'body');
    const target: SurgeTarget = { airing: b.airing ?? null, queue: b.airing === undefined ? b.queue ?? null : null };
    const actor = requestActor(req);
    const r = surge.override(b.action, target, actor.actor, b.reason);
    if (!r.ok) throw fail(r.code === SCHEDULE_ERRORS.notFound ? 404 : 409, r.code === SCHEDULE_ERRORS.notFound ? 'API_ERR_NOT_FOUND' : 'API_ERR_CONFLICT', r.reason);
    kit.audit?.record({ ...actor, action: `surge.${b.action}`, target: target.airing ?? (target.queue !== null ? `queue:${target.queue}` : 'all'), detail: { reason: b.reason } });
    return r.value;
  });
}
