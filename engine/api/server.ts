/**
 * The HTTP API: health, Prometheus metrics, REST views of queues, agents, calls, callbacks and
 * CDRs, agent status changes, and the WebSocket event stream. See README.md in this folder for
 * the route table.
 *
 * Every error answer is `{"error":{"code","message"}}` with a stable `API_ERR_*` code (or the
 * engine's own code for a refused status change). Input is validated with zod before it reaches
 * the engine; unknown query parameters are refused so that a typo is not a silent no-op.
 */
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import websocket from '@fastify/websocket';
import { z } from 'zod';
import { CALLBACK_STATUSES, type CallbackFilter, type CallbackStatus } from '../store/index.ts';
import { CDR_OUTCOMES } from './outcomes.ts';
import { registerCallbackRoutes } from './callbacks-routes.ts';
import { registerCampaignRoutes } from './campaigns-routes.ts';
import { registerShopRoutes } from './shop-routes.ts';
import { registerDeskRoutes, requestActor } from './desk-routes.ts';
import { ApiAuth, TokenAuth, requiredScope, type ApiScope, type Principal, type RouteAccess, type SessionLookup, type TokenSpec } from './auth.ts';
import { registerRecordingRoutes } from './recording-routes.ts';
import { registerTransferRoutes } from './transfer-routes.ts';
import { registerReportRoutes } from './reports-routes.ts';
import { registerSurgeRoutes } from './surge-routes.ts';
import { maskedCall } from './masking.ts';
import { registerSessionRoutes, type DesktopSettings, type SessionRoutesDeps } from './session-routes.ts';
import { UI_CSP, type UiFiles } from './ui-files.ts';
import type { Role } from '../users/index.ts';
import { EventHub, type EventHubOptions, type EventSocket } from './events.ts';
import { OpenApiCollector, type RouteDoc } from './openapi.ts';
import type { ApiDeps, ApiErrorBody, ApiErrorCode, HealthView, Page } from './types.ts';
import { ACD_AGENT_STATUS, agentJson, queueViews } from './views.ts';

/** Options of {@link startApi}. */
export interface ApiOptions {
  /** Address to listen on, e.g. `127.0.0.1`. */
  address: string;
  /** Port; 0 picks a free one (read it back from the result). */
  port: number;
  /** Accepted bearer tokens, each with its scopes or none (full access); empty = no authentication (allow that on loopback only). */
  tokens: readonly TokenSpec[];
  /** Paths served without a token, exact match, e.g. `['/healthz', '/metrics']`. */
  openPaths: readonly string[];
  /** Event stream limits and periods. */
  events?: EventHubOptions;
  /** Logger for server errors (a pino logger). Requests are not logged: the event URL may carry a token. */
  logger?: FastifyBaseLogger;
  /** Signed-in users (engine/users' directory); null or absent = no users, tokens only. */
  users?: (SessionLookup & NonNullable<SessionRoutesDeps['users']>) | null;
  /** Roles that see callers' numbers masked. Default agents. */
  maskNumbersFor?: readonly Role[];
  /** Roles that may unmask a number (audited). Default supervisors and admins. */
  unmaskRoles?: readonly Role[];
  /** What the desktop shows (time zone, language, not-ready reasons). */
  desktop?: DesktopSettings;
  /** Longest life of a session (s), the cookie's Max-Age. Default 12 h. */
  sessionMaxAgeSeconds?: number;
  /** The built browser UI (ui-files.ts `loadUiFiles`), or null when it is not built. */
  ui?: UiFiles | null;
  /** Serve HTTPS with this certificate chain and key (PEM); the session cookie gets `Secure`. Absent = HTTP. */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who made the request (set by the authentication hook), null on public routes without credentials. */
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Who may use the route (auth.ts); absent = `staff`. */
    access?: RouteAccess;
    /** The scope a scoped token needs (auth.ts `requiredScope`); absent = its family's, else read for GET, admin otherwise. */
    scope?: ApiScope;
  }
}

/** Desktop settings when the caller gives none (the config's defaults). */
const DEFAULT_DESKTOP: DesktopSettings = { timeZone: 'Asia/Shanghai', language: 'zh-CN', notReadyReasons: [{ code: 'break', en: 'Break', zh: '休息' }] };

