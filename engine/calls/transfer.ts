/**
 * Transfers of an answered inbound call (issue 16): the rules of a REFER from an agent's phone
 * (RFC 3515), the NOTIFY progress it is owed, and each call's leg history for the CDR (contract
 * C1). Call control (controller.ts) calls in at a few hooks; everything a peer can send is checked
 * here first and refused with the RFC's status, counted, never thrown.
 *
 * ```
 *  agent phone                         onair (B2BUA)                       carrier (caller)
 *      │ REFER Refer-To: <sip:service@…>  │                                    │
 *      │─────────────────────────────────▶│ checkRefer: agent leg? talking?   │
 *      │◀──────────────── 202 Accepted ───│ target in the number plan?        │
 *      │◀── NOTIFY sipfrag "100 Trying" ──│ acd.transfer (priority, arrival   │
 *      │                                   │ kept) ─▶ hold music of the queue ─▶│ (stays up)
 *      │◀── NOTIFY sipfrag "200 OK" ──────│  Subscription-State: terminated   │
 *      │─────────────────────── BYE ──────▶│  next agent ◀─ offer ─ ACD        │
 * ```
 *
 * Addressing rule (docs/transfer.md): the Refer-To user part, %-unescaped, names
 * 1. a queue id (`sip:service@onair`), else
 * 2. a number of the number plan: the queue its flow reaches without input (`sip:200@onair`), else
 * 3. an agent's extension (`sip:1006@onair`): that agent alone, by the API's rules (registered,
 *    available and idle now), else
 * 4. a telephone number (`sip:+8613800000001@onair`, `sip:013800000001@onair`) dialled through the
 *    outbound trunks, when there are any (the API's `number` target).
 * The host part is ignored (the phone knows the engine by any address); the carrier never sees
 * the REFER, it keeps talking to onair.
 */
import type { CdrLeg } from '../../crm-adapter/index.ts';
import { parseNameAddr, unescapeUri } from '../sip/index.ts';
import type { Dialog, HeaderField } from '../sip/index.ts';
import type { CallUserAgent, Flow, NumberRoute } from './types.ts';
import { defaultQueueOf } from './media-admission.ts';
import { REPLACES_MISMATCH_STATUS, replacesInUri, type Replaces } from './attended.ts';

/** Why a REFER was refused; each is counted in {@link Transfers.refused}. */
export type TransferRefusal =
  /** No Refer-To, more than one, one that does not parse, or a malformed Replaces in it (RFC 3515 §2.4.1: 400). */
  | 'malformed'
  /** A REFER in the carrier's dialog: the carrier never transfers our caller (603). */
  | 'notAgent'
  /** A REFER on an agent dialog that is no longer the call's (after a transfer): 481. */
  | 'staleDialog'
  /** The call is not in a conversation (already being moved): 491 would invite a retry; 603. */
  | 'notTalking'
  /** Refer-To with a non-SIP scheme (`tel:`): not a transfer we do (488). */
  | 'unsupported'
  /** A Replaces naming no consultation dialog of this call (RFC 3891 §3: 481). */
  | 'replacesNoDialog'
  /** A Replaces with `early-only` naming a confirmed consultation dialog (RFC 3891 §3: 486). */
  | 'replacesNotEarly'
  /** The Refer-To user is no queue and no number of the plan (603). */
  | 'unknownTarget'
  /** The call is in that queue already, or was transferred too often: a loop (603). */
  | 'loop'
  /** The agent named by extension is not registered, available and idle now (486). */
  | 'targetBusy'
  /** A number, but no outbound trunk to dial it through, or no media leg for it (503). */
  | 'cannotDial';

/** The SIP answer to each refusal (RFC 3515 §2.4.2, RFC 3261 §21). */
export const REFUSAL_STATUS: Readonly<Record<TransferRefusal, { status: number; reason: string }>> = {
  malformed: { status: 400, reason: 'Bad Refer-To' },
  notAgent: { status: 603, reason: 'Transfer Not Allowed' },
  staleDialog: { status: 481, reason: 'Call/Transaction Does Not Exist' },
  notTalking: { status: 603, reason: 'Not In Conversation' },
  unsupported: { status: 488, reason: 'Transfer Kind Not Supported' },
  replacesNoDialog: REPLACES_MISMATCH_STATUS.noDialog,
  replacesNotEarly: REPLACES_MISMATCH_STATUS.notEarly,
  unknownTarget: { status: 603, reason: 'Unknown Transfer Target' },
  loop: { status: 603, reason: 'Transfer Loop' },
  targetBusy: { status: 486, reason: 'Transfer Target Busy' },
  cannotDial: { status: 503, reason: 'Cannot Dial Out' },
};

