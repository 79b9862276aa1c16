/**
 * A rig for unit tests of call control without sockets or worker threads, made of the real parts
 * wherever a rule lives: the real SIP `UserAgent` and transaction layer over a recording wire, the
 * real ACD, the real SQLite store (in memory), the real trunk table and SDP negotiation. Only the
 * media pool is a fake (it records commands; the test says when a prompt ended or a digit came),
 * and one fake clock drives the UA, the controller and the ACD.
 *
 * ```
 *  test ──carrier()/phone()──▶ wire (parse) ──▶ UserAgent ──▶ CallController ──▶ Acd, Store
 *   ▲                                                              │
 *   └──────────── sent SIP, media commands, events ◀───────────────┘
 * ```
 */
import { pino } from 'pino';
import { Acd, type AcdConfig } from '../acd/index.ts';
import {
  UserAgent, createResponse, parse, parseUri, serialize,
  type Dialog, type Endpoint, type Inbound, type SipMessage, type SipRequest, type SipResponse, type TransportDelegate, type TransportLayer,
} from '../sip/index.ts';
import { FakeClock } from '../clock/index.ts';
import { openStore, type SqliteStore } from '../store/index.ts';
import { TrunkTable } from '../trunks/index.ts';
import { createOffer, negotiate, type ConferenceParty, type G711, type LegId, type Playlist } from '../../media/index.ts';
import { unknownCaller, type CallerInfo } from '../../crm-adapter/index.ts';
import type { OutboxItem as StoreOutboxItem } from '../store/index.ts';
import { CallController } from './controller.ts';
import { DEFAULT_QUEUE_CALL_SETTINGS } from './settings.ts';
import type { AgentDeskPort, CallbackOffers, CallControlEvent, CallMedia, CallsSettings, DeskAction, TrunkAdmission } from './types.ts';
import type { DialEvents, DialRequest, OutboundCall } from '../outbound/index.ts';
import type { CrmQuery } from './query.ts';
import type { CallMonitor } from './monitor.ts';

/** Phase changes (`from>to`) any rig of this process traced. */
export const PHASE_EDGES_SEEN = new Set<string>();

/** Epoch start of the rig's clock. */
export const T0 = Date.UTC(2026, 11, 6, 20, 0, 0);
/** The carrier's signalling address (the trunk admits it). */
export const CARRIER: Endpoint = { transport: 'UDP', address: '192.0.2.10', port: 5060 };
/** Where our UA listens. */
export const LOCAL: Endpoint = { transport: 'UDP', address: '127.0.0.1', port: 5060 };

/** One recorded send of the UA. */
export interface Sent {
  message: SipMessage;
  to: Endpoint;
}

/** The wire: records what the UA sends, hands it what the test sends. */
class Wire {
  readonly sent: Sent[] = [];
  delegate: TransportDelegate | undefined;
  send(message: SipMessage, to: Endpoint): Buffer {
    this.sent.push({ message, to });
    return serialize(message);
  }
  sendBytes(bytes: Buffer, to: Endpoint): boolean {
    const r = parse(bytes);
    if (r.ok) this.sent.push({ message: r.message, to });
    return true;
  }
  isReliable(): boolean {
    return false;
  }
  setDelegate(d: TransportDelegate): void {
    this.delegate = d;
  }
  observe(): void {}
  localFor(): Endpoint {
    return LOCAL;
  }
}

/** A recorded media command. */
export type MediaCall =
  | { op: 'allocate'; leg: LegId }
  | { op: 'play'; leg: LegId; playlist: Playlist; playId: number }
  | { op: 'setRemote'; leg: LegId }
  | { op: 'bridge'; a: LegId; b: LegId }
  | { op: 'release'; leg: LegId }
  | { op: 'unbridge'; leg: LegId }
  | { op: 'stop'; leg: LegId }
  | { op: 'recordStart' | 'recordStop' | 'recordPause' | 'recordResume' | 'leaveConference'; leg: LegId }
  | { op: 'conference'; parties: ConferenceParty[] };

