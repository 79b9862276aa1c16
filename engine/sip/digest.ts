/**
 * HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617, RFC 7616, RFC 8760):
 * MD5 and SHA-256 with their `-sess` variants, `qop=auth` and `auth-int`, and RFC 2069 clients
 * that send no qop.
 *
 * Server side, {@link DigestChallenger} issues stateless nonces and verifies credentials. Client
 * side, {@link answerChallenge} turns a challenge into an Authorization value.
 *
 * ```
 *   UAC                                   UAS / registrar
 *    | REGISTER                             |
 *    |------------------------------------->|
 *    | 401  WWW-Authenticate: Digest realm="r", nonce="N", algorithm=SHA-256, qop="auth"
 *    |<-------------------------------------|      (one value per algorithm offered)
 *    | REGISTER  Authorization: Digest username="u", realm="r", nonce="N", uri="sip:r",
 *    |           response="H(HA1:N:nc:cnonce:auth:HA2)", algorithm=SHA-256, qop=auth,
 *    |           nc=00000001, cnonce="c"
 *    |------------------------------------->|
 *    | 200                                  |
 *    |<-------------------------------------|
 *
 *   HA1 = H(username ":" realm ":" password)         -sess: H(HA1 ":" nonce ":" cnonce)
 *   HA2 = H(method ":" digest-uri)                    auth-int: H(method ":" uri ":" H(body))
 *   response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   no qop: H(HA1 ":" nonce ":" HA2)
 *
 *   nonce = base64url( time(6) | salt(6) | mark(6) | bound(12) )
 *     mark  = HMAC-SHA-256(secret, time | salt | realm)[0..6)              "we issued it"
 *     bound = HMAC-SHA-256(secret, time | salt | realm | 0 | bindTo)[0..12) "to this source"
 * ```
 *
 * A nonce can be bound to a string (the registrar binds it to the source address it challenged):
 * verified with another binding it is refused as `SIP_ERR_AUTH_NONCE_SOURCE` with `stale` set, so
 * credentials captured on the wire and replayed from elsewhere are only ever challenged again. The
 * `mark` tells a nonce we issued to someone else from one we never issued (a log code, and only
 * the former can be "stale"). Within one binding, every use of a nonce must carry a higher nonce
 * count (nc) than the last one accepted, and an RFC 2069 response (no nc) is accepted once.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Clock } from './contracts.ts';
import type { AuthHeader } from './message.ts';
import { parseAuthInto } from './headers.ts';

/** Digest algorithms we compute (RFC 7616 §3.3 names). */
export type DigestAlgorithm = 'MD5' | 'MD5-sess' | 'SHA-256' | 'SHA-256-sess';
/** Quality of protection values (RFC 7616 §3.3). */
export type DigestQop = 'auth' | 'auth-int';

const ALGORITHMS: readonly DigestAlgorithm[] = ['MD5', 'MD5-sess', 'SHA-256', 'SHA-256-sess'];

/** Map an algorithm token as received (case-insensitive, RFC 7616 §3.3) to ours, or undefined. */
export function parseAlgorithm(token: string | undefined): DigestAlgorithm | undefined {
  // An absent algorithm means MD5 (RFC 2617 §3.2.1).
  if (token === undefined) return 'MD5';
  const upper = token.toUpperCase();
  for (const a of ALGORITHMS) if (a.toUpperCase() === upper) return a;
  return undefined;
}

function hashName(algorithm: DigestAlgorithm): 'md5' | 'sha256' {
  return algorithm === 'MD5' || algorithm === 'MD5-sess' ? 'md5' : 'sha256';
}

function isSess(algorithm: DigestAlgorithm): boolean {
  return algorithm === 'MD5-sess' || algorithm === 'SHA-256-sess';
}

/** Lower-case hex digest of `data` with the hash of `algorithm`. */
function h(algorithm: DigestAlgorithm, data: string | Buffer): string {
  return createHash(hashName(algorithm)).update(data).digest('hex');
}

/**
 * HA1 without the `-sess` step: H(username:realm:password). This is what a registrar may store
 * instead of the password (one value per hash function).
 */
export function computeHa1(algorithm: DigestAlgorithm, username: string, realm: string, password: string): string {
  return h(algorithm, `${username}:${realm}:${password}`);
}