/** Most transfers of one call: beyond this a REFER is a loop (two agents passing a caller back and forth). */
export const MAX_TRANSFERS = 8;

/** What a REFER asks for, once checked. */
export type ReferVerdict =
  | { ok: true; kind: 'blind'; queue: string; referredBy: string | null }
  /** A blind transfer to an agent's extension or a number: the API's rules and path ({@link checkApiTransfer}). */
  | { ok: true; kind: 'direct'; target: { agent: string } | { number: string }; referredBy: string | null }
  /** Completion of the call's consultation (attended transfer): the Replaces names its dialog, consult.ts matches it. */
  | { ok: true; kind: 'attended'; replaces: Replaces }
  /** `attended`: a REFER with Replaces (counted under that kind). */
  | { ok: false; refusal: TransferRefusal; attended?: true };

/** What {@link checkRefer} needs to know about the call and the engine. */
export interface ReferContext {
  referTo: readonly string[];
  referredBy: string | undefined;
  /** The REFER came in the call's current agent dialog. */
  fromCurrentAgent: boolean;
  /** The REFER came in an agent dialog of this call at all (current or an earlier one). */
  fromAgent: boolean;
  talking: boolean;
  /** The call's agent is consulting another agent (consult.ts): only a Replaces completes it, a blind REFER is refused. */
  consulting?: boolean;
  currentQueue: string | null;
  transfers: number;
  queues: Readonly<Record<string, unknown>>;
  numbers: Readonly<Record<string, NumberRoute>>;
  flows: Readonly<Record<string, Flow>>;
  vip: boolean;
  now: number;
  /** The agent whose extension `user` is, if any. */
  agentOfExtension?(user: string): string | undefined;
  /** An outbound trunk exists (a number can be dialled). */
  canDial?: boolean;
}

/** A telephone number as a phone's Refer-To user part carries it: digits, an optional leading `+`. */
const DIALLABLE = /^\+?[0-9]{3,20}$/;

/** The longest Refer-To we look at; a longer one is malformed (a phone's is under 200 bytes). */
const MAX_REFER_TO = 512;

/** Decide a REFER (pure: the controller acts on the verdict). */
export function checkRefer(c: ReferContext): ReferVerdict {
  if (!c.fromAgent) return { ok: false, refusal: 'notAgent' };
  if (!c.fromCurrentAgent) return { ok: false, refusal: 'staleDialog' };
  // RFC 3515 §2.4.1: exactly one Refer-To.
  if (c.referTo.length !== 1 || c.referTo[0]!.length > MAX_REFER_TO) return { ok: false, refusal: 'malformed' };
  const na = parseNameAddr(c.referTo[0]!);
  if (!na) return { ok: false, refusal: 'malformed' };
  if (na.uri.scheme !== 'sip' && na.uri.scheme !== 'sips') return { ok: false, refusal: 'unsupported' };
  // Replaces (RFC 3891) makes it an attended transfer: a malformed one is a bad Refer-To (400); a
  // well-formed one names a consultation dialog (consult.ts matches it; the user part is not
  // looked at: the dialog names the consulted agent).
  const replaces = replacesInUri(na.uri);
  if (replaces.kind === 'malformed') return { ok: false, refusal: 'malformed', attended: true };
  if (replaces.kind === 'replaces') {
    if (!c.talking) return { ok: false, refusal: 'notTalking', attended: true };
    return { ok: true, kind: 'attended', replaces: replaces.replaces };
  }
  if (!c.talking || c.consulting === true) return { ok: false, refusal: 'notTalking' };
  const user = unescapeUri(na.uri.user);
  if (user.length === 0) return { ok: false, refusal: 'malformed' };
  const by = c.referredBy?.trim();
  const referredBy = by !== undefined && by.length > 0 && by.length <= MAX_REFER_TO ? by : null;
  const queue = resolveQueue(user, c);
  if (queue === null) {
    if (c.transfers >= MAX_TRANSFERS) return { ok: false, refusal: 'loop' };
    const agent = c.agentOfExtension?.(user);
    if (agent !== undefined) return { ok: true, kind: 'direct', target: { agent }, referredBy };
    if (DIALLABLE.test(user)) return c.canDial === true ? { ok: true, kind: 'direct', target: { number: user }, referredBy } : { ok: false, refusal: 'cannotDial' };
    return { ok: false, refusal: 'unknownTarget' };
  }
  if (queue === c.currentQueue || c.transfers >= MAX_TRANSFERS) return { ok: false, refusal: 'loop' };
  return { ok: true, kind: 'blind', queue, referredBy };
}

