/**
 * Per-source admission (issue 11): token buckets per source IP address for every new request, for
 * INVITEs and for REGISTERs, checked by the transaction layer BEFORE a server transaction exists.
 * A request over a limit is dropped silently — no 401/403/503 to reflect at a forged source, no
 * transaction, nothing allocated beyond the source's bucket state. A source that keeps exceeding
 * (`blockAfterDrops` drops within `blockWindowMs`) is blocked for `blockMs` (fail2ban style, in
 * process), with one log line when it is blocked.
 *
 * ```
 *   new request from A ─▶ exempt? ─yes─▶ admitted
 *                            │ no
 *                            ▼
 *                       blocked(A)? ─yes─▶ drop 'blocked'
 *                            │ no
 *                            ▼
 *        refill A's buckets: requests (every method) + invites | registers
 *                            │
 *               all have a token? ─yes─▶ take them ─▶ admitted
 *                            │ no
 *                            ▼
 *        drop 'request' | 'invite' | 'register'; N drops in the window ─▶ block A
 * ```
 *
 * What is never charged (the transaction layer and the UA decide before asking): responses,
 * retransmissions absorbed by a live transaction, ACKs, CANCELs of a live INVITE, and requests
 * inside an established dialog — a carrier's BYE for a live call must get through while the same
 * address floods INVITEs.
 *
 * An IPv6 source is limited by its prefix (`ipv6PrefixLength`, /64 by default): one host owns a
 * whole /64 and can pick a new address in it for every packet, so a limit per full address would
 * limit nothing. IPv4-mapped IPv6 addresses count as the IPv4 address they carry.
 *
 * Memory is bounded: at most `maxSources` bucket states and `maxBlockedSources` blocks, each an
 * LRU, so a flood from forged addresses evicts old states instead of growing the heap. Blocks are
 * kept apart from bucket states so that such a flood does not unblock a real offender. Time is
 * the injected monotonic clock's; no timer runs per source.
 */
import { LRUCache } from 'lru-cache';

/** Which limit refused a request (label `kind` of `onair_sip_admission_dropped_total`). */
export type AdmissionDropKind = 'request' | 'invite' | 'register' | 'blocked';

/** Every {@link AdmissionDropKind}, in the order of {@link SourceAdmission.droppedCounts}. */
export const ADMISSION_DROP_KINDS: readonly AdmissionDropKind[] = ['request', 'invite', 'register', 'blocked'];

/** The verdict on one request: admitted, or the limit that dropped it. */
export type AdmissionVerdict = 'admit' | AdmissionDropKind;

/** A per-source ceiling for a trunk address (contract C6: the carrier's contracted cps). */
export interface SourceCeiling {
  invitesPerSecond: number;
}

/** Rates are per second, bursts in requests (the bucket size). */
export interface AdmissionLimits {
  /** Every new request (any method) from one source. */
  requestsPerSecond: number;
  requestBurst: number;
  /** New INVITEs (outside a dialog) from one source without a ceiling. */
  invitesPerSecond: number;
  inviteBurst: number;
  /** REGISTERs from one source. */
  registersPerSecond: number;
  registerBurst: number;
  /** Drops within {@link blockWindowMs} that block a source. */
  blockAfterDrops: number;
  blockWindowMs: number;
  /** How long a block lasts. */
  blockMs: number;
  /** False: a source with a ceiling (a trunk) is limited to its ceiling but never blocked. */
  blockTrunkSources: boolean;
  /** Most sources with bucket state (LRU). */
  maxSources: number;
  /** Most blocked sources remembered (LRU). */
  maxBlockedSources: number;
  /** IPv6 sources share buckets and blocks by this prefix length (bits, 16..128). */
  ipv6PrefixLength: number;
}

/**
 * Defaults for a call center. A phone REGISTERs a few times a minute (a refresh plus its digest
 * retry); an office NAT of a hundred phones stays under 2 REGISTERs/s on average. Agents' phones
 * send few INVITEs; carriers get their contracted cps through `ceilingFor`. 100 drops within
 * 10 s means a source keeps going far over its limits: blocked 5 minutes.
 */
export const defaultAdmissionLimits: AdmissionLimits = {
  requestsPerSecond: 50,
  requestBurst: 100,
  invitesPerSecond: 10,
  inviteBurst: 20,
  registersPerSecond: 2,
  registerBurst: 20,
  blockAfterDrops: 100,
  blockWindowMs: 10_000,
  blockMs: 300_000,
  blockTrunkSources: false,
  maxSources: 50_000,
  maxBlockedSources: 10_000,
  ipv6PrefixLength: 64,
};

/** A pino-compatible logger (a pino child logger fits). */
export interface AdmissionLogger {
  warn(obj: object, msg: string): void;
}

