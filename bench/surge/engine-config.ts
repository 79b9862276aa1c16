/**
 * The engine configuration a surge runs against, generated from the profile: the engine's own
 * defaults everywhere except where a surge on loopback needs otherwise (each such field says why).
 *
 * ```
 *  carrier trunk (127.0.0.1, early media) ─▶ number 500 ─▶ flow "surge":
 *    menu (barge-in) ┬ digit ─▶ orders (VIP: vip) | service | callback in orders
 *                    └ no digit ─▶ the profile's no-digit choice
 *  agents 3001.. in the profile's skill groups; queues orders, service, vip
 * ```
 */
import type { Profile } from './profile.ts';
import { meanSeconds } from './profile.ts';
import type { Caller } from './schedule.ts';
import type { Customer } from '../../crm-adapter/index.ts';

/** Calls in progress the generated engine accepts (above: 503, which the surge counts as lost). */
export const SURGE_MAX_CALLS = 7500;

/** The dialled number callers call. */
export const SURGE_NUMBER = '500';

/** One simulated agent: its phone's credentials. */
export interface SurgeAgent {
  id: string;
  password: string;
}

/** Agents of a run: extensions 3001, 3002, ... */
export function surgeAgents(count: number): SurgeAgent[] {
  return Array.from({ length: count }, (_, i) => {
    const id = String(3001 + i);
    return { id, password: `surge${id}` };
  });
}

/** Where the generated engine listens and keeps its data. */
export interface EngineEndpoints {
  sipPort: number;
  httpPort: number;
  dbPath: string;
  rtpPortMin: number;
  rtpPortMax: number;
  /** The sipp customers' UDP port on 127.0.0.1 (the outbound trunk), when the profile has a callback phase. */
  customerPort?: number | undefined;
  /** A supervisor account for the wallboard's browser (`--wallboard`). */
  wallboard?: boolean | undefined;
  /** One node of the active-standby pair (`--pair`, bench/surge/pair.ts); absent: the one engine on SQLite. */
  pairNode?: PairNodeEndpoints | undefined;
}

/** What makes a surge engine one node of the pair: its own loopback address, the shared database, the lease. */
export interface PairNodeEndpoints {
  /** SIP and media on this address (127.0.0.2, 127.0.0.3): both nodes may use the whole RTP range. */
  address: string;
  nodeId: string;
  /** The shared PostgreSQL database. */
  postgresUrl: string;
  leaseMs: number;
  renewIntervalMs: number;
}

/** The supervisor the wallboard signs in as (a bench-only account, only with `--wallboard`). */
export const WALLBOARD_USER = { username: 'surge-supervisor', password: 'surge-supervisor-pass' } as const;

/** The bench's own integration token, configured with the wallboard's users (the API is then closed). */
export const BENCH_TOKEN = 'surge-bench-token';

/** The outbound trunk's id (outbound CDRs name it). */
export const SURGE_TRUNK = 'customers';

/** Calling hours all day: a run's time of day must never hold a callback back. */
const ALL_DAY = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];

/**
 * The outbound trunk and the callback policy of the callback phase, in replay time (every delay
 * ÷ compression; the trunk's ring timeout at least the 1 s the engine accepts).
 */
export function callbackConfig(profile: Profile, customerPort: number): Record<string, unknown> {
  const cb = profile.callbacks;
  if (cb === undefined) return {};
  const c = profile.compression;
  const delay = (s: number): number => Math.max(0, Math.round(s / c));
  return {
    outbound: {
      trunks: [{
        id: SURGE_TRUNK, address: `127.0.0.1:${customerPort}`, callerId: SURGE_NUMBER,
        // One sipp plays every customer: the limits must not be what paces the callbacks (the ACD
        // and the free agents are).
        maxConcurrent: SURGE_MAX_CALLS, callsPerSecond: 1000,
        ringTimeoutSeconds: Math.min(120, Math.max(1, Math.round(cb.ringTimeoutSeconds / c))),
      }],
    },
    callbacks: {
      dialing: {
        maxAttempts: cb.maxAttempts,
        retryDelaySeconds: {
          busy: delay(cb.busyRetrySeconds), no_answer: delay(cb.noAnswerRetrySeconds),
          // The engine's defaults for these are broadcast time too.
          trunk_error: delay(60), cancelled: delay(60), failed: delay(60),
        },
        callingHours: ALL_DAY,
        expiryHours: cb.expiryHours / c,
        pollSeconds: 1,
      },
    },
  };
}

/** Skills of agent i of `count` by the profile's group shares (largest remainder, in order). */
export function agentSkills(profile: Profile, count: number): Record<string, number>[] {
  const out: Record<string, number>[] = [];
  let acc = 0;
  for (const g of profile.agents.groups) {
    acc += g.share;
    const until = Math.round(acc * count);
    while (out.length < until) out.push({ ...g.skills });
  }
  const last = profile.agents.groups[profile.agents.groups.length - 1]!;
  while (out.length < count) out.push({ ...last.skills });
  return out;
}

/** Milliseconds of replay time for `seconds` of broadcast time. */
function replayMs(profile: Profile, seconds: number): number {
  return Math.round((seconds * 1000) / profile.compression);
}