/** The addressing rule: a queue id, else a number of the plan (its flow's queue without input). */
function resolveQueue(user: string, c: ReferContext): string | null {
  if (Object.hasOwn(c.queues, user)) return user;
  const route = Object.hasOwn(c.numbers, user) ? c.numbers[user] : undefined;
  if (!route) return null;
  return defaultQueueOf(c.flows, route.flow, c.vip, c.now);
}

// ---- transfers from the API (POST /api/v1/calls/:id/transfer) ----------------------------------

/** Where an API transfer sends the caller (docs/transfer.md, "From the API"). */
export type ApiTransferTarget = { queue: string } | { agent: string } | { number: string };

/**
 * The kinds of transfer counted in `onair_transfers_total{kind}`; `conference` counts a call's
 * agent joining the caller to its consultation (a three-way conference, conference.ts).
 */
export type TransferKind = 'blind' | 'attended' | 'api_queue' | 'api_agent' | 'api_external' | 'conference';

/** How a transfer ended, for `onair_transfers_total{result}`: done, tried and failed, or refused before anything moved. */
export type TransferResult = 'ok' | 'failed' | 'refused';

/** Every kind and result, so the metric has each series from the start. */
export const TRANSFER_KINDS: readonly TransferKind[] = ['blind', 'attended', 'api_queue', 'api_agent', 'api_external', 'conference'];
export const TRANSFER_RESULTS: readonly TransferResult[] = ['ok', 'failed', 'refused'];

/** Stable refusal codes of an API transfer (mapped to HTTP by the route). */
export type ApiTransferRefusal =
  | 'CALLS_ERR_NO_CALL' // no call in progress with this id (404)
  | 'CALLS_ERR_NOT_TALKING' // not bridged to an agent (409)
  | 'CALLS_ERR_UNKNOWN_TARGET' // no such queue or agent (404 would hide the call's existence from nobody: 409)
  | 'CALLS_ERR_AGENT_BUSY' // the named agent is not registered, available and idle now (409)
  | 'CALLS_ERR_LOOP' // the queue the call is in, the agent it is with, or too many transfers (409)
  | 'CALLS_ERR_NO_PHONE' // no outbound trunk to dial a number through (503)
  | 'CALLS_ERR_MEDIA'; // no media leg for the external party (503)

/** The answer of an API transfer: what was started, or a refusal. */
export type ApiTransferAnswer =
  | { ok: true; kind: Exclude<TransferKind, 'blind' | 'attended'>; queue: string | null; agent: string | null; number: string | null }
  | { ok: false; code: ApiTransferRefusal; message: string };

/** What {@link checkApiTransfer} needs to know (pure: the controller acts on the verdict). */
export interface ApiTransferContext {
  target: ApiTransferTarget;
  talking: boolean;
  currentQueue: string | null;
  currentAgent: string | null;
  transfers: number;
  queues: Readonly<Record<string, unknown>>;
  /** The named agent's state in the ACD and whether its phone is registered; undefined for no such agent. */
  agent(agentId: string): { free: boolean } | undefined;
  /** An outbound trunk exists. */
  canDial: boolean;
}

/** A checked API transfer. */
export type ApiTransferVerdict =
  | { ok: true; kind: 'api_queue'; queue: string }
  | { ok: true; kind: 'api_agent'; agent: string; queue: string }
  | { ok: true; kind: 'api_external'; number: string }
  | { ok: false; kind: TransferKind; code: ApiTransferRefusal; message: string };

