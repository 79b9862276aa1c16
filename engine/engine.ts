/**
 * The engine: builds every part from the configuration and joins them (ARCHITECTURE.md, process
 * model). Start order is bottom-up — store, CRM, crash recovery, outbox, media workers, ACD, SIP,
 * registrar, trunks, call control, API — and stop order the reverse, after a drain.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { LRUCache } from 'lru-cache';
import { Acd, type AcdEffect, type AgentStatus } from './acd/index.ts';
import { SourceAdmission, TransportLayer, UserAgent, resolveUri, type IncomingRequest, type SipMessage, type SipUri, type Endpoint } from './sip/index.ts';
import { MediaPool } from '../media/index.ts';
import { openStore, OutboxDispatcher, type SqliteStore } from './store/index.ts';
import { SqliteCrmAdapter, WebhookCrmAdapter, loadAdapterModule, unknownCaller, type CrmAdapter, type CallerInfo } from '../crm-adapter/index.ts';
import { Registrar } from './registrar/index.ts';
import { TrunkTable } from './trunks/index.ts';
import { CallController, settingsFromConfig, type CallControlEvent, type DeskResult, type TrunkAdmission } from './calls/index.ts';
import { startApi, createMetrics, type ApiServer, type CtiEvent, type AgentInfo, type CallSummary, type StatusChangeResult } from './api/index.ts';
import { toAcdConfig, toListenSpecs, type Config } from './config/index.ts';

/** A running engine. */
export interface Engine {
  /** Stop taking calls, drain up to `shutdown.drainSeconds`, flush the outbox, close. Idempotent. */
  stop(reason?: string): Promise<void>;
  /** Bound SIP endpoints (real ports when 0 was configured). */
  readonly sip: Endpoint[];
  /** Bound HTTP address. */
  readonly http: { address: string; port: number };
  readonly calls: CallController;
  readonly acd: Acd;
  readonly store: SqliteStore;
  readonly registrar: Registrar;
}

const VERSION = '0.1.0';

