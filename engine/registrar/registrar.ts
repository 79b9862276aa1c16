/**
 * The registrar of agents' phones (RFC 3261 §10.3): REGISTER with digest authentication, bindings
 * with expiry, several contacts per agent, unregistration, and presence events for the layer that
 * ties a registered phone to an agent the ACD may offer calls to.
 *
 * ```
 *  phone                                   Registrar
 *    | REGISTER (no credentials)             |
 *    |-------------------------------------->|  source blocked? ─▶ 503 Retry-After (no hashing)
 *    | 401 WWW-Authenticate (MD5)            |
 *    |<--------------------------------------|
 *    | REGISTER Authorization: Digest ...    |  wrong password / unknown user ─▶ 403 (counted per source)
 *    |-------------------------------------->|  expired nonce ─▶ 401 stale=true
 *    |                                       |  user ≠ To AOR user ─▶ 403
 *    |                                       |  expires < minExpires ─▶ 423 Min-Expires
 *    |                                       |  same Call-ID, CSeq not higher ─▶ 500
 *    | 200 Contact: <a>;expires=N, <b>;...   |  every current binding with its remaining time
 *    |<--------------------------------------|
 * ```
 *
 * A binding remembers the transport address the REGISTER came from (with its TCP/TLS connection):
 * phones behind NAT are reached there, not at the private address in their Contact.
 */
import {
  DigestChallenger, formatNameAddr, formatUri, parseUri, systemClock, unescapeUri, uriEquals,
  type Clock, type DigestAlgorithm, type Endpoint, type HeaderField, type IncomingRequest, type NameAddr, type Params,
  type SipUri, type TimerHandle,
} from '../sip/index.ts';
import { FailureLimiter, RefusalLimiter, type FailureLimiterOptions } from './limiter.ts';
import { formatPath, parseStoredPath, readPath, supportsPath } from './path.ts';

/** An agent allowed to register: digest user name is the extension. */
export interface RegistrarAgent {
  /** Agent id as the ACD knows it. */
  id: string;
  /** The AOR user (`sip:<extension>@…`) and the digest user name. */
  extension: string;
  password: string;
  /** Most bindings for this agent; default the registrar's `maxContactsPerAgent`. */
  maxContacts?: number | undefined;
}

/**
 * One binding as stored (contract C4): enough to reach the phone and to keep RFC 3261 §10.3 step 7
 * ordering across a restart. `contact` is the Contact URI text; with `agentId` it is the key.
 */
export interface PersistedBinding {
  agentId: string;
  /** Contact URI text (`sip:1001@192.0.2.7:5060`), without the name-addr's header parameters. */
  contact: string;
  source: { transport: 'UDP' | 'TCP' | 'TLS'; address: string; port: number };
  /** Wall-clock ms at which the binding ends. */
  expiresAt: number;
  callId: string;
  cseq: number;
  /** The Contact's `+sip.instance` (RFC 5626 §4.1) without its quotes, or null. */
  instanceId: string | null;
  registeredAt: number;
  /** The REGISTER's Path (RFC 3327) as one header value (`<sip:p1;lr>, <sip:p2;lr>`); null or absent: none (path.ts). */
  path?: string | null;
}

/**
 * Where bindings survive a restart (contract C4). The registrar calls `upsert` after every new or
 * refreshed binding and `remove` when one ends (unregistered, evicted, expired), without waiting:
 * a failed write is logged and the registrar goes on from memory. `load` is read once by
 * {@link Registrar.restore}; the registrar drops what has expired itself.
 */
export interface BindingStore {
  load(now: number): Promise<PersistedBinding[]>;
  upsert(b: PersistedBinding): Promise<void>;
  remove(agentId: string, contact: string): Promise<void>;
}