/** A media pool that answers at once and records commands. */
export class FakeMedia implements CallMedia {
  delegate: CallMedia['delegate'] = undefined;
  readonly calls: MediaCall[] = [];
  /** Make the next allocate fail (no RTP port). */
  failNextAllocate = false;
  private nextLeg = 1;
  private nextPlay = 1;
  /** Last playId per leg. */
  readonly lastPlay = new Map<LegId, number>();

  async allocate(): ReturnType<CallMedia['allocate']> {
    if (this.failNextAllocate) {
      this.failNextAllocate = false;
      return { ok: false, code: 'MEDIA_ERR_NO_PORT', reason: 'no port' };
    }
    const n = this.nextLeg++;
    const leg = `leg${n}`;
    this.calls.push({ op: 'allocate', leg });
    return { ok: true, value: { leg, address: '127.0.0.1', port: 40_000 + 2 * n } };
  }
  async setRemote(leg: LegId): ReturnType<CallMedia['setRemote']> {
    this.calls.push({ op: 'setRemote', leg });
    return { ok: true, value: null };
  }
  async play(leg: LegId, playlist: Playlist): ReturnType<CallMedia['play']> {
    const playId = this.nextPlay++;
    this.lastPlay.set(leg, playId);
    this.calls.push({ op: 'play', leg, playlist, playId });
    // As the worker does (media/player/playback.ts): an empty playlist is finished at once, its
    // playbackDone sent before the reply.
    if (playlist.items.length === 0) this.delegate?.playbackDone?.(leg, playId, 'finished');
    return { ok: true, value: { playId } };
  }
  async stop(leg: LegId): ReturnType<CallMedia['stop']> {
    this.calls.push({ op: 'stop', leg });
    return { ok: true, value: null };
  }
  async bridge(a: LegId, b: LegId): ReturnType<CallMedia['bridge']> {
    this.calls.push({ op: 'bridge', a, b });
    return { ok: true, value: { transcoding: false } };
  }
  async unbridge(leg: LegId, then?: Playlist): ReturnType<CallMedia['unbridge']> {
    this.calls.push({ op: 'unbridge', leg });
    if (!then) return { ok: true, value: null };
    const playId = this.nextPlay++;
    this.lastPlay.set(leg, playId);
    this.calls.push({ op: 'play', leg, playlist: then, playId });
    return { ok: true, value: { playId } };
  }
  async release(leg: LegId): ReturnType<CallMedia['release']> {
    this.calls.push({ op: 'release', leg });
    return { ok: true, value: null };
  }
  async legStats(): ReturnType<CallMedia['legStats']> {
    return { ok: false, code: 'MEDIA_ERR_UNKNOWN_LEG', reason: 'fake' };
  }
  async recordStart(leg: LegId): ReturnType<CallMedia['recordStart']> {
    this.calls.push({ op: 'recordStart', leg });
    return { ok: true, value: null };
  }
  async recordStop(leg: LegId): ReturnType<CallMedia['recordStop']> {
    this.calls.push({ op: 'recordStop', leg });
    return { ok: true, value: { file: '', durationMs: 0, pausedMs: 0, bytes: 44, lateDrops: 0 } };
  }
  /** Clock of the fake recorder's pauses (a test sets its own). */
  recordClock: () => number = Date.now;
  private readonly pauses = new Map<LegId, { since: number | null; total: number }>();
  async recordPause(leg: LegId): ReturnType<CallMedia['recordPause']> {
    this.calls.push({ op: 'recordPause', leg });
    const p = this.pauses.get(leg) ?? { since: null, total: 0 };
    p.since ??= this.recordClock();
    this.pauses.set(leg, p);
    return { ok: true, value: { pausedMs: p.total } };
  }
  async recordResume(leg: LegId): ReturnType<CallMedia['recordResume']> {
    this.calls.push({ op: 'recordResume', leg });
    const p = this.pauses.get(leg) ?? { since: null, total: 0 };
    if (p.since !== null) p.total += this.recordClock() - p.since;
    p.since = null;
    this.pauses.set(leg, p);
    return { ok: true, value: { pausedMs: p.total } };
  }
  async conference(parties: ConferenceParty[]): ReturnType<CallMedia['conference']> {
    this.calls.push({ op: 'conference', parties });
    return { ok: true, value: null };
  }
  async leaveConference(leg: LegId): ReturnType<CallMedia['leaveConference']> {
    this.calls.push({ op: 'leaveConference', leg });
    return { ok: true, value: null };
  }
  /** Playlists sent to `leg`, oldest first. */
  plays(leg: LegId): Playlist[] {
    return this.calls.flatMap((c) => (c.op === 'play' && c.leg === leg ? [c.playlist] : []));
  }
  /** Prompt names of the last playlist of `leg`. */
  lastPrompts(leg: LegId): string[] {
    const p = this.plays(leg).at(-1);
    return p ? p.items.map((i) => (i.kind === 'prompt' ? i.name : i.kind === 'number' ? `#${i.value}` : `~${i.ms}`)) : [];
  }
  /** The current playback of `leg` ended. */
  done(leg: LegId): void {
    this.delegate?.playbackDone?.(leg, this.lastPlay.get(leg) ?? -1, 'finished');
  }
  digit(leg: LegId, d: string): void {
    this.delegate?.dtmf?.(leg, d, { startMs: 0, durationMs: 160, source: 'rfc4733' });
  }
}