/** The engine configuration (the shape of `onair --config FILE`, JSON). */
export function engineConfig(profile: Profile, agentCount: number, at: EngineEndpoints, airing: string): Record<string, unknown> {
  const skills = agentSkills(profile, agentCount);
  const agents = surgeAgents(agentCount).map((a, i) => ({
    id: a.id, extension: a.id, password: a.password, name: `Surge agent ${a.id}`, skills: skills[i]!, autoReadyOnRegister: true,
  }));
  const action = (a: Profile['ivr']['menu'][number]['action']): unknown =>
    a === 'orders' ? { queue: { id: 'orders', vipQueue: 'vip' } } : a === 'service' ? { queue: 'service' } : { callback: 'orders' };
  const options: Record<string, unknown> = {};
  for (const c of profile.ivr.menu) if (c.digit !== null) options[c.digit] = action(c.action);
  const noDigit = profile.ivr.menu.find((c) => c.digit === null)?.action ?? 'orders';
  const queueCommon = {
    wrapUpMs: replayMs(profile, meanSeconds(profile.agents.wrapUp)),
    ringTimeoutMs: replayMs(profile, profile.agents.ringTimeoutSeconds),
    serviceLevelMs: replayMs(profile, profile.serviceLevel.seconds),
  };
  // On the pair, SIP and media on the node's own address; the carrier (and every phone) reaches it
  // through Kamailio on 127.0.0.1, the address the trunk below admits.
  const address = at.pairNode?.address ?? '127.0.0.1';
  return {
    sip: {
      listen: [{ transport: 'udp', address, port: at.sipPort }],
      // Every waiting caller is a call in progress; a TV surge holds thousands at once (the RTP
      // range given must hold two legs per call).
      maxCalls: SURGE_MAX_CALLS,
      limits: {
        // A caller in early media keeps its INVITE server transaction open until an agent answers,
        // and the whole carrier is one source address: the per-source cap must cover the surge.
        maxServerTransactions: 50000,
        maxServerTransactionsPerSource: 50000,
      },
    },
    http: { address: '127.0.0.1', port: at.httpPort, ...(at.wallboard ? { auth: { tokens: [BENCH_TOKEN] } } : {}) },
    // The pair: the store in the shared PostgreSQL; the SQLite file keeps the node's own tables
    // (the built-in CRM with its CDRs, the reports).
    database: at.pairNode ? { kind: 'postgres', url: at.pairNode.postgresUrl, path: at.dbPath } : { kind: 'sqlite', path: at.dbPath },
    ...(at.pairNode ? { ha: { enabled: true, nodeId: at.pairNode.nodeId, leaseMs: at.pairNode.leaseMs, renewIntervalMs: at.pairNode.renewIntervalMs } } : {}),
    media: {
      bindAddress: address, rtpPortMin: at.rtpPortMin, rtpPortMax: at.rtpPortMax,
      // sipp callers and agents send no RTP; the engine must not hang them up for silence.
      rtpTimeoutSeconds: 0,
    },
    crm: { adapter: 'sqlite', seedDemo: false },
    trunks: [{
      id: 'carrier', name: 'Surge carrier (sipp)', allow: ['127.0.0.1/32'],
      // Queue in early media and answer when an agent does: the caller's 200 OK marks service.
      earlyMedia: true, answerAfterSeconds: 86400,
    }],
    agents,
    queues: [
      { id: 'orders', name: 'Orders', strategy: 'longestIdle', ...queueCommon },
      { id: 'service', name: 'Customer service', strategy: 'longestIdle', ...queueCommon },
      { id: 'vip', name: 'VIP customers', strategy: 'longestIdle', ...queueCommon, expansion: [{ afterMs: replayMs(profile, 15), add: [{ skill: 'orders', minLevel: 1 }] }] },
    ],
    flows: {
      surge: [
        {
          menu: {
            prompt: 'menu', options,
            timeoutSeconds: Math.max(1, Math.round(profile.ivr.menuTimeoutSeconds / profile.compression)),
            retries: 0, invalidPrompt: null,
          },
        },
        action(noDigit),
      ],
    },
    numbers: {
      [SURGE_NUMBER]: { flow: 'surge', programme: profile.name, airing },
      default: { flow: 'surge' },
    },
    log: { level: 'warn' },
    shutdown: { drainSeconds: 1 },
    ...(at.customerPort !== undefined ? callbackConfig(profile, at.customerPort) : {}),
    ...(at.wallboard ? { users: { accounts: [{ ...WALLBOARD_USER, role: 'supervisor', name: 'Surge supervisor' }] } } : {}),
  };
}

/** CRM customers for the VIP and blacklisted callers of a run (the SQLite CRM's customer rows). */
export function crmCustomers(callers: readonly Caller[]): Customer[] {
  return callers.filter((c) => c.kind !== 'regular').map((c) => ({
    number: c.number, customerId: `SURGE-${c.number.slice(-7)}`, name: c.kind === 'vip' ? 'Surge VIP' : 'Surge blocked',
    vipLevel: c.kind === 'vip' ? 1 : 0, blacklisted: c.kind === 'blacklisted', strikes: 0,
    preferredAgent: null, language: null, lowCredit: false, screenPop: {},
  }));
}