/** The secret a verifier knows for a user: the password, or the stored HA1 of the hash in use. */
export type DigestSecret = { password: string } | { ha1: string };

/** Everything that goes into a `response` value. */
export interface DigestInput {
  algorithm: DigestAlgorithm;
  username: string;
  realm: string;
  secret: DigestSecret;
  method: string;
  uri: string;
  nonce: string;
  /** Absent for RFC 2069 (no qop). */
  qop: DigestQop | undefined;
  /** Eight hex digits, as sent (`00000001`); ignored without qop. */
  nc: string;
  cnonce: string;
  /** Request body, for auth-int. */
  body: Buffer | undefined;
}

/** The `response` value of RFC 7616 §3.4.1 (and RFC 2069 when `qop` is undefined). */
export function digestResponse(input: DigestInput): string {
  const { algorithm } = input;
  let ha1 = 'ha1' in input.secret
    ? input.secret.ha1.toLowerCase()
    : computeHa1(algorithm, input.username, input.realm, input.secret.password);
  // §3.4.2: the -sess variants bind HA1 to this nonce and cnonce.
  if (isSess(algorithm)) ha1 = h(algorithm, `${ha1}:${input.nonce}:${input.cnonce}`);
  const ha2 = input.qop === 'auth-int'
    ? h(algorithm, `${input.method}:${input.uri}:${h(algorithm, input.body ?? Buffer.alloc(0))}`)
    : h(algorithm, `${input.method}:${input.uri}`);
  return input.qop === undefined
    ? h(algorithm, `${ha1}:${input.nonce}:${ha2}`)
    : h(algorithm, `${ha1}:${input.nonce}:${input.nc}:${input.cnonce}:${input.qop}:${ha2}`);
}