/** A running API server. */
export interface ApiServer {
  /** Address bound. */
  readonly address: string;
  /** Port bound (the real one when 0 was asked). */
  readonly port: number;
  /** Connected event clients. */
  readonly eventClients: number;
  /** Close every event connection (1001), stop listening, finish requests in flight. Idempotent. */
  close(): Promise<void>;
}

/** Path of the WebSocket event stream; the only route that takes `?token=` (browsers cannot set headers on it). */
export const EVENTS_PATH = '/api/v1/events';

/** Ids in paths and filters: extensions, queue names. Bounded so they cannot bloat logs or look-ups. */
const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9._@+-]+$/, 'letters, digits and . _ @ + - only');
const paging = {
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(1_000_000_000).default(0),
};
const idParams = z.strictObject({ id });
const noQuery = z.strictObject({});
const statusBody = z.strictObject({
  status: z.enum(['available', 'not_ready', 'logged_out']),
  reason: z.string().min(1).max(64).optional(),
});
const callbacksQuery = z.strictObject({
  status: z.string().transform((s, ctx) => {
    const list = s.split(',');
    for (const v of list) {
      if (!(CALLBACK_STATUSES as readonly string[]).includes(v)) {
        ctx.addIssue({ code: 'custom', message: `expected ${CALLBACK_STATUSES.join(', ')} (comma-separated)` });
        return z.NEVER;
      }
    }
    return list as CallbackStatus[];
  }).optional(),
  queue: id.optional(),
  ...paging,
});
/** `since`: epoch milliseconds, or an ISO 8601 date-time. */
const since = z.union([
  z.string().regex(/^\d{1,15}$/).transform(Number),
  z.iso.datetime({ offset: true }).transform((s) => Date.parse(s)),
]);
const cdrsQuery = z.strictObject({ since: since.optional(), outcome: z.enum(CDR_OUTCOMES).optional(), queue: id.optional(), ...paging });
const eventsQuery = z.strictObject({ agent: id.optional(), token: z.string().optional() });

/** Where the OpenAPI document is served. */
export const OPENAPI_PATH = '/api/v1/openapi.json';

/** Keeps the route names exact (a typo is a compile error) and each value a RouteDoc. */
function routeDocs<K extends string>(docs: Record<K, RouteDoc>): Record<K, RouteDoc> {
  return docs;
}

/** Each route's `schema`: what openapi.ts describes it with (the zod schemas its handler parses). */
const ROUTES = routeDocs({
  health: { summary: 'Health: ok, or draining during a graceful stop', tags: ['operations'], querystring: noQuery, responses: { 200: 'running', 400: 'unknown query parameter', 503: 'draining: stopping, takes no new calls' }, open: true },
  metrics: { summary: 'Prometheus metrics (text exposition format)', tags: ['operations'], responses: { 200: 'the metrics' }, open: true },
  openapi: { summary: 'This document (OpenAPI 3.1)', tags: ['operations'], responses: { 200: 'the document' } },
  queues: { summary: 'Every queue with its waiting callers, agents and totals', tags: ['queues'], querystring: noQuery, responses: { 200: '{ items: QueueView[] }', 400: 'unknown query parameter', 401: 'missing or unknown token' } },
  queue: { summary: 'One queue', tags: ['queues'], params: idParams, responses: { 200: 'QueueView', 400: 'malformed id', 401: 'missing or unknown token', 404: 'no such queue' } },
  agents: { summary: 'Every agent with status and state', tags: ['agents'], querystring: noQuery, responses: { 200: '{ items: AgentJson[] }', 400: 'unknown query parameter', 401: 'missing or unknown token' } },
  agent: { summary: 'One agent', tags: ['agents'], params: idParams, responses: { 200: 'AgentJson', 400: 'malformed id', 401: 'missing or unknown token', 404: 'no such agent' } },
  agentStatus: { summary: "Change an agent's status (available, not_ready with a reason, logged_out)", tags: ['agents'], params: idParams, body: statusBody, responses: { 200: 'AgentJson after the change', 400: 'invalid body', 401: 'missing or unknown token', 404: 'no such agent', 409: 'refused by the engine (its own code)' } },
  calls: { summary: 'Calls in progress', tags: ['calls'], querystring: noQuery, responses: { 200: '{ items: CallSummary[] }', 400: 'unknown query parameter', 401: 'missing or unknown token' } },
  callbacks: { summary: 'Callback tasks, filtered and paged', tags: ['callbacks'], querystring: callbacksQuery, responses: { 200: 'Page<CallbackTask> with total', 400: 'invalid filter', 401: 'missing or unknown token' } },
  cdrs: { summary: 'Call records kept by the built-in CRM, newest first, filtered and paged', tags: ['calls'], querystring: cdrsQuery, responses: { 200: 'Page<StoredCdr>', 400: 'invalid filter', 401: 'missing or unknown token', 501: 'the configured CRM adapter keeps no CDRs' } },
  ui: { summary: 'The browser desktop and wallboard (index.html; sign-in first)', tags: ['ui'], querystring: noQuery, responses: { 200: 'text/html', 404: 'the UI is not built' }, open: true },
  uiAssets: { summary: 'Scripts and styles of the browser UI (content-hashed names)', tags: ['ui'], params: z.strictObject({ '*': z.string().max(200) }), responses: { 200: 'the file', 304: 'unchanged', 404: 'no such file' }, open: true },
  events: { summary: 'CTI events over WebSocket (hello, queue updates, call and agent events)', description: 'Upgrade to WebSocket; `agent` limits the stream to one agent, `token` authenticates browsers that cannot set headers.', tags: ['events'], querystring: eventsQuery, responses: { 101: 'switching to WebSocket', 401: 'missing or unknown token', 404: 'no such agent', 426: 'not a WebSocket upgrade', 503: 'too many event clients' } },
});