/** A pino-compatible logger (a pino child logger fits). */
export interface RegistrarLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Options of a {@link Registrar}. */
export interface RegistrarOptions {
  /** Digest realm. */
  realm: string;
  agents: readonly RegistrarAgent[];
  /** Shortest registration accepted, in seconds (423 below it). Default 60. */
  minExpires?: number;
  /** Longest registration granted, in seconds (longer requests are shortened). Default 3600. */
  maxExpires?: number;
  /** Registration time when the request gives none, in seconds. Default 3600. */
  defaultExpires?: number;
  /**
   * Most bindings per agent unless the agent sets its own; a new one evicts the least recently
   * refreshed (then lowest q). Default 3.
   */
  maxContactsPerAgent?: number;
  /** Time and timers (bindings expire on it, and nonces age on it). Default: the system clock. */
  clock?: Clock;
  /**
   * Digest settings: nonce key (random per process by default), nonce lifetime, algorithms offered
   * in order. Default `['MD5']`: sipp answers only the first challenge and knows only MD5, and
   * baresip 1.x (libre) refuses a whole 401 when any of its challenges is not MD5. Offer
   * `['SHA-256', 'MD5']` where every phone copes with several challenges. `allowNoQop` (default
   * false) accepts RFC 2069 answers without qop=auth, each nonce once, for phones that know nothing
   * else. Nonces are always bound to the source address they were sent to.
   */
  digest?: { secret?: Buffer; nonceTtlMs?: number; algorithms?: DigestAlgorithm[]; allowNoQop?: boolean };
  /** Limit on failed authentications per source address. */
  authFailures?: FailureLimiterOptions;
  /**
   * Limit on failed authentications per account (agent), whatever their source: guesses spread
   * over many addresses lock the account. While locked, its credentials are refused unread (503
   * Retry-After), right password included, except from the source address of one of its live
   * bindings (the phone already registered keeps refreshing; its failures still count). Default
   * `maxFailures` 10 within 10 min (the 11th locks) for 15 min. One record per agent at most.
   */
  accountLockout?: Omit<FailureLimiterOptions, 'maxSources'>;
  /**
   * Least time between two refusals (503) answered to one source address while it is blocked or
   * names a locked account, in ms; the others are dropped unanswered. Default 1000.
   */
  refusalIntervalMs?: number;
  /** Persisted bindings: written on every change, read by {@link Registrar.restore}. Default none. */
  bindings?: BindingStore;
  /**
   * Wall-clock ms for the stored times (`clock` may be monotonic and restart at 0 with the
   * process, so stored times are converted through the offset between the two). Default Date.now.
   */
  wallClock?: () => number;
  logger?: RegistrarLogger;
}

/** One registered contact of an agent. */
export interface Binding {
  readonly agentId: string;
  readonly extension: string;
  /** The Contact as registered, with its header parameters but without `expires`. */
  readonly contact: NameAddr;
  /** `contact.uri`: the Request-URI of INVITEs to this phone. */
  readonly uri: SipUri;
  /** Where the REGISTER came from: INVITEs go here (NAT, connection reuse), or to the first Path entry. */
  readonly source: Endpoint;
  /** The REGISTER's Path (RFC 3327), checked (path.ts): the Route set of INVITEs to this phone. Empty without one. */
  readonly path: readonly NameAddr[];
  /** Our address it arrived on; null for a binding restored from the store. */
  readonly local: Endpoint | null;
  /** Preference 0..1 from the Contact `q` parameter (1 when absent). */
  readonly q: number;
  readonly callId: string;
  readonly cseq: number;
  /** Clock time (ms) at which the binding ends unless refreshed. */
  readonly expiresAt: number;
  /** Clock time (ms) the binding was created. */
  readonly registeredAt: number;
  /** Clock time (ms) of the last REGISTER that refreshed it. */
  readonly refreshedAt: number;
  /** The phone's User-Agent header, for logs and the API. */
  readonly userAgent: string | undefined;
}

/** Why an agent lost its last binding. */
export type UnregisterReason = 'expired' | 'removed';

/** The one consumer of registration events (the calls layer). */
export interface RegistrarDelegate {
  /** A new binding (a new contact; not a refresh of a known one). The agent may already have others. */
  onRegistered(agentId: string, binding: Binding): void;
  /** The agent's last binding is gone: it must not be offered calls. */
  onUnregistered(agentId: string, reason: UnregisterReason): void;
}

/** Counters for metrics. */
export interface RegistrarStats {
  /** 200 answers to REGISTER. */
  accepted: number;
  /** 401 challenges sent. */
  challenged: number;
  /** Failed authentications (403). */
  authFailures: number;
  /** Requests refused unread: blocked sources and locked accounts (503, or dropped). */
  refused: number;
  /** Of `refused`, those dropped unanswered (refusal rate limit). */
  dropped: number;
  /** Times an account was locked. */
  accountLockouts: number;
  /** Times a source address was blocked. */
  sourceBlocks: number;
  /**
   * Correct credentials refused as replays: a nonce issued to another source address, or a nonce
   * count not above the last one (answered with a fresh challenge, stale=true).
   */
  replays: number;
  /** Bindings that ran out. */
  expired: number;
}

class BindingRecord implements Binding {
  // Assigned by refresh(), which the constructor calls (one place sets a binding from a REGISTER).
  contact!: NameAddr;
  uri!: SipUri;
  source!: Endpoint;
  path!: readonly NameAddr[];
  local!: Endpoint | null;
  q!: number;
  callId!: string;
  cseq!: number;
  expiresAt!: number;
  registeredAt: number;
  refreshedAt!: number;
  userAgent: string | undefined;
  /** Key of `source` in the registrar's source index while the binding is in it. */
  sourceKey: string | undefined = undefined;
  /** Contact URI text of its row in the binding store (a refresh may spell an equal URI otherwise). */
  storedContact: string | undefined = undefined;

  constructor(readonly agentId: string, readonly extension: string, registeredAt: number) {
    this.registeredAt = registeredAt;
  }