/** Options of {@link CallRig}. */
export interface RigOptions {
  queues?: AcdConfig['queues'];
  settings?: Partial<CallsSettings>;
  earlyMedia?: boolean;
  /** Caller number → what the CRM says. */
  crm?: Record<string, Partial<CallerInfo>>;
  /** Default debug (phase trace on). */
  logLevel?: 'silent' | 'debug';
  /** Receives the log lines (JSON) at debug. */
  logLines?: string[];
  /** The callback port (engine/dialer), built with the rig (its `calls` is set once this returns). */
  callbacks?: (rig: CallRig) => CallbackOffers;
  /** Outbound trunks (API transfers to a number). */
  outbound?: FakeOutbound;
  /** The CRM query of a flow's query step (query.ts) and the prompt set it reads out from. */
  query?: CrmQuery;
  hasPrompt?: (name: string) => boolean;
  /** Supervisor monitoring, built with the rig (its `calls` is set once this returns). */
  monitor?: (rig: CallRig) => CallMonitor;
}

/**
 * Outbound trunks as call control sees them: each dial is kept for the test to answer, fail or end.
 * It keeps the dialer's event rules (engine/outbound dialer.ts, tested there): exactly one
 * `onFailed`, or `onAnswered` then one `onEnded`; `hangup()` while ringing fails it `cancelled`,
 * after the answer ends it `local`; nothing fires inside `dial()` or `hangup()`.
 */
export class FakeOutbound {
  readonly dials: { req: DialRequest; events: DialEvents; state: 'ringing' | 'answered' | 'over' }[] = [];

  dial(req: DialRequest, events: DialEvents): OutboundCall {
    const d = { req, events, state: 'ringing' as 'ringing' | 'answered' | 'over' };
    this.dials.push(d);
    return {
      hangup: () => {
        const was = d.state;
        if (was === 'over') return;
        d.state = 'over';
        queueMicrotask(() => {
          if (was === 'ringing') events.onFailed({ result: 'cancelled', status: null, trunk: 'carrier-out' });
          else events.onEnded?.('local');
        });
      },
    };
  }

