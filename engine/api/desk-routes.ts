/**
 * Routes of people at work beyond status (issue 15): run-time provisioning (an agent's skills,
 * new agents), the audit log, and the helpers every audited route uses to say who acted and from
 * where. Registered by server.ts; validation and errors are server.ts's (`RouteKit`).
 *
 * ```
 *  PUT    /api/v1/agents/:id/skills          { skills }  staff    replace the skills
 *  PUT    /api/v1/agents/:id/skills/:skill   { level }   staff    into a skill group (a queue's skill)
 *  DELETE /api/v1/agents/:id/skills/:skill               staff    out of it
 *  POST   /api/v1/agents                     NewAgent    admin    add an agent (and its user)
 *  GET    /api/v1/audit                      filters     admin    the audit log, newest first
 * ```
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditEntry, AuditQuery, AuditSink } from '../audit/index.ts';
import type { Actor, NewAgent, ProvisionResult } from '../provisioning/index.ts';
import { ApiAuth, type Principal } from './auth.ts';
import type { RouteDoc } from './openapi.ts';
import type { AgentInfo } from './types.ts';
import { agentJson } from './views.ts';

/** The provisioning functions the routes call (engine/provisioning's `Provisioning` fits). */
export interface ProvisioningPort {
  setSkills(agentId: string, skills: Record<string, number>, by: Actor): ProvisionResult;
  setSkillLevel(agentId: string, skill: string, level: number | null, by: Actor): ProvisionResult;
  addAgent(a: NewAgent, by: Actor): Promise<ProvisionResult>;
}

/** The audit log as the API uses it (engine/audit's `AuditLog` fits). */
export interface AuditPort extends AuditSink {
  query(q: AuditQuery): AuditEntry[];
}

/** What server.ts lends the routes: its zod parse (400) and its error constructor (any stable code). */
export interface DeskRouteKit {
  parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T;
  fail(statusCode: number, code: string, message: string): Error;
}

/** Wrap-up of an agent's call: its disposition, and ending the wrap-up early. */
export interface WrapUpPort {
  /**
   * Keep the disposition of `callId` for its CDR. False when the call is not the agent's (in
   * progress or in its wrap-up), or its CDR has left already.
   */
  setDisposition(agentId: string, callId: string, d: { code: string; note: string | null }): boolean;
  /** End the agent's wrap-up now (the CDR leaves). */
  endWrapUp(agentId: string): { ok: true } | { ok: false; code: string; message: string };
}

/** What these routes need. */
export interface DeskRoutesDeps {
  provisioning?: ProvisioningPort;
  audit?: AuditPort;
  wrapUp?: WrapUpPort;
  agent(id: string): AgentInfo | undefined;
  callerOf?: (callId: string) => { caller: string; agent: string | null } | undefined;
}

/** The configured wrap-up codes these routes check a person's choice against. */
export interface WrapUpCodes {
  wrapUpCodes?: ReadonlyArray<{ code: string; requiresNote: boolean }>;
}

/** The address of the request's socket: what the audit log keeps (a header is the client's word, the socket is not). */
export function sourceOf(req: FastifyRequest): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** Who acted, for the audit log. */
export function actorOf(p: Principal | null, source: string): Actor {
  if (p === null) return { actor: 'anonymous', role: 'none', source };
  if (p.kind === 'user') return { actor: p.session.user.username, role: p.session.user.role, source };
  return { actor: p.kind, role: p.kind, source };
}

