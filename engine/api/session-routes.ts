/**
 * Sign-in, sign-out and "who am I" of the browser desktop and wallboard:
 *
 * ```
 *  POST   /api/v1/session  {username, password} ─▶ 200 + Set-Cookie onair_session (HttpOnly, SameSite=Strict)
 *                                              ─▶ 401 USERS_ERR_BAD_CREDENTIALS · 429 USERS_ERR_LOCKED + Retry-After
 *  GET    /api/v1/session  ─▶ the user, its role and agent, and the desktop settings (time zone, reasons)
 *  DELETE /api/v1/session  ─▶ 204, the session ended and the cookie cleared
 * ```
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { SignInResult, UserAccount } from '../users/index.ts';
import { ApiAuth, SESSION_COOKIE, clearedSessionCookie, cookieValue, sessionCookie, type Principal } from './auth.ts';
import type { RouteDoc } from './openapi.ts';
import type { AuditSink } from '../audit/index.ts';
import { sourceOf } from './desk-routes.ts';

/** What the desktop needs to know of the center (config `desktop`). */
export interface DesktopSettings {
  timeZone: string;
  language: 'zh-CN' | 'en';
  notReadyReasons: ReadonlyArray<{ code: string; en: string; zh: string }>;
  /** Wrap-up (disposition) codes; absent = none configured, the desktop shows no wrap-up panel. */
  wrapUpCodes?: ReadonlyArray<{ code: string; en: string; zh: string; requiresNote: boolean }>;
}

/** The users side of the API. */
export interface SessionRoutesDeps {
  users: {
    signIn(username: string, password: string, source: string): Promise<SignInResult>;
    signOut(token: string): boolean;
  } | null;
  auth: ApiAuth;
  desktop: DesktopSettings;
  /** Cookie Max-Age (s): the session's longest life. */
  cookieMaxAgeSeconds: number;
  /** Failed sign-ins and lockouts are recorded here. */
  audit?: AuditSink;
  /** Cookies get `Secure` (the API is served over TLS). */
  secureCookies: boolean;
}

/** Body of `GET /api/v1/session` (and of a successful sign-in). */
export interface SessionView {
  /** The signed-in user, or null for a token or the open API. */
  user: UserAccount | null;
  /** How the caller is authenticated. */
  via: Principal['kind'];
  /** Callers' numbers are masked for this user. */
  masked: boolean;
  desktop: DesktopSettings;
}

const signInBody = z.strictObject({
  username: z.string().min(1).max(64),
  password: z.string().min(1).max(200),
});
const noQuery = z.strictObject({});
/** One audited lockout refusal per name and address in this long (ms). */
const LOCKED_AUDIT_EVERY_MS = 60_000;
/** Names and addresses remembered for that; beyond, the memory starts over (a flood of names). */
const LOCKED_AUDIT_KEYS = 10_000;

/** The RouteDocs of these routes (openapi.ts). */
export const SESSION_ROUTES = {
  signIn: { summary: 'Sign in (sets the session cookie)', tags: ['session'], body: signInBody, responses: { 200: 'SessionView', 400: 'invalid body', 401: 'unknown user or wrong password', 429: 'locked after repeated failures (Retry-After)' }, open: true },
  whoAmI: { summary: 'The signed-in user, its role, and the desktop settings', tags: ['session'], querystring: noQuery, responses: { 200: 'SessionView', 401: 'not signed in' } },
  signOut: { summary: 'Sign out (ends the session, clears the cookie)', tags: ['session'], querystring: noQuery, responses: { 204: 'signed out' }, open: true },
} satisfies Record<string, RouteDoc>;

/** Register the session routes on `app`; `parse` and `fail` are the server's validation and error helpers. */
export function registerSessionRoutes(
  app: FastifyInstance,
  deps: SessionRoutesDeps,
  parse: <T>(schema: z.ZodType<T>, value: unknown, where: string) => T,
  fail: (status: number, code: string, message: string) => Error,
): void {
  // A locked account or source is refused without hashing, so a flood of them comes at the network's
  // rate: the audit log keeps one refusal per name and address a minute, not one row per request.
  const lockedSeen = new Map<string, number>();
  const auditLocked = (key: string, now: number): boolean => {
    const last = lockedSeen.get(key);
    if (last !== undefined && now - last < LOCKED_AUDIT_EVERY_MS) return false;
    if (lockedSeen.size >= LOCKED_AUDIT_KEYS) lockedSeen.clear();
    lockedSeen.set(key, now);
    return true;
  };
  const view = (p: Principal | null, user: UserAccount | null): SessionView => ({
    user, via: p?.kind ?? 'user', masked: deps.auth.masks(p), desktop: deps.desktop,
  });

  app.post('/api/v1/session', { schema: SESSION_ROUTES.signIn, config: { access: 'public' } }, async (req, reply) => {
    const b = parse(signInBody, req.body, 'body');
    if (deps.users === null) throw fail(404, 'API_ERR_NOT_FOUND', 'no users are configured (users.accounts)');
    const source = sourceOf(req);
    const r = await deps.users.signIn(b.username, b.password, source);
    if (!r.ok) {
      const locked = r.code === 'USERS_ERR_LOCKED';
      if (!locked || auditLocked(`${b.username.toLowerCase()}\u0000${source}`, Date.now())) {
        deps.audit?.record({ actor: b.username, role: 'none', source, action: locked ? 'signin.locked' : 'signin.failed', target: b.username });
      }
      if (r.code === 'USERS_ERR_LOCKED') void reply.header('retry-after', String(Math.max(1, Math.ceil(r.retryAfterMs / 1000))));
      throw fail(r.code === 'USERS_ERR_LOCKED' ? 429 : 401, r.code, r.message);
    }
    const p: Principal = { kind: 'user', session: r.session };
    return reply.header('set-cookie', sessionCookie(r.session.token, deps.cookieMaxAgeSeconds, deps.secureCookies))
      .header('cache-control', 'no-store').send(view(p, r.session.user));
  });

  app.get('/api/v1/session', { schema: SESSION_ROUTES.whoAmI, config: { access: 'signedIn' } }, async (req, reply) => {
    parse(noQuery, req.query, 'query');
    const p = req.principal;
    return reply.header('cache-control', 'no-store').send(view(p, p?.kind === 'user' ? p.session.user : null));
  });

  app.delete('/api/v1/session', { schema: SESSION_ROUTES.signOut, config: { access: 'public' } }, async (req, reply) => {
    const token = cookieValue(req.headers.cookie, SESSION_COOKIE);
    if (token !== undefined && deps.users !== null) deps.users.signOut(token);
    return reply.code(204).header('set-cookie', clearedSessionCookie(deps.secureCookies)).send();
  });
}