  /** The customer answers dial `i` with a PCMU SDP. */
  answer(i: number): void {
    const d = this.dials[i]!;
    if (d.state !== 'ringing') return;
    d.state = 'answered';
    const sdp = ['v=0', 'o=c 1 1 IN IP4 192.0.2.50', 's=-', 'c=IN IP4 192.0.2.50', 't=0 0', 'm=audio 46000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000', ''].join('\r\n');
    d.events.onAnswered({ dialog: {} as Dialog, sdp: Buffer.from(sdp, 'latin1'), trunk: 'carrier-out' });
  }

  /** Dial `i` fails with `result` (busy, no_answer...). */
  fail(i: number, result: 'busy' | 'no_answer' = 'busy'): void {
    const d = this.dials[i]!;
    if (d.state !== 'ringing') return;
    d.state = 'over';
    d.events.onFailed({ result, status: result === 'busy' ? 486 : null, trunk: 'carrier-out' });
  }

  /** The answered customer hangs up. */
  hangUp(i: number): void {
    const d = this.dials[i]!;
    if (d.state !== 'answered') return;
    d.state = 'over';
    d.events.onEnded?.('remote');
  }
}

/** An agent's phone as the rig knows it. */
export interface Phone {
  agentId: string;
  extension: string;
  source: Endpoint;
}

/** The rig: build, drive, inspect. */
export class CallRig {
  readonly clock = new FakeClock(T0);
  readonly wire = new Wire();
  readonly ua: UserAgent;
  readonly acd: Acd;
  readonly media = new FakeMedia();
  readonly store: SqliteStore;
  readonly calls: CallController;
  readonly events: CallControlEvent[] = [];
  /** `media.firstPacket` latencies (ms), kept apart from `events`: tests compare those lists whole. */
  readonly firstMediaMs: number[] = [];
  /** `call.setupStages` events, kept apart from `events` for the same reason. */
  readonly setupStages: Extract<CallControlEvent, { type: 'call.setupStages' }>[] = [];
  readonly desk: (AgentDeskPort & { requests: { agentId: string; action: DeskAction }[] });
  readonly phones = new Map<string, Phone>();
  readonly settings: CallsSettings;
  private seq = 1;

