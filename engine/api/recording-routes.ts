/**
 * Routes of call recording and supervisor monitoring (issue 16): start / stop / pause / resume a
 * call's recording, fetch a recording file, and start monitoring a call (listen, whisper, barge).
 * Registered by server.ts with its `parse` / `fail`, so refusals use the same `API_ERR_*` codes.
 *
 * Who may do what (the engine decides, not the UI):
 *   recording actions   an agent on its own call (a card number: pause); supervisors, admins, tokens
 *   GET a recording     an agent for its own call while it is up or in wrap-up; supervisors, admins, tokens
 *   monitoring          supervisors, admins, tokens
 * Fetching a recording and starting monitoring are audited (contract C2): to the audit sink when
 * the engine wires one, else as a pino line with the same fields.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Principal } from './auth.ts';
import type { RouteKit } from './callbacks-routes.ts';
import type { RouteDoc } from './openapi.ts';
import type { ApiErrorCode } from './types.ts';

/** The audit port (contract C2; engine/audit implements it). */
export interface AuditSink {
  record(e: { actor: string; role: string; source: string; action: string; target: string; detail?: Record<string, unknown> }): void;
}

/** A refusal of call control, mapped to an HTTP status here. */
export interface CallActionRefusal {
  ok: false;
  code: string;
  message: string;
}

/** Monitoring modes (docs/recording.md). */
export type MonitorMode = 'listen' | 'whisper' | 'barge';

/** What the routes need from the engine. */
export interface RecordingRoutesDeps {
  /** A recording action on a call in progress. */
  control(callId: string, action: 'start' | 'stop' | 'pause' | 'resume'): Promise<{ ok: true; state: string; pausedMs: number } | CallActionRefusal>;
  /** The agent of a call in progress or in its agent's wrap-up; undefined when there is none such. */
  owner(callId: string): string | null | undefined;
  /** The recording file of a call id (validated there; undefined for no call id). */
  file(callId: string): string | undefined;
  /** Start monitoring; absent when the engine has no monitoring. */
  monitor?(callId: string, req: { mode: MonitorMode; supervisor: string | null; number: string | null }): Promise<{ ok: true; monitorId: string } | CallActionRefusal>;
  audit?: AuditSink;
  log: Pick<Logger, 'info'>;
}

const callParams = z.strictObject({ id: z.string().min(1).max(26).regex(/^c[0-9a-z]+-[0-9a-z]+$/, 'a call id') });
const actionParams = callParams.extend({ action: z.enum(['start', 'stop', 'pause', 'resume']) });
const recordingParams = z.strictObject({ callId: z.string().min(1).max(26).regex(/^c[0-9a-z]+-[0-9a-z]+$/, 'a call id') });
const noBody = z.union([z.undefined(), z.null(), z.strictObject({})]);
const monitorBody = z.strictObject({
  mode: z.enum(['listen', 'whisper', 'barge']),
  supervisor: z.string().regex(/^[0-9]{2,10}$/, 'an extension: 2-10 digits').optional(),
  number: z.string().regex(/^\+?[0-9]{3,20}$/, 'a phone number: optional +, 3-20 digits').optional(),
}).refine((b) => (b.supervisor === undefined) !== (b.number === undefined), { message: 'exactly one of supervisor and number' });

const ERR = { 400: 'invalid input', 401: 'not signed in', 403: 'your role may not' } as const;
const ROUTES = {
  action: { summary: 'Start, stop, pause or resume the recording of a call in progress (paused = silence in the file)', tags: ['recording'], params: actionParams, responses: { 200: '{ state, pausedMs }', ...ERR, 404: 'no such call', 409: 'not talking, policy never, or not in that state' } },
  fetch: { summary: 'A recording (audio/wav), streamed; audited', tags: ['recording'], params: recordingParams, responses: { 200: 'audio/wav', ...ERR, 404: 'no recording of this call' } },
  monitor: { summary: 'Monitor a call: the supervisor\'s registered phone (supervisor: extension) or a number through an outbound trunk is called; listen, whisper or barge; audited', tags: ['recording'], params: callParams, body: monitorBody, responses: { 200: '{ monitorId }', ...ERR, 404: 'no such call', 409: 'not talking, already monitored, consulting, or a three-way conference', 503: 'no phone or trunk to call' } },
} satisfies Record<string, RouteDoc>;

