/**
 * The composition root (ARCHITECTURE.md, CONVENTIONS.md 16): builds every part from the
 * configuration, wires their ports together, and stops them in order. It holds no policy: CTI
 * translation and metrics of call events live in api/ (`CallEventSink`), agent status rules in
 * desk/ (`AgentDesk`), call phases and SIP counting in api/.
 *
 * Build is bottom-up — store, CRM, crash recovery, outbox, media workers, ACD, SIP, registrar,
 * trunks, call control and desk, API — then the delegates are wired (registrar → desk, UA →
 * calls and registrar), and stop is the reverse after a drain of calls and of the outbox.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { Acd, type AcdEffect } from './acd/index.ts';
import { WorkScheduler, type WorkClass } from './sched/index.ts';
import { InboundClasses, SourceAdmission, TransportLayer, UserAgent, resolveUri, type IncomingInvite, type IncomingRequest, type SipRequest, type Endpoint, type OverloadCause } from './sip/index.ts';
import { MediaPool, RuntimePrompts } from '../media/index.ts';
import { finishAdopted, openStore, OutboxDispatcher, SqliteBindingStore, type SqliteStore } from './store/index.ts';
import { openPgStore, PgBindingStore, PgStore } from './store/pg/index.ts';
import { SqliteCrmAdapter, WebhookCrmAdapter, loadAdapterModule, type CrmAdapter } from '../crm-adapter/index.ts';
import { ShopCrmAdapter, type ShopStoreConfig } from '../crm-adapter/shop/index.ts';
import { Registrar, phoneTarget } from './registrar/index.ts';
import { TrunkTable } from './trunks/index.ts';
import { AdoptedRelays, CachedCallerLookup, CallController, mediaCapacity, CallMonitor, CallRecordings, CrmQueryRunner, Dispositions, promptChecker, recordingPort, settingsFromConfig, startRtpengineRelay, surveysFromConfig, type CallControlEvent, type TrunkAdmission } from './calls/index.ts';
import {
  CDR_OUTCOMES, CallEventSink, callSummary, callsByPhase, createMetrics, deliveryObserver, deskStatusChange, packageVersion, startApi,
  type AgentInfo, type ApiServer, type CallSummary, type CdrQuery, type Metrics, type ShopLiveCall,
} from './api/index.ts';
import { AgentDesk } from './desk/index.ts';
import { OutboundDialer } from './outbound/index.ts';
import { CallbackDialer, DialerOffersMux, PredictiveShare, type PreviewChoice } from './dialer/index.ts';
import { CampaignRuntime, CampaignStore } from './campaigns/index.ts';
import { firstAirings, isDialable } from './callbacks/index.ts';
import { epochClock } from './clock/index.ts';
import { UserDirectory } from './users/index.ts';
import { AuditLog } from './audit/index.ts';
import { Provisioning, ProvisioningStore, Roster, mergeRoster } from './provisioning/index.ts';
import { defaultUiDir, loadUiFiles } from './api/ui-files.ts';
import { ReportQueries, SqliteReports, SqliteSchedule, SurgeMode, attributeRoute, importScheduleFile, measureContext } from './reports/index.ts';
import { isLoopback, toAcdConfig, toListenSpecs, type Config } from './config/index.ts';
import { HA_ERRORS, HaError, HaNode, PgLease, Probers, announceActive, standbyGate } from './ha/index.ts';

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
  /** The durable store: SQLite, or PostgreSQL with `database.kind: postgres`. */
  readonly store: SqliteStore | PgStore;
  readonly registrar: Registrar;
  readonly desk: AgentDesk;
  readonly metrics: Metrics;
  /** Run-time skills and agents (contract C3: surge mode calls `provisioning.setSkills`). */
  readonly provisioning: Provisioning;
  readonly audit: AuditLog;
  /** The node of the active-standby pair with `ha.enabled` (issue 19), else null. */
  readonly ha: HaNode | null;
  /** The main thread's work scheduler with `scheduler.enabled` (issue 13), else null: its figures, and work a test posts. */
  readonly work: WorkScheduler | null;
}

/** Options of {@link startEngine}. */
export interface EngineOptions {
  log?: Logger;
  /**
   * The CRM adapter to use instead of the one `config.crm` names (a third-party adapter built by
   * the caller). The engine drives it like its own: `init()` at start, `close()` at stop.
   */
  crm?: CrmAdapter;
  /** Counts of faults the process policy survived (engine/cli), for `onair_process_faults_total`. */
  faults?: () => { uncaughtException: number; unhandledRejection: number };
}

