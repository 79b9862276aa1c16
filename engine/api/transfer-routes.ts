/**
 * Routes of call control from the desktop or an integration (issue 16): transfer a talking call to
 * a queue, a named agent or an external number, and hold / resume it (docs/transfer.md). The rules
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

/** What the routes need from the engine (structurally `CallController.transfer` / `hold`). */
export interface TransferRoutesDeps {
  transfer(callId: string, target: TransferTarget): Promise<{ ok: true; kind: string; queue: string | null; agent: string | null; number: string | null } | CallControlRefusal>;
  hold(callId: string, intent: 'hold' | 'resume'): { ok: true; held: boolean } | CallControlRefusal;
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