/** Quote a value as an RFC 7230 quoted-string (escape `"` and `\`). */
function quote(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/** Stable failure codes of digest verification and answering (CONVENTIONS.md 6). */
export type DigestErrorCode =
  | 'SIP_ERR_AUTH_NO_CREDENTIALS'
  | 'SIP_ERR_AUTH_MALFORMED'
  | 'SIP_ERR_AUTH_ALGORITHM'
  | 'SIP_ERR_AUTH_QOP'
  | 'SIP_ERR_AUTH_NONCE'
  | 'SIP_ERR_AUTH_NONCE_SOURCE'
  | 'SIP_ERR_AUTH_STALE'
  | 'SIP_ERR_AUTH_REPLAY'
  | 'SIP_ERR_AUTH_URI'
  | 'SIP_ERR_AUTH_UNKNOWN_USER'
  | 'SIP_ERR_AUTH_RESPONSE';

/** Digest credentials picked out of an Authorization / Proxy-Authorization header. */
export interface DigestCredentials {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  /** Undefined when the token is not an algorithm we know (absent means MD5). */
  algorithm: DigestAlgorithm | undefined;
  /** qop as sent, lower-cased; undefined for RFC 2069 credentials. */
  qop: string | undefined;
  nc: string | undefined;
  cnonce: string | undefined;
  opaque: string | undefined;
}

/** Result of {@link DigestChallenger.verify}. `stale` tells the caller to add `stale=true`. */
export type DigestVerdict =
  | { ok: true; username: string }
  | { ok: false; code: DigestErrorCode; reason: string; stale: boolean };

/** What the verifier needs from a request. */
export interface DigestRequest {
  method: string;
  /** Request-URI exactly as received (compared with the digest `uri`, RFC 2617 §3.2.2.5). */
  uriText: string;
  body: Buffer;
}

/** Options of a {@link DigestChallenger}. */
export interface DigestChallengerOptions {
  realm: string;
  /** HMAC key for nonces; random per process by default (then nonces die with the process). */
  secret?: Buffer;
  /** Nonce lifetime in ms; an older but otherwise valid nonce gets `stale=true`. Default 300 000. */
  nonceTtlMs?: number;
  /** Algorithms offered, one challenge each, preferred first (RFC 8760 §2.4). Default SHA-256, MD5. */
  algorithms?: DigestAlgorithm[];
  /** qop values offered. Default `['auth']`. */
  qop?: DigestQop[];
  /**
   * Accept RFC 2069 credentials (no qop, no nc), each nonce once only. Default false: without a
   * nonce count a captured response is valid for the nonce's whole lifetime, so only turn it on
   * for old phones that cannot do qop=auth.
   */
  allowNoQop?: boolean;
  /**
   * How many nonces keep their last nonce count. The least recently used is forgotten first; a
   * nonce issued no later than a forgotten one and not seen since is then refused as a replay
   * (stale, so the client simply takes a fresh nonce): forgetting never reopens a replay.
   */
  replayWindowNonces?: number;
  /** Wall or monotonic time in ms; default `Date.now`. */
  clock?: Pick<Clock, 'now'>;
}

/** Per-nonce record: the highest nonce count accepted (ONCE after an RFC 2069 use) and the issue time. */
interface NcRecord {
  max: number;
  issued: number;
}

/** `max` of a nonce used once without qop: no later use of any kind is accepted. */
const ONCE = Number.MAX_SAFE_INTEGER;
const NONCE_TIME_BYTES = 6;
const NONCE_SALT_BYTES = 6;
const NONCE_MARK_BYTES = 6;
const NONCE_MAC_BYTES = 12;
const NONCE_HEAD_BYTES = NONCE_TIME_BYTES + NONCE_SALT_BYTES;
const NONCE_BYTES = NONCE_HEAD_BYTES + NONCE_MARK_BYTES + NONCE_MAC_BYTES;
const ZERO = Buffer.alloc(1);

/**
 * Server side of digest: stateless nonces, credential checks, challenge values.
 *
 * ```ts
 * const auth = new DigestChallenger({ realm: 'onair' });
 * const creds = auth.select(request.headers.auth('Authorization'));
 * const verdict = creds ? auth.verify(request, creds, { password }) : undefined;
 * if (!verdict?.ok) reply401(auth.challenges(verdict?.stale ?? false));
 * ```
 */
export class DigestChallenger {
  readonly realm: string;
  private readonly secret: Buffer;
  private readonly ttl: number;
  private readonly algorithms: readonly DigestAlgorithm[];
  private readonly qop: readonly DigestQop[];
  private readonly allowNoQop: boolean;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly windows: LRUCache<string, NcRecord>;
  private readonly realmBytes: Buffer;
  /** Issue time of the newest nonce whose record was forgotten (LRU); unseen nonces up to it are refused. */
  private forgottenUpTo = -1;

  constructor(opts: DigestChallengerOptions) {
    this.realm = opts.realm;
    this.secret = opts.secret ?? randomBytes(32);
    this.ttl = opts.nonceTtlMs ?? 300_000;
    this.algorithms = opts.algorithms ?? ['SHA-256', 'MD5'];
    this.qop = opts.qop ?? ['auth'];
    this.allowNoQop = opts.allowNoQop ?? false;
    this.clock = opts.clock ?? { now: Date.now };
    this.windows = new LRUCache({
      max: opts.replayWindowNonces ?? 10_000,
      dispose: (r, _nonce, reason) => {
        if (reason === 'evict' && r.issued > this.forgottenUpTo) this.forgottenUpTo = r.issued;
      },
    });
    this.realmBytes = Buffer.from(this.realm, 'utf8');
    if (this.algorithms.length === 0) throw new RangeError('DigestChallenger needs at least one algorithm');
  }

  /** A fresh nonce bound to this realm, the current time and `bindTo` (e.g. the source address). */
  newNonce(bindTo = ''): string {
    const raw = Buffer.allocUnsafe(NONCE_BYTES);
    raw.writeUIntBE(Math.max(0, Math.floor(this.clock.now())), 0, NONCE_TIME_BYTES);
    randomBytes(NONCE_SALT_BYTES).copy(raw, NONCE_TIME_BYTES);
    this.mark(raw).copy(raw, NONCE_HEAD_BYTES, 0, NONCE_MARK_BYTES);
    this.mac(raw, bindTo).copy(raw, NONCE_HEAD_BYTES + NONCE_MARK_BYTES, 0, NONCE_MAC_BYTES);
    return raw.toString('base64url');
  }

  /**
   * WWW-Authenticate / Proxy-Authenticate values, one per algorithm offered (RFC 8760 §2.4), all
   * with the same nonce, bound to `bindTo` (see {@link verify}). `stale` is set after an expired
   * nonce, a replayed nc or a nonce of another source so that the client retries without asking
   * its user again (RFC 7616 §3.3).
   */
  challenges(stale = false, bindTo = ''): string[] {
    const nonce = this.newNonce(bindTo);
    const qop = this.qop.length > 0 ? `, qop="${this.qop.join(',')}"` : '';
    const staleParam = stale ? ', stale=true' : '';
    return this.algorithms.map(
      (a) => `Digest realm=${quote(this.realm)}, nonce="${nonce}", algorithm=${a}${qop}${staleParam}`,
    );
  }

  /**
   * Pick our Digest credentials out of the parsed Authorization (or Proxy-Authorization) values:
   * the first with scheme Digest and our realm. Other schemes are ignored, so a request with only
   * an unknown scheme (RFC 4475 `regaut01`) counts as having no credentials and gets a challenge.
   */
  select(headers: readonly AuthHeader[]): DigestCredentials | undefined {
    for (const header of headers) {
      if (header.scheme.toLowerCase() !== 'digest') continue;
      if (header.params.get('realm') !== this.realm) continue;
      return readCredentials(header);
    }
    return undefined;
  }

  /**
   * Check credentials against a request and the user's secret. Order matters: a forged nonce or a
   * wrong response fails outright; only a correct response with an expired nonce or a reused nc is
   * `stale` (RFC 2617 §3.2.1: stale means "the request digest was valid but the nonce was not").
   * `bindTo` must equal the value the nonce was issued with: a correct response on a nonce issued
   * to another source is `SIP_ERR_AUTH_NONCE_SOURCE`, stale (a replay, or a phone whose NAT
   * mapping moved: either way the answer is a fresh challenge, never acceptance).
   */
  verify(request: DigestRequest, creds: DigestCredentials, secret: DigestSecret, bindTo = ''): DigestVerdict {
    if (!creds.username || !creds.nonce || !creds.uri || !creds.response) {
      return fail('SIP_ERR_AUTH_MALFORMED', 'missing username, nonce, uri or response');
    }
    const algorithm = creds.algorithm;
    if (!algorithm || !this.algorithms.includes(algorithm)) return fail('SIP_ERR_AUTH_ALGORITHM', 'algorithm not offered');
    const qop = parseQop(creds.qop);
    if (qop === undefined) {
      if (!this.allowNoQop) return fail('SIP_ERR_AUTH_QOP', 'qop required');
    } else if (qop === null || !this.qop.includes(qop)) {
      return fail('SIP_ERR_AUTH_QOP', `qop ${creds.qop} not offered`);
    }
    let nc = 0;
    if (qop !== undefined) {
      if (creds.nc === undefined || creds.cnonce === undefined || !/^[0-9a-fA-F]{8}$/.test(creds.nc)) {
        return fail('SIP_ERR_AUTH_MALFORMED', 'qop without a valid nc and cnonce');
      }
      nc = parseInt(creds.nc, 16);
    }
    const issued = this.nonceTime(creds.nonce, bindTo);
    if (issued === undefined) return fail('SIP_ERR_AUTH_NONCE', 'nonce not issued by us');
    if (creds.uri !== request.uriText) return fail('SIP_ERR_AUTH_URI', 'digest uri differs from the Request-URI');

    const expected = digestResponse({
      algorithm, username: creds.username, realm: creds.realm, secret,
      method: request.method, uri: creds.uri, nonce: creds.nonce, qop,
      nc: creds.nc ?? '', cnonce: creds.cnonce ?? '', body: request.body,
    });
    if (!sameHex(expected, creds.response)) return fail('SIP_ERR_AUTH_RESPONSE', 'wrong response');

    if (issued < 0) return fail('SIP_ERR_AUTH_NONCE_SOURCE', 'nonce issued to another source', true);
    if (this.clock.now() - issued > this.ttl) return fail('SIP_ERR_AUTH_STALE', 'nonce expired', true);
    if (!this.accept(creds.nonce, issued, qop === undefined ? ONCE : nc)) {
      return fail('SIP_ERR_AUTH_REPLAY', qop === undefined ? 'nonce already used without qop' : `nc ${creds.nc} not above the last one`, true);
    }
    return { ok: true, username: creds.username };
  }

  /**
   * Convenience for synchronous user stores: select, look up, verify. `lookup` gets the user name,
   * realm and algorithm (an HA1 depends on the hash) and returns the secret or undefined.
   */
  authenticate(
    request: DigestRequest,
    headers: readonly AuthHeader[],
    lookup: (username: string, realm: string, algorithm: DigestAlgorithm) => DigestSecret | undefined,
  ): DigestVerdict {
    const creds = this.select(headers);
    if (!creds) return fail('SIP_ERR_AUTH_NO_CREDENTIALS', 'no Digest credentials for our realm');
    if (!creds.algorithm) return fail('SIP_ERR_AUTH_ALGORITHM', 'algorithm not offered');
    const secret = lookup(creds.username, creds.realm, creds.algorithm);
    if (!secret) return fail('SIP_ERR_AUTH_UNKNOWN_USER', 'unknown user');
    return this.verify(request, creds, secret);
  }

  /** Nonce counts tracked now (bounded by `replayWindowNonces`). */
  get trackedNonces(): number {
    return this.windows.size;
  }

  /** "We issued it": HMAC over time, salt and realm. */
  private mark(raw: Buffer): Buffer {
    return createHmac('sha256', this.secret).update(raw.subarray(0, NONCE_HEAD_BYTES)).update(this.realmBytes).digest();
  }

  /** "To this binding": HMAC over time, salt, realm and `bindTo`. */
  private mac(raw: Buffer, bindTo: string): Buffer {
    return createHmac('sha256', this.secret)
      .update(raw.subarray(0, NONCE_HEAD_BYTES))
      .update(this.realmBytes)
      .update(ZERO)
      .update(bindTo, 'utf8')
      .digest();
  }

  /**
   * Issue time of a nonce we made for `bindTo`; -1 when we made it for another binding; undefined
   * when it is not ours (bad mark, wrong shape).
   */
  private nonceTime(nonce: string, bindTo: string): number | undefined {
    const raw = Buffer.from(nonce, 'base64url');
    if (raw.length !== NONCE_BYTES || raw.toString('base64url') !== nonce) return undefined;
    const mark = this.mark(raw).subarray(0, NONCE_MARK_BYTES);
    if (!timingSafeEqual(mark, raw.subarray(NONCE_HEAD_BYTES, NONCE_HEAD_BYTES + NONCE_MARK_BYTES))) return undefined;
    const mac = this.mac(raw, bindTo).subarray(0, NONCE_MAC_BYTES);
    if (!timingSafeEqual(mac, raw.subarray(NONCE_HEAD_BYTES + NONCE_MARK_BYTES))) return -1;
    return raw.readUIntBE(0, NONCE_TIME_BYTES);
  }

  /**
   * Replay check per nonce: each use must carry an nc above the last accepted one (RFC 7616 §3.4:
   * the server "MUST" reject a reused nc; strictly rising needs one number per nonce, no window).
   * `nc` is ONCE for an RFC 2069 use, which closes the nonce. A nonce not seen yet but issued no
   * later than one the table had to forget may have been used before: refused (stale).
   */
  private accept(nonce: string, issued: number, nc: number): boolean {
    if (nc < 1) return false;
    const r = this.windows.get(nonce);
    if (r === undefined) {
      if (issued <= this.forgottenUpTo) return false;
      this.windows.set(nonce, { max: nc, issued });
      return true;
    }
    if (nc <= r.max || r.max === ONCE) return false;
    r.max = nc;
    return true;
  }
}

function fail(code: DigestErrorCode, reason: string, stale = false): DigestVerdict {
  return { ok: false, code, reason, stale };
}

function sameHex(expected: string, got: string): boolean {
  const a = Buffer.from(expected, 'latin1');
  const b = Buffer.from(got.toLowerCase(), 'latin1');
  return a.length === b.length && timingSafeEqual(a, b);
}

function parseQop(value: string | undefined): DigestQop | undefined | null {
  if (value === undefined) return undefined;
  const v = value.toLowerCase();
  return v === 'auth' || v === 'auth-int' ? v : null;
}

function readCredentials(header: AuthHeader): DigestCredentials {
  const p = header.params;
  return {
    username: p.get('username') ?? '',
    realm: p.get('realm') ?? '',
    nonce: p.get('nonce') ?? '',
    uri: p.get('uri') ?? '',
    response: p.get('response') ?? '',
    algorithm: parseAlgorithm(p.get('algorithm')),
    qop: p.get('qop')?.toLowerCase(),
    nc: p.get('nc'),
    cnonce: p.get('cnonce'),
    opaque: p.get('opaque'),
  };
}

/** What a client needs to answer a challenge. */
export interface DigestUser {
  username: string;
  password: string;
  method: string;
  /** Request-URI of the request being authorized, as it will be sent. */
  uri: string;
  /** Body of the request, used only with qop=auth-int. */
  body?: Buffer | undefined;
}

/** Result of {@link answerChallenge}. */
export type DigestAnswer =
  | { ok: true; /** The Authorization / Proxy-Authorization value. */ header: string; algorithm: DigestAlgorithm; qop: DigestQop | undefined }
  | { ok: false; code: DigestErrorCode; reason: string };

/**
 * Client side: the Authorization / Proxy-Authorization value answering one WWW-Authenticate /
 * Proxy-Authenticate challenge, parsed (`headers.auth(...)`) or as raw header text. `nc` counts requests made with this nonce
 * (start at 1); `cnonce` is random unless given (tests pass a fixed one). qop=auth is preferred over
 * auth-int; a challenge without qop is answered the RFC 2069 way.
 */
export function answerChallenge(challengeHeader: AuthHeader | string, user: DigestUser, nc: number, cnonce?: string): DigestAnswer {
  let challenge: AuthHeader | undefined;
  if (typeof challengeHeader === 'string') {
    const parsed: AuthHeader[] = [];
    if (parseAuthInto(challengeHeader, parsed)) challenge = parsed[0];
    if (!challenge) return { ok: false, code: 'SIP_ERR_AUTH_MALFORMED', reason: 'unparsable challenge' };
  } else {
    challenge = challengeHeader;
  }
  if (challenge.scheme.toLowerCase() !== 'digest') {
    return { ok: false, code: 'SIP_ERR_AUTH_MALFORMED', reason: `scheme ${challenge.scheme} is not Digest` };
  }
  const p = challenge.params;
  const realm = p.get('realm');
  const nonce = p.get('nonce');
  if (realm === undefined || nonce === undefined) {
    return { ok: false, code: 'SIP_ERR_AUTH_MALFORMED', reason: 'challenge without realm or nonce' };
  }
  const algorithm = parseAlgorithm(p.get('algorithm'));
  if (!algorithm) return { ok: false, code: 'SIP_ERR_AUTH_ALGORITHM', reason: `algorithm ${p.get('algorithm')} not supported` };
  const offered = p.get('qop');
  let qop: DigestQop | undefined;
  if (offered !== undefined) {
    const list = offered.split(',').map((q) => q.trim().toLowerCase());
    if (list.includes('auth')) qop = 'auth';
    else if (list.includes('auth-int')) qop = 'auth-int';
    else return { ok: false, code: 'SIP_ERR_AUTH_QOP', reason: `qop ${offered} not supported` };
  }
  const ncText = nc.toString(16).padStart(8, '0');
  const cn = cnonce ?? randomBytes(12).toString('base64url');
  const response = digestResponse({
    algorithm, username: user.username, realm, secret: { password: user.password },
    method: user.method, uri: user.uri, nonce, qop, nc: ncText, cnonce: cn, body: user.body,
  });
  let header = `Digest username=${quote(user.username)}, realm=${quote(realm)}, nonce=${quote(nonce)}, ` +
    `uri=${quote(user.uri)}, response="${response}", algorithm=${algorithm}`;
  if (qop !== undefined) header += `, qop=${qop}, nc=${ncText}, cnonce=${quote(cn)}`;
  const opaque = p.get('opaque');
  if (opaque !== undefined) header += `, opaque=${quote(opaque)}`;
  return { ok: true, header, algorithm, qop };
}