/** Options of a {@link SourceAdmission}. */
export interface SourceAdmissionOptions {
  limits?: Partial<AdmissionLimits>;
  /** Monotonic milliseconds (the SIP stack's clock). */
  now: () => number;
  /** Contract C6: the INVITE ceiling of a trunk address, undefined for other sources. */
  ceilingFor?: (address: string) => SourceCeiling | undefined;
  /** Addresses never limited (a SIP proxy in front of the engine sends everything from one). */
  exempt?: readonly string[];
  logger?: AdmissionLogger;
}

/**
 * Bucket state of one source, created with every field so its shape never changes. A trunk's
 * rates are resolved once from its ceiling (the trunk table is fixed for the process's life).
 */
class SourceState {
  requestTokens: number;
  inviteTokens: number;
  registerTokens: number;
  /** Last refill time of the three buckets (refilled together). */
  at: number;
  windowStart: number;
  drops = 0;
  readonly requestRate: number;
  readonly requestBurst: number;
  readonly inviteRate: number;
  readonly inviteBurst: number;
  readonly blockable: boolean;

  constructor(l: AdmissionLimits, ceiling: SourceCeiling | undefined, now: number) {
    if (ceiling !== undefined && ceiling.invitesPerSecond > 0) {
      // The contracted cps is the INVITE limit, with two seconds of it as burst (carriers send in
      // bursts at second boundaries); the request bucket must never be the tighter of the two.
      const cps = ceiling.invitesPerSecond;
      this.inviteRate = cps;
      this.inviteBurst = Math.max(1, Math.ceil(2 * cps));
      this.requestRate = Math.max(l.requestsPerSecond, 2 * cps);
      this.requestBurst = Math.max(l.requestBurst, Math.ceil(4 * cps));
      this.blockable = l.blockTrunkSources;
    } else {
      this.inviteRate = l.invitesPerSecond;
      this.inviteBurst = l.inviteBurst;
      this.requestRate = l.requestsPerSecond;
      this.requestBurst = l.requestBurst;
      this.blockable = true;
    }
    this.requestTokens = this.requestBurst;
    this.inviteTokens = this.inviteBurst;
    this.registerTokens = l.registerBurst;
    this.at = now;
    this.windowStart = now;
  }
}

/**
 * Token buckets and blocks per source address. One per SIP stack; the transaction layer calls
 * {@link admit} for each request that would create a server transaction.
 */
export class SourceAdmission {
  readonly limits: AdmissionLimits;
  private readonly now: () => number;
  private readonly ceilingFor: ((address: string) => SourceCeiling | undefined) | undefined;
  private readonly exempt: ReadonlySet<string>;
  private readonly log: AdmissionLogger | undefined;
  private readonly sources: LRUCache<string, SourceState>;
  /** Blocked address → end of the block (clock ms). */
  private readonly blocked: LRUCache<string, number>;
  /** Drops by {@link ADMISSION_DROP_KINDS} index. */
  private readonly drops = new Float64Array(ADMISSION_DROP_KINDS.length);
  private blocks = 0;

  constructor(opts: SourceAdmissionOptions) {
    this.limits = { ...defaultAdmissionLimits, ...opts.limits };
    this.now = opts.now;
    this.ceilingFor = opts.ceilingFor;
    this.exempt = new Set(opts.exempt ?? []);
    this.log = opts.logger;
    this.sources = new LRUCache({ max: this.limits.maxSources });
    this.blocked = new LRUCache({ max: this.limits.maxBlockedSources });
  }

  /**
   * Charge one new request of `method` from `address`. Returns `admit`, or the limit that refused
   * it (the request must then be dropped without an answer).
   */
  admit(address: string, method: string): AdmissionVerdict {
    if (this.exempt.has(address)) return 'admit';
    const now = this.now();
    const key = sourceKey(address, this.limits.ipv6PrefixLength);
    const until = this.blocked.get(key);
    if (until !== undefined) {
      if (now < until) return this.count('blocked');
      this.blocked.delete(key);
    }
    const l = this.limits;
    let s = this.sources.get(key);
    if (s === undefined) {
      s = new SourceState(l, this.ceilingFor?.(address), now);
      this.sources.set(key, s);
    } else {
      const elapsed = (now - s.at) / 1000;
      if (elapsed > 0) {
        s.requestTokens = Math.min(s.requestBurst, s.requestTokens + elapsed * s.requestRate);
        s.inviteTokens = Math.min(s.inviteBurst, s.inviteTokens + elapsed * s.inviteRate);
        s.registerTokens = Math.min(l.registerBurst, s.registerTokens + elapsed * l.registersPerSecond);
        s.at = now;
      }
    }
    // Nothing is taken unless every bucket the request needs has a token: a dropped request costs
    // the source nothing, so it cannot starve its own other methods.
    let verdict: AdmissionVerdict = 'admit';
    if (s.requestTokens < 1) verdict = 'request';
    else if (method === 'INVITE' && s.inviteTokens < 1) verdict = 'invite';
    else if (method === 'REGISTER' && s.registerTokens < 1) verdict = 'register';
    if (verdict === 'admit') {
      s.requestTokens -= 1;
      if (method === 'INVITE') s.inviteTokens -= 1;
      else if (method === 'REGISTER') s.registerTokens -= 1;
      return verdict;
    }
    if (now - s.windowStart >= l.blockWindowMs) {
      s.windowStart = now;
      s.drops = 0;
    }
    s.drops++;
    if (s.blockable && s.drops >= l.blockAfterDrops) this.block(key, s, now);
    return this.count(verdict);
  }

