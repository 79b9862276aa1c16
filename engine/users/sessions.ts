/**
 * Sessions of signed-in users, in memory: a random 256-bit token (the cookie value) to the user.
 * A session ends at sign-out, after `idleMs` without a request, or `maxAgeMs` after sign-in. The
 * table is bounded (`maxSessions`): when full, the least recently used session ends first, so a
 * flood of sign-ins cannot grow memory. Sessions do not survive an engine restart (the desktop
 * then shows the sign-in page again).
 */
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Session, UserAccount } from './types.ts';

/** Options of {@link SessionTable}. */
export interface SessionOptions {
  /** A session unused this long ends (ms). */
  idleMs: number;
  /** A session ends this long after sign-in, used or not (ms). */
  maxAgeMs: number;
  /** Most sessions at once. Default 10 000. */
  maxSessions?: number;
}

/** Session tokens to sessions. */
export class SessionTable {
  private readonly sessions: LRUCache<string, Session>;

  constructor(private readonly opts: SessionOptions) {
    if (!(opts.idleMs > 0 && opts.maxAgeMs > 0)) throw new RangeError('SessionTable: idleMs and maxAgeMs must be positive');
    this.sessions = new LRUCache({ max: opts.maxSessions ?? 10_000 });
  }

  /** Start a session for `user`. */
  create(user: UserAccount, source: string, now: number): Session {
    const session: Session = { token: randomBytes(32).toString('base64url'), user, createdAt: now, lastSeenAt: now, source };
    this.sessions.set(session.token, session);
    return session;
  }

  /** The live session of `token` (and mark it used), or undefined. */
  touch(token: string, now: number): Session | undefined {
    // Tokens are 43 characters of base64url; anything else is not looked up at all.
    if (token.length !== 43) return undefined;
    const s = this.sessions.get(token);
    if (s === undefined) return undefined;
    if (now - s.lastSeenAt > this.opts.idleMs || now - s.createdAt > this.opts.maxAgeMs) {
      this.sessions.delete(token);
      return undefined;
    }
    s.lastSeenAt = now;
    return s;
  }

  /** End the session of `token`. True when there was one. */
  end(token: string): boolean {
    return this.sessions.delete(token);
  }

  /** End every session of `username` (the account changed or was removed). */
  endUser(username: string): number {
    let n = 0;
    for (const [token, s] of this.sessions.entries()) {
      if (s.user.username === username) {
        this.sessions.delete(token);
        n++;
      }
    }
    return n;
  }

  /** Sessions held now. */
  get size(): number {
    return this.sessions.size;
  }
}