/**
 * The rules of an API transfer (docs/transfer.md):
 * - queue: a queue of the configuration other than the call's; the caller keeps its priority and
 *   original arrival (the REFER path's `acd.transfer`);
 * - agent: an agent who is registered, available and idle now (else refused: the call stays with
 *   its agent); offered to that agent alone; if it declines or does not answer in the queue's ring
 *   timeout, the caller waits at the head of the call's current queue;
 * - number: dialled through the outbound trunks; on answer the caller is bridged to it; on failure
 *   the caller goes back to the queue (priority and arrival kept).
 * In every case the transferring agent's leg is released at once (blind transfer) and it goes to wrap-up.
 */
export function checkApiTransfer(c: ApiTransferContext): ApiTransferVerdict {
  const kind: TransferKind = 'queue' in c.target ? 'api_queue' : 'agent' in c.target ? 'api_agent' : 'api_external';
  const refuse = (code: ApiTransferRefusal, message: string): ApiTransferVerdict => ({ ok: false, kind, code, message });
  if (!c.talking || c.currentQueue === null) return refuse('CALLS_ERR_NOT_TALKING', 'the call is not talking to an agent');
  if (c.transfers >= MAX_TRANSFERS) return refuse('CALLS_ERR_LOOP', `the call was transferred ${c.transfers} times already`);
  if ('queue' in c.target) {
    const queue = c.target.queue;
    if (!Object.hasOwn(c.queues, queue)) return refuse('CALLS_ERR_UNKNOWN_TARGET', `no queue ${queue}`);
    if (queue === c.currentQueue) return refuse('CALLS_ERR_LOOP', `the call is in queue ${queue} already`);
    return { ok: true, kind: 'api_queue', queue };
  }
  if ('agent' in c.target) {
    const agent = c.target.agent;
    if (agent === c.currentAgent) return refuse('CALLS_ERR_LOOP', `the call is with agent ${agent} already`);
    const a = c.agent(agent);
    if (a === undefined) return refuse('CALLS_ERR_UNKNOWN_TARGET', `no agent ${agent}`);
    if (!a.free) return refuse('CALLS_ERR_AGENT_BUSY', `agent ${agent} is not registered, available and idle`);
    return { ok: true, kind: 'api_agent', agent, queue: c.currentQueue };
  }
  if (!c.canDial) return refuse('CALLS_ERR_NO_PHONE', 'no outbound trunk to dial a number through');
  return { ok: true, kind: 'api_external', number: c.target.number };
}

/** The call's transfer and hold book (the CDR's `legs`, `transfers`, `holdMs`). */
interface Book {
  legs: CdrLeg[];
  transfers: number;
  /** The Referred-By of the last transfer, passed on to the next agent's INVITE (RFC 3892). */
  referredBy: string | null;
  holdMs: number;
  heldSince: number | null;
  /** A transfer to a named agent whose offer is out: its answer makes it `ok`, anything else `failed`. */
  awaiting: string | null;
  /** How that transfer is counted: `api_agent` from the API, `blind` from a phone's REFER. */
  awaitingKind: TransferKind;
}

/** Counters of REFER outcomes (by refusal), read by metrics and tests. */
export type TransferCounters = Record<TransferRefusal | 'accepted', number>;

/** Transfers by kind and result (`onair_transfers_total`). */
export type TransferOutcomes = Record<TransferKind, Record<TransferResult, number>>;

function zeroOutcomes(): TransferOutcomes {
  const out = {} as TransferOutcomes;
  for (const k of TRANSFER_KINDS) out[k] = { ok: 0, failed: 0, refused: 0 };
  return out;
}

/** The per-call books and the counters; owned by one controller. */
export class Transfers {
  private readonly books = new Map<string, Book>();
  readonly counters: TransferCounters = {
    accepted: 0, malformed: 0, notAgent: 0, staleDialog: 0, notTalking: 0, unsupported: 0, replacesNoDialog: 0, replacesNotEarly: 0,
    unknownTarget: 0, loop: 0, targetBusy: 0, cannotDial: 0,
  };
  /** Every transfer by kind and result (REFERs and API transfers). */
  readonly outcomes: TransferOutcomes = zeroOutcomes();