/** HTTP status of a call-control refusal code. */
export function statusOf(code: string): number {
  if (code === 'CALLS_ERR_NO_CALL') return 404;
  if (code === 'CALLS_ERR_MEDIA' || code === 'CALLS_ERR_NO_PHONE') return 503;
  return 409;
}

export function apiCode(status: number): ApiErrorCode {
  return status === 404 ? 'API_ERR_NOT_FOUND' : status === 503 ? 'API_ERR_UNAVAILABLE' : 'API_ERR_CONFLICT';
}

/** Who the principal is, for audit lines. */
export function actor(p: Principal | null): { actor: string; role: string } {
  if (p === null) return { actor: 'unknown', role: 'none' };
  if (p.kind === 'user') return { actor: p.session.user.username, role: p.session.user.role };
  return { actor: p.kind, role: p.kind === 'token' ? 'integration' : 'open' };
}

/** The agent id `p` is restricted to, or null when it may see every call. */
export function agentOf(p: Principal | null): string | null {
  return p !== null && p.kind === 'user' && p.session.user.role === 'agent' ? p.session.user.agentId ?? '' : null;
}

/** Register the routes (server.ts calls this when the engine has recording). */
export function registerRecordingRoutes(app: FastifyInstance, deps: RecordingRoutesDeps, kit: RouteKit): void {
  const audit = (req: FastifyRequest, action: string, target: string, detail: Record<string, unknown>): void => {
    const e = { ...actor(req.principal), source: req.ip, action, target, detail };
    if (deps.audit !== undefined) deps.audit.record(e);
    else deps.log.info({ audit: e }, 'audit');
  };

  app.post('/api/v1/calls/:id/recording/:action', { schema: ROUTES.action, config: { access: 'signedIn' } }, async (req) => {
    const p = kit.parse(actionParams, req.params, 'params');
    kit.parse(noBody, req.body, 'body');
    const scope = agentOf(req.principal);
    if (scope !== null && deps.owner(p.id) !== scope) throw kit.fail(403, 'API_ERR_FORBIDDEN', 'an agent controls the recording of its own calls only');
    const r = await deps.control(p.id, p.action);
    if (!r.ok) {
      const status = statusOf(r.code);
      throw kit.fail(status, apiCode(status), `${r.code}: ${r.message}`);
    }
    return { state: r.state, pausedMs: r.pausedMs };
  });

  app.get('/api/v1/recordings/:callId', { schema: ROUTES.fetch, config: { access: 'signedIn' } }, async (req, reply) => {
    const p = kit.parse(recordingParams, req.params, 'params');
    const scope = agentOf(req.principal);
    // Only the agent known to have had the call; a finished call's agent is not kept here, so an
    // agent asks a supervisor for an older recording (refused, never guessed).
    if (scope !== null && deps.owner(p.callId) !== scope) throw kit.fail(403, 'API_ERR_FORBIDDEN', 'an agent fetches the recordings of its own calls only');
    const file = deps.file(p.callId);
    if (file === undefined) throw kit.fail(400, 'API_ERR_VALIDATION', 'params.callId: a call id');
    const st = await stat(file).catch(() => undefined);
    if (st === undefined || !st.isFile()) throw kit.fail(404, 'API_ERR_NOT_FOUND', `no recording of call ${p.callId}`);
    audit(req, 'recording.fetch', p.callId, { bytes: st.size });
    return reply.type('audio/wav').header('content-length', String(st.size)).header('x-content-type-options', 'nosniff')
      .header('content-disposition', `attachment; filename="${p.callId}.wav"`).send(createReadStream(file));
  });

  app.post('/api/v1/calls/:id/monitor', { schema: ROUTES.monitor, config: { access: 'staff' } }, async (req) => {
    const p = kit.parse(callParams, req.params, 'params');
    const b = kit.parse(monitorBody, req.body, 'body');
    if (deps.monitor === undefined) throw kit.fail(501, 'API_ERR_NOT_IMPLEMENTED', 'monitoring is not available');
    const r = await deps.monitor(p.id, { mode: b.mode, supervisor: b.supervisor ?? null, number: b.number ?? null });
    audit(req, 'monitoring.start', p.id, { mode: b.mode, supervisor: b.supervisor ?? null, number: b.number ?? null, ok: r.ok, ...(r.ok ? {} : { code: r.code }) });
    if (!r.ok) {
      const status = statusOf(r.code);
      throw kit.fail(status, apiCode(status), `${r.code}: ${r.message}`);
    }
    return { monitorId: r.monitorId };
  });
}