  constructor(o: RigOptions = {}) {
    this.ua = new UserAgent(this.wire as unknown as TransportLayer, { clock: this.clock });
    this.acd = new Acd({
      queues: o.queues ?? [{ id: 'orders', wrapUpMs: 2000, ringTimeoutMs: 10_000 }],
      agents: [{ id: 'a1', skills: { orders: 50, service: 50 } }, { id: 'a2', skills: { orders: 50, service: 50 } }],
    });
    this.store = openStore({ path: ':memory:' });
    const queues: Record<string, CallsSettings['queues'][string]> = {};
    for (const q of o.queues ?? [{ id: 'orders' }]) queues[q.id] = { ...DEFAULT_QUEUE_CALL_SETTINGS };
    this.settings = {
      maxCalls: 10, retryAfterSeconds: 5,
      flows: { main: { id: 'main', steps: [{ type: 'play', prompts: ['welcome'] }, { type: 'queue', queue: 'orders', vipQueue: null }] } },
      numbers: {}, defaultRoute: { flow: 'main', programme: 'morning-show', airing: 'air-1' }, defaultCallbackQueue: 'orders',
      language: 'en', lookupDeadlineMs: 300, blacklistAction: 'reject-603', queues,
      featureCodes: { '*60': 'login', '*61': 'ready', '*62': 'notReady', '*63': 'logout' }, rtpTimeoutMs: 0, vipPriority: true,
      refusals: { recordsPerSecond: 1, burst: 2, dedupeMs: 60_000 },
      ...o.settings,
    };
    const trunks = new TrunkTable([{ id: 'carrier', name: 'Carrier', allow: [`${CARRIER.address}/32`], callerFrom: 'from', dialledFrom: 'ruri' }]);
    const acd = this.acd;
    const requests: { agentId: string; action: DeskAction }[] = [];
    // The desk's rules are engine/desk's (contract C2); here it applies the action to the real ACD.
    const desk = {
      requests,
      request: (agentId: string, action: DeskAction) => {
        requests.push({ agentId, action });
        const now = this.clock.now();
        const effects = action === 'ready' ? [...acd.agentLoggedIn(agentId, now), ...acd.setAgentStatus(agentId, 'available', null, now)]
          : action === 'notReady' ? acd.setAgentStatus(agentId, 'notReady', 'phone', now)
            : action === 'login' ? acd.agentLoggedIn(agentId, now) : acd.agentLoggedOut(agentId, now);
        const err = effects.find((e) => e.type === 'error');
        this.calls.apply(effects);
        return err && err.type === 'error' ? { ok: false as const, code: err.code, message: err.message } : { ok: true as const };
      },
    };
    this.desk = desk;
    // Debug by default: every phase change is traced, and the edges seen are kept for the test
    // that checks every edge of the phase table is one call control really takes.
    const log = o.logLevel === 'silent'
      ? pino({ level: 'silent' })
      : pino({ level: 'debug' }, {
        write: (line: string) => {
          o.logLines?.push(line);
          const l = JSON.parse(line) as { msg?: string; from?: string; to?: string };
          if (l.msg === 'call phase') PHASE_EDGES_SEEN.add(`${l.from}>${l.to}`);
        },
      });
    const crm = o.crm ?? {};
    this.calls = new CallController({
      ua: this.ua, acd, media: this.media, store: this.store, log, clock: this.clock, desk,
      settings: this.settings,
      lookup: { lookup: async (n) => ({ ...unknownCaller(), ...(Object.hasOwn(crm, n) ? crm[n] : {}) }) },
      trunks: {
        admit: (invite): TrunkAdmission | undefined => {
          const r = trunks.admitInvite(invite);
          if (!r.ok) return undefined;
          return {
            trunkId: r.trunk.id, caller: r.caller, dialled: r.dialled, earlyMedia: o.earlyMedia ?? false, answerAfterMs: 5000,
            inbandDtmf: false, codecs: ['PCMU', 'PCMA'],
          };
        },
      },
      agents: {
        contacts: (id) => {
          const p = this.phones.get(id);
          return p ? [{ uri: parseUri(`sip:${p.extension}@${p.source.address}:${p.source.port}`)!, source: p.source }] : [];
        },
        agentByExtension: (ext) => [...this.phones.values()].find((p) => p.extension === ext)?.agentId,
        isAgentSource: (id, src) => {
          const p = this.phones.get(id);
          return p !== undefined && sameSource(p.source, src);
        },
        isPhoneSource: (src) => [...this.phones.values()].some((p) => sameSource(p.source, src)),
      },
      observe: (e) => {
        if (e.type === 'media.firstPacket') this.firstMediaMs.push(e.latencyMs);
        else if (e.type === 'call.setupStages') this.setupStages.push(e);
        else if (e.type !== 'acd.decision') this.events.push(e);
      },
      ...(o.callbacks ? { callbacks: o.callbacks(this) } : {}),
      ...(o.outbound ? { outbound: o.outbound } : {}),
      ...(o.query ? { query: o.query } : {}), ...(o.hasPrompt ? { hasPrompt: o.hasPrompt } : {}),
      ...(o.monitor ? { monitor: o.monitor(this) } : {}),
    });
    // As engine.ts wires it: new INVITEs to call control.
    this.ua.setDelegate({ onInvite: (invite) => this.calls.onInvite(invite) });
  }

  /** Register an agent's phone and make the agent available. */
  agent(agentId: string, extension: string, port: number, available = true): Phone {
    const p: Phone = { agentId, extension, source: { transport: 'UDP', address: '198.51.100.7', port } };
    this.phones.set(agentId, p);
    const now = this.clock.now();
    this.calls.apply(this.acd.agentLoggedIn(agentId, now));
    if (available) this.calls.apply(this.acd.setAgentStatus(agentId, 'available', null, now));
    return p;
  }