/** Start the engine on a validated configuration. */
export async function startEngine(config: Config, opts: EngineOptions = {}): Promise<Engine> {
  const log = opts.log ?? pino({ level: config.log.level });
  const startedAt = Date.now();
  const version = packageVersion();
  const cleanups: (() => Promise<void> | void)[] = [];
  const undo = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try { await c(); } catch (err) { log.error({ err }, 'cleanup failed'); }
    }
  };
  try {
    // ---- store, CRM, recovery, outbox ------------------------------------------------------
    if (config.database.path !== ':memory:') mkdirSync(path.dirname(path.resolve(config.database.path)), { recursive: true });
    // The SQLite file: the whole store by default; with PostgreSQL, the engine's tables not moved
    // there yet (users and sessions, the built-in CRM, ...: docs/operations.md, Running on PostgreSQL).
    const local = openStore({ path: config.database.path, synchronous: config.database.synchronous, commitWindowMs: config.database.commitWindowMs, dialing: config.callbacks.dialing });
    cleanups.push(() => local.close());
    const db = config.database;
    const store: SqliteStore | PgStore = db.kind === 'postgres'
      ? await openPgStore({
        url: db.url, poolSize: db.poolSize, commitWindowMs: db.commitWindowMs, dialing: config.callbacks.dialing,
        onConnectionError: (err) => log.warn({ err }, 'PostgreSQL connection lost (replaced on the next query)'),
      })
      : local;
    if (store !== local) cleanups.push(() => store.close());
    // Active-standby (issue 19): the lease in the shared database; from here on every store write
    // checks this node's lease epoch (fencing). Stopped just before the store closes (it releases the lease).
    let onFenced = (_reason: string): void => {};
    let onActive = (): void => {};
    const ha: HaNode | null = !config.ha.enabled ? null : await (async () => {
      if (!(store instanceof PgStore)) throw new HaError(HA_ERRORS.config, 'ha.enabled needs database.kind postgres');
      const node = new HaNode({
        lease: await PgLease.open(store.db, 'engine', Date.now()), nodeId: config.ha.nodeId ?? `${hostname()}:${process.pid}`,
        leaseMs: config.ha.leaseMs, renewIntervalMs: config.ha.renewIntervalMs, clock: epochClock, log: log.child({ module: 'ha' }),
        onFenced: (reason) => onFenced(reason),
        onRole: (role) => { if (role === 'active') onActive(); },
      });
      store.writer.setFence(node.fence);
      // Its last writes (CDRs of the calls the stop hung up) commit before the lease is given up: after it they would be refused.
      cleanups.push(async () => { await store.writer.flush(); await node.stop(); });
      return node;
    })();
    const crm: CrmAdapter = opts.crm ?? (config.crm.adapter === 'sqlite'
      ? new SqliteCrmAdapter({ db: local.db, writer: local.writer, strikeThreshold: config.crm.strikeThreshold, seedDemo: config.crm.seedDemo })
      : config.crm.adapter === 'shop'
        ? new ShopCrmAdapter({ store: shopStoreConfig(config.crm, config.database.path), strikeThreshold: config.crm.strikeThreshold, seedDemo: config.crm.seedDemo, notifications: config.crm.notifications, log: log.child({ module: 'shop' }) })
      : config.crm.adapter === 'module'
        ? await loadAdapterModule(config.crm.module, process.cwd(), config.crm.options)
        : new WebhookCrmAdapter({ url: config.crm.url, lookupUrl: config.crm.lookupUrl, queryUrl: config.crm.queryUrl, secret: config.crm.secret, timeoutMs: config.crm.timeoutMs, lookupTimeoutMs: config.crm.lookupTimeoutMs }));
    await crm.init();
    cleanups.push(() => crm.close());
    // Reports (issue 18): every CDR the outbox accepts is filed in the interval tables, recovered ones included.
    // Reports, the schedule, audit, provisioning and campaigns live in the SQLite file (`local`)
    // whichever store keeps the outbox. On SQLite a CDR is filed in the same transaction as its
    // outbox row; on PostgreSQL when it is appended (docs/reports.md, Storage).
    const reports = new SqliteReports({
      db: local.db, writer: local.writer, onError: (err, what) => log.error({ err, what }, 'reports: a record was not filed'),
      // The callback task's first arrival (time to reach) is read synchronously: on PostgreSQL
      // the tasks are not in this file, so that figure is left out there (docs/reports.md).
      context: measureContext(config.queues, store === local ? (id) => local.callbacks.getSync(id)?.arrivedAt ?? null : () => null),
    });
    store.outbox.observeCdrs((cdr) => reports.ingestSync(cdr));
    // One team model: agents[].team (as supervisors' scopes use it), run-time added agents included.
    const reportQueries = new ReportQueries({ db: local.db, teamOf: (agentId) => roster.get(agentId)?.team ?? null });
    const schedule = new SqliteSchedule({ db: local.db, writer: local.writer, tailMs: config.reports.schedule.tailMinutes * 60_000 });
    if (config.reports.schedule.file !== null) await importScheduleFile(schedule, config.reports.schedule.file);
    const firstQueue = config.queues[0]?.id ?? 'default';
    // One recovery path for a restart and for a takeover (issue 19): the journal left by the
    // previous run, or by the node whose lease this one took.
    const recover = async (): Promise<void> => {
      // Taking over with rtpengine: the old active's relayed calls are kept (and adopted below), not cut.
      const recovery = await store.recoverAfterCrash(Date.now(), {
        fallbackQueue: config.callbacks.defaultQueue ?? firstQueue, keepRelayed: ha !== null && config.media.relay === 'rtpengine',
      });
      for (const e of recovery.relayed) {
        if (adopted?.adopt(e, (d) => resolveUri(d.nextHop())) !== true) await finishAdopted(store, e.callId, Date.now(), 'system', 'failed');
      }
      // Callback attempts cut off by the stop: ended 'interrupted', their tasks due again by the policy.
      const interrupted = await store.callbacks.recoverInterrupted(Date.now());
      if (interrupted > 0) log.warn({ interrupted }, 'callback attempts interrupted by the previous run: rescheduled');
      if (recovery.callbacks.length > 0 || recovery.cdrs.length > 0) {
        log.warn({ callbacks: recovery.callbacks.length, cdrs: recovery.cdrs.length, diedAt: recovery.diedAt },
          'recovered calls in progress from a previous run: waiting callers are now callback tasks');
      }
    };
    if (ha === null) await recover();
    const metrics = createMetrics();
    metrics.declare({ queues: config.queues.map((q) => q.id), trunks: config.trunks.map((t) => t.id) }, CDR_OUTCOMES);
    metrics.buildInfo({ version, node: process.version });
    const dispatcher = new OutboxDispatcher({
      outbox: store.outbox, adapter: crm,
      onDelivery: deliveryObserver(metrics, log.child({ module: 'outbox' })),
      onError: (err) => log.error({ err }, 'outbox bookkeeping failed'),
    });
    if (ha === null) dispatcher.start();
    cleanups.push(() => dispatcher.stop());

    // ---- media -----------------------------------------------------------------------------
    // Run-time prompts (catalog text spoken by espeak-ng): rendered here, read by the workers.
    const ttsConfig = config.media.tts;
    const tts = new RuntimePrompts({ ...ttsConfig, maxBytes: ttsConfig.maxMegabytes * 1024 * 1024 });
    const media = await MediaPool.start({
      ttsDir: tts.dir,
      workers: config.media.workers, portMin: config.media.rtpPortMin, portMax: config.media.rtpPortMax,
      bindAddress: config.media.bindAddress,
      ...(config.media.address ? { advertiseAddress: config.media.address } : {}),
      promptDir: config.media.promptsDir,
      spareLegs: config.media.spareLegs,
    });
    cleanups.push(() => media.close());
    const capacity = await mediaCapacity(media, config.media);
    if (capacity.source === 'measured') {
      log.info({ streams: capacity.streams, usPerPacket: capacity.costs.map((c) => Math.round(c.usPerPacket * 100) / 100), coreShare: capacity.coreShare }, 'media capacity measured');
    } else if (capacity.source === 'unmeasured') {
      log.warn({ reason: capacity.reason }, 'media capacity not measured: no limit but the RTP ports');
    }

    // ---- ACD -------------------------------------------------------------------------------
    // Callback tasks live in the durable store; the dialer loads those due now as ACD callback
    // entries (engine/dialer), so the ACD's own abandon-to-callback path stays off.
    // The file's agents merged with those added and the skills changed at run time (roster.ts).
    const provisioningStore = new ProvisioningStore(local.db, local.writer, Date.now());
    const merged = mergeRoster(config.agents, provisioningStore.agents(), provisioningStore.overrides());
    for (const x of merged.superseded) {
      log.warn({ agentId: x.agentId, kind: x.kind, why: x.why }, 'run-time provisioning superseded by the configuration: dropped');
      await provisioningStore.drop(x.kind, x.agentId);
    }
    const roster = new Roster(merged.agents, config.agents);
    const audit = AuditLog.open(local.db, local.writer, { onError: (err) => log.error({ err }, 'audit write failed') });
    const acdConfig = toAcdConfig({ ...config, agents: merged.agents });
    const acd = new Acd({ ...acdConfig, queues: acdConfig.queues.map((q) => ({ ...q, abandonToCallback: false })) });

    // ---- trunks (before SIP: the admission limiter reads their contracted cps) ----------
    const trunks = new TrunkTable(config.trunks.map((t) => ({
      id: t.id, name: t.name ?? t.id, allow: t.allow, callerFrom: t.callerFrom, dialledFrom: t.dialledFrom,
      media: t.earlyMedia ? 'early' as const : 'answer' as const, earlyMediaLimitMs: t.answerAfterSeconds * 1000,
      ...(t.auth ? { auth: t.auth } : {}),
      ...(t.maxCallsPerSecond !== null ? { maxCallsPerSecond: t.maxCallsPerSecond } : {}),
    })), { logger: log.child({ module: 'trunks' }) });

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
      // A carrier's contracted cps is its INVITE rate (contract C6).
      ceilingFor: (address) => trunks.ceilingFor(address),
      limits: {
        requestsPerSecond: adm.requestsPerSecond, requestBurst: adm.requestBurst, invitesPerSecond: adm.invitesPerSecond,
        inviteBurst: adm.inviteBurst, registersPerSecond: adm.registersPerSecond, registerBurst: adm.registerBurst,
        blockAfterDrops: adm.blockAfterDrops, blockWindowMs: adm.blockWindowSeconds * 1000, blockMs: adm.blockSeconds * 1000,
        blockTrunkSources: adm.blockTrunkSources, maxSources: adm.maxSources, maxBlockedSources: adm.maxBlockedSources,
        ipv6PrefixLength: adm.ipv6PrefixLength,
      },
    }) : undefined;
    const ua = new UserAgent(transport, {
      timers: config.sip.timers, product: config.sip.product,
      maxServerTransactions: lim.maxServerTransactions, maxServerTransactionsPerSource: lim.maxServerTransactionsPerSource, ipv6PrefixLength: adm.ipv6PrefixLength,
      maxRetainedNonInvite: lim.maxRetainedNonInviteTransactions,
      retryAfter: config.sip.retryAfterSeconds,
      ...(admission ? { admission } : {}),
    });
    cleanups.push(() => ua.close());
    // Bridged calls through rtpengine (media.relay): its media port stands in for the pool's in
    // call control, recordings and monitoring, so a command that needs onair's legs moves the call back.
    // A relayed call's dialogs go to its journal row, so that a node taking over can end it (issue 19).
    const rtpengine = config.media.relay === 'rtpengine'
      ? await startRtpengineRelay(config.media.rtpengine, media, ua, log.child({ module: 'rtpengine' }), (callId, relay) => {
        return store.journal.relayed(callId, relay, Date.now()).catch((err: unknown) => log.warn({ err, callId }, 'journal: relay state not written'));
      }) : null;
    if (rtpengine) cleanups.push(() => rtpengine.close());
    // The relayed calls of the node whose lease this one took: their phones talk on through rtpengine.
    const adopted = rtpengine === null ? null : new AdoptedRelays({
      ua, ng: rtpengine.ng, rtpTimeoutMs: config.media.rtpTimeoutSeconds * 1000, log: log.child({ module: 'rtpengine' }),
      finish: (callId, endedAt, by) => finishAdopted(store, callId, endedAt, by),
    });
    if (adopted !== null) cleanups.push(() => adopted.stop());
    const callMedia = rtpengine?.relay.media ?? media;
    const sch = config.scheduler;
    let scheduler: WorkScheduler | undefined;
    let inbound: InboundClasses | undefined;
    if (sch.enabled) {
      scheduler = new WorkScheduler({
        turnBudgetMs: sch.turnBudgetMs, lateAfterMs: sch.tryingAfterMs,
        limits: { agent: sch.queueLimit, record: sch.queueLimit, signalling: sch.queueLimit, media: sch.queueLimit },
        deadlines: { signalling: sch.maxSignallingWaitMs },
        observe: (cls, ms) => metrics.workSojourn(cls, ms),
        onError: (err, cls) => log.error({ err, class: cls }, 'queued work threw; the engine keeps running'),
      });
      inbound = new InboundClasses(scheduler, transport, ua.transactions, (r) => ua.isEstablished(r));
      transport.setDispatcher(inbound);
    }
    const sipEndpoints: Endpoint[] = [];
    for (const spec of toListenSpecs(config)) sipEndpoints.push(await transport.listen(spec));
    transport.observe(metrics.sipObserver());

    // ---- registrar ---------------------------------------------------------------
    const registrar = new Registrar({
      realm: config.registrar.realm,
      agents: roster.list().map((a) => ({ id: a.id, extension: a.extension, password: a.password, maxContacts: a.maxRegistrations })),
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
      // Registrations live with the store: in PostgreSQL every engine on the database knows every phone.
      bindings: store instanceof PgStore ? await PgBindingStore.open(store.db, store.writer) : new SqliteBindingStore(local.db, local.writer),
      logger: log.child({ module: 'registrar' }),
    });
    cleanups.push(() => registrar.close());
    const trunkSettings = new Map(config.trunks.map((t) => [t.id, t]));
    const agentSettings = roster;

    // ---- call control, agent desk, events ----------------------------------------------------
    const events = new CallEventSink(metrics, (err, e) => log.error({ err, type: e.type }, 'event listener failed'));
    events.subscribe((e) => { if (e.type === 'agent.state') void reports.agentState(e); });
    // The desk's effects go to call control (offers to an agent who became available); built
    // first so that call control's feature codes can be given the desk (contract C2).
    const desk = new AgentDesk({
      acd, apply: (effects) => calls.apply(effects), isRegistered: (id) => registrar.isRegistered(id),
      autoReadyOnRegister: (id) => agentSettings.get(id)?.autoReadyOnRegister ?? false,
    });
    const lookup = new CachedCallerLookup({
      adapter: crm, cacheTtlMs: config.crm.lookupCacheSeconds * 1000, metrics, log: log.child({ module: 'crm-lookup' }),
    });
    const callsSettings = settingsFromConfig(config, capacity.streams);
    const outbound = new OutboundDialer({ ua, config: config.outbound, clock: epochClock, log: log.child({ module: 'outbound' }), metrics });
    // What the callback dialer and the campaign dialers share (engine/dialer, engine/campaigns).
    const dialerBase = {
      acd, decide: (input: () => AcdEffect[]) => calls.decide(input), store, outbound, ua, media, lookup,
      agents: { contacts: (agentId: string) => registrar.lookup(agentId).map(phoneTarget) },
      settings: {
        pollMs: config.callbacks.dialing.pollSeconds * 1000, defaultQueue: config.callbacks.defaultQueue ?? firstQueue,
        rtpTimeoutMs: callsSettings.rtpTimeoutMs, lookupDeadlineMs: callsSettings.lookupDeadlineMs,
      },
      observe: (e: CallControlEvent) => events.observe(e),
    };
    // Predictive (customer first): the auto-answer agents the pacer counts, "please hold" after 2 s
    // (the callback dialer in mode predictive, and campaigns of mode predictive).
    const predictive = {
      agentIds: () => config.agents.filter((a) => a.autoAnswer).map((a) => a.id),
      pacing: { maxAbandonRatio: config.callbacks.dialing.maxAbandonRatio },
      holdPrompt: { items: [{ kind: 'prompt' as const, name: `${callsSettings.language}/all-agents-busy` }] },
      // One share for both: each pacer counts the other's customers in flight for the same agents.
      share: new PredictiveShare(),
    };
    const dialer = new CallbackDialer({
      ...dialerBase, tasks: store.callbacks,
      dialable: (task, now) => isDialable(task, now, config.callbacks.dialing, (n) => store.dnc.has(n)),
      housekeep: async (now) => { await store.callbacks.expire(now); await store.callbacks.cancelDoNotCall(now); },
      settings: { ...dialerBase.settings, mode: config.callbacks.dialing.mode },
      ...(config.callbacks.dialing.mode === 'predictive' ? { predictive } : {}),
      log: log.child({ module: 'dialer' }),
    });
    // What call control knows of an admitted INVITE's trunk (one rule for answered and refused INVITEs).
    const trunkAdmission = (trunkId: string, caller: string, dialled: string): TrunkAdmission => {
      const t = trunkSettings.get(trunkId)!;
      return {
        trunkId: t.id, caller, dialled, earlyMedia: t.earlyMedia, answerAfterMs: t.answerAfterSeconds * 1000,
        inbandDtmf: t.inbandDtmf ?? config.media.inbandDtmf, codecs: [...t.codecs],
        overload: { whenMediaFull: t.overload.whenMediaFull, maxRingingMs: t.overload.maxRingingSeconds * 1000, atRingingLimit: t.overload.atRingingLimit },
      };
    };
    const dispositions = new Dispositions();
    // Outbound campaigns: their contacts in the same database, dialled by their own dialers.
    const campaignStore = new CampaignStore(local.db, local.writer, config.callbacks.dialing, Date.now());
    await campaignStore.contacts.recoverInterrupted(Date.now());
    const campaigns = new CampaignRuntime({
      store: campaignStore, outbox: store, isDnc: (n) => store.dnc.has(n),
      inboundWaiting: (now) => acd.snapshot(now).queues.map((q) => q.waiting),
      queues: new Set(config.queues.map((q) => q.id)),
      dialer: { ...dialerBase, log: log.child({ module: 'campaigns' }) },
      // Mode predictive: the callback dialer's pacing over the auto-answer agents; mode ivr: the surveys.
      predictive, surveys: surveysFromConfig(config), language: callsSettings.language,
      log: log.child({ module: 'campaigns' }),
    });
    const recordings = new CallRecordings(config.recording, callMedia, () => Date.now(), log.child({ module: 'recording' }));
    await recordings.start();
    cleanups.push(() => recordings.close());
    // A supervisor's phone: an agents[] entry that a supervisor or admin user works as; with no
    // user accounts (the open API of a loopback demo) any registered phone.
    const supervisorPhones = new Set(config.users.accounts.filter((a) => a.role !== 'agent' && a.agent !== null).map((a) => a.agent!));
    const monitor = new CallMonitor({
      ua, media: callMedia, now: () => Date.now(), log: log.child({ module: 'monitor' }), call: (id) => calls.bridged(id),
      agents: { contacts: (agentId) => registrar.lookup(agentId).map(phoneTarget), agentByExtension: (ext) => registrar.agentOf(ext) },
      isSupervisorPhone: (agentId) => config.users.accounts.length === 0 || supervisorPhones.has(agentId),
      ...(config.outbound.trunks.length > 0 ? { outbound } : {}),
    });
    const calls: CallController = new CallController({
      ua, acd, media: callMedia, store, log: log.child({ module: 'calls' }), dispositions, recordings, monitor,
      ...(rtpengine ? { relay: rtpengine.relay } : {}),
      ...(config.outbound.trunks.length > 0 ? { outbound } : {}),
      settings: callsSettings,
      callbacks: new DialerOffersMux(dialer, Object.values(campaigns.dialers)),
      lookup,
      desk,
      trunks: {
        admit: (invite): TrunkAdmission | undefined => {
          const r = trunks.admitInvite(invite);
          return r.ok ? trunkAdmission(r.trunk.id, r.caller, r.dialled) : undefined;
        },
        identifyRefused: (request, source): TrunkAdmission | undefined => {
          const r = trunks.identifyUnanswered(request, source);
          return r === undefined ? undefined : trunkAdmission(r.trunk.id, r.caller, r.dialled);
        },
      },
      agents: {
        contacts: (agentId) => registrar.lookup(agentId).map(phoneTarget),
        agentByExtension: (ext) => registrar.agentOf(ext),
        isAgentSource: (agentId, source) => registrar.isContactSource(agentId, source),
        isPhoneSource: (source) => registrar.isBindingSource(source),
      },
      observe: (e) => events.observe(e),
      attribute: (planned, dialled, at) => attributeRoute(schedule, planned, dialled, at),
      // IVR self-service (a flow's query step): the adapter's optional query, behind a deadline.
      query: new CrmQueryRunner({ adapter: crm, metrics, log: log.child({ module: 'crm-query' }) }),
      hasPrompt: promptChecker(config.media.promptsDir),
      // A products step's names and descriptions (catalog text), rendered and cached off the call path.
      tts,
    });
    registrar.setDelegate({
      onRegistered: (agentId) => { desk.onRegistered(agentId); },
      onUnregistered: (agentId, reason) => {
        log.info({ agentId, reason }, 'agent phone unregistered: logged out');
        desk.onUnregistered(agentId, reason);
      },
    });
    let draining = false;
    const optionsContext = { get draining() { return draining; }, isAgentSource: (s: Endpoint) => registrar.isBindingSource(s) };
    // Persisted registrations (C4) come back before REGISTERs are handled, through the delegate above.
    // With ha: when this node takes the lease (the standby's registrations are the active's, in the database).
    if (ha === null) await registrar.restore();
    const uas = {
      onInvite: (invite: IncomingInvite) => calls.onInvite(invite),
      onRefusedInvite: (request: SipRequest, source: Endpoint, cause: OverloadCause) => calls.onRefusedInvite(request, source, cause),
      onRequest: (req: IncomingRequest) => {
        if (req.request.method === 'REGISTER') registrar.handle(req);
        else if (req.request.method === 'OPTIONS') trunks.answerOptions(req, optionsContext);
        else req.respond(405, { headers: ua.standardHeaders() });
      },
    };
    // A node that is not active answers 503 to everything new, OPTIONS probes included (engine/ha/gate.ts).
    // The proxies it refused are told the moment it becomes active (engine/ha/announce.ts), not at their next probe.
    const probers = new Probers();
    ua.setDelegate(ha === null ? uas : standbyGate(uas, ha, config.sip.retryAfterSeconds, () => ua.standardHeaders(), { list: probers, now: Date.now }));
    if (ha !== null) {
      onActive = () => {
        const epoch = ha.figures().epoch;
        void announceActive(ua, probers.recent(Date.now()), epoch).then((told) => {
          if (told.length > 0) log.warn({ epoch, proxies: told.map((x) => `${x.to.address}:${x.to.port} ${x.result}`) }, 'told the proxies in front: this node is active');
        });
      };
    }

    // Journal heartbeat: after a crash, recovery knows roughly when the engine died.
    let heartbeat: NodeJS.Timeout | undefined;
    const startHeartbeat = (): void => {
      heartbeat = setInterval(() => { void store.journal.heartbeat(Date.now()).catch(() => {}); }, 5000);
      heartbeat.unref();
    };
    if (ha === null) startHeartbeat();
    cleanups.push(() => clearInterval(heartbeat));

    // ---- users, UI, API ------------------------------------------------------------------------
    const u = config.users;
    const users = u.accounts.length === 0 ? null : await UserDirectory.open(local.db, local.writer,
      u.accounts.map((a) => ({ username: a.username, role: a.role, agentId: a.agent, name: a.name, teams: a.teams, password: a.password, passwordHash: a.passwordHash })),
      new Set(roster.list().map((a) => a.id)), {
        sessions: { idleMs: u.sessionIdleMinutes * 60_000, maxAgeMs: u.sessionMaxHours * 3_600_000 },
        accountLockout: { maxFailures: u.accountLockout.maxFailures, windowMs: u.accountLockout.windowSeconds * 1000, lockMs: u.accountLockout.lockSeconds * 1000 },
        sourceLockout: { maxFailures: u.sourceLockout.maxFailures, windowMs: u.sourceLockout.windowSeconds * 1000, lockMs: u.sourceLockout.lockSeconds * 1000 },
      });
    const ui = loadUiFiles(defaultUiDir());
    if (ui === null) log.warn({ dir: defaultUiDir() }, 'the browser UI is not built (npm run build): / answers 404');
    const agentInfo = (id: string): AgentInfo | undefined => {
      const v = acd.inspectAgent(id);
      if (!v) return undefined;
      const a = agentSettings.get(id);
      return { ...v, name: a?.name ?? null, team: a?.team ?? null, registered: registrar.isRegistered(id) };
    };
    const agentList = (): AgentInfo[] => roster.list().map((a) => agentInfo(a.id)).filter((a): a is AgentInfo => a !== undefined);
    const provisioning = new Provisioning({
      acd, apply: (effects) => calls.apply(effects), registrar, users, roster, store: provisioningStore, audit,
      onError: (err) => log.error({ err }, 'provisioning write failed'),
    });
    // Surge mode (issue 18): an airing's window switches its back-office agents into the order queue
    // through run-time provisioning (persisted and audited like a supervisor's change); each switch
    // is logged and audited. Agents go back to the configuration's skills after the window.
    const surgeActor = { actor: 'surge-mode', role: 'system', source: 'schedule' };
    const surge = new SurgeMode({
      schedule, tailMs: config.reports.schedule.tailMinutes * 60_000, clock: epochClock,
      skills: {
        setSkills: (agentId, skills) => {
          const r = provisioning.setSkills(agentId, skills, surgeActor);
          if (!r.ok) log.warn({ agentId, code: r.code, reason: r.message }, 'surge mode: skills not changed');
        },
      },
      baseSkills: (agentId) => roster.seedOf(agentId) ?? roster.get(agentId)?.skills ?? {},
      onSwitch: (e) => {
        log.info({ airing: e.airing, programme: e.programme, state: e.state, agents: e.agents, reason: e.reason, until: e.until }, 'surge mode switched');
        audit.record({ ...surgeActor, action: `surge.${e.state}`, target: e.airing ?? e.programme ?? 'all', detail: { agents: e.agents, reason: e.reason, until: e.until, campaignsPaused: e.campaignsPaused } });
        // Campaigns hold while any surge is on (their loaded, unstarted entries taken back) and resume after.
        campaigns.setSurge(e.campaignsPaused);
        // Callbacks of the previous airing of each airing in surge are dialled first (engine/callbacks order.ts).
        dialer.setFirstAirings(firstAirings(schedule.airings(), surge.active()));
        events.publish(e);
      },
    });
    schedule.observe(() => surge.refresh());
    surge.refresh();
    cleanups.push(() => surge.stop());
    metrics.setSources({
      transactions: () => ({ client: ua.transactions.clientCount, server: ua.transactions.serverCount, evicted: ua.transactions.evictedCount }),
      calls: () => callsByPhase(calls.list()),
      mediaAdmission: () => calls.mediaFigures(),
      acd: () => acd.snapshot(Date.now()),
      agents: agentList,
      outbox: () => store.outbox.backlog(),
      callbacks: () => store.callbacks.figures(Date.now()),
      media: () => media.stats(),
      ...(scheduler ? { work: (cls: WorkClass) => scheduler.stats(cls) } : {}),
      ...(inbound ? { retransmissionsAbsorbed: () => inbound.retransmissionsAbsorbed } : {}),
      ...(admission ? { sipAdmission: () => ({ dropped: admission.droppedCounts(), blockedSources: admission.blockedCount() }) } : {}),
      ...(opts.faults ? { processFaults: opts.faults } : {}),
      registrar: () => registrar.stats,
      ...(ha !== null ? { ha: () => ha.figures() } : {}),
      outbound: () => outbound.utilisation(),
      campaigns: () => campaignStore.figures(Date.now()),
      transfers: () => calls.transferOutcomes(),
      ...(rtpengine ? { rtpengine: () => rtpengine.relay.figures() } : {}),
      ...(config.callbacks.dialing.mode === 'predictive' ? { dialerAbandonRatio: () => dialer.pacer.abandonRatio(Date.now()) } : {}),
      ...(crm instanceof ShopCrmAdapter ? { shopNotifications: () => crm.store.notificationCounts(), shopNotificationsSent: () => crm.notifier?.sentCount ?? {} } : {}),
    });
    const api: ApiServer = await startApi({
      health: () => ({ draining, startedAt, calls: calls.size, version }),
      acdSnapshot: () => acd.snapshot(Date.now()),
      queues: () => config.queues.map((q) => ({ id: q.id, skill: q.skill ?? q.id, minLevel: q.minLevel, serviceLevelMs: q.serviceLevelMs })),
      agents: agentList,
      agent: agentInfo,
      setAgentStatus: deskStatusChange(desk, agentInfo),
      calls: () => calls.list().map(callSummary).filter((c): c is CallSummary => c !== null),
      callbacks: store.callbacks,
      dnc: store.dnc,
      ...(config.outbound.trunks.length > 0 ? {
        callbackPreview: (taskId: number, agentId: string, choice: PreviewChoice) => dialer.answerPreview(taskId, agentId, choice), campaigns,
      } : {}),
      ...(crm instanceof SqliteCrmAdapter ? { cdrs: (q: Parameters<SqliteCrmAdapter['listCdrs']>[0]) => crm.listCdrs(q) } : {}),
      ...(crm instanceof ShopCrmAdapter ? { cdrs: (q: CdrQuery) => crm.store.listCdrs(q), shop: { store: crm.store, liveCall: (id: string) => shopLiveCall(calls, id), reports: reportQueries, ...(config.crm.adapter === 'shop' ? { shipper: config.crm.shipper, cjkFont: config.crm.cjkFont, webhook: config.crm.logisticsWebhook } : {}) } } : {}),
      recording: { ...recordingPort(calls, recordings), monitor: (id, req) => monitor.start(id, req), audit, log: log.child({ module: 'audit' }) },
      callControl: {
        transfer: (id, to) => calls.transfer(id, to), hold: (id, intent) => calls.hold(id, intent),
        consult: (id, agent) => calls.consult(id, agent), endConsult: (id, how) => calls.endConsult(id, how),
        conference: (id, how) => calls.conference(id, how), view: (id) => calls.consultView(id),
        owner: (id) => calls.list().find((c) => c.id === id)?.agentId, teamOf: (agentId) => agentSettings.get(agentId)?.team ?? null,
        audit, log: log.child({ module: 'audit' }),
      },
      events,
      metrics,
      provisioning,
      audit,
      wrapUp: {
        setDisposition: (agentId, callId, d) => {
          // The agent's call in progress, or its last call while the CDR waits for the wrap-up's end.
          const live = calls.list().find((c) => c.id === callId);
          if ((live !== undefined ? live.agentId : calls.inWrapUp(callId)?.agent) !== agentId) return false;
          dispositions.set(callId, d);
          return true;
        },
        endWrapUp: (agentId) => desk.endWrapUp(agentId),
      },
      callerOf: (callId) => {
        const live = calls.list().find((c) => c.id === callId);
        if (live !== undefined) return { caller: live.caller, agent: live.agentId };
        const w = calls.inWrapUp(callId);
        return w === undefined ? undefined : { caller: w.caller, agent: w.agent };
      },
      reports: { run: (q, now) => reportQueries.run(q, now), schedule, ...(crm instanceof ShopCrmAdapter ? { orders: crm.store } : {}) },
      surge,
    }, {
      address: config.http.address, port: config.http.port, tokens: config.http.auth.tokens, openPaths: config.http.auth.openPaths,
      ...(config.http.tls !== null ? { tls: { cert: readFileSync(config.http.tls.certPath), key: readFileSync(config.http.tls.keyPath) } } : {}),
      users, maskNumbersFor: u.maskNumbersFor, unmaskRoles: u.unmaskRoles, desktop: config.desktop, sessionMaxAgeSeconds: u.sessionMaxHours * 3600, ui,
    });
    cleanups.push(() => api.close());

    const startDialers = (): void => {
      // No outbound trunk, nothing to dial through: an agent rung for a task could only be told trunk_error.
      if (config.outbound.trunks.length > 0) dialer.start();
      else log.info('no outbound trunk configured: callback tasks are kept, not dialled');
      if (config.outbound.trunks.length > 0) campaigns.start();
    };
    if (ha === null) startDialers();
    cleanups.push(() => dialer.stop());
    cleanups.push(() => campaigns.stop());
    if (ha !== null) {
      const pg = store as PgStore;
      // Fenced (issue 19): the new active owns every call now (its recovery made the waiting callers
      // callbacks): stop writing, dialling and delivering, and hang up; the gate already answers 503.
      onFenced = () => {
        clearInterval(heartbeat);
        dispatcher.stop();
        void dialer.stop();
        void campaigns.stop();
        void calls.drain(0);
      };
      // Taking the lease: the one recovery path, the do-not-call list and registrations as the old active left them, then the outbox and the dialers.
      ha.start(async () => {
        await recover();
        await pg.dnc.load();
        dispatcher.start();
        await registrar.restore();
        startHeartbeat();
        startDialers();
      });
    }
    if (users !== null) {
      log.info({ url: `${config.http.tls !== null ? 'https' : 'http'}://${api.address.includes(':') ? `[${api.address}]` : api.address}:${api.port}/`, users: u.accounts.map((a) => `${a.username} (${a.role})`).join(', '),
        // Clear-text passwords (the demo's) are printed only for an API on loopback: there they are a sign-in hint, not a leak.
        ...(isLoopback(api.address) && u.accounts.some((a) => a.password !== null)
          ? { passwords: u.accounts.filter((a) => a.password !== null).map((a) => `${a.username}/${a.password}`).join(' ') } : {}) },
        'agent desktop and wallboard: sign in with one of these users');
    }
    log.info({ sip: sipEndpoints.map((e) => `${e.transport.toLowerCase()}:${e.address}:${e.port}`), http: `${api.address}:${api.port}` }, 'onair engine started');

    let stopping: Promise<void> | undefined;
    return {
      sip: sipEndpoints,
      http: { address: api.address, port: api.port },
      calls, acd, store, registrar, desk, metrics, provisioning, audit, ha, work: scheduler ?? null,
      stop: (reason?: string) => {
        stopping ??= (async () => {
          draining = true;
          log.info({ reason, calls: calls.size }, 'draining');
          // Callbacks first: their attempts are recorded 'interrupted' while the store is open.
          await dialer.stop();
          await campaigns.stop();
          await calls.drain(config.shutdown.drainSeconds * 1000);
          // A node without the lease delivers nothing: it could not record the delivery, and the active delivers it.
          const drained = ha !== null && ha.writeEpoch() === null ? 'not the active node' : await dispatcher.drain(5000);
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

/** The shop's store: PostgreSQL by URL, else its SQLite file (default shop.db beside the engine's database). */
function shopStoreConfig(crm: { path: string | null; postgresUrl: string | null; poolSize: number }, databasePath: string): ShopStoreConfig {
  if (crm.postgresUrl !== null) return { kind: 'postgres', url: crm.postgresUrl, poolSize: crm.poolSize };
  if (crm.path !== null) return { kind: 'sqlite', path: crm.path };
  return { kind: 'sqlite', path: databasePath === ':memory:' ? ':memory:' : path.join(path.dirname(databasePath), 'shop.db') };
}

/** A call in progress or in its agent's wrap-up, as the shop's order entry needs it (agent, media source). */
function shopLiveCall(calls: CallController, callId: string): ShopLiveCall | undefined {
  const c = calls.list().find((x) => x.id === callId);
  if (c !== undefined) return { agent: c.agentId, caller: c.caller, programme: c.route.programme, airing: c.route.airing, customerId: c.customer.customerId };
  // Over, its agent in wrap-up (when orders are often entered): the CDR waiting for the wrap-up's end.
  const w = calls.inWrapUp(callId);
  return w === undefined ? undefined : { agent: w.agent, caller: w.caller, programme: w.programme, airing: w.airing, customerId: w.customerId };
}
