/**
 * Bearer-token authentication of the API. Tokens are compared as SHA-256 digests with
 * `timingSafeEqual`, against every configured token without stopping at the first match, so the
 * time taken tells nothing about how much of a guess was right.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/** Who may call what. */
export class TokenAuth {
  private readonly digests: readonly Buffer[];
  private readonly openPaths: ReadonlySet<string>;

  /** With no tokens the API is open (the engine allows that only on a loopback address). */
  constructor(tokens: readonly string[], openPaths: readonly string[]) {
    this.digests = tokens.map(digest);
    this.openPaths = new Set(openPaths);
  }

  /** True when `path` (without query) needs no token. Exact match only: `/healthz/` is not `/healthz`. */
  isOpen(path: string): boolean {
    return this.digests.length === 0 || this.openPaths.has(path);
  }

  /**
   * True when the `Authorization: Bearer <token>` header (or, where the caller allows it, the
   * `token` query parameter) carries a configured token.
   */
  accepts(authorization: string | undefined, queryToken: string | undefined): boolean {
    if (this.digests.length === 0) return true;
    let presented: string | undefined;
    if (authorization !== undefined && authorization.length > 7 && authorization.slice(0, 7).toLowerCase() === 'bearer ') {
      presented = authorization.slice(7).trim();
    } else {
      presented = queryToken;
    }
    if (presented === undefined || presented === '') return false;
    const d = digest(presented);
    let ok = false;
    for (const t of this.digests) ok = timingSafeEqual(t, d) || ok;
    return ok;
  }
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