  /** Hand the UA a message from `source`. */
  deliver(message: SipMessage | string, source: Endpoint, readAt?: number): void {
    const m = parseText(typeof message === 'string' ? message : serialize(message).toString('latin1'));
    if (!m) throw new Error('rig: message does not parse');
    const inbound: Inbound = { message: m, source, local: LOCAL, ...(readAt === undefined ? {} : { readAt }) };
    this.wire.delegate!.onMessage(inbound);
  }

  /** An INVITE from the carrier (or from `source`), with an SDP offer unless `sdp` is false. */
  invite(o: { from?: string; to?: string; ruri?: string; source?: Endpoint; sdp?: boolean; callId?: string; readAt?: number } = {}): { callId: string; request: SipRequest } {
    const n = this.seq++;
    const callId = o.callId ?? `carrier-${n}@192.0.2.10`;
    const src = o.source ?? CARRIER;
    const sdp = o.sdp === false ? '' : createOffer({ address: '192.0.2.20', port: 30_000 + 2 * n, codecs: ['PCMU'], dtmf: true });
    const ruri = o.ruri ?? `sip:${o.to ?? '8001'}@127.0.0.1`;
    const text = [
      `INVITE ${ruri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${src.address}:${src.port};branch=z9hG4bK-inv-${n}`,
      `From: <sip:${o.from ?? '+41791234567'}@${src.address}>;tag=ft${n}`,
      `To: <sip:${o.to ?? '8001'}@127.0.0.1>`,
      `Call-ID: ${callId}`,
      'CSeq: 1 INVITE',
      `Contact: <sip:carrier@${src.address}:${src.port}>`,
      'Max-Forwards: 70',
      ...(sdp ? ['Content-Type: application/sdp'] : []),
      `Content-Length: ${Buffer.byteLength(sdp)}`,
      '',
      sdp,
    ].join('\r\n');
    const m = parseText(text);
    if (!m || m.kind !== 'request') throw new Error('rig: INVITE does not parse');
    this.deliver(m, src, o.readAt);
    return { callId, request: m };
  }

  /** Final responses the UA sent for an INVITE of Call-ID `callId`, oldest first. */
  responses(callId: string): SipResponse[] {
    return this.wire.sent.flatMap((s) => (s.message.kind === 'response' && s.message.headers.callId === callId ? [s.message] : []));
  }

  /** The status of the last response to `callId`. */
  lastStatus(callId: string): number | undefined {
    return this.responses(callId).at(-1)?.status;
  }

  /** An in-dialog request from the carrier for the call answered 200 on `callId`. */
  inDialog(callId: string, method: string, o: { contentType?: string; body?: string; cseq?: number } = {}): void {
    const ok = this.responses(callId).find((r) => r.status === 200 && r.headers.cseq.method === 'INVITE');
    if (!ok) throw new Error(`rig: ${callId} was not answered`);
    const n = this.seq++;
    const toTag = ok.headers.to.params.get('tag');
    const fromTag = ok.headers.from.params.get('tag');
    const body = o.body ?? '';
    const text = [
      `${method} sip:onair@127.0.0.1:5060 SIP/2.0`,
      `Via: SIP/2.0/UDP ${CARRIER.address}:${CARRIER.port};branch=z9hG4bK-dlg-${n}`,
      `From: ${ok.headers.from.uri.user ? `<sip:${ok.headers.from.uri.user}@${CARRIER.address}>` : '<sip:x@x>'};tag=${fromTag}`,
      `To: <sip:8001@127.0.0.1>;tag=${toTag}`,
      `Call-ID: ${callId}`,
      `CSeq: ${o.cseq ?? 10 + n} ${method}`,
      'Max-Forwards: 70',
      ...(o.contentType ? [`Content-Type: ${o.contentType}`] : []),
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
      '',
      body,
    ].join('\r\n');
    this.deliver(text, CARRIER);
  }