  /** True while `address` (or, for IPv6, its prefix) is blocked. */
  isBlocked(address: string): boolean {
    const until = this.blocked.get(sourceKey(address, this.limits.ipv6PrefixLength));
    return until !== undefined && this.now() < until;
  }

  /** Sources blocked now (a gauge, computed when asked: expired blocks are removed here). */
  blockedCount(): number {
    const now = this.now();
    const expired: string[] = [];
    for (const [address, until] of this.blocked.entries()) if (now >= until) expired.push(address);
    for (const a of expired) this.blocked.delete(a);
    return this.blocked.size;
  }

  /** Requests dropped so far, by kind. */
  droppedCounts(): Record<AdmissionDropKind, number> {
    const d = this.drops;
    return { request: d[0]!, invite: d[1]!, register: d[2]!, blocked: d[3]! };
  }

  /** Sources blocked since start (each new block once). */
  get blocksTotal(): number {
    return this.blocks;
  }

  /** Sources with bucket state (bounded by `maxSources`). */
  get sourceCount(): number {
    return this.sources.size;
  }

  private block(address: string, s: SourceState, now: number): void {
    this.blocked.set(address, now + this.limits.blockMs);
    this.blocks++;
    s.drops = 0;
    s.windowStart = now;
    this.log?.warn(
      { source: address, drops: this.limits.blockAfterDrops, windowSeconds: this.limits.blockWindowMs / 1000, blockSeconds: this.limits.blockMs / 1000 },
      'SIP source blocked: it kept sending over its admission limits; its requests are dropped silently until the block ends',
    );
  }

  private count(kind: AdmissionDropKind): AdmissionDropKind {
    this.drops[ADMISSION_DROP_KINDS.indexOf(kind)]! += 1;
    return kind;
  }
}

/**
 * The key a source is limited by: an IPv4 address as it is; an IPv6 address cut to its first
 * `prefixLength` bits, written as `xxxx:xxxx:...:/N` (eight fixed-width groups, so every spelling of
 * one prefix gives one key); an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as its IPv4 address.
 * The address comes from the socket (the kernel's spelling), but anything that does not parse is
 * kept as it is: it then only ever limits itself.
 */
export function sourceKey(address: string, prefixLength: number): string {
  if (address.indexOf(':') < 0) return address;
  const groups = ipv6Groups(address);
  if (groups === null) return address;
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`;
  }
  const bits = Math.max(0, Math.min(128, prefixLength));
  let out = '';
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - 16 * i));
    const g = keep === 0 ? 0 : groups[i]! & ((0xffff << (16 - keep)) & 0xffff);
    out += g.toString(16).padStart(4, '0') + ':';
  }
  return `${out}/${bits}`;
}

/** The eight 16-bit groups of an IPv6 literal (zone id dropped, a trailing IPv4 part allowed), or null. */
function ipv6Groups(address: string): number[] | null {
  const zone = address.indexOf('%');
  const a = zone >= 0 ? address.slice(0, zone) : address;
  const parts = a.split('::');
  if (parts.length > 2) return null;
  const side = (text: string): number[] | null => {
    if (text === '') return [];
    const out: number[] = [];
    const items = text.split(':');
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (i === items.length - 1 && item.indexOf('.') >= 0) {
        const v4 = item.split('.');
        if (v4.length !== 4) return null;
        const b = v4.map((x) => digitsValue(x, 10, 3));
        if (b.some((x) => x < 0 || x > 255)) return null;
        out.push((b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!);
      } else {
        const g = digitsValue(item, 16, 4);
        if (g < 0) return null;
        out.push(g);
      }
    }
    return out;
  };
  const head = side(parts[0]!);
  const tail = parts.length === 2 ? side(parts[1]!) : [];
  if (head === null || tail === null) return null;
  if (parts.length === 1) return head.length === 8 ? head : null;
  const fill = 8 - head.length - tail.length;
  if (fill < 1) return null;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

/** Value of 1..`maxDigits` digits in `radix` (10 or 16), or -1. Hand-rolled: admission is a hot path. */
function digitsValue(text: string, radix: 10 | 16, maxDigits: number): number {
  if (text.length === 0 || text.length > maxDigits) return -1;
  let v = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (radix === 16 && c >= 97 && c <= 102) d = c - 87;
    else if (radix === 16 && c >= 65 && c <= 70) d = c - 55;
    else return -1;
    v = v * radix + d;
  }
  return v;
}
