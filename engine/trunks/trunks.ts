/**
 * Carrier trunks: which carrier an inbound request comes from (source-address ACL, IPv4 and IPv6
 * CIDR), optional digest authentication of its INVITEs, the caller and dialled numbers, and the
 * answer to its OPTIONS pings.
 *
 * ```
 *  carrier INVITE ─▶ classify(source address) ── none ──▶ 403
 *                         │ trunk
 *                         ├─ auth configured, no/stale credentials ──▶ 407 (or 401) challenge
 *                         ├─ auth configured, wrong credentials ────▶ 403
 *                         ├─ no dialled number ─────────────────────▶ 484
 *                         └─▶ { ok, trunk, caller, dialled, display }   (the calls layer goes on)
 * ```
 */
import {
  DigestChallenger, defaultCapabilities, systemClock,
  type Clock, type DigestAlgorithm, type Endpoint, type HeaderField, type IncomingInvite, type IncomingRequest, type SipRequest, type UaCapabilities,
} from '../sip/index.ts';
import { LRUCache } from 'lru-cache';
import { CidrMatcher } from './cidr.ts';
import { callerOf, dialledOf, type CallerSource, type DialledSource } from './numbers.ts';

/** Digest credentials a carrier must present on its INVITEs. */
export interface TrunkAuth {
  username: string;
  password: string;
  realm: string;
}

/** How a trunk's callers wait in queue: answered (billing starts) or in early media (183). */
export type TrunkMediaMode = 'answer' | 'early';

/** One carrier trunk as configured. */
export interface TrunkOptions {
  id: string;
  name: string;
  /** Source addresses admitted, as CIDR or single addresses, IPv4 and IPv6 (`203.0.113.0/24`, `2001:db8::/32`). */
  allow: string[];
  /** When set, INVITEs must carry digest credentials for this user. */
  auth?: TrunkAuth | undefined;
  /** Caller number from P-Asserted-Identity (falling back to From) or from From only. */
  callerFrom: CallerSource;
  /** Dialled number from the Request-URI user or the To user. */
  dialledFrom: DialledSource;
  /** Queue callers answered (default) or in early media. Used by the calls layer. */
  media?: TrunkMediaMode | undefined;
  /**
   * With `early`: the carrier cuts early media after this long (ms); the calls layer answers
   * before it. Default 60 000.
   */
  earlyMediaLimitMs?: number | undefined;
  /** Challenge status: 407 Proxy-Authenticate (default, what carriers expect) or 401. */
  challengeStatus?: 401 | 407 | undefined;
  /** The carrier's contracted calls per second: the INVITE ceiling of its sources. Undefined: none of its own. */
  maxCallsPerSecond?: number | undefined;
}

/** A trunk as the calls layer sees it (no secrets). */
export interface Trunk {
  readonly id: string;
  readonly name: string;
  readonly allow: readonly string[];
  readonly callerFrom: CallerSource;
  readonly dialledFrom: DialledSource;
  readonly media: TrunkMediaMode;
  readonly earlyMediaLimitMs: number;
  /** True when its INVITEs are digest-authenticated. */
  readonly authenticated: boolean;
  /** Contracted calls per second (INVITE ceiling of its sources); null when it has none. */
  readonly maxCallsPerSecond: number | null;
}

/** The INVITE rate ceiling of a source address (contract C6, for the SIP admission limiter). */
export interface SourceCeiling {
  invitesPerSecond: number;
}

/** Why an INVITE was not admitted (each answered by `admitInvite` itself). */
export type AdmissionFailure = 'unknown-source' | 'challenged' | 'auth-failed' | 'no-dialled-number';

/** Result of {@link TrunkTable.admitInvite}. */
export type Admission =
  | { ok: true; trunk: Trunk; caller: string; dialled: string; display?: string }
  | { ok: false; status: number; reason: AdmissionFailure; trunk: Trunk | undefined };

/**
 * OPTIONS from a source that is neither a trunk nor a registered agent phone: `drop` (default) sends
 * nothing, `reject` answers 403. Dropping is what SBCs do on untrusted interfaces: OPTIONS is the
 * first probe of SIP scanners (sipvicious svmap, "friendly-scanner"), and any answer, even a 403,
 * confirms a SIP service at this address and invites the REGISTER and INVITE guessing that follows;
 * a UDP answer to a spoofed source is also a reflection. A carrier or proxy that must probe us is
 * configured as a trunk and gets its 200.
 */