  /** Responses the UA sent to in-dialog requests of `method` on `callId`. */
  dialogResponses(callId: string, method: string): number[] {
    return this.responses(callId).filter((r) => r.headers.cseq.method === method).map((r) => r.status);
  }

  /** INVITEs the UA sent to agent phones, oldest first. */
  agentInvites(): SipRequest[] {
    return this.wire.sent.flatMap((s) => (s.message.kind === 'request' && s.message.method === 'INVITE' ? [s.message] : []));
  }

  /** The phone answers the INVITE `request` (200 with an SDP answer made by the real negotiate()). */
  phoneAnswers(request: SipRequest, phone: Phone, codec: G711 = 'PCMU'): void {
    const neg = negotiate(request.body.toString('latin1'), { address: phone.source.address, port: 50_000, codecs: [codec], dtmf: true });
    if (!neg.ok) throw new Error(`rig: phone cannot answer: ${neg.reason}`);
    const toTag = this.phoneTags.get(request.headers.callId) ?? `pt${this.seq++}`;
    this.phoneTags.set(request.headers.callId, toTag);
    const res = createResponse(request, 200, undefined, {
      toTag, headers: [{ name: 'Contact', value: `<sip:${phone.extension}@${phone.source.address}:${phone.source.port}>` }],
      body: Buffer.from(neg.answer, 'latin1'), contentType: 'application/sdp',
    });
    this.deliver(res, phone.source);
  }

  /** The phone rings (180 with its tag): from then on a CANCEL may go out (RFC 3261 §9.1). */
  phoneRings(request: SipRequest, phone: Phone): void {
    const toTag = `pt${this.seq++}`;
    this.phoneTags.set(request.headers.callId, toTag);
    this.deliver(createResponse(request, 180, undefined, { toTag }), phone.source);
  }

  /** The phone rejects the INVITE `request` with `status`. */
  phoneRejects(request: SipRequest, phone: Phone, status = 486): void {
    this.deliver(createResponse(request, status, undefined, { toTag: `pt${this.seq++}` }), phone.source);
  }

  /** The agent hangs up the answered call of agent INVITE `request`. */
  phoneHangsUp(request: SipRequest, phone: Phone): void {
    // BYE from the phone: To = our From (with our tag), From = the phone's To with its tag.
    const ourTag = request.headers.from.params.get('tag');
    const theirTag = this.phoneTags.get(request.headers.callId);
    const n = this.seq++;
    const text = [
      `BYE sip:onair@127.0.0.1:5060 SIP/2.0`,
      `Via: SIP/2.0/UDP ${phone.source.address}:${phone.source.port};branch=z9hG4bK-pbye-${n}`,
      `From: <sip:${phone.extension}@onair.invalid>;tag=${theirTag}`,
      `To: <sip:caller@onair.invalid>;tag=${ourTag}`,
      `Call-ID: ${request.headers.callId}`,
      `CSeq: ${100 + n} BYE`,
      'Max-Forwards: 70',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    this.deliver(text, phone.source);
  }

  /**
   * A carrier call through the welcome prompt to `phone`, which answers: the caller's SIP Call-ID,
   * our call id, the caller leg and the agent INVITE (the first call of the rig).
   */
  async answeredCall(phone: Phone): Promise<{ sip: string; callId: string; leg: LegId; inv: SipRequest }> {
    const { callId: sip } = this.invite();
    await this.settle();
    const leg = this.callerLeg(0);
    this.media.done(leg);
    await this.settle();
    const callId = this.of('call.arrived')[0]!.callId;
    const inv = this.agentInvites().at(-1)!;
    this.phoneAnswers(inv, phone);
    await this.settle();
    return { sip, callId, leg, inv };
  }

  /** An in-dialog request (REFER, re-INVITE...) from the phone on the answered dialog of agent INVITE `request`. */
  phoneRequest(request: SipRequest, phone: Phone, method: string, headers: string[] = [], body = ''): void {
    const ourTag = request.headers.from.params.get('tag');
    const theirTag = this.phoneTags.get(request.headers.callId);
    const n = this.seq++;
    this.deliver([
      `${method} sip:onair@127.0.0.1:5060 SIP/2.0`,
      `Via: SIP/2.0/UDP ${phone.source.address}:${phone.source.port};branch=z9hG4bK-preq-${n}`,
      `From: <sip:${phone.extension}@onair.invalid>;tag=${theirTag}`,
      `To: <sip:caller@onair.invalid>;tag=${ourTag}`,
      `Call-ID: ${request.headers.callId}`,
      `CSeq: ${100 + n} ${method}`,
      `Contact: <sip:${phone.extension}@${phone.source.address}:${phone.source.port}>`,
      'Max-Forwards: 70',
      ...headers,
      `Content-Length: ${Buffer.byteLength(body, 'latin1')}`,
      '',
      body,
    ].join('\r\n'), phone.source);
  }

  private readonly phoneTags = new Map<string, string>();

  /** Let promises and the store's group commit run; the carrier ACKs each 200 to its INVITEs (as a carrier does). */
  async settle(): Promise<void> {
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      this.ackCarrier();
    }
  }