/** Start the engine on a validated configuration. */
export async function startEngine(config: Config, opts: { log?: Logger; faults?: () => { uncaughtException: number; unhandledRejection: number } } = {}): Promise<Engine> {
  const log = opts.log ?? pino({ level: config.log.level });
  const startedAt = Date.now();
  const cleanups: (() => Promise<void> | void)[] = [];
  const undo = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch (err) { log.error({ err }, 'cleanup failed'); }
    }
  };
  try {
    // ---- store, CRM, recovery, outbox ------------------------------------------------------
    if (config.database.kind !== 'sqlite') throw new Error('ENGINE_ERR_CONFIG: database.kind postgres is not available yet; use sqlite');
    if (config.database.path !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database.path)), { recursive: true });
    const store = openStore({ path: config.database.path, synchronous: config.database.synchronous, commitWindowMs: config.database.commitWindowMs });
    cleanups.push(() => store.close());
    const crm: CrmAdapter = config.crm.adapter === 'sqlite'
      ? new SqliteCrmAdapter({ db: store.db, writer: store.writer, strikeThreshold: config.crm.strikeThreshold, seedDemo: config.crm.seedDemo })
      : config.crm.adapter === 'module'
        ? await loadAdapterModule(config.crm.module, process.cwd(), config.crm.options)
        : new WebhookCrmAdapter({ url: config.crm.url, lookupUrl: config.crm.lookupUrl, secret: config.crm.secret, timeoutMs: config.crm.timeoutMs, lookupTimeoutMs: config.crm.lookupTimeoutMs });
    await crm.init();
    cleanups.push(() => crm.close());
    const firstQueue = config.queues[0]?.id ?? 'default';
    const recovery = await store.recoverAfterCrash(Date.now(), { fallbackQueue: config.callbacks.defaultQueue ?? firstQueue });
    if (recovery.callbacks.length > 0 || recovery.cdrs.length > 0) {
      log.warn({ callbacks: recovery.callbacks.length, cdrs: recovery.cdrs.length, diedAt: recovery.diedAt },
        'recovered calls in progress from a previous run: waiting callers are now callback tasks');
    }
    const metrics = createMetrics();
    const dispatcher = new OutboxDispatcher({
      outbox: store.outbox, adapter: crm,
      onError: (err) => log.error({ err }, 'outbox bookkeeping failed'),
    });
    dispatcher.start();
    cleanups.push(() => dispatcher.stop());

    // ---- media -----------------------------------------------------------------------------
    const media = await MediaPool.start({
      workers: config.media.workers, portMin: config.media.rtpPortMin, portMax: config.media.rtpPortMax,
      bindAddress: config.media.bindAddress,
      ...(config.media.address ? { advertiseAddress: config.media.address } : {}),
      promptDir: config.media.promptsDir,
      spareLegs: config.media.spareLegs,
    });
    cleanups.push(() => media.close());

    // ---- ACD -------------------------------------------------------------------------------
    // Callback tasks live in the durable store, not in the ACD: until the dialer exists (a later
    // issue) nothing could ring an ACD callback entry.
    const acdConfig = toAcdConfig(config);
    const acd = new Acd({ ...acdConfig, queues: acdConfig.queues.map((q) => ({ ...q, abandonToCallback: false })) });

    // ---- SIP -------------------------------------------------------------------------------
    const lim = config.sip.limits;
    const transport = new TransportLayer({
      limits: {
        maxMessageBytes: lim.maxMessageBytes, maxHeaders: lim.maxHeaders, maxConnectionBuffer: lim.maxConnectionBuffer,
        maxConnections: lim.maxConnections, idleTimeoutMs: lim.connectionIdleSeconds * 1000,
        maxConnectionsPerSource: lim.maxConnectionsPerSource, firstMessageTimeoutMs: lim.firstMessageTimeoutSeconds * 1000,
      },
      logger: log.child({ module: 'sip' }),
    });
    cleanups.push(() => transport.close());
    const adm = config.sip.admission;
    const admission = adm.enabled ? new SourceAdmission({
      now: () => performance.now(), exempt: adm.exempt, logger: log.child({ module: 'sip-admission' }),
      limits: {
        requestsPerSecond: adm.requestsPerSecond, requestBurst: adm.requestBurst, invitesPerSecond: adm.invitesPerSecond,
        inviteBurst: adm.inviteBurst, registersPerSecond: adm.registersPerSecond, registerBurst: adm.registerBurst,
        blockAfterDrops: adm.blockAfterDrops, blockWindowMs: adm.blockWindowSeconds * 1000, blockMs: adm.blockSeconds * 1000,
        blockTrunkSources: adm.blockTrunkSources, maxSources: adm.maxSources, maxBlockedSources: adm.maxBlockedSources,
      },
    }) : undefined;
    const ua = new UserAgent(transport, {
      timers: config.sip.timers, product: config.sip.product,
      maxServerTransactions: lim.maxServerTransactions, maxServerTransactionsPerSource: lim.maxServerTransactionsPerSource,
      retryAfter: config.sip.retryAfterSeconds,
      ...(admission ? { admission } : {}),
    });
    cleanups.push(() => ua.close());
    const sipEndpoints: Endpoint[] = [];
    for (const spec of toListenSpecs(config)) sipEndpoints.push(await transport.listen(spec));
    transport.observe({
      received: (m) => countSip(metrics, 'in', m),
      sent: (m) => countSip(metrics, 'out', m),
      rejected: (code) => metrics.sipParseReject(code as Parameters<typeof metrics.sipParseReject>[0]),
      dropped: (reason) => metrics.sipDropped(reason),
      connectionRefused: (reason) => metrics.sipConnectionRefused(reason),
    });

    // ---- registrar and trunks ---------------------------------------------------------------
    const registrar = new Registrar({
      realm: config.registrar.realm,
      agents: config.agents.map((a) => ({ id: a.id, extension: a.extension, password: a.password, maxContacts: a.maxRegistrations })),
      minExpires: config.registrar.minExpires, maxExpires: config.registrar.maxExpires, defaultExpires: config.registrar.defaultExpires,
      digest: { nonceTtlMs: config.registrar.nonceTtlSeconds * 1000, allowNoQop: config.registrar.allowNoQop },
      authFailures: {
        maxFailures: config.registrar.sourceBlock.maxFailures, windowMs: config.registrar.sourceBlock.windowSeconds * 1000,
        blockMs: config.registrar.sourceBlock.blockSeconds * 1000,
      },
      accountLockout: {
        maxFailures: config.registrar.accountLockout.maxFailures, windowMs: config.registrar.accountLockout.windowSeconds * 1000,
        blockMs: config.registrar.accountLockout.lockSeconds * 1000,
      },
      refusalIntervalMs: config.registrar.refusalIntervalMs,
      logger: log.child({ module: 'registrar' }),
    });
    cleanups.push(() => registrar.close());
    const trunks = new TrunkTable(config.trunks.map((t) => ({
      id: t.id, name: t.name ?? t.id, allow: t.allow, callerFrom: t.callerFrom, dialledFrom: t.dialledFrom,
      media: t.earlyMedia ? 'early' as const : 'answer' as const, earlyMediaLimitMs: t.answerAfterSeconds * 1000,
      ...(t.auth ? { auth: t.auth } : {}),
      ...(t.maxCallsPerSecond !== null ? { maxCallsPerSecond: t.maxCallsPerSecond } : {}),
    })), { logger: log.child({ module: 'trunks' }) });
    const trunkSettings = new Map(config.trunks.map((t) => [t.id, t]));

    // ---- events -----------------------------------------------------------------------------
    const listeners = new Set<(e: CtiEvent) => void>();
    const publish = (e: CtiEvent): void => {
      for (const l of listeners) {
        try { l(e); } catch (err) { log.error({ err }, 'event listener failed'); }
      }
    };

    // ---- call control ------------------------------------------------------------------------
    const lookupCache = new LRUCache<string, CallerInfo>({ max: 100_000, ttl: Math.max(1, config.crm.lookupCacheSeconds * 1000) });
    const calls: CallController = new CallController({
      ua, acd, media, store, log: log.child({ module: 'calls' }),
      settings: settingsFromConfig(config),
      lookup: {
        lookup: async (number, dialled, deadlineMs, callId) => {
          if (number === '') return unknownCaller();
          const cached = config.crm.lookupCacheSeconds > 0 ? lookupCache.get(number) : undefined;
          if (cached) return cached;
          const t0 = performance.now();
          const controller = new AbortController();
          let timer: NodeJS.Timeout | undefined;
          const deadline = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), deadlineMs); });
          try {
            const r = await Promise.race([crm.lookupCaller(number, { dialled, deadlineMs, signal: controller.signal, callId }), deadline]);
            if (r === 'timeout') {
              controller.abort();
              metrics.crmLookup(performance.now() - t0, 'timeout');
              return unknownCaller();
            }
            metrics.crmLookup(performance.now() - t0, 'ok');
            const info = r;
            if (config.crm.lookupCacheSeconds > 0) lookupCache.set(number, info);
            return info;
          } catch (err) {
            metrics.crmLookup(performance.now() - t0, 'error');
            log.warn({ err, callId }, 'CRM look-up failed; unknown caller');
            return unknownCaller();
          } finally {
            clearTimeout(timer);
          }
        },
      },
      trunks: {
        admit: (invite): TrunkAdmission | undefined => {
          const r = trunks.admitInvite(invite);
          if (!r.ok) return undefined;
          const t = trunkSettings.get(r.trunk.id)!;
          return {
            trunkId: t.id, caller: r.caller, dialled: r.dialled, earlyMedia: t.earlyMedia, answerAfterMs: t.answerAfterSeconds * 1000,
            inbandDtmf: t.inbandDtmf ?? config.media.inbandDtmf, codecs: [...t.codecs],
          };
        },
      },
      agents: {
        contacts: (agentId) => registrar.lookup(agentId).map((b) => ({ uri: b.uri, source: agentTarget(b) })),
        agentByExtension: (ext) => registrar.agentOf(ext),
        // Contract C3 (until Registrar.isContactSource is merged): a live binding's REGISTER source.
        isAgentSource: (agentId, src) => registrar.lookup(agentId)
          .some((b) => b.source.transport === src.transport && b.source.address === src.address && b.source.port === src.port),
      },
      // Contract C2 (until engine/desk's AgentDesk is merged): the feature codes' former rules.
      desk: {
        request: (agentId, action): DeskResult => {
          const now = Date.now();
          try {
            calls.apply(action === 'ready' ? acd.setAgentStatus(agentId, 'available', null, now)
              : action === 'notReady' ? acd.setAgentStatus(agentId, 'notReady', 'feature-code', now)
                : action === 'login' ? acd.agentLoggedIn(agentId, now) : acd.agentLoggedOut(agentId, now));
            return { ok: true };
          } catch (err) {
            return { ok: false, code: (err as { code?: string }).code ?? 'ACD_ERR_INVALID_STATE', message: (err as Error).message };
          }
        },
      },
      observe: (e) => onCallEvent(e),
    });
    const onCallEvent = (e: CallControlEvent): void => {
      switch (e.type) {
        case 'call.queued':
          metrics.queueEntered(e.queue);
          publish({ type: 'call.queued', at: e.at, callId: e.callId, queue: e.queue, caller: '', dialled: '', position: 0, priority: e.priority });
          return;
        case 'call.offered':
          publish({ type: 'call.offered', at: e.at, callId: e.callId, agentId: e.agentId, queue: e.queue, caller: e.caller, dialled: '', programme: null, attempt: 1, customer: e.customer });
          return;
        case 'call.answered':
          metrics.queueWait(e.queue, 'answered', e.waitMs);
          publish({ type: 'call.answered', at: e.at, callId: e.callId, agentId: e.agentId, queue: e.queue, waitMs: e.waitMs });
          return;
        case 'call.abandoned':
          return;
        case 'call.ended':
          metrics.callEnded(e.outcome as Parameters<typeof metrics.callEnded>[0]);
          publish({ type: 'call.ended', at: e.at, callId: e.callId, agentId: null, queue: null, outcome: e.outcome as Extract<CtiEvent, { type: 'call.ended' }>['outcome'], releasedBy: e.releasedBy });
          return;
        case 'callback.created':
          metrics.callbackCaptured(e.queue);
          publish({ type: 'callback.created', at: e.at, callbackId: e.callbackId, callId: e.callId, caller: e.caller, queue: e.queue });
          return;
        case 'agent.state':
          publish({ type: 'agent.state', at: e.at, agentId: e.agentId, status: e.status as AgentStatus, state: e.state as Extract<CtiEvent, { type: 'agent.state' }>['state'], reason: e.reason });
          return;
        case 'offer.sent':
          metrics.offerLatency(e.latencyMs);
          return;
        case 'acd.decision':
          metrics.acdDecision(e.latencyMs);
          return;
        case 'media.firstPacket':
          metrics.firstMedia(e.latencyMs);
          return;
        default:
          return;
      }
    };
    const agentSettings = new Map(config.agents.map((a) => [a.id, a]));
    registrar.setDelegate({
      onRegistered: (agentId) => {
        const a = agentSettings.get(agentId);
        const now = Date.now();
        if (acd.inspectAgent(agentId)?.status !== 'loggedOut') return;
        const effects: AcdEffect[] = [...acd.agentLoggedIn(agentId, now)];
        if (a?.autoReadyOnRegister) effects.push(...acd.setAgentStatus(agentId, 'available', null, now));
        calls.apply(effects);
      },
      onUnregistered: (agentId, reason) => {
        log.info({ agentId, reason }, 'agent phone unregistered: logged out');
        calls.apply(acd.agentLoggedOut(agentId, Date.now()));
      },
    });
    let draining = false;
    const optionsContext = { get draining() { return draining; }, isAgentSource: (s: Endpoint) => registrar.isBindingSource(s) };
    // Persisted registrations (C4) come back before REGISTERs are handled, through the delegate above.
    await registrar.restore();
    ua.setDelegate({
      onInvite: (invite) => calls.onInvite(invite),
      onRequest: (req: IncomingRequest) => {
        if (req.request.method === 'REGISTER') registrar.handle(req);
        else if (req.request.method === 'OPTIONS') trunks.answerOptions(req, optionsContext);
        else req.respond(405, { headers: ua.standardHeaders() });
      },
    });

    // Journal heartbeat: after a crash, recovery knows roughly when the engine died.
    const heartbeat = setInterval(() => { void store.journal.heartbeat(Date.now()).catch(() => {}); }, 5000);
    heartbeat.unref();
    cleanups.push(() => clearInterval(heartbeat));

    // ---- API ---------------------------------------------------------------------------------
    metrics.setSources({
      transactions: () => ({ client: ua.transactions.clientCount, server: ua.transactions.serverCount }),
      calls: () => {
        const out: Record<string, number> = {};
        for (const c of calls.list()) out[apiPhase(c.phase)] = (out[apiPhase(c.phase)] ?? 0) + 1;
        return out;
      },
      acd: () => acd.snapshot(Date.now()),
      outbox: () => store.outbox.backlog(),
      ...(admission ? { sipAdmission: () => ({ dropped: admission.droppedCounts(), blockedSources: admission.blockedCount() }) } : {}),
      ...(opts.faults ? { processFaults: opts.faults } : {}),
      registrar: () => registrar.stats,
    });
    const agentInfo = (id: string): AgentInfo | undefined => {
      const v = acd.inspectAgent(id);
      if (!v) return undefined;
      return { ...v, name: agentSettings.get(id)?.name ?? null, registered: registrar.isRegistered(id) };
    };
    const api: ApiServer = await startApi({
      health: () => ({ draining, startedAt, calls: calls.size, version: VERSION }),
      acdSnapshot: () => acd.snapshot(Date.now()),
      queues: () => config.queues.map((q) => ({ id: q.id, skill: q.skill ?? q.id, minLevel: q.minLevel, serviceLevelMs: q.serviceLevelMs })),
      agents: () => config.agents.map((a) => agentInfo(a.id)).filter((a): a is AgentInfo => a !== undefined),
      agent: agentInfo,
      setAgentStatus: (id, status, reason): StatusChangeResult => {
        if (!acd.inspectAgent(id)) return { ok: false, refusal: 'not_found', code: 'ACD_ERR_UNKNOWN_AGENT', message: `no agent ${id}` };
        if (status !== 'loggedOut' && !registrar.isRegistered(id)) {
          return { ok: false, refusal: 'conflict', code: 'AGENT_NOT_REGISTERED', message: `agent ${id} has no registered phone` };
        }
        try {
          const now = Date.now();
          const effects = status === 'loggedOut' ? acd.agentLoggedOut(id, now)
            : [...(acd.inspectAgent(id)?.status === 'loggedOut' ? acd.agentLoggedIn(id, now) : []), ...acd.setAgentStatus(id, status, reason, now)];
          calls.apply(effects);
        } catch (err) {
          return { ok: false, refusal: 'conflict', code: (err as { code?: string }).code ?? 'ACD_ERR_INVALID_STATE', message: (err as Error).message };
        }
        return { ok: true, agent: agentInfo(id)! };
      },
      calls: () => calls.list().map((c): CallSummary => ({
        callId: c.id, phase: apiPhase(c.phase), caller: c.caller, dialled: c.dialled, programme: c.route.programme,
        customerId: c.customer.customerId, queue: c.queue, agent: c.agentId, priority: c.priority, arrivedAt: c.arrivedAt,
        queuedAt: c.queuedAt, answeredAt: c.answeredAt,
      })),
      callbacks: { list: (f) => store.callbacks.list(f), count: (f) => store.callbacks.count(f) },
      ...(crm instanceof SqliteCrmAdapter ? { cdrs: (q: Parameters<SqliteCrmAdapter['listCdrs']>[0]) => crm.listCdrs(q) } : {}),
      events: { subscribe: (l) => { listeners.add(l); return () => listeners.delete(l); } },
      metrics,
    }, { address: config.http.address, port: config.http.port, tokens: config.http.auth.tokens, openPaths: config.http.auth.openPaths });
    cleanups.push(() => api.close());

    log.info({ sip: sipEndpoints.map((e) => `${e.transport.toLowerCase()}:${e.address}:${e.port}`), http: `${api.address}:${api.port}` }, 'onair engine started');

    let stopping: Promise<void> | undefined;
    return {
      sip: sipEndpoints,
      http: { address: api.address, port: api.port },
      calls, acd, store, registrar,
      stop: (reason?: string) => {
        stopping ??= (async () => {
          draining = true;
          log.info({ reason, calls: calls.size }, 'draining');
          await calls.drain(config.shutdown.drainSeconds * 1000);
          const drained = await dispatcher.drain(5000);
          log.info({ drained }, 'outbox flushed');
          await undo();
          log.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await undo();
    throw err;
  }
}

/**
 * Where to send an agent's INVITE. Over TCP/TLS: the connection the REGISTER came on. Over UDP: the
 * Contact when its host is the address the REGISTER came from (the phone is not behind NAT, and
 * may use another port for calls than for registering), else the REGISTER's source (NAT).
 */
function agentTarget(b: { uri: SipUri; source: Endpoint }): Endpoint {
  if (b.source.transport !== 'UDP') return b.source;
  const contact = resolveUri(b.uri);
  return contact.transport === 'UDP' && contact.address === b.source.address ? contact : b.source;
}

/** The API's name for a call phase. */
function apiPhase(phase: string): CallSummary['phase'] {
  switch (phase) {
    case 'setup': return 'lookup';
    case 'offering': return 'ringing';
    case 'queued': return 'queued';
    case 'talking': return 'talking';
    default: return 'ivr';
  }
}

function countSip(metrics: ReturnType<typeof createMetrics>, direction: 'in' | 'out', m: SipMessage): void {
  if (m.kind === 'request') metrics.sipMessage(direction, m.method);
  else metrics.sipMessage(direction, m.headers.cseq.method, m.status);
}
