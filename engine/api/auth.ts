/**
 * Who is calling the API, and what they may use.
 *
 * Two kinds of credentials: integration tokens (`Authorization: Bearer`, the `token` query
 * parameter on the event stream only) and the session cookie of a signed-in user (engine/users).
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`, against every configured token
 * without stopping at the first match, so the time taken tells nothing about how much of a guess
 * was right. With no token and no user configured the API is open (allowed on loopback only).
 *
 * ```
 *  route access   open API   token   admin / supervisor   agent
 *  public         yes        yes     yes                  yes      (health, metrics, UI files, sign-in)
 *  signedIn       yes        yes     yes                  yes, its own data only (filtered, numbers masked)
 *  ownAgent       yes        yes     yes                  only /agents/<its own id>/...
 *  staff          yes        yes     yes                  403      (the default of every route)
 *  admin          yes        yes     admin only           403      (provisioning, the audit log)
 * ```
 *
 * A route that does not declare its access is `staff`: a new route is closed to agents until it
 * says otherwise.
 *
 * Integration tokens may carry scopes (`http.auth.tokens[].scopes`); a token without scopes keeps
 * the full access tokens always had. Each route needs one scope ({@link requiredScope}): the one it
 * declares (`config.scope`), else its family's (the shop's routes: `shop`; callback tasks and the
 * do-not-call list: `calls` to change), else `read` for GET and `admin` for any other method, so
 * a new route that changes something is closed to scoped tokens until it says which scope it is.
 *
 * ```
 *  scope    reaches
 *  read     every GET (queues, agents, calls, CDRs, callbacks, events) except the shop and admin ones
 *  calls    changes to calls: wrap-up codes, unmasking, callback tasks, the do-not-call list,
 *           transfer, hold and resume
 *  agents   changes to agents: status, skills, ending wrap-up
 *  admin    adding agents, the audit log, and any change route that declares nothing
 *  shop     everything under /api/v1/shop/
 * ```
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Role, Session } from '../users/index.ts';

/** Scopes an integration token may be limited to (see the table above). */
export const API_SCOPES = ['read', 'calls', 'agents', 'admin', 'shop'] as const;

/** One of {@link API_SCOPES}. */
export type ApiScope = (typeof API_SCOPES)[number];

/** A configured token: the bare string (full access) or the token with its scopes. */
export type TokenSpec = string | { token: string; scopes?: readonly ApiScope[] | undefined };

/** Families whose routes need one scope whatever the method (path prefix → scope). */
const FAMILY_SCOPES: ReadonlyArray<readonly [string, ApiScope, 'all' | 'changes']> = [
  ['/api/v1/shop/', 'shop', 'all'],
  ['/api/v1/callbacks', 'calls', 'changes'],
  ['/api/v1/dnc', 'calls', 'changes'],
];

/** The scope a request of `method` to route `url` (its pattern) needs; `declared` is the route's own. */
export function requiredScope(method: string, url: string, declared: ApiScope | undefined): ApiScope {
  if (declared !== undefined) return declared;
  const read = method === 'GET' || method === 'HEAD';
  for (const [prefix, scope, which] of FAMILY_SCOPES) {
    if (url.startsWith(prefix) && (which === 'all' || !read)) return scope;
  }
  return read ? 'read' : 'admin';
}

interface TokenEntry {
  digest: Buffer;
  /** null = every scope (a token configured without scopes). */
  scopes: ReadonlySet<ApiScope> | null;
}

/** Who may call what. */
export class TokenAuth {
  private readonly entries: readonly TokenEntry[];
  private readonly openPaths: ReadonlySet<string>;

  /** With no tokens the API is open (the engine allows that only on a loopback address). */
  constructor(tokens: readonly TokenSpec[], openPaths: readonly string[]) {
    this.entries = tokens.map((t) => typeof t === 'string'
      ? { digest: digest(t), scopes: null }
      : { digest: digest(t.token), scopes: t.scopes === undefined ? null : new Set(t.scopes) });
    this.openPaths = new Set(openPaths);
  }


  /** True when no token is configured. */
  get none(): boolean {
    return this.entries.length === 0;
  }

  /** True when `path` (without query) needs no token. Exact match only: `/healthz/` is not `/healthz`. */
  isOpen(path: string): boolean {
    return this.entries.length === 0 || this.openPaths.has(path);
  }

  /** True when `path` is one of the configured open paths (whatever the tokens). */
  isOpenPath(path: string): boolean {
    return this.openPaths.has(path);
  }

  /**
   * True when the `Authorization: Bearer <token>` header (or, where the caller allows it, the
   * `token` query parameter) carries a configured token.
   */
  accepts(authorization: string | undefined, queryToken: string | undefined): boolean {
    if (this.entries.length === 0) return true;
    return this.presents(authorization, queryToken);
  }

  /** True when a configured token is presented (false when none is configured). */
  presents(authorization: string | undefined, queryToken: string | undefined): boolean {
    return this.find(authorization, queryToken) !== undefined;
  }