  private readonly acked = new Set<string>();

  /** The carrier will never ACK the 200 of this Call-ID (a peer that does not confirm its call). */
  withholdAck(callId: string): void {
    this.acked.add(callId);
  }

  private ackCarrier(): void {
    for (const s of this.wire.sent) {
      const m = s.message;
      if (m.kind !== 'response' || m.status !== 200 || m.headers.cseq.method !== 'INVITE' || s.to.address !== CARRIER.address) continue;
      if (this.acked.has(m.headers.callId)) continue;
      this.acked.add(m.headers.callId);
      const from = m.headers.get('from')!;
      const to = m.headers.get('to')!;
      this.deliver([
        `ACK sip:onair@127.0.0.1:5060 SIP/2.0`,
        `Via: SIP/2.0/UDP ${CARRIER.address}:${CARRIER.port};branch=z9hG4bK-ack-${this.seq++}`,
        `From: ${from}`, `To: ${to}`, `Call-ID: ${m.headers.callId}`, 'CSeq: 1 ACK', 'Max-Forwards: 70', 'Content-Length: 0', '', '',
      ].join('\r\n'), CARRIER);
    }
  }

  /** Advance the fake clock (timers fire: ACD deadlines, menu timeouts, SIP timers), then settle. */
  async advance(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.settle();
  }

  /** The caller leg of the n-th call (legs are numbered in allocation order). */
  callerLeg(n = 0): LegId {
    const allocs = this.media.calls.filter((c) => c.op === 'allocate');
    return allocs[n]!.leg;
  }

  /** Outbox items of one call, as `type` names (`cdr` for the CDR). */
  async outbox(callId: string): Promise<StoreOutboxItem[]> {
    await this.settle();
    return this.store.outbox.listCall(callId);
  }

  /** Events of one type. */
  of<T extends CallControlEvent['type']>(type: T): Extract<CallControlEvent, { type: T }>[] {
    return this.events.filter((e): e is Extract<CallControlEvent, { type: T }> => e.type === type);
  }

  async close(): Promise<void> {
    // drain() waits on the fake clock: let its deadline pass.
    const drained = this.calls.drain(0);
    this.clock.advance(0);
    await drained;
    this.ua.close();
    await this.store.close();
  }
}

function sameSource(a: Endpoint, b: Endpoint): boolean {
  return a.transport === b.transport && a.address === b.address && a.port === b.port;
}

function parseText(text: string): SipMessage | undefined {
  const r = parse(Buffer.from(text, 'latin1'));
  return r.ok ? r.message : undefined;
}