export type UnknownOptionsPolicy = 'drop' | 'reject';

/** What the engine does with one OPTIONS request ({@link TrunkTable.decideOptions}). */
export type OptionsDecision =
  | { action: 'answer'; status: 200 | 503; trunk: Trunk | undefined }
  | { action: 'reject'; status: 403 }
  | { action: 'drop' };

/** What an OPTIONS decision needs from outside the trunks. */
export interface OptionsContext {
  /** True while the engine drains: trunk probes get 503, so carriers and proxies send calls elsewhere. */
  draining: boolean;
  /** True when the source is where a registered agent phone registered from (its keep-alive pings). */
  isAgentSource(source: Endpoint): boolean;
}

/** A pino-compatible logger. */
export interface TrunkLogger {
  warn(obj: object, msg: string): void;
}

/** Table-wide options. */
export interface TrunkTableOptions {
  /** Clock for nonce ageing. Default: the system clock. */
  clock?: Pick<Clock, 'now'>;
  /** Nonce key shared by the trunks' challengers; random per process by default. */
  digestSecret?: Buffer;
  /** Nonce lifetime in ms (default 300 000). */
  nonceTtlMs?: number;
  /** Digest algorithms offered to carriers, in order. Default `['MD5']` (what carriers' SBCs answer). */
  algorithms?: DigestAlgorithm[];
  /** OPTIONS from unknown sources; default `drop` (see {@link UnknownOptionsPolicy}). */
  unknownOptions?: UnknownOptionsPolicy;
  logger?: TrunkLogger;
}

/** Counters for metrics. */
export interface TrunkStats {
  admitted: number;
  unknownSource: number;
  challenged: number;
  authFailures: number;
  noDialledNumber: number;
  /** OPTIONS from unknown sources, dropped or rejected per policy. */
  optionsUnknown: number;
}

interface TrunkEntry {
  trunk: Trunk;
  auth: TrunkAuth | undefined;
  challenger: DigestChallenger | undefined;
  challengeStatus: 401 | 407;
  /** Made once, so that `ceilingFor` allocates nothing per packet. */
  ceiling: SourceCeiling | undefined;
}

const SILENT: TrunkLogger = { warn() {} };

/**
 * The configured trunks, compiled once.
 *
 * ```ts
 * const trunks = new TrunkTable([{ id: 'c1', name: 'Carrier', allow: ['203.0.113.0/24'], callerFrom: 'pai', dialledFrom: 'ruri' }]);
 * ua.setDelegate({ onInvite: (inv) => { const a = trunks.admitInvite(inv); if (a.ok) calls.arrive(inv, a); } });
 * ```
 */
export class TrunkTable {
  readonly stats: TrunkStats = { admitted: 0, unknownSource: 0, challenged: 0, authFailures: 0, noDialledNumber: 0, optionsUnknown: 0 };
  readonly unknownOptions: UnknownOptionsPolicy;
  private readonly acl: CidrMatcher<TrunkEntry>;
  private readonly byId = new Map<string, TrunkEntry>();
  private readonly log: TrunkLogger;
  /** Sources already logged as unknown: a scanner is logged once, not per packet. */
  private readonly loggedUnknown = new LRUCache<string, true>({ max: 1000 });