  /** Take a stored binding (times already on our clock; after a restart: no local address, q 1, no User-Agent). */
  restore(p: PersistedBinding, contact: NameAddr, path: readonly NameAddr[], now: number): void {
    this.contact = contact;
    this.uri = contact.uri;
    this.source = { transport: p.source.transport, address: p.source.address, port: p.source.port };
    this.path = path;
    this.local = null;
    this.q = 1;
    this.callId = p.callId;
    this.cseq = p.cseq;
    this.expiresAt = p.expiresAt;
    this.refreshedAt = now;
    this.userAgent = undefined;
  }

  /** The stored form (contract C4); `toWall` turns our clock's times into wall-clock ms. */
  persisted(toWall: number): PersistedBinding {
    const instance = this.contact.params.get('+sip.instance');
    const path = formatPath(this.path);
    return {
      agentId: this.agentId, contact: formatUri(this.uri),
      source: { transport: this.source.transport, address: this.source.address, port: this.source.port },
      expiresAt: this.expiresAt + toWall, callId: this.callId, cseq: this.cseq,
      instanceId: typeof instance === 'string' ? unquote(instance) : null, registeredAt: this.registeredAt + toWall,
      ...(path !== null ? { path } : {}),
    };
  }

  /** Take the contact, source and expiry of a (re-)REGISTER. */
  refresh(c: Change, req: IncomingRequest, now: number): void {
    this.contact = c.contact;
    this.uri = c.contact.uri;
    this.source = c.source;
    this.path = c.path;
    this.local = { ...req.inbound.local };
    this.q = c.q;
    this.callId = req.request.headers.callId;
    this.cseq = req.request.headers.cseq.seq;
    this.expiresAt = now + c.expires * 1000;
    this.refreshedAt = now;
    this.userAgent = req.request.headers.get('User-Agent');
  }
}

class AgentEntry {
  /** Best first: q descending, then most recently refreshed. */
  bindings: BindingRecord[] = [];
  constructor(readonly id: string, readonly extension: string, readonly password: string, readonly maxContacts: number) {}
}

/** One Contact of a REGISTER, checked and ready to apply. */
interface Change {
  contact: NameAddr;
  existing: BindingRecord | undefined;
  /** Granted seconds; 0 removes. */
  expires: number;
  q: number;
  source: Endpoint;
  /** The REGISTER's checked Path (every Contact of one REGISTER shares it). */
  path: readonly NameAddr[];
}

type Plan = { ok: true; changes: Change[]; removeAll: boolean } | { ok: false; status: number; reason: string; headers: HeaderField[] };

const NO_HEADERS: HeaderField[] = [];
const SILENT: RegistrarLogger = { info() {}, warn() {}, error() {} };
const NO_DELEGATE: RegistrarDelegate = { onRegistered() {}, onUnregistered() {} };
/** Largest delta-seconds we read (RFC 3261 §20.19: 2^32-1). */
const MAX_DELTA = 0xffffffff;

/**
 * The registrar. Mount it on a {@link UserAgent}'s request delegate for REGISTER:
 *
 * ```ts
 * const registrar = new Registrar({ realm: 'onair', agents });
 * registrar.setDelegate({ onRegistered: (id) => acd.login(id), onUnregistered: (id) => acd.logout(id) });
 * ua.setDelegate({ onRequest: (r) => r.request.method === 'REGISTER' ? registrar.handle(r) : other(r) });
 * const target = registrar.bindingFor('1001'); // → INVITE target.uri via target.source
 * ```
 */
export class Registrar {
  readonly realm: string;
  readonly minExpires: number;
  readonly maxExpires: number;
  readonly defaultExpires: number;
  readonly maxContactsPerAgent: number;
  readonly stats: RegistrarStats = {
    accepted: 0, challenged: 0, authFailures: 0, refused: 0, dropped: 0, accountLockouts: 0, sourceBlocks: 0, replays: 0, expired: 0,
  };
  private readonly clock: Clock;
  private readonly challenger: DigestChallenger;
  private readonly limiter: FailureLimiter;
  private readonly accounts: FailureLimiter;
  private readonly refusals: RefusalLimiter;
  private readonly log: RegistrarLogger;
  private readonly store: BindingStore | undefined;
  private readonly wallClock: () => number;
  private readonly byId = new Map<string, AgentEntry>();
  /** Binding sources (transport, address, port) → how many bindings registered from there. */
  private readonly sources = new Map<string, number>();
  private readonly byExtension = new Map<string, AgentEntry>();
  private delegate: RegistrarDelegate = NO_DELEGATE;
  private timer: TimerHandle | undefined = undefined;
  /** Due time of `timer`; Infinity when none is set. */
  private timerAt = Infinity;
  private closed = false;