  /** Count one transfer's outcome. */
  counted(kind: TransferKind, result: TransferResult): void {
    this.outcomes[kind][result]++;
  }

  private book(callId: string): Book {
    let b = this.books.get(callId);
    if (!b) {
      b = { legs: [], transfers: 0, referredBy: null, holdMs: 0, heldSince: null, awaiting: null, awaitingKind: 'api_agent' };
      this.books.set(callId, b);
    }
    return b;
  }

  /** Transfers so far of the call. */
  transfers(callId: string): number {
    return this.books.get(callId)?.transfers ?? 0;
  }

  /** Count a refusal of a REFER (`attended`: it carried Replaces). */
  refused(refusal: TransferRefusal, attended = false): void {
    this.counters[refusal]++;
    this.counted(attended ? 'attended' : 'blind', 'refused');
  }

  /** The external party answered: its leg starts. */
  externalLegStarted(callId: string, number: string, now: number): void {
    this.book(callId).legs.push({ kind: 'external', agent: null, number, queue: null, startedAt: now, endedAt: null, endedBy: 'hangup' });
  }

  /** The external number was not reached: a leg of no length, ended `failed` (the caller goes back to the queue). */
  externalFailed(callId: string, number: string, now: number): void {
    this.book(callId).legs.push({ kind: 'external', agent: null, number, queue: null, startedAt: now, endedAt: now, endedBy: 'failed' });
  }

  /** The consulted agent answered (consult.ts): the consultation's leg starts (agent A with it, the caller held). */
  consultLegStarted(callId: string, agent: string, queue: string | null, now: number): void {
    this.book(callId).legs.push({ kind: 'consult', agent, number: null, queue, startedAt: now, endedAt: null, endedBy: 'hangup' });
  }

  /** The consulted agent was not reached (declined, no answer, no media): a leg of no length, ended `failed`. */
  consultFailed(callId: string, agent: string, queue: string | null, now: number): void {
    this.book(callId).legs.push({ kind: 'consult', agent, number: null, queue, startedAt: now, endedAt: now, endedBy: 'failed' });
  }

  /** The consultation ended without completion (cancelled, the consulted agent hung up): its leg ends, the call's agent's goes on. */
  consultLegEnded(callId: string, now: number): void {
    const leg = this.books.get(callId)?.legs.findLast((l) => l.kind === 'consult' && l.endedAt === null);
    if (leg === undefined) return;
    leg.endedAt = now;
    leg.endedBy = 'hangup';
  }

  /**
   * The call's agent joined the caller to its consultation (conference.ts): the consultation's leg
   * ends (passed on: `transfer`), the caller's hold ends, and a `conference` leg of the three starts
   * (its `agent` the consulted one; the call's agent's own leg goes on).
   */
  conferenceStarted(callId: string, agent: string, queue: string | null, now: number): void {
    const b = this.book(callId);
    const consult = b.legs.findLast((l) => l.kind === 'consult' && l.endedAt === null);
    if (consult !== undefined) {
      consult.endedAt = now;
      consult.endedBy = 'transfer';
    }
    this.endHold(b, now);
    b.legs.push({ kind: 'conference', agent, number: null, queue, startedAt: now, endedAt: null, endedBy: 'hangup' });
  }

  /** The consulted agent left the conference (hung up, or was hung up): its leg ends, the call's agent's goes on. */
  conferenceEnded(callId: string, now: number): void {
    const leg = this.books.get(callId)?.legs.findLast((l) => l.kind === 'conference' && l.endedAt === null);
    if (leg === undefined) return;
    leg.endedAt = now;
    leg.endedBy = 'hangup';
  }

  /** A REFER completed a transfer (blind ones count themselves in {@link transferred}). */
  referAccepted(): void {
    this.counters.accepted++;
  }

  /** An agent answered: a leg starts (and a transfer to a named agent is settled). */
  agentLegStarted(callId: string, agent: string, queue: string | null, now: number): void {
    const b = this.book(callId);
    b.legs.push({ kind: 'agent', agent, number: null, queue, startedAt: now, endedAt: null, endedBy: 'hangup' });
    if (b.awaiting !== null) this.counted(b.awaitingKind, b.awaiting === agent ? 'ok' : 'failed');
    b.awaiting = null;
  }