  /** Throws a RangeError for a malformed CIDR or a duplicate id (configuration errors). */
  constructor(trunks: readonly TrunkOptions[], opts: TrunkTableOptions = {}) {
    this.log = opts.logger ?? SILENT;
    this.unknownOptions = opts.unknownOptions ?? 'drop';
    const rules: { cidr: string; value: TrunkEntry }[] = [];
    for (const o of trunks) {
      if (this.byId.has(o.id)) throw new RangeError(`trunk id ${o.id} appears twice`);
      const cps = o.maxCallsPerSecond;
      if (cps !== undefined && !(cps > 0 && Number.isFinite(cps))) throw new RangeError(`trunk ${o.id}: maxCallsPerSecond must be a positive number`);
      const trunk: Trunk = Object.freeze({
        id: o.id, name: o.name, allow: Object.freeze([...o.allow]), callerFrom: o.callerFrom, dialledFrom: o.dialledFrom,
        media: o.media ?? 'answer', earlyMediaLimitMs: o.earlyMediaLimitMs ?? 60_000, authenticated: o.auth !== undefined,
        maxCallsPerSecond: cps ?? null,
      });
      const ceiling = cps === undefined ? undefined : Object.freeze({ invitesPerSecond: cps });
      const challenger = o.auth === undefined ? undefined : new DigestChallenger({
        realm: o.auth.realm,
        clock: opts.clock ?? systemClock,
        algorithms: opts.algorithms ?? ['MD5'],
        // Carriers' SBCs that answer the RFC 2069 way keep working (each nonce then serves one
        // INVITE); a replay from elsewhere is already stopped by the source ACL above.
        allowNoQop: true,
        ...(opts.digestSecret ? { secret: opts.digestSecret } : {}),
        ...(opts.nonceTtlMs !== undefined ? { nonceTtlMs: opts.nonceTtlMs } : {}),
      });
      const entry: TrunkEntry = { trunk, auth: o.auth, challenger, challengeStatus: o.challengeStatus ?? 407, ceiling };
      this.byId.set(o.id, entry);
      for (const cidr of o.allow) rules.push({ cidr, value: entry });
    }
    this.acl = new CidrMatcher(rules);
  }

  /** Every trunk, in configuration order. */
  get trunks(): Trunk[] {
    return [...this.byId.values()].map((e) => e.trunk);
  }

  /** A trunk by id. */
  get(id: string): Trunk | undefined {
    return this.byId.get(id)?.trunk;
  }

  /** The trunk whose ACL holds this source address (longest prefix wins), or undefined. */
  classify(address: string): Trunk | undefined {
    return this.acl.match(address)?.trunk;
  }

  /**
   * The INVITE ceiling of a source address (contract C6): the `maxCallsPerSecond` of the trunk
   * whose ACL holds it by the longest prefix, or undefined when no trunk holds it or that trunk
   * has none. A more specific trunk without a ceiling does not inherit a wider trunk's: the
   * address belongs to the more specific trunk only. One look-up, no allocation (hot path).
   */
  ceilingFor(address: string): SourceCeiling | undefined {
    return this.acl.match(address)?.ceiling;
  }

  /**
   * Admit a new INVITE from a carrier, or answer it: 403 (unknown source or wrong credentials),
   * 407/401 (challenge), 484 (no dialled number). On success nothing is sent: the calls layer
   * answers.
   */
  admitInvite(invite: IncomingInvite): Admission {
    const source = invite.inbound.source;
    const entry = this.acl.match(source.address);
    if (entry === undefined) {
      this.stats.unknownSource++;
      if (!this.loggedUnknown.has(source.address)) {
        this.loggedUnknown.set(source.address, true);
        this.log.warn({ source: source.address, port: source.port, transport: source.transport }, 'INVITE from a source no trunk admits');
      }
      invite.reject(403);
      return { ok: false, status: 403, reason: 'unknown-source', trunk: undefined };
    }
    const trunk = entry.trunk;
    if (entry.challenger !== undefined && entry.auth !== undefined) {
      const failure = this.authenticate(invite, entry, entry.challenger, entry.auth);
      if (failure !== undefined) return failure;
    }
    const request = invite.request;
    const dialled = dialledOf(request, trunk.dialledFrom);
    if (dialled === '') {
      this.stats.noDialledNumber++;
      invite.reject(484);
      return { ok: false, status: 484, reason: 'no-dialled-number', trunk };
    }
    const caller = callerOf(request, trunk.callerFrom);
    this.stats.admitted++;
    return caller.display === undefined
      ? { ok: true, trunk, caller: caller.number, dialled }
      : { ok: true, trunk, caller: caller.number, dialled, display: caller.display };
  }

  /**
   * Who an INVITE that was refused before any transaction (the SIP layer's overload 503) came
   * from, without answering anything: its trunk, caller and dialled number, when the trunk trusts
   * its source address alone. A trunk that authenticates by digest gets undefined: the request
   * was never challenged, and identity comes from authentication, never from what the sender
   * wrote. So does an unknown source or an INVITE without a dialled number.
   */
  identifyUnanswered(request: SipRequest, source: Endpoint): { trunk: Trunk; caller: string; dialled: string } | undefined {
    const entry = this.acl.match(source.address);
    if (entry === undefined || entry.challenger !== undefined) return undefined;
    const dialled = dialledOf(request, entry.trunk.dialledFrom);
    if (dialled === '') return undefined;
    return { trunk: entry.trunk, caller: callerOf(request, entry.trunk.callerFrom).number, dialled };
  }