  constructor(opts: RegistrarOptions) {
    this.realm = opts.realm;
    this.minExpires = opts.minExpires ?? 60;
    this.maxExpires = opts.maxExpires ?? 3600;
    this.defaultExpires = Math.min(opts.defaultExpires ?? 3600, this.maxExpires);
    this.maxContactsPerAgent = opts.maxContactsPerAgent ?? 3;
    if (!(this.minExpires >= 1 && this.maxExpires >= this.minExpires && this.defaultExpires >= this.minExpires)) {
      throw new RangeError('Registrar: 1 <= minExpires <= defaultExpires <= maxExpires is required');
    }
    if (!(this.maxContactsPerAgent >= 1)) throw new RangeError('Registrar: maxContactsPerAgent must be at least 1');
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? SILENT;
    this.store = opts.bindings;
    this.wallClock = opts.wallClock ?? Date.now;
    this.challenger = new DigestChallenger({
      realm: opts.realm, clock: this.clock,
      ...(opts.digest?.secret ? { secret: opts.digest.secret } : {}),
      ...(opts.digest?.nonceTtlMs !== undefined ? { nonceTtlMs: opts.digest.nonceTtlMs } : {}),
      algorithms: opts.digest?.algorithms ?? ['MD5'],
      allowNoQop: opts.digest?.allowNoQop ?? false,
    });
    this.limiter = new FailureLimiter(opts.authFailures ?? {}, this.clock);
    this.accounts = new FailureLimiter({
      maxFailures: 10, windowMs: 600_000, blockMs: 900_000, ...opts.accountLockout, maxSources: Math.max(1, opts.agents.length),
    }, this.clock);
    this.refusals = new RefusalLimiter(opts.refusalIntervalMs ?? 1000, this.clock);
    for (const a of opts.agents) this.addAgent(a);
  }

  /**
   * Add an agent's phone account (the constructor's agents, and provisioning at run time, issue 15).
   * @throws RangeError on a taken id or extension (the caller checks first).
   */
  addAgent(a: RegistrarAgent): void {
    if (this.byId.has(a.id)) throw new RangeError(`Registrar: agent id ${a.id} appears twice`);
    if (this.byExtension.has(a.extension)) throw new RangeError(`Registrar: extension ${a.extension} appears twice`);
    const max = a.maxContacts ?? this.maxContactsPerAgent;
    if (!(max >= 1)) throw new RangeError(`Registrar: agent ${a.id} maxContacts must be at least 1`);
    const entry = new AgentEntry(a.id, a.extension, a.password, max);
    this.byId.set(a.id, entry);
    this.byExtension.set(a.extension, entry);
  }

  /**
   * Load the persisted bindings (contract C4) and take those still current, of agents that still
   * exist; the others are removed from the store. Each restored agent gets `onRegistered`, so set
   * the delegate first. A failed load is logged and the registrar starts empty. Returns how many
   * bindings were restored. Call once at start, before REGISTERs are handled.
   */
  async restore(): Promise<number> {
    const store = this.store;
    if (store === undefined) return 0;
    let rows: PersistedBinding[];
    try {
      rows = await store.load(this.wallClock());
    } catch (err) {
      this.log.error({ err }, 'loading persisted registrations failed: starting without them');
      return 0;
    }
    const now = this.clock.now();
    const fromWall = now - this.wallClock();
    const added: BindingRecord[] = [];
    let dropped = 0;
    for (const stored of rows) {
      const p = { ...stored, expiresAt: stored.expiresAt + fromWall, registeredAt: stored.registeredAt + fromWall };
      const agent = this.byId.get(p.agentId);
      const uri = parseUri(p.contact);
      // A Path that does not read back (another version's row, a hand edit): the phone is not reachable as it registered.
      const path = parseStoredPath(p.path ?? null);
      if (agent === undefined || uri === undefined || path === undefined || !(p.expiresAt > now)) {
        dropped++;
        this.persist(() => store.remove(p.agentId, p.contact), p.agentId);
        continue;
      }
      // Already bound (a second row of one contact): keep the first; its row is the live one.
      if (agent.bindings.some((b) => uriEquals(b.uri, uri))) {
        dropped++;
        continue;
      }
      const params: Params = new Map();
      if (p.instanceId !== null) params.set('+sip.instance', `"${p.instanceId}"`);
      const b = new BindingRecord(agent.id, agent.extension, p.registeredAt);
      b.restore(p, { displayName: undefined, uri, params }, path, now);
      b.storedContact = p.contact;
      this.index(b);
      agent.bindings.push(b);
      added.push(b);
      this.armExpiry(b.expiresAt);
    }
    for (const agent of this.byId.values()) {
      agent.bindings.sort(bestFirst);
      // The contact limit may have been lowered since they were stored.
      while (agent.bindings.length > agent.maxContacts) {
        const gone = agent.bindings.pop()!;
        const i = added.indexOf(gone);
        if (i >= 0) added.splice(i, 1);
        dropped++;
        this.ended(gone);
      }
    }
    this.log.info({ restored: added.length, dropped }, 'persisted registrations restored');
    for (const b of added) this.emitRegistered(b.agentId, b);
    return added.length;
  }

