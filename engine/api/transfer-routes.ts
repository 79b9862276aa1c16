/**
 * Routes of call control from the desktop or an integration (issue 16): transfer a talking call to
 * a queue, a named agent or an external number, hold / resume it, and consult a second agent
 * (attended transfer: consult, then complete or cancel; the call's consultation dialog is read
 * with `GET /api/v1/calls/:id`, so a phone can complete by REFER with Replaces), or join the
 * caller to the consultation (a three-way conference) and leave it (docs/transfer.md). The rules
 * are call control's (engine/calls transfer.ts); this file validates input, checks who may act on
 * the call, maps refusals to HTTP and audits every attempt. Registered by server.ts with its
 * `parse` / `fail`, so refusals use the same `API_ERR_*` codes.
 *
 * Who may do what (the engine decides, not the UI):
 *   an agent        its own call only (the call's agent now)
 *   a supervisor    any call, or with teams: a call whose agent is of its teams
 *   admins, tokens with scope `calls` (or full tokens): any call
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { z } from 'zod';
import { ApiAuth } from './auth.ts';
import type { RouteKit } from './callbacks-routes.ts';
import type { RouteDoc } from './openapi.ts';
import { actor, agentOf, apiCode, statusOf, type AuditSink } from './recording-routes.ts';

/** A refusal of call control (its `CALLS_ERR_*` code), mapped to an HTTP status here. */
export interface CallControlRefusal {
  ok: false;
  code: string;
  message: string;
}

/** Where a transfer sends the caller (structurally engine/calls `ApiTransferTarget`). */
export type TransferTarget = { queue: string } | { agent: string } | { number: string };

/** A consultation's state as call control answers it (structurally engine/calls `ConsultAnswer`). */
export type ConsultResult = { ok: true; agent: string; state: string } | CallControlRefusal;

/** A call's consultation as `GET /api/v1/calls/:id` shows it (structurally engine/calls `ConsultView`). */
export interface ConsultDialogView {
  agent: string;
  from: string;
  state: string;
  startedAt: number;
  answeredAt: number | null;
  /** When the caller joined (a three-way conference), or null. */
  conferenceAt: number | null;
  /** onair's dialog with the consulted agent as a Replaces names it (RFC 3891: `toTag` the consulted phone's tag). */
  dialog: { callId: string; toTag: string; fromTag: string } | null;
  referTo: string | null;
}

/** What the routes need from the engine (structurally `CallController.transfer` / `hold` / `consult` / `endConsult`). */
export interface TransferRoutesDeps {
  transfer(callId: string, target: TransferTarget): Promise<{ ok: true; kind: string; queue: string | null; agent: string | null; number: string | null } | CallControlRefusal>;
  hold(callId: string, intent: 'hold' | 'resume'): { ok: true; held: boolean } | CallControlRefusal;
  consult(callId: string, agent: string): Promise<ConsultResult>;
  endConsult(callId: string, how: 'complete' | 'cancel'): ConsultResult;
  /** Join the caller to the consultation (three-way conference), or the call's agent leaves it (structurally `CallController.conference`). */
  conference(callId: string, how: 'join' | 'leave'): ConsultResult;
  /** A call in progress: its agent, queue and consultation (null without one); undefined for no such call. */
  view(callId: string): { agent: string | null; queue: string | null; consult: ConsultDialogView | null } | undefined;
  /** The agent of a call in progress (null before an agent has it), undefined for no such call. */
  owner(callId: string): string | null | undefined;
  /** An agent's team (null for none), for supervisors limited to teams. */
  teamOf(agentId: string): string | null | undefined;
  audit?: AuditSink;
  log: Pick<Logger, 'info'>;
}

const callId = z.string().min(1).max(26).regex(/^c[0-9a-z]+-[0-9a-z]+$/, 'a call id');
const callParams = z.strictObject({ id: callId });
const noBody = z.union([z.undefined(), z.null(), z.strictObject({})]);
const name = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');
/** One of queue, agent, number; `mode` is blind only (attended transfer is the phone's, by REFER with Replaces). */
const transferBody = z.strictObject({
  to: z.union([
    z.strictObject({ queue: name }),
    z.strictObject({ agent: name }),
    z.strictObject({ number: z.string().regex(/^\+?[0-9]{3,20}$/, 'a phone number: optional +, 3-20 digits') }),
  ]),
  mode: z.literal('blind').optional(),
});
const consultBody = z.strictObject({ agent: name });

