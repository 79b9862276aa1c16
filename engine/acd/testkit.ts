/**
 * A small scenario language for ACD tests: a clock that fires `tick` at every deadline it passes (as
 * the runtime's single timer would), and short verbs for arrivals, agents and answers. Test support
 * only; not exported from the folder's index.
 */
import { Acd } from './acd.ts';
import type { AcdConfig, AcdEffect, CallInput, Millis } from './types.ts';

/** An `offer` effect. */
export type Offer = Extract<AcdEffect, { type: 'offer' }>;

/**
 * A running scenario. Every verb replaces `last` with its effects (for `at`, those of all the ticks
 * it ran) and appends them to `log`.
 */
export class Scenario {
  readonly acd: Acd;
  now: Millis = 0;
  log: AcdEffect[] = [];
  last: AcdEffect[] = [];

  constructor(config: AcdConfig) {
    this.acd = new Acd(config);
  }

  private record(effects: AcdEffect[]): this {
    this.last = effects;
    this.log.push(...effects);
    return this;
  }

  /** Move the clock to `t`, running `tick` at each deadline on the way. Clears `last`. */
  at(t: Millis): this {
    this.last = [];
    for (;;) {
      const d = this.acd.nextDeadline();
      if (d === null || d > t) break;
      this.now = Math.max(this.now, d);
      const effects = this.acd.tick(this.now);
      this.last.push(...effects);
      this.log.push(...effects);
    }
    this.now = t;
    return this;
  }

  /** Move the clock by `ms`. */
  wait(ms: Millis): this {
    return this.at(this.now + ms);
  }

  /** A caller arrives in `queueId`. */
  call(id: string, queueId: string, opts: Partial<CallInput> = {}): this {
    return this.record(this.acd.enqueue({ id, queueId, callerNumber: opts.callerNumber ?? `+${id}`, ...opts }, this.now));
  }

  /** Agents log in (available), in the order given. */
  login(...agentIds: string[]): this {
    for (const id of agentIds) this.record(this.acd.agentLoggedIn(id, this.now));
    return this;
  }

  /** The agent logs out (after wrap-up when on a call). */
  logout(agentId: string): this {
    return this.record(this.acd.agentLoggedOut(agentId, this.now));
  }

  /** The agent chooses a status. */
  status(agentId: string, status: 'available' | 'notReady' | 'loggedOut', reason: string | null = null): this {
    return this.record(this.acd.setAgentStatus(agentId, status, reason, this.now));
  }

  /** Replace the agent's skills at run time. */
  skills(agentId: string, skills: Record<string, number>): this {
    return this.record(this.acd.setAgentSkills(agentId, skills, this.now));
  }

  /** The agent ringing with `callId` answers. */
  answer(callId: string): this {
    return this.record(this.acd.offerAnswered(callId, this.now));
  }

  /** The runtime sent the offer's INVITE for `callId` (the ring timer restarts). */
  sent(callId: string): this {
    return this.record(this.acd.offerSent(callId, this.now));
  }

  /** The agent's phone confirmed ringing for `callId` (180). */
  ringing(callId: string): this {
    return this.record(this.acd.offerRinging(callId, this.now));
  }

  /** The runtime could not deliver the offer of `callId` (no media leg, transport failure). */
  undelivered(callId: string): this {
    return this.record(this.acd.offerUndelivered(callId, this.now));
  }

  /** The agent ringing with `callId` declines. */
  reject(callId: string): this {
    return this.record(this.acd.offerRejected(callId, this.now));
  }

  /** The runtime reports ring-no-answer for `callId`. */
  noAnswer(callId: string): this {
    return this.record(this.acd.offerTimedOut(callId, this.now));
  }

  /** The caller hangs up before being answered. */
  hangup(callId: string): this {
    return this.record(this.acd.abandon(callId, this.now));
  }

  /** The call ends (BYE from either side). */
  end(callId: string): this {
    return this.record(this.acd.callEnded(callId, this.now));
  }

  /** Move `callId` to another queue. */
  transfer(callId: string, queueId: string, toAgentId?: string): this {
    return this.record(this.acd.transfer(callId, queueId, this.now, toAgentId));
  }

  /** Add a callback task with an original arrival time. */
  callback(id: string, queueId: string, callerNumber: string, arrivalTime: Millis, priority = 0): this {
    return this.record(this.acd.addCallback({ id, queueId, callerNumber, arrivalTime, priority }, this.now));
  }

  /** The customer of the callback task `callId` (offered or talking) was not reached. */
  unreached(callId: string): this {
    return this.record(this.acd.callbackUnreached(callId, this.now));
  }

  /** A waiting caller accepts a callback. */
  acceptCallback(callId: string): this {
    return this.record(this.acd.acceptCallback(callId, this.now));
  }

  /** The agent of talking `callId` consults `agentId` (attended transfer). */
  consult(callId: string, agentId: string): this {
    return this.record(this.acd.consultStart(callId, agentId, this.now));
  }

  /** The consulted agent of `callId` answered. */
  consultAnswer(callId: string): this {
    return this.record(this.acd.consultAnswered(callId, this.now));
  }

  /** The call's agent joins the caller to its consultation of `callId` (a three-way conference). */
  consultConference(callId: string): this {
    return this.record(this.acd.consultConference(callId, this.now));
  }

  /** The consultation of `callId` completes: the consulted agent takes the call. */
  consultComplete(callId: string): this {
    return this.record(this.acd.consultCompleted(callId, this.now));
  }

  /** The consultation of `callId` ends without completion (cancel, decline, hang-up). */
  consultEnd(callId: string): this {
    return this.record(this.acd.consultEnded(callId, this.now));
  }

  /** Offer, answer and end `callId` at once (a zero-length talk). */
  serve(callId: string): this {
    return this.answer(callId).end(callId);
  }

  /** `callId:agentId` for each offer in `last`. */
  offers(): string[] {
    return this.last.filter((e): e is Offer => e.type === 'offer').map((e) => `${e.callId}:${e.agentId}`);
  }

  /** The effects of `last` (or of the whole `log`) of one type. */
  effects<T extends AcdEffect['type']>(type: T, all = false): Extract<AcdEffect, { type: T }>[] {
    return (all ? this.log : this.last).filter((e): e is Extract<AcdEffect, { type: T }> => e.type === type);
  }

  /** The agent a call is with (ringing or talking), or null. */
  agentOf(callId: string): string | null {
    return this.acd.inspectCall(callId)?.agentId ?? null;
  }
}