  /** Set the one consumer of registration events. */
  setDelegate(delegate: RegistrarDelegate): void {
    this.delegate = delegate;
  }

  /**
   * Answer a request outside a dialog. REGISTER is processed per RFC 3261 §10.3; any other
   * method gets 405 with `Allow: REGISTER`.
   */
  handle(req: IncomingRequest): void {
    const request = req.request;
    if (request.method !== 'REGISTER') {
      req.respond(405, { headers: [{ name: 'Allow', value: 'REGISTER' }] });
      return;
    }
    const address = req.inbound.source.address;
    const wait = this.limiter.retryAfterMs(address);
    if (wait > 0) {
      // No digest work for a source that is guessing passwords: a look-up and (now and then) an answer.
      this.refuse(req, wait);
      return;
    }
    // §10.3 step 3: authenticate.
    const agent = this.authenticate(req);
    if (agent === undefined) return;
    // §10.3 steps 4–5: the authenticated user may only bind its own address-of-record.
    const aorUser = unescapeUri(request.headers.to.uri.user);
    if (aorUser !== agent.extension) {
      this.log.warn({ source: address, user: agent.extension, aor: aorUser }, 'REGISTER for another address-of-record');
      req.respond(403, { reason: 'Not Allowed To Register This AOR' });
      return;
    }
    // A late timer must not let an ended binding count in the checks below.
    if (this.timerAt <= this.clock.now()) this.sweep();
    // §10.3 steps 6–7: check every Contact before changing anything.
    const plan = this.plan(req, agent);
    if (!plan.ok) {
      req.respond(plan.status, { reason: plan.reason, headers: plan.headers });
      return;
    }
    const had = agent.bindings.length;
    const added = this.apply(agent, plan, req);
    this.stats.accepted++;
    const headers = this.contactHeaders(agent);
    // RFC 3327 §5.3: the Path is echoed only to a UA that said it supports it.
    const path = request.headers.getAll('Path');
    if (path.length > 0 && supportsPath(request.headers)) headers.push({ name: 'Path', value: path.join(', ') });
    req.respond(200, { headers });
    for (const b of added) this.emitRegistered(agent.id, b);
    if (had > 0 && agent.bindings.length === 0) this.emitUnregistered(agent.id, 'removed');
  }

  /**
   * Current bindings of an agent, best first (q, then most recent). A new array; its elements are
   * the live records, updated in place by refreshes (read them, do not keep them).
   */
  lookup(agentId: string): Binding[] {
    const agent = this.byId.get(agentId);
    if (agent === undefined) return [];
    const now = this.clock.now();
    const out: Binding[] = [];
    for (const b of agent.bindings) if (b.expiresAt > now) out.push(b);
    return out;
  }

  /** The best current binding of the agent with this extension, or undefined. */
  bindingFor(extension: string): Binding | undefined {
    const agent = this.byExtension.get(extension);
    if (agent === undefined) return undefined;
    const now = this.clock.now();
    for (const b of agent.bindings) if (b.expiresAt > now) return b;
    return undefined;
  }

  /** True when the agent has at least one current binding. */
  isRegistered(agentId: string): boolean {
    const agent = this.byId.get(agentId);
    if (agent === undefined) return false;
    const now = this.clock.now();
    for (const b of agent.bindings) if (b.expiresAt > now) return true;
    return false;
  }

  /**
   * True when `source` (transport, address and port) is where one of the agent's live bindings
   * registered from: a request from there comes from the agent's authenticated phone (contract
   * C3; feature codes use it). Connection ids are not compared: a TCP phone may reconnect from the
   * same port, and what was authenticated is the address. A binding registered through a proxy
   * (with a Path) never matches: its source is the proxy, which relays every phone behind it, so
   * the address proves nothing about which phone sent a request.
   */
  isContactSource(agentId: string, source: Endpoint): boolean {
    const agent = this.byId.get(agentId);
    if (agent === undefined) return false;
    const now = this.clock.now();
    for (const b of agent.bindings) {
      if (b.expiresAt > now && b.path.length === 0 && b.source.port === source.port && b.source.address === source.address && b.source.transport === source.transport) return true;
    }
    return false;
  }

  /**
   * True when `source` (transport, address and port) is where some agent's binding registered
   * from: a registered phone (its OPTIONS keep-alives deserve an answer). One map look-up.
   */
  isBindingSource(source: Endpoint): boolean {
    return this.sources.has(sourceKey(source));
  }

  /** The agent id of an extension, or undefined. */
  agentOf(extension: string): string | undefined {
    return this.byExtension.get(extension)?.id;
  }

  /** Seconds a binding has left (rounded up), 0 when it has ended. */
  remaining(binding: Binding): number {
    return Math.max(0, Math.ceil((binding.expiresAt - this.clock.now()) / 1000));
  }