/** The actor of a request. */
export function requestActor(req: FastifyRequest): Actor {
  return actorOf(req.principal, sourceOf(req));
}

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');
const level = z.number().int().min(1).max(100);
const skillsMap = z.record(id, level).refine((m) => Object.keys(m).length <= 64, { message: 'at most 64 skills' });
const idParams = z.strictObject({ id });
const skillParams = z.strictObject({ id, skill: id });
const skillsBody = z.strictObject({ skills: skillsMap });
const levelBody = z.strictObject({ level });
const newAgentBody = z.strictObject({
  id,
  extension: z.string().regex(/^[0-9]{2,10}$/, 'expected 2-10 digits'),
  password: z.string().min(1).max(200).describe('Digest password of the phone.'),
  name: z.string().min(1).max(100).nullable().default(null),
  skills: skillsMap.default({}),
  autoReadyOnRegister: z.boolean().default(false),
  team: id.nullable().default(null),
  user: z.strictObject({
    username: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'expected 1-64 letters, digits, _ . @ - (not first)').optional(),
    password: z.string().min(8).max(200),
  }).optional().describe('A desktop user for the agent (role agent); username defaults to the extension.'),
});
/** Epoch milliseconds, or an ISO 8601 date-time. */
const instant = z.union([
  z.string().regex(/^\d{1,15}$/).transform(Number),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const auditQuery = z.strictObject({
  actor: z.string().min(1).max(64).optional(),
  action: z.string().min(1).max(64).optional(),
  target: z.string().min(1).max(64).optional(),
  since: instant.optional(),
  until: instant.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
});

const callParams = z.strictObject({ id: z.string().min(1).max(128) });
const wrapUpBody = z.strictObject({
  callId: z.string().min(1).max(128),
  code: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'expected 1-32 of a-z 0-9 _ -'),
  note: z.string().trim().max(1000).optional(),
});

const ERR = { 400: 'invalid input', 401: 'not signed in, or unknown token', 403: 'your role may not use this route' } as const;
/** The RouteDocs of these routes (openapi.ts). */
export const DESK_ROUTES = {
  skills: { summary: "Replace an agent's skills (takes effect at once; kept across restarts; audited)", tags: ['agents'], params: idParams, body: skillsBody, responses: { 200: 'AgentJson', ...ERR, 404: 'no such agent' } },
  skillSet: { summary: 'Move an agent into a skill group: set one skill level', tags: ['agents'], params: skillParams, body: levelBody, responses: { 200: 'AgentJson', ...ERR, 404: 'no such agent' } },
  skillDelete: { summary: 'Move an agent out of a skill group: remove one skill', tags: ['agents'], params: skillParams, responses: { 200: 'AgentJson', ...ERR, 404: 'no such agent' } },
  agentAdd: { summary: 'Add an agent (and its desktop user) without a restart (admin)', tags: ['agents'], body: newAgentBody, responses: { 201: 'AgentJson', ...ERR, 409: 'id, extension or username taken' } },
  wrapUp: { summary: 'Choose the wrap-up code (and note) of a call of this agent, in progress or in wrap-up; saved in its CDR', tags: ['agents'], params: idParams, body: wrapUpBody, responses: { 200: '{ callId, disposition }', ...ERR, 404: 'no such agent', 409: "not this agent's call, or its CDR has left" } },
  wrapUpEnd: { summary: "End the agent's wrap-up now (the call's CDR leaves with its disposition)", tags: ['agents'], params: idParams, responses: { 200: 'AgentJson', ...ERR, 404: 'no such agent', 409: 'not in wrap-up' } },
  unmask: { summary: "Unmask a call's caller number (roles in users.unmaskRoles; an agent only its own call); audited", tags: ['calls'], params: callParams, responses: { 200: '{ callId, caller }', ...ERR, 404: 'no such call in progress or in wrap-up' } },
  audit: { summary: 'The audit log, newest first, filtered and paged (admin)', tags: ['audit'], querystring: auditQuery, responses: { 200: 'Page<AuditEntry>', ...ERR } },
} satisfies Record<string, RouteDoc>;

const STATUS_OF: Record<string, number> = { PROV_ERR_UNKNOWN_AGENT: 404, PROV_ERR_INVALID: 400, PROV_ERR_EXISTS: 409, PROV_ERR_NO_USERS: 409 };

/** Register the routes on `app`. Without provisioning or audit their routes answer 501. */
export function registerDeskRoutes(app: FastifyInstance, deps: DeskRoutesDeps, kit: DeskRouteKit, desktop: WrapUpCodes = {}, unmaskRoles: ReadonlySet<string> = new Set(['supervisor', 'admin'])): void {
  const { parse, fail } = kit;
  const codes = new Map((desktop.wrapUpCodes ?? []).map((c) => [c.code, c]));
  const wrapUp = (): WrapUpPort => {
    if (deps.wrapUp === undefined) throw fail(501, 'API_ERR_NOT_IMPLEMENTED', 'wrap-up is not available');
    return deps.wrapUp;
  };
  const prov = (): ProvisioningPort => {
    if (deps.provisioning === undefined) throw fail(501, 'API_ERR_NOT_IMPLEMENTED', 'run-time provisioning is not available');
    return deps.provisioning;
  };
  const answer = async (r: ProvisionResult): Promise<ReturnType<typeof agentJson>> => {
    if (!r.ok) throw fail(STATUS_OF[r.code] ?? 409, r.code, r.message);
    await r.persisted;
    const a = deps.agent(r.agent.id);
    if (a === undefined) throw fail(404, 'API_ERR_NOT_FOUND', `no agent ${r.agent.id}`);
    return agentJson(a);
  };

  app.put('/api/v1/agents/:id/skills', { schema: DESK_ROUTES.skills, config: { access: 'staff', scope: 'agents' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const b = parse(skillsBody, req.body, 'body');
    return answer(prov().setSkills(p.id, b.skills, requestActor(req)));
  });

  app.put('/api/v1/agents/:id/skills/:skill', { schema: DESK_ROUTES.skillSet, config: { access: 'staff', scope: 'agents' } }, async (req) => {
    const p = parse(skillParams, req.params, 'params');
    const b = parse(levelBody, req.body, 'body');
    return answer(prov().setSkillLevel(p.id, p.skill, b.level, requestActor(req)));
  });

  app.delete('/api/v1/agents/:id/skills/:skill', { schema: DESK_ROUTES.skillDelete, config: { access: 'staff', scope: 'agents' } }, async (req) => {
    const p = parse(skillParams, req.params, 'params');
    return answer(prov().setSkillLevel(p.id, p.skill, null, requestActor(req)));
  });

  app.post('/api/v1/agents', { schema: DESK_ROUTES.agentAdd, config: { access: 'admin', scope: 'admin' } }, async (req, reply) => {
    const b = parse(newAgentBody, req.body, 'body');
    const { user, ...rest } = b;
    const input: NewAgent = { ...rest, ...(user !== undefined ? { user: { username: user.username ?? b.extension, password: user.password } } : {}) };
    return reply.code(201).send(await answer(await prov().addAgent(input, requestActor(req))));
  });

  app.post('/api/v1/agents/:id/wrap-up', { schema: DESK_ROUTES.wrapUp, config: { access: 'ownAgent', scope: 'calls' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const b = parse(wrapUpBody, req.body, 'body');
    const note = b.note === undefined || b.note === '' ? null : b.note;
    const listed = codes.get(b.code);
    // People pick from the configured codes; an integration (a campaign's result) may send its own.
    if (req.principal?.kind === 'user' && listed === undefined) throw fail(400, 'API_ERR_VALIDATION', `body.code: one of ${[...codes.keys()].join(', ')}`);
    if (listed?.requiresNote === true && note === null) throw fail(400, 'API_ERR_VALIDATION', `body.note: code ${b.code} needs a note`);
    if (deps.agent(p.id) === undefined) throw fail(404, 'API_ERR_NOT_FOUND', `no agent ${p.id}`);
    const disposition = { code: b.code, note };
    if (!wrapUp().setDisposition(p.id, b.callId, disposition)) throw fail(409, 'API_ERR_CONFLICT', `call ${b.callId} is not in progress or in wrap-up with agent ${p.id}`);
    deps.audit?.record({ ...requestActor(req), action: 'call.disposition', target: b.callId, detail: { agent: p.id, ...disposition } });
    return { callId: b.callId, disposition };
  });

  app.post('/api/v1/agents/:id/wrap-up/end', { schema: DESK_ROUTES.wrapUpEnd, config: { access: 'ownAgent', scope: 'agents' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    if (deps.agent(p.id) === undefined) throw fail(404, 'API_ERR_NOT_FOUND', `no agent ${p.id}`);
    const r = wrapUp().endWrapUp(p.id);
    if (!r.ok) throw fail(409, r.code, r.message);
    deps.audit?.record({ ...requestActor(req), action: 'agent.wrapUpEnd', target: p.id });
    const a = deps.agent(p.id);
    if (a === undefined) throw fail(404, 'API_ERR_NOT_FOUND', `no agent ${p.id}`);
    return agentJson(a);
  });

  app.post('/api/v1/calls/:id/unmask', { schema: DESK_ROUTES.unmask, config: { access: 'signedIn', scope: 'calls' } }, async (req) => {
    const p = parse(callParams, req.params, 'params');
    const who = req.principal;
    if (deps.callerOf === undefined) throw fail(501, 'API_ERR_NOT_IMPLEMENTED', 'unmasking is not available');
    const role = who?.kind === 'user' ? who.session.user.role : null;
    if (role !== null && !unmaskRoles.has(role)) throw fail(403, 'API_ERR_FORBIDDEN', 'your role may not unmask numbers (users.unmaskRoles)');
    const c = deps.callerOf(p.id);
    // An agent's scope is its own calls: another's call is as unknown to it as a missing one.
    const scope = who?.kind === 'user' && role === 'agent' ? who.session.user.agentId : null;
    const hidden = c !== undefined && c.agent !== null && !ApiAuth.seesAgent(who, c.agent, deps.agent(c.agent)?.team);
    if (c === undefined || (scope !== null && c.agent !== scope) || hidden) throw fail(404, 'API_ERR_NOT_FOUND', `no call ${p.id} in progress or in wrap-up`);
    deps.audit?.record({ ...requestActor(req), action: 'call.unmask', target: p.id, detail: { agent: c.agent } });
    return { callId: p.id, caller: c.caller };
  });

  app.get('/api/v1/audit', { schema: DESK_ROUTES.audit, config: { access: 'admin', scope: 'admin' } }, async (req) => {
    const q = parse(auditQuery, req.query, 'query');
    if (deps.audit === undefined) throw fail(501, 'API_ERR_NOT_IMPLEMENTED', 'no audit log');
    const items = deps.audit.query({ ...q, limit: q.limit + 1 });
    const hasMore = items.length > q.limit;
    return { items: hasMore ? items.slice(0, q.limit) : items, limit: q.limit, offset: q.offset, hasMore };
  });
}