const ERR = { 400: 'invalid input', 401: 'not signed in', 403: 'your role may not (an agent: only its own call)' } as const;
const ROUTES = {
  transfer: {
    summary: 'Blind transfer of a talking call: to a queue (priority and arrival kept), to a named agent (offered to it alone, else back to the queue), or to a number through an outbound trunk; audited',
    tags: ['calls'], params: callParams, body: transferBody,
    responses: { 200: '{ kind, queue, agent, number }', ...ERR, 404: 'no such call', 409: 'not talking, unknown target, agent not free, or a loop', 503: 'no outbound trunk, or no media' },
  },
  hold: {
    summary: 'Hold a talking call: the caller hears its queue\'s hold music, the agent nothing; the time held is the CDR\'s holdMs; audited',
    tags: ['calls'], params: callParams, responses: { 200: '{ held: true }', ...ERR, 404: 'no such call', 409: 'not talking' },
  },
  resume: {
    summary: 'Take a held call off hold: caller and agent bridged again; audited',
    tags: ['calls'], params: callParams, responses: { 200: '{ held: false }', ...ERR, 404: 'no such call', 409: 'not talking' },
  },
  call: {
    summary: 'A call in progress: its agent, queue and consultation (the consulted agent, its state, onair\'s dialog with it as a Replaces names it, a ready Refer-To)',
    tags: ['calls'], params: callParams, responses: { 200: '{ callId, agent, queue, consult }', 401: ERR[401], 403: ERR[403], 404: 'no such call' },
  },
  consult: {
    summary: 'Attended transfer, step 1: the caller is held with its queue\'s music and the named agent (registered, available, idle; reserved by the ACD) is rung from a new leg bridged to the call\'s agent; audited',
    tags: ['calls'], params: callParams, body: consultBody,
    responses: { 200: '{ agent, state: ringing }', ...ERR, 404: 'no such call', 409: 'not talking, consulting already, unknown agent, agent not free, or the call\'s own agent', 503: 'no media leg' },
  },
  consultComplete: {
    summary: 'Attended transfer, step 2: the caller is bridged to the consulted agent, who becomes the call\'s agent; the call\'s former agent is hung up and goes to wrap-up; audited',
    tags: ['calls'], params: callParams, responses: { 200: '{ agent, state: completed }', ...ERR, 404: 'no such call', 409: 'no answered consultation' },
  },
  consultConference: {
    summary: 'Three-way conference: while the call\'s agent talks to the consulted agent, the caller joins them (its hold ends); each of the three hears the other two, mixed in the media worker; audited',
    tags: ['calls'], params: callParams, responses: { 200: '{ agent, state: conference }', ...ERR, 404: 'no such call', 409: 'no answered consultation, in conference already, or the call is monitored' },
  },
  conferenceLeave: {
    summary: 'The call\'s agent leaves the conference: the caller and the consulted agent stay together as a call of that agent; the leaving agent is hung up and goes to wrap-up (as a completed consultation); audited',
    tags: ['calls'], params: callParams, responses: { 200: '{ agent, state: completed }', ...ERR, 404: 'no such call', 409: 'no conference' },
  },
  consultCancel: {
    summary: 'End the consultation: the consulted agent\'s phone stops ringing or is hung up, the caller is bridged to its agent again; audited',
    tags: ['calls'], params: callParams, responses: { 200: '{ agent, state: cancelled }', ...ERR, 404: 'no such call', 409: 'no consultation' },
  },
} satisfies Record<string, RouteDoc>;