/** A refused request, turned into a JSON error by the error handler. */
class ApiError extends Error {
  constructor(readonly statusCode: number, readonly code: ApiErrorCode | string, message: string) {
    super(message);
  }
}

function parse<T>(schema: z.ZodType<T>, value: unknown, where: string): T {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const path = issue === undefined || issue.path.length === 0 ? where : `${where}.${issue.path.join('.')}`;
  throw new ApiError(400, 'API_ERR_VALIDATION', `${path}: ${issue?.message ?? 'invalid'}`);
}

function errorBody(code: ApiErrorCode | string, message: string): ApiErrorBody {
  return { error: { code, message } };
}

/** Fetch `limit + 1` items to learn whether another page exists without counting. */
function page<T>(items: T[], limit: number, offset: number): Page<T> {
  const hasMore = items.length > limit;
  return { items: hasMore ? items.slice(0, limit) : items, limit, offset, hasMore };
}

/** True when an `Origin` header names the host the request was sent to. */
function sameOrigin(origin: string, host: string | undefined): boolean {
  if (host === undefined) return false;
  const i = origin.indexOf('://');
  return i > 0 && origin.slice(i + 3) === host;
}

/** The built UI: `/` and `/assets/*` from the table read at start; nothing from the request reaches the filesystem. */
function registerUiRoutes(app: FastifyInstance, ui: UiFiles | null): void {
  const send = (reply: FastifyReply, name: string, ifNoneMatch: string | undefined): FastifyReply => {
    const f = ui?.get(name);
    if (f === undefined) {
      const why = ui === null ? 'the browser UI is not built (npm run build)' : `no file ${name}`;
      return reply.code(404).send(errorBody('API_ERR_NOT_FOUND', why));
    }
    void reply.header('etag', f.etag).header('x-content-type-options', 'nosniff')
      .header('cache-control', name === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable');
    if (name === 'index.html') void reply.header('content-security-policy', UI_CSP).header('x-frame-options', 'DENY').header('referrer-policy', 'no-referrer');
    if (ifNoneMatch === f.etag) return reply.code(304).send();
    return reply.type(f.type).send(f.body);
  };
  app.get('/', { schema: ROUTES.ui, config: { access: 'public' } }, async (req, reply) => {
    parse(noQuery, req.query, 'query');
    return send(reply, 'index.html', req.headers['if-none-match']);
  });
  app.get('/assets/*', { schema: ROUTES.uiAssets, config: { access: 'public' } }, async (req, reply) => {
    const name = (req.params as { '*'?: string })['*'] ?? '';
    return send(reply, `assets/${name}`, req.headers['if-none-match']);
  });
}

/** Start the API on `opts.address:opts.port`. Resolves once listening. */
export async function startApi(deps: ApiDeps, opts: ApiOptions): Promise<ApiServer> {
  const tokens = new TokenAuth(opts.tokens, opts.openPaths);
  const users = opts.users ?? null;
  const auth = new ApiAuth(tokens, users, new Set(opts.maskNumbersFor ?? ['agent']));
  const desktop = opts.desktop ?? DEFAULT_DESKTOP;
  const reasons = new Set(desktop.notReadyReasons.map((r) => r.code));
  const views = () => queueViews(deps.acdSnapshot(), deps.queues(), deps.agents(), (q) => deps.metrics.queueTotals(q));
  const hub = new EventHub(views, deps.metrics, { teamOf: (id) => deps.agent(id)?.team ?? null, ...opts.events });
  const app = fastify({
    ...(opts.logger === undefined ? { logger: false } : { loggerInstance: opts.logger }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 16 * 1024,
    // The https server is an http.Server for everything the routes touch; fastify's types split them.
    ...(opts.tls !== undefined ? { https: { cert: opts.tls.cert, key: opts.tls.key } } : {}),
  }) as unknown as FastifyInstance;
  const openapi = new OpenApiCollector();
  app.addHook('onRoute', openapi.onRoute);
  // Route schemas describe (openapi.ts); the handlers validate with zod and answer in the API's words.
  app.setValidatorCompiler(() => (value) => ({ value }));

  await app.register(websocket, { options: { maxPayload: 4096 } });

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req, reply) => {
    const q = req.url.indexOf('?');
    const path = q < 0 ? req.url : req.url.slice(0, q);
    const queryToken = path === EVENTS_PATH ? (req.query as { token?: unknown }).token : undefined;
    const principal = auth.authenticate(req.headers.authorization, typeof queryToken === 'string' ? queryToken : undefined, req.headers.cookie);
    req.principal = principal;
    // Routes say who may use them; a route that says nothing (or no route: 404 after this) is staff only.
    const access: RouteAccess = tokens.isOpenPath(path) ? 'public' : req.routeOptions.config?.access ?? 'staff';
    if (access === 'public') return;
    if (principal === null) {
      await reply.code(401).header('www-authenticate', 'Bearer').send(errorBody('API_ERR_UNAUTHORIZED', users === null ? 'missing or unknown bearer token' : 'sign in, or present a bearer token'));
      return;
    }
    // A cookie rides along on any request the browser makes; SameSite=Strict keeps other sites'
    // requests from carrying it, and this keeps another origin's script or socket out as well.
    if (principal.kind === 'user' && req.headers.origin !== undefined && !sameOrigin(req.headers.origin, req.headers.host)) {
      await reply.code(403).send(errorBody('API_ERR_FORBIDDEN', 'cross-origin request with a session cookie'));
      return;
    }
    if (!ApiAuth.hasScope(principal, requiredScope(req.method, req.routeOptions.url ?? path, req.routeOptions.config?.scope))) {
      await reply.code(403).send(errorBody('API_ERR_FORBIDDEN', 'the token lacks the scope this route needs'));
      return;
    }
    const id = (req.params as { id?: unknown } | undefined)?.id;
    if (!ApiAuth.allows(principal, access, typeof id === 'string' ? id : undefined)) {
      await reply.code(403).send(errorBody('API_ERR_FORBIDDEN', 'your role may not use this route'));
      return;
    }
    // A supervisor with teams reaches the agents of its teams only (an unknown agent: the route's 404).
    const route = req.routeOptions.url;
    if (typeof id === 'string' && route !== undefined && route.startsWith('/api/v1/agents/:id') && ApiAuth.teamsOf(principal) !== null) {
      const a = deps.agent(id);
      if (a !== undefined && !ApiAuth.seesAgent(principal, id, a.team)) await reply.code(403).send(errorBody('API_ERR_FORBIDDEN', 'not an agent of your teams'));
    }
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof ApiError) return reply.code(err.statusCode).send(errorBody(err.code, err.message));
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      // fastify's own refusals: malformed JSON, wrong content type, body too large.
      return reply.code(status).send(errorBody('API_ERR_VALIDATION', err.message));
    }
    req.log.error({ err }, 'api request failed');
    return reply.code(500).send(errorBody('API_ERR_INTERNAL', 'internal error'));
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send(errorBody('API_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`));
  });

  app.get('/healthz', { schema: ROUTES.health, config: { access: 'public' } }, async (req, reply) => {
    parse(noQuery, req.query, 'query');
    const h = deps.health();
    const body: HealthView = {
      status: h.draining ? 'draining' : 'ok',
      uptimeMs: Date.now() - h.startedAt,
      calls: h.calls,
      version: h.version,
      eventClients: hub.size,
    };
    return reply.code(h.draining ? 503 : 200).send(body);
  });

  app.get('/metrics', { schema: ROUTES.metrics, config: { access: 'public' } }, async (_req, reply) => {
    const text = await deps.metrics.render();
    return reply.type(deps.metrics.contentType).send(text);
  });

  app.get(OPENAPI_PATH, { schema: ROUTES.openapi, config: { access: 'signedIn' } }, async () => openapi.document({ title: 'onair HTTP API', version: deps.health().version }));

  app.get('/api/v1/queues', { schema: ROUTES.queues, config: { access: 'signedIn' } }, async (req) => {
    parse(noQuery, req.query, 'query');
    return { items: views() };
  });

  app.get('/api/v1/queues/:id', { schema: ROUTES.queue, config: { access: 'signedIn' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const q = views().find((v) => v.id === p.id);
    if (q === undefined) throw new ApiError(404, 'API_ERR_NOT_FOUND', `no queue ${p.id}`);
    return q;
  });

  app.get('/api/v1/agents', { schema: ROUTES.agents, config: { access: 'signedIn' } }, async (req) => {
    parse(noQuery, req.query, 'query');
    return { items: deps.agents().filter((a) => ApiAuth.seesAgent(req.principal, a.id, a.team)).map(agentJson) };
  });

  app.get('/api/v1/agents/:id', { schema: ROUTES.agent, config: { access: 'ownAgent' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const a = deps.agent(p.id);
    if (a === undefined) throw new ApiError(404, 'API_ERR_NOT_FOUND', `no agent ${p.id}`);
    return agentJson(a);
  });

  app.post('/api/v1/agents/:id/status', { schema: ROUTES.agentStatus, config: { access: 'ownAgent', scope: 'agents' } }, async (req) => {
    const p = parse(idParams, req.params, 'params');
    const b = parse(statusBody, req.body, 'body');
    // People pick a not-ready reason from the configured list; integrations may send their own.
    if (req.principal?.kind === 'user' && b.status === 'not_ready' && (b.reason === undefined || !reasons.has(b.reason))) {
      throw new ApiError(400, 'API_ERR_VALIDATION', `body.reason: one of ${[...reasons].join(', ')}`);
    }
    const r = await deps.setAgentStatus(p.id, ACD_AGENT_STATUS[b.status], b.reason ?? null);
    if (!r.ok) throw new ApiError(r.refusal === 'not_found' ? 404 : 409, r.code, r.message);
    // An agent's own clicks are its work, not a change to audit; anyone else's are.
    if (ApiAuth.agentScope(req.principal) !== p.id) deps.audit?.record({ ...requestActor(req), action: 'agent.status', target: p.id, detail: { status: b.status, reason: b.reason ?? null } });
    return agentJson(r.agent);
  });

  app.get('/api/v1/calls', { schema: ROUTES.calls, config: { access: 'signedIn' } }, async (req) => {
    parse(noQuery, req.query, 'query');
    const scope = ApiAuth.agentScope(req.principal);
    const teams = ApiAuth.teamsOf(req.principal);
    // A team's supervisor sees its agents' calls and the calls no agent has yet (the queues are shared).
    const calls = deps.calls().filter((c) => scope !== null ? c.agent === scope
      : teams === null || c.agent === null || ApiAuth.seesAgent(req.principal, c.agent, deps.agent(c.agent)?.team));
    return { items: auth.masks(req.principal) ? calls.map(maskedCall) : calls };
  });

  app.get('/api/v1/callbacks', { schema: ROUTES.callbacks, config: { access: 'staff' } }, async (req) => {
    const q = parse(callbacksQuery, req.query, 'query');
    const filter: Omit<CallbackFilter, 'limit' | 'offset'> = {};
    if (q.status !== undefined) filter.status = q.status;
    if (q.queue !== undefined) filter.queue = q.queue;
    const [items, total] = await Promise.all([
      deps.callbacks.list({ ...filter, limit: q.limit + 1, offset: q.offset }),
      deps.callbacks.count(filter),
    ]);
    return { ...page(items, q.limit, q.offset), total };
  });

  registerDeskRoutes(app, deps, { parse, fail: (status, code, message) => new ApiError(status, code, message) }, desktop, new Set(opts.unmaskRoles ?? ['supervisor', 'admin']));
  registerCallbackRoutes(app, deps, { parse, fail: (status, code, message) => new ApiError(status, code, message) });
  if (deps.campaigns !== undefined) registerCampaignRoutes(app, deps.campaigns, { parse, fail: (status, code, message) => new ApiError(status, code, message) });
  if (deps.reports !== undefined) registerReportRoutes(app, deps.reports, { parse, fail: (status, code, message) => new ApiError(status, code, message) });
  if (deps.surge !== undefined) registerSurgeRoutes(app, deps.surge, { parse, fail: (status, code, message) => new ApiError(status, code, message), audit: deps.audit });
  if (deps.shop !== undefined) registerShopRoutes(app, deps.shop, { parse, fail: (status, code, message) => new ApiError(status, code, message), audit: deps.audit });
  if (deps.recording !== undefined) registerRecordingRoutes(app, deps.recording, { parse, fail: (status, code, message) => new ApiError(status, code, message) });
  if (deps.callControl !== undefined) registerTransferRoutes(app, deps.callControl, { parse, fail: (status, code, message) => new ApiError(status, code, message) });

  app.get('/api/v1/cdrs', { schema: ROUTES.cdrs, config: { access: 'staff' } }, async (req) => {
    const q = parse(cdrsQuery, req.query, 'query');
    if (deps.cdrs === undefined) throw new ApiError(501, 'API_ERR_NOT_IMPLEMENTED', 'the configured CRM adapter keeps no CDRs');
    const items = await deps.cdrs({ ...q, limit: q.limit + 1 });
    return page(items, q.limit, q.offset);
  });

  app.route({
    method: 'GET',
    url: EVENTS_PATH,
    schema: ROUTES.events,
    config: { access: 'signedIn' },
    preValidation: async (req: FastifyRequest, reply: FastifyReply) => {
      const q = parse(eventsQuery, req.query, 'query');
      const scope = ApiAuth.agentScope(req.principal);
      if (scope !== null && q.agent !== undefined && q.agent !== scope) {
        await reply.code(403).send(errorBody('API_ERR_FORBIDDEN', 'an agent receives only its own events'));
        return;
      }
      if (hub.full) {
        await reply.code(503).header('retry-after', '5').send(errorBody('API_ERR_UNAVAILABLE', 'too many event clients'));
        return;
      }
      if (q.agent !== undefined && deps.agent(q.agent) === undefined) {
        await reply.code(404).send(errorBody('API_ERR_NOT_FOUND', `no agent ${q.agent}`));
      }
    },
    handler: async (_req, reply) => reply.code(426).header('upgrade', 'websocket')
      .send(errorBody('API_ERR_VALIDATION', 'this route speaks WebSocket only')),
    wsHandler: (socket: EventSocket, req) => {
      // An agent's stream is its own whatever it asked (preValidation refused another agent).
      const agent = ApiAuth.agentScope(req.principal) ?? (req.query as { agent?: string }).agent ?? null;
      hub.add(socket, agent, auth.masks(req.principal), ApiAuth.teamsOf(req.principal));
    },
  });

  registerSessionRoutes(app, {
    users, auth, desktop, ...(deps.audit ? { audit: deps.audit } : {}), cookieMaxAgeSeconds: opts.sessionMaxAgeSeconds ?? 12 * 3600, secureCookies: opts.tls !== undefined,
  }, parse, (status, code, message) => new ApiError(status, code, message));
  registerUiRoutes(app, opts.ui ?? null);

  const unsubscribe = deps.events.subscribe((event) => {
    // A throwing listener must not break the engine's emitter (CONVENTIONS.md 10).
    try {
      hub.publish(event);
    } catch (err) {
      app.log.error({ err, type: event.type }, 'event fan-out failed');
    }
  });
  deps.metrics.setSources({ eventClients: () => hub.size });

  try {
    await app.listen({ host: opts.address, port: opts.port });
  } catch (err) {
    unsubscribe();
    hub.close();
    await app.close();
    throw err;
  }
  const bound = app.server.address();
  const port = typeof bound === 'object' && bound !== null ? bound.port : opts.port;

  let closing: Promise<void> | null = null;
  return {
    address: opts.address,
    port,
    get eventClients() {
      return hub.size;
    },
    close() {
      closing ??= (async () => {
        unsubscribe();
        hub.close();
        await app.close();
      })();
      return closing;
    },
  };
}