  /** Bindings held now, across all agents. */
  get bindingCount(): number {
    let n = 0;
    for (const a of this.byId.values()) n += a.bindings.length;
    return n;
  }

  /** Stop the expiry timer. Bindings are kept but no longer expire. Idempotent. */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  // ---- authentication ----------------------------------------------------------------------

  /** The authenticated agent, or undefined after answering 401/403. */
  private authenticate(req: IncomingRequest): AgentEntry | undefined {
    const request = req.request;
    const creds = this.challenger.select(request.headers.auth('Authorization'));
    if (creds === undefined) {
      this.challenge(req, false);
      return undefined;
    }
    const agent = this.byExtension.get(creds.username);
    if (agent === undefined) {
      this.authFailed(req, undefined, creds.username, 'SIP_ERR_AUTH_UNKNOWN_USER');
      return undefined;
    }
    const locked = this.accounts.retryAfterMs(agent.id);
    if (locked > 0 && !this.isBoundAddress(agent, req.inbound.source.address)) {
      // Refused unread, whatever the password: guesses spread over many sources stop here.
      this.refuse(req, locked);
      return undefined;
    }
    // The nonce is bound to the address it was sent to (not the port: NAT and TCP reconnects
    // change ports), so a captured Authorization replayed from elsewhere never verifies.
    const verdict = this.challenger.verify(request, creds, { password: agent.password }, req.inbound.source.address);
    if (verdict.ok) return agent;
    // A nonce from before a restart is no proof of a bad password: challenge again, uncounted.
    // So are replays (another source, an nc used already): stale=true, a fresh nonce, no binding.
    if (verdict.stale || verdict.code === 'SIP_ERR_AUTH_NONCE') {
      if (verdict.code === 'SIP_ERR_AUTH_NONCE_SOURCE' || verdict.code === 'SIP_ERR_AUTH_REPLAY') this.stats.replays++;
      this.challenge(req, verdict.stale);
      return undefined;
    }
    this.authFailed(req, agent, creds.username, verdict.code);
    return undefined;
  }

  /** True when `address` is the source of one of the agent's live bindings (not one through a proxy: see {@link Registrar.isContactSource}). */
  private isBoundAddress(agent: AgentEntry, address: string): boolean {
    const now = this.clock.now();
    for (const b of agent.bindings) if (b.expiresAt > now && b.path.length === 0 && b.source.address === address) return true;
    return false;
  }

  /** 503 Retry-After to a blocked source or a locked account, at most once per interval per source. */
  private refuse(req: IncomingRequest, waitMs: number): void {
    this.stats.refused++;
    if (!this.refusals.allow(req.inbound.source.address)) {
      this.stats.dropped++;
      return;
    }
    req.respond(503, { reason: 'Too Many Failed Authentications', headers: [{ name: 'Retry-After', value: String(Math.ceil(waitMs / 1000)) }] });
  }

  private challenge(req: IncomingRequest, stale: boolean): void {
    this.stats.challenged++;
    const headers: HeaderField[] = [];
    for (const value of this.challenger.challenges(stale, req.inbound.source.address)) headers.push({ name: 'WWW-Authenticate', value });
    req.respond(401, { headers });
  }

  /** A failed authentication: counted per source, and per account when the user is an agent. */
  private authFailed(req: IncomingRequest, agent: AgentEntry | undefined, user: string, code: string): void {
    const source = req.inbound.source;
    this.stats.authFailures++;
    const outcome = this.limiter.fail(source.address);
    this.log.warn({ source: source.address, port: source.port, transport: source.transport, user, code }, 'REGISTER authentication failed');
    if (outcome === 'blocked') {
      this.stats.sourceBlocks++;
      this.log.warn({ source: source.address, failures: this.limiter.maxFailures + 1, windowMs: this.limiter.windowMs, blockMs: this.limiter.blockMs },
        'too many failed authentications: source blocked');
    }
    if (agent !== undefined && this.accounts.fail(agent.id) === 'blocked') {
      this.stats.accountLockouts++;
      this.log.warn({ agent: agent.id, user, source: source.address, failures: this.accounts.maxFailures + 1, windowMs: this.accounts.windowMs, blockMs: this.accounts.blockMs },
        'too many failed authentications: account locked');
    }
    req.respond(403);
  }

  // ---- bindings ----------------------------------------------------------------------------