  /** The call was offered to a named agent by an API transfer: the answer decides the outcome. */
  awaitAgent(callId: string, agent: string, kind: TransferKind = 'api_agent'): void {
    const b = this.book(callId);
    b.awaiting = agent;
    b.awaitingKind = kind;
  }

  /** An offer ended without an answer (declined, timed out, withdrawn): a named agent's transfer failed. */
  offerFailed(callId: string): void {
    const b = this.books.get(callId);
    if (b === undefined || b.awaiting === null) return;
    b.awaiting = null;
    this.counted(b.awaitingKind, 'failed');
  }

  /** The call was passed on: the open leg ends by transfer. A REFER's is counted as accepted. */
  transferred(callId: string, referredBy: string | null, now: number, kind: TransferKind = 'blind'): void {
    const b = this.book(callId);
    this.endOpenLeg(b, now, 'transfer');
    this.endHold(b, now);
    b.transfers++;
    b.referredBy = referredBy;
    if (kind === 'blind') this.counters.accepted++;
  }

  /** Headers of the next agent's INVITE: who referred the caller (RFC 3892), after a transfer. */
  offerHeaders(callId: string): HeaderField[] {
    const by = this.books.get(callId)?.referredBy;
    return by ? [{ name: 'Referred-By', value: by }] : [];
  }

  /** The caller was put on hold (idempotent while held). */
  holdStarted(callId: string, now: number): boolean {
    const b = this.book(callId);
    if (b.heldSince !== null) return false;
    b.heldSince = now;
    return true;
  }

  /** The caller was taken off hold; false when it was not held. */
  holdEnded(callId: string, now: number): boolean {
    const b = this.books.get(callId);
    if (!b || b.heldSince === null) return false;
    this.endHold(b, now);
    return true;
  }

  /** True while the caller is on hold. */
  held(callId: string): boolean {
    return (this.books.get(callId)?.heldSince ?? null) !== null;
  }

  /**
   * The call is over: its CDR fields, and the book is dropped. Always the three fields, so a CDR of
   * a call never answered says `transfers: 0`, `holdMs: 0`, `legs: []` rather than nothing.
   */
  finish(callId: string, now: number): { holdMs: number; transfers: number; legs: CdrLeg[] } {
    const b = this.books.get(callId);
    this.books.delete(callId);
    if (!b) return { holdMs: 0, transfers: 0, legs: [] };
    if (b.awaiting !== null) this.counted(b.awaitingKind, 'failed');
    this.endOpenLeg(b, now, 'hangup');
    this.endHold(b, now);
    return { holdMs: b.holdMs, transfers: b.transfers, legs: b.legs };
  }

  /** End the open legs: one, or two during a consultation or conference (the agent's and the consultation's or conference's). */
  private endOpenLeg(b: Book, now: number, by: CdrLeg['endedBy']): void {
    for (const leg of b.legs) {
      if (leg.endedAt !== null) continue;
      leg.endedAt = now;
      leg.endedBy = by;
    }
  }

  private endHold(b: Book, now: number): void {
    if (b.heldSince === null) return;
    b.holdMs += now - b.heldSince;
    b.heldSince = null;
  }
}

/**
 * A NOTIFY of the implicit refer subscription (RFC 3515 §2.4.4): a sipfrag of the transfer's
 * progress. `final` ends the subscription (§2.4.7: `terminated;reason=noresource`).
 *
 * ```
 *  Event: refer
 *  Subscription-State: active;expires=60 | terminated;reason=noresource
 *  Content-Type: message/sipfrag;version=2.0
 *
 *  SIP/2.0 100 Trying
 * ```
 */
export function notifyRefer(ua: Pick<CallUserAgent, 'sendInDialog'>, dialog: Dialog, status: number, reason: string, final: boolean): Promise<unknown> {
  return ua.sendInDialog(dialog, 'NOTIFY', {
    headers: [
      { name: 'Event', value: 'refer' },
      { name: 'Subscription-State', value: final ? 'terminated;reason=noresource' : 'active;expires=60' },
    ],
    body: Buffer.from(`SIP/2.0 ${status} ${reason}\r\n`, 'latin1'),
    contentType: 'message/sipfrag;version=2.0',
  });
}
