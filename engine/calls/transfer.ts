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
 * 2. a number of the number plan: the queue its flow reaches without input (`sip:200@onair`).
 * The host part is ignored (the phone knows the engine by any address); the carrier never sees
 * the REFER, it keeps talking to onair.
 */
import type { CdrLeg } from '../../crm-adapter/index.ts';
import { parseNameAddr, unescapeUri } from '../sip/index.ts';
import type { Dialog, HeaderField } from '../sip/index.ts';
import type { CallUserAgent, Flow, NumberRoute } from './types.ts';
import { defaultQueueOf } from './media-admission.ts';

/** Why a REFER was refused; each is counted in {@link Transfers.refused}. */
export type TransferRefusal =
  /** No Refer-To, more than one, or one that does not parse (RFC 3515 §2.4.1: 400). */
  | 'malformed'
  /** A REFER in the carrier's dialog: the carrier never transfers our caller (603). */
  | 'notAgent'
  /** A REFER on an agent dialog that is no longer the call's (after a transfer): 481. */
  | 'staleDialog'
  /** The call is not in a conversation (already being moved): 491 would invite a retry; 603. */
  | 'notTalking'
  /** Refer-To with a Replaces header or a non-SIP scheme: not a blind transfer we do (488). */
  | 'unsupported'
  /** The Refer-To user is no queue and no number of the plan (603). */
  | 'unknownTarget'
  /** The call is in that queue already, or was transferred too often: a loop (603). */
  | 'loop';

/** The SIP answer to each refusal (RFC 3515 §2.4.2, RFC 3261 §21). */
export const REFUSAL_STATUS: Readonly<Record<TransferRefusal, { status: number; reason: string }>> = {
  malformed: { status: 400, reason: 'Bad Refer-To' },
  notAgent: { status: 603, reason: 'Transfer Not Allowed' },
  staleDialog: { status: 481, reason: 'Call/Transaction Does Not Exist' },
  notTalking: { status: 603, reason: 'Not In Conversation' },
  unsupported: { status: 488, reason: 'Transfer Kind Not Supported' },
  unknownTarget: { status: 603, reason: 'Unknown Transfer Target' },
  loop: { status: 603, reason: 'Transfer Loop' },
};

/** Most transfers of one call: beyond this a REFER is a loop (two agents passing a caller back and forth). */
export const MAX_TRANSFERS = 8;

/** What a REFER asks for, once checked. */
export type ReferVerdict =
  | { ok: true; queue: string; referredBy: string | null }
  | { ok: false; refusal: TransferRefusal };

/** What {@link checkRefer} needs to know about the call and the engine. */
export interface ReferContext {
  referTo: readonly string[];
  referredBy: string | undefined;
  /** The REFER came in the call's current agent dialog. */
  fromCurrentAgent: boolean;
  /** The REFER came in an agent dialog of this call at all (current or an earlier one). */
  fromAgent: boolean;
  talking: boolean;
  currentQueue: string | null;
  transfers: number;
  queues: Readonly<Record<string, unknown>>;
  numbers: Readonly<Record<string, NumberRoute>>;
  flows: Readonly<Record<string, Flow>>;
  vip: boolean;
  now: number;
}

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
  // Replaces (RFC 3891) makes it an attended transfer, which this path does not do.
  for (const name of na.uri.headers.keys()) if (name.toLowerCase() === 'replaces') return { ok: false, refusal: 'unsupported' };
  if (!c.talking) return { ok: false, refusal: 'notTalking' };
  const user = unescapeUri(na.uri.user);
  if (user.length === 0) return { ok: false, refusal: 'malformed' };
  const queue = resolveQueue(user, c);
  if (queue === null) return { ok: false, refusal: 'unknownTarget' };
  if (queue === c.currentQueue || c.transfers >= MAX_TRANSFERS) return { ok: false, refusal: 'loop' };
  const by = c.referredBy?.trim();
  return { ok: true, queue, referredBy: by !== undefined && by.length > 0 && by.length <= MAX_REFER_TO ? by : null };
}

/** The addressing rule: a queue id, else a number of the plan (its flow's queue without input). */
function resolveQueue(user: string, c: ReferContext): string | null {
  if (Object.hasOwn(c.queues, user)) return user;
  const route = Object.hasOwn(c.numbers, user) ? c.numbers[user] : undefined;
  if (!route) return null;
  return defaultQueueOf(c.flows, route.flow, c.vip, c.now);
}

/** The call's transfer and hold book (the CDR's `legs`, `transfers`, `holdMs`). */
interface Book {
  legs: CdrLeg[];
  transfers: number;
  /** The Referred-By of the last transfer, passed on to the next agent's INVITE (RFC 3892). */
  referredBy: string | null;
  holdMs: number;
  heldSince: number | null;
}

/** Counters of REFER outcomes (by refusal), read by metrics and tests. */
export type TransferCounters = Record<TransferRefusal | 'accepted', number>;

/** The per-call books and the counters; owned by one controller. */
export class Transfers {
  private readonly books = new Map<string, Book>();
  readonly counters: TransferCounters = {
    accepted: 0, malformed: 0, notAgent: 0, staleDialog: 0, notTalking: 0, unsupported: 0, unknownTarget: 0, loop: 0,
  };

  private book(callId: string): Book {
    let b = this.books.get(callId);
    if (!b) {
      b = { legs: [], transfers: 0, referredBy: null, holdMs: 0, heldSince: null };
      this.books.set(callId, b);
    }
    return b;
  }

  /** Transfers so far of the call. */
  transfers(callId: string): number {
    return this.books.get(callId)?.transfers ?? 0;
  }

  /** Count a refusal. */
  refused(refusal: TransferRefusal): void {
    this.counters[refusal]++;
  }

  /** An agent answered: a leg starts. */
  agentLegStarted(callId: string, agent: string, queue: string | null, now: number): void {
    this.book(callId).legs.push({ kind: 'agent', agent, number: null, queue, startedAt: now, endedAt: null, endedBy: 'hangup' });
  }

  /** The call was passed on: the open leg ends by transfer. */
  transferred(callId: string, referredBy: string | null, now: number): void {
    const b = this.book(callId);
    this.endOpenLeg(b, now, 'transfer');
    this.endHold(b, now);
    b.transfers++;
    b.referredBy = referredBy;
    this.counters.accepted++;
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
    this.endOpenLeg(b, now, 'hangup');
    this.endHold(b, now);
    return { holdMs: b.holdMs, transfers: b.transfers, legs: b.legs };
  }

  private endOpenLeg(b: Book, now: number, by: CdrLeg['endedBy']): void {
    const leg = b.legs.at(-1);
    if (leg && leg.endedAt === null) {
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