  /** §10.3 steps 6–7 as a plan: nothing changes unless every Contact is acceptable. */
  private plan(req: IncomingRequest, agent: AgentEntry): Plan {
    const h = req.request.headers;
    const contacts = h.contact;
    const headerExpires = parseDelta(h.get('Expires'));
    const callId = h.callId;
    const cseq = h.cseq.seq;
    const source: Endpoint = { ...req.inbound.source };
    // RFC 3327 §5.3: stored with the bindings, so refused whole before anything changes.
    const path = readPath(h, source);
    if (!path.ok) return fail(400, path.reason);
    if (contacts.some(isWildcard)) {
      if (contacts.length !== 1 || headerExpires !== 0) return fail(400, 'Invalid Wildcard Contact');
      for (const b of agent.bindings) if (b.callId === callId && cseq <= b.cseq) return fail(500, 'CSeq Out of Order');
      return { ok: true, changes: [], removeAll: true };
    }
    const changes: Change[] = [];
    for (const c of contacts) {
      if (c.uri.scheme !== 'sip' && c.uri.scheme !== 'sips') return fail(400, 'Contact Must Be A SIP URI');
      let expires = parseDelta(c.params.get('expires')) ?? headerExpires ?? this.defaultExpires;
      if (expires !== 0 && expires < this.minExpires) {
        return { ok: false, status: 423, reason: 'Interval Too Brief', headers: [{ name: 'Min-Expires', value: String(this.minExpires) }] };
      }
      if (expires > this.maxExpires) expires = this.maxExpires;
      const existing = agent.bindings.find((b) => uriEquals(b.uri, c.uri));
      if (existing !== undefined && existing.callId === callId && cseq <= existing.cseq) return fail(500, 'CSeq Out of Order');
      // The same contact twice in one request: the last one counts.
      const dup = changes.findIndex((ch) => uriEquals(ch.contact.uri, c.uri));
      if (dup >= 0) changes.splice(dup, 1);
      changes.push({ contact: withoutExpires(c), existing, expires, q: parseQ(c.params.get('q')), source, path: path.path });
    }
    // Older bindings may be evicted to make room, but one request cannot ask for more than the limit.
    let active = 0;
    for (const c of changes) if (c.expires > 0) active++;
    if (active > agent.maxContacts) return fail(403, 'Too Many Contacts');
    return { ok: true, changes, removeAll: false };
  }

  /** Apply a checked plan; returns the new bindings. */
  private apply(agent: AgentEntry, plan: Plan & { ok: true }, req: IncomingRequest): BindingRecord[] {
    const now = this.clock.now();
    const added: BindingRecord[] = [];
    if (plan.removeAll) {
      for (const b of agent.bindings) this.ended(b);
      agent.bindings.length = 0;
      return added;
    }
    const touched = new Set<BindingRecord>();
    for (const c of plan.changes) {
      const b = c.existing;
      if (b === undefined) {
        if (c.expires === 0) continue;
        const fresh = new BindingRecord(agent.id, agent.extension, now);
        fresh.refresh(c, req, now);
        this.changed(fresh);
        agent.bindings.push(fresh);
        added.push(fresh);
        touched.add(fresh);
        this.armExpiry(fresh.expiresAt);
      } else if (c.expires === 0) {
        agent.bindings.splice(agent.bindings.indexOf(b), 1);
        this.ended(b);
      } else {
        b.refresh(c, req, now);
        this.changed(b);
        touched.add(b);
        this.armExpiry(b.expiresAt);
      }
    }
    // Over the limit: the bindings refreshed longest ago make room (a rebooted phone's old port).
    while (agent.bindings.length > agent.maxContacts) {
      let oldest: BindingRecord | undefined;
      for (const b of agent.bindings) {
        if (touched.has(b)) continue;
        // Oldest refresh first; among equals, the least preferred.
        if (oldest === undefined || b.refreshedAt < oldest.refreshedAt || (b.refreshedAt === oldest.refreshedAt && b.q < oldest.q)) oldest = b;
      }
      if (oldest === undefined) break;
      agent.bindings.splice(agent.bindings.indexOf(oldest), 1);
      this.ended(oldest);
      this.log.info({ agent: agent.id, contact: formatNameAddr(oldest.contact) }, 'binding evicted: contact limit');
    }
    agent.bindings.sort(bestFirst);
    return added;
  }

  /** One Contact field per binding with its remaining seconds (§10.3 step 8). */
  private contactHeaders(agent: AgentEntry): HeaderField[] {
    const out: HeaderField[] = [];
    for (const b of agent.bindings) {
      const params: Params = new Map(b.contact.params);
      params.set('expires', String(this.remaining(b)));
      out.push({ name: 'Contact', value: formatNameAddr({ displayName: b.contact.displayName, uri: b.uri, params }) });
    }
    out.push({ name: 'Date', value: new Date().toUTCString() });
    return out;
  }