  /** The configured token presented, or undefined. Every entry is compared (constant time over the list). */
  find(authorization: string | undefined, queryToken: string | undefined): TokenEntry | undefined {
    let presented: string | undefined;
    if (authorization !== undefined && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === 'bearer ') {
      presented = authorization.slice(7).trim();
    } else {
      presented = queryToken;
    }
    if (presented === undefined || presented === '') return undefined;
    const d = digest(presented);
    let found: TokenEntry | undefined;
    for (const t of this.entries) if (timingSafeEqual(t.digest, d) && found === undefined) found = t;
    return found;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** Who made a request. */
export type Principal =
  /** Nothing is configured: the open API of a loopback test or demo without users. */
  | { kind: 'open' }
  /** An integration token. */
  | { kind: 'token'; scopes: ReadonlySet<ApiScope> | null }
  /** A signed-in user. */
  | { kind: 'user'; session: Session };

/** What a route needs (see the table in the file comment). */
export type RouteAccess = 'public' | 'signedIn' | 'ownAgent' | 'staff' | 'admin';

/** The part of engine/users' directory the API uses. */
export interface SessionLookup {
  session(token: string): Session | undefined;
}

/** Name of the session cookie. */
export const SESSION_COOKIE = 'onair_session';

/** The value of cookie `name` in a `Cookie` header, or undefined. Bounded work on hostile input. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined || header.length > 8192) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** `Set-Cookie` of a new session: HttpOnly (no script reads it), SameSite=Strict (no cross-site request carries it). */
export function sessionCookie(token: string, maxAgeSeconds: number, secure: boolean): string {
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}${secure ? '; Secure' : ''}`;
}

/** `Set-Cookie` that removes the session cookie. */
export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0${secure ? '; Secure' : ''}`;
}

/** Authentication and the role rules of the API. */
export class ApiAuth {
  constructor(
    readonly tokens: TokenAuth,
    private readonly users: SessionLookup | null,
    private readonly maskFor: ReadonlySet<Role>,
  ) {}

  /** True when neither tokens nor users are configured (the API is open). */
  get open(): boolean {
    return this.tokens.none && this.users === null;
  }

  /** Who presents these credentials, or null when none is valid. */
  authenticate(authorization: string | undefined, queryToken: string | undefined, cookie: string | undefined): Principal | null {
    const token = this.tokens.find(authorization, queryToken);
    if (token !== undefined) return { kind: 'token', scopes: token.scopes };
    if (this.users !== null) {
      const token = cookieValue(cookie, SESSION_COOKIE);
      const session = token === undefined ? undefined : this.users.session(token);
      if (session !== undefined) return { kind: 'user', session };
    }
    return this.open ? { kind: 'open' } : null;
  }

  /** The agent whose data alone `p` may see, or null for everything. */
  static agentScope(p: Principal | null): string | null {
    if (p === null || p.kind !== 'user') return null;
    const u = p.session.user;
    // An agent user always has an agent (the users table refuses otherwise).
    return u.role === 'agent' ? u.agentId ?? '' : null;
  }

  /** True when `p` may use a route of `access`; `agentParam` is the route's `:id` for `ownAgent`. */
  static allows(p: Principal, access: RouteAccess, agentParam: string | undefined): boolean {
    if (access === 'public' || access === 'signedIn') return true;
    if (access === 'admin') return p.kind !== 'user' || p.session.user.role === 'admin';
    const scope = ApiAuth.agentScope(p);
    if (scope === null) return true;
    return access === 'ownAgent' && agentParam === scope;
  }

  /**
   * The teams whose agents alone `p` may see and change: a supervisor configured with teams; null
   * for everyone else (an agent's narrower rule is {@link agentScope}).
   */
  static teamsOf(p: Principal | null): ReadonlySet<string> | null {
    if (p === null || p.kind !== 'user') return null;
    const u = p.session.user;
    return u.role === 'supervisor' && u.teams !== undefined && u.teams.length > 0 ? new Set(u.teams) : null;
  }

  /** True when `p` may see agent `agentId` of team `team` (its own agent, or one of its teams). */
  static seesAgent(p: Principal | null, agentId: string, team: string | null | undefined): boolean {
    const scope = ApiAuth.agentScope(p);
    if (scope !== null) return scope === agentId;
    const teams = ApiAuth.teamsOf(p);
    return teams === null || (team !== null && team !== undefined && teams.has(team));
  }

  /** True when `p` holds `scope` (users and the open API: every scope; their role rules apply instead). */
  static hasScope(p: Principal, scope: ApiScope): boolean {
    return p.kind !== 'token' || p.scopes === null || p.scopes.has(scope);
  }

  /** True when callers' numbers are masked for `p`. */
  masks(p: Principal | null): boolean {
    return p !== null && p.kind === 'user' && this.maskFor.has(p.session.user.role);
  }
}