/** Register the routes (server.ts calls this when the engine gives call control). */
export function registerTransferRoutes(app: FastifyInstance, deps: TransferRoutesDeps, kit: RouteKit): void {
  const audit = (req: FastifyRequest, action: string, target: string, detail: Record<string, unknown>): void => {
    const e = { ...actor(req.principal), source: req.ip, action, target, detail };
    if (deps.audit !== undefined) deps.audit.record(e);
    else deps.log.info({ audit: e }, 'audit');
  };
  const ownCall = (req: FastifyRequest, id: string): void => {
    const scope = agentOf(req.principal);
    if (scope !== null && deps.owner(id) !== scope) throw kit.fail(403, 'API_ERR_FORBIDDEN', 'an agent controls its own calls only');
    const owner = deps.owner(id);
    if (scope === null && owner !== undefined && owner !== null && !ApiAuth.seesAgent(req.principal, owner, deps.teamOf(owner))) {
      throw kit.fail(403, 'API_ERR_FORBIDDEN', 'not a call of an agent of your teams');
    }
  };
  const refused = (r: CallControlRefusal): Error => {
    const status = statusOf(r.code);
    return kit.fail(status, apiCode(status), `${r.code}: ${r.message}`);
  };

  app.post('/api/v1/calls/:id/transfer', { schema: ROUTES.transfer, config: { access: 'signedIn', scope: 'calls' } }, async (req) => {
    const p = kit.parse(callParams, req.params, 'params');
    const b = kit.parse(transferBody, req.body, 'body');
    ownCall(req, p.id);
    const r = await deps.transfer(p.id, b.to);
    audit(req, 'call.transfer', p.id, { to: b.to, ok: r.ok, ...(r.ok ? {} : { code: r.code }) });
    if (!r.ok) throw refused(r);
    return { kind: r.kind, queue: r.queue, agent: r.agent, number: r.number };
  });

  app.get('/api/v1/calls/:id', { schema: ROUTES.call, config: { access: 'signedIn' } }, async (req) => {
    const p = kit.parse(callParams, req.params, 'params');
    ownCall(req, p.id);
    const v = deps.view(p.id);
    if (v === undefined) throw kit.fail(404, 'API_ERR_NOT_FOUND', `no call ${p.id} in progress`);
    return { callId: p.id, agent: v.agent, queue: v.queue, consult: v.consult };
  });

  app.post('/api/v1/calls/:id/consult', { schema: ROUTES.consult, config: { access: 'signedIn', scope: 'calls' } }, async (req) => {
    const p = kit.parse(callParams, req.params, 'params');
    const b = kit.parse(consultBody, req.body, 'body');
    ownCall(req, p.id);
    const r = await deps.consult(p.id, b.agent);
    audit(req, 'call.consult', p.id, { agent: b.agent, ok: r.ok, ...(r.ok ? {} : { code: r.code }) });
    if (!r.ok) throw refused(r);
    return { agent: r.agent, state: r.state };
  });

  for (const how of ['complete', 'cancel'] as const) {
    const schema = how === 'complete' ? ROUTES.consultComplete : ROUTES.consultCancel;
    app.post(`/api/v1/calls/:id/consult/${how}`, { schema, config: { access: 'signedIn', scope: 'calls' } }, async (req) => {
      const p = kit.parse(callParams, req.params, 'params');
      kit.parse(noBody, req.body, 'body');
      ownCall(req, p.id);
      const r = deps.endConsult(p.id, how);
      audit(req, `call.consult.${how}`, p.id, { ok: r.ok, ...(r.ok ? { agent: r.agent } : { code: r.code }) });
      if (!r.ok) throw refused(r);
      return { agent: r.agent, state: r.state };
    });
  }

  const conferenceRoutes = [
    { how: 'join', url: '/api/v1/calls/:id/consult/conference', schema: ROUTES.consultConference, action: 'call.conference' },
    { how: 'leave', url: '/api/v1/calls/:id/conference/leave', schema: ROUTES.conferenceLeave, action: 'call.conference.leave' },
  ] as const;
  for (const r of conferenceRoutes) {
    app.post(r.url, { schema: r.schema, config: { access: 'signedIn', scope: 'calls' } }, async (req) => {
      const p = kit.parse(callParams, req.params, 'params');
      kit.parse(noBody, req.body, 'body');
      ownCall(req, p.id);
      const a = deps.conference(p.id, r.how);
      audit(req, r.action, p.id, { ok: a.ok, ...(a.ok ? { agent: a.agent } : { code: a.code }) });
      if (!a.ok) throw refused(a);
      return { agent: a.agent, state: a.state };
    });
  }

  for (const action of ['hold', 'resume'] as const) {
    app.post(`/api/v1/calls/:id/${action}`, { schema: ROUTES[action], config: { access: 'signedIn', scope: 'calls' } }, async (req) => {
      const p = kit.parse(callParams, req.params, 'params');
      kit.parse(noBody, req.body, 'body');
      ownCall(req, p.id);
      const r = deps.hold(p.id, action);
      audit(req, `call.${action}`, p.id, { ok: r.ok, ...(r.ok ? {} : { code: r.code }) });
      if (!r.ok) throw refused(r);
      return { held: r.held };
    });
  }
}