  /** Make sure the timer fires no later than `at`. One timer serves every binding. */
  private armExpiry(at: number): void {
    if (this.closed || at >= this.timerAt) return;
    if (this.timer !== undefined) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => this.sweep());
  }

  /** Drop ended bindings and re-arm for the next one. */
  private sweep(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    const now = this.clock.now();
    let next = Infinity;
    for (const agent of this.byId.values()) {
      const list = agent.bindings;
      if (list.length === 0) continue;
      let kept = 0;
      for (let i = 0; i < list.length; i++) {
        const b = list[i]!;
        if (b.expiresAt <= now) {
          this.stats.expired++;
          this.ended(b);
          continue;
        }
        if (b.expiresAt < next) next = b.expiresAt;
        list[kept++] = b;
      }
      if (kept === list.length) continue;
      list.length = kept;
      if (kept === 0) {
        this.log.info({ agent: agent.id }, 'registration expired');
        this.emitUnregistered(agent.id, 'expired');
      }
    }
    if (next < Infinity) this.armExpiry(next);
  }

  // ---- source index and persistence (contract C4) -------------------------------------------
  // Every binding that begins or is refreshed passes through changed(), every one that ends through
  // ended(). Store writes are never awaited: a failed write is logged, memory stays the truth.

  private changed(b: BindingRecord): void {
    this.index(b);
    const store = this.store;
    if (store === undefined) return;
    const row = b.persisted(this.wallClock() - this.clock.now());
    const previous = b.storedContact;
    if (previous !== undefined && previous !== row.contact) this.persist(() => store.remove(b.agentId, previous), b.agentId);
    b.storedContact = row.contact;
    this.persist(() => store.upsert(row), b.agentId);
  }

  private ended(b: BindingRecord): void {
    this.unindex(b);
    const store = this.store;
    const contact = b.storedContact ?? formatUri(b.uri);
    b.storedContact = undefined;
    if (store !== undefined) this.persist(() => store.remove(b.agentId, contact), b.agentId);
  }

  /** (Re-)enter the binding's current source in the index (a refresh may move it). */
  private index(b: BindingRecord): void {
    const key = sourceKey(b.source);
    if (key === b.sourceKey) return;
    this.unindex(b);
    b.sourceKey = key;
    this.sources.set(key, (this.sources.get(key) ?? 0) + 1);
  }

  private unindex(b: BindingRecord): void {
    const key = b.sourceKey;
    if (key === undefined) return;
    b.sourceKey = undefined;
    const n = (this.sources.get(key) ?? 1) - 1;
    if (n > 0) this.sources.set(key, n);
    else this.sources.delete(key);
  }

  private persist(write: () => Promise<void>, agentId: string): void {
    const failed = (err: unknown): void => this.log.error({ err, agent: agentId }, 'persisting a registration failed');
    try {
      write().catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  // A consumer that throws must not leave a REGISTER half done or stop the expiry timer.
  private emitRegistered(agentId: string, binding: Binding): void {
    try {
      this.delegate.onRegistered(agentId, binding);
    } catch (err) {
      this.log.error({ err, agent: agentId }, 'onRegistered threw');
    }
  }

  private emitUnregistered(agentId: string, reason: UnregisterReason): void {
    try {
      this.delegate.onUnregistered(agentId, reason);
    } catch (err) {
      this.log.error({ err, agent: agentId }, 'onUnregistered threw');
    }
  }
}

function fail(status: number, reason: string): Plan {
  return { ok: false, status, reason, headers: NO_HEADERS };
}

/** `Contact: *` parses as a URI with no scheme and host `*`. */
function isWildcard(c: NameAddr): boolean {
  return c.uri.host === '*' && c.uri.scheme === '';
}

/** delta-seconds (RFC 3261 §20.19, §20.10); undefined when absent or malformed (then the default applies). */
function parseDelta(text: string | null | undefined): number | undefined {
  if (text === undefined || text === null) return undefined;
  const s = text.trim();
  if (s.length === 0) return undefined;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    if (n < MAX_DELTA) n = n * 10 + d;
  }
  return Math.min(n, MAX_DELTA);
}

/** qvalue (RFC 3261 §20.10): 0 to 1; absent or malformed counts as 1. */
function parseQ(text: string | null | undefined): number {
  if (text === undefined || text === null) return 1;
  const q = Number(text);
  return Number.isFinite(q) && q >= 0 && q <= 1 ? q : 1;
}

function withoutExpires(c: NameAddr): NameAddr {
  if (!c.params.has('expires')) return c;
  const params: Params = new Map(c.params);
  params.delete('expires');
  return { displayName: c.displayName, uri: c.uri, params };
}

/** Index key of a source endpoint (connection ids left out, as in `isContactSource`). */
function sourceKey(e: Endpoint): string {
  return `${e.transport} ${e.address} ${e.port}`;
}

/** A quoted-string's content (`"<urn:uuid:…>"` → `<urn:uuid:…>`); other text as it is. */
function unquote(text: string): string {
  return text.length >= 2 && text.charCodeAt(0) === 0x22 && text.charCodeAt(text.length - 1) === 0x22 ? text.slice(1, -1) : text;
}

function bestFirst(a: BindingRecord, b: BindingRecord): number {
  return b.q - a.q || b.refreshedAt - a.refreshedAt;
}