  /**
   * The answer to an OPTIONS ping (RFC 3261 §11), by source:
   *
   * ```
   *  trunk source ───────────────▶ 200 (503 while draining: route calls elsewhere)
   *  registered agent phone ─────▶ 200 (keep-alive; a phone without an answer thinks us down)
   *  anyone else ────────────────▶ unknownOptions: drop (default, nothing sent) or 403
   * ```
   */
  decideOptions(source: Endpoint, ctx: OptionsContext): OptionsDecision {
    const trunk = this.classify(source.address);
    if (trunk !== undefined) return ctx.draining ? { action: 'answer', status: 503, trunk } : { action: 'answer', status: 200, trunk };
    if (ctx.isAgentSource(source)) return { action: 'answer', status: 200, trunk: undefined };
    return this.unknownOptions === 'reject' ? { action: 'reject', status: 403 } : { action: 'drop' };
  }

  /**
   * Answer (or drop) an OPTIONS ping per {@link decideOptions}: a 200 carries Allow, Accept and
   * Supported. An unknown source is logged once. Returns the decision.
   */
  answerOptions(req: IncomingRequest, ctx: OptionsContext, capabilities: UaCapabilities = defaultCapabilities): OptionsDecision {
    const source = req.inbound.source;
    const d = this.decideOptions(source, ctx);
    switch (d.action) {
      case 'answer':
        req.respond(d.status, { headers: optionsHeaders(capabilities) });
        return d;
      case 'reject':
        req.respond(403);
        break;
      case 'drop':
        // Unanswered: the server transaction absorbs retransmissions and ends after 64*T1.
        break;
    }
    this.stats.optionsUnknown++;
    if (!this.loggedUnknown.has(source.address)) {
      this.loggedUnknown.set(source.address, true);
      this.log.warn({ source: source.address, port: source.port, transport: source.transport, policy: this.unknownOptions }, 'OPTIONS from a source no trunk admits');
    }
    return d;
  }

  /** Digest check of a trunk's INVITE; undefined when it passes, else the failure (already answered). */
  private authenticate(invite: IncomingInvite, entry: TrunkEntry, challenger: DigestChallenger, auth: TrunkAuth): Admission | undefined {
    const request = invite.request;
    const h = request.headers;
    const creds = challenger.select(h.auth('Proxy-Authorization')) ?? challenger.select(h.auth('Authorization'));
    let stale = false;
    if (creds !== undefined) {
      if (creds.username === auth.username) {
        const verdict = challenger.verify(request, creds, { password: auth.password });
        if (verdict.ok) return undefined;
        stale = verdict.stale;
        if (!verdict.stale && verdict.code !== 'SIP_ERR_AUTH_NONCE') return this.authFailed(invite, entry, creds.username, verdict.code);
      } else {
        return this.authFailed(invite, entry, creds.username, 'SIP_ERR_AUTH_UNKNOWN_USER');
      }
    }
    this.stats.challenged++;
    const name = entry.challengeStatus === 407 ? 'Proxy-Authenticate' : 'WWW-Authenticate';
    const headers: HeaderField[] = challenger.challenges(stale).map((value) => ({ name, value }));
    invite.reject(entry.challengeStatus, { headers });
    return { ok: false, status: entry.challengeStatus, reason: 'challenged', trunk: entry.trunk };
  }

  private authFailed(invite: IncomingInvite, entry: TrunkEntry, user: string, code: string): Admission {
    this.stats.authFailures++;
    const source = invite.inbound.source;
    this.log.warn({ trunk: entry.trunk.id, source: source.address, port: source.port, user, code }, 'trunk INVITE authentication failed');
    invite.reject(403);
    return { ok: false, status: 403, reason: 'auth-failed', trunk: entry.trunk };
  }
}

/** Allow, Accept and Supported for an answer to OPTIONS (RFC 3261 §11.2). */
export function optionsHeaders(capabilities: UaCapabilities = defaultCapabilities): HeaderField[] {
  return [
    { name: 'Allow', value: capabilities.methods.join(', ') },
    { name: 'Accept', value: 'application/sdp' },
    { name: 'Supported', value: capabilities.extensions.join(', ') },
  ];
}
