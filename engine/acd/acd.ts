/**
 * The ACD core: a pure, deterministic state machine. Every input carries `now` and returns the
 * effects the runtime must carry out, in order. No clock, no timers, no I/O: time-based rules sit in
 * one timer heap that `tick(now)` drains, and `nextDeadline()` tells the runtime when to call it.
 */
import { IndexedHeap } from './heap.ts';
import { KeyHeap } from './keyheap.ts';
import { estimateWait, ewma } from './ewt.ts';
import { builtinStrategies, isBuiltinStrategy } from './strategy.ts';
import { Agent, Call, CallNode, Lane, Member, memberBefore, Pool, Queue, timerBefore } from './model.ts';
import type { ConsultStage, LaneHeap, TimerNode } from './model.ts';
import { AcdError } from './types.ts';
import type {
  AcdConfig, AcdEffect, AcdErrorCode, AcdSnapshot, AgentConfig, AgentState, AgentStatus, AgentView,
  CallbackInput, CallInput, CallKind, CallOutcome, CallView, CancelReason, Millis, QueueConfig,
  QueueSnapshot, StrategyComparator,
} from './types.ts';

/**
 * Subtracted from the rank of a call sent back after a ring-no-answer or reject, which puts it ahead
 * of every call of its priority that never left (about 31 years of milliseconds).
 */
const HEAD_BOOST = 1e12;
/**
 * Offers in a row an agent may lose without its phone confirming it rang (late under load, or the
 * engine could not deliver them) before the agent is set not-ready ('unreachable'): one is the
 * engine's fault, a second in a row points at the phone.
 */
const UNCONFIRMED_LIMIT = 2;

/** The consultation inputs (attended transfer), each guarded by {@link CONSULT_NEEDS}. */
type ConsultInput = 'consultStart' | 'consultAnswered' | 'consultConference' | 'consultCompleted' | 'consultEnded';

/**
 * The consultation stage each consultation input accepts (the call must also be a talking live
 * call): one table, one check ({@link Acd.consultCall}), so an input out of order is an
 * `ACD_ERR_INVALID_STATE` effect that changes nothing, never a half-done move.
 */
const CONSULT_NEEDS: Readonly<Record<ConsultInput, readonly ConsultStage[]>> = {
  // A talking call without a consultation reserves a second agent.
  consultStart: ['none'],
  // The consulted agent's phone answered: it talks to the call's agent.
  consultAnswered: ['ringing'],
  // The call's agent joins the caller in: a three-way conference (the consulted agent stays reserved).
  consultConference: ['talking'],
  // The call passes to the consulted agent once the two have talked (RFC 3891 Replaces, or the
  // desktop), or when the call's agent leaves their conference.
  consultCompleted: ['talking', 'conference'],
  // Cancelled, not reached, declined, or hung up (also out of a conference): the consulted agent is free again.
  consultEnded: ['ringing', 'talking', 'conference'],
};

/**
 * The ACD core. Build it once from an {@link AcdConfig}; then feed it events.
 *
 * Error policy: the constructor throws {@link AcdError} on a bad configuration. Every other method
 * never throws: an unknown id or an event that does not fit the current state (a race, such as an
 * answer arriving after the caller hung up) returns a single `error` effect and changes nothing.
 *
 * Each method returns a fresh effects array that the caller owns.
 */
export class Acd {
  private readonly queues = new Map<string, Queue>();
  private readonly queueList: Queue[] = [];
  private readonly pools = new Map<string, Pool>();
  private readonly agents = new Map<string, Agent>();
  private readonly calls = new Map<string, Call>();
  /** Waiting or active callback tasks by caller number (deduplication). */
  private readonly callbacksByNumber = new Map<string, Call>();
  /** One timer per call and per agent, keyed (due, arming sequence). */
  private readonly timers = new KeyHeap<TimerNode>(1024);
  /** Timers due at one instant, popped together and put in order (reused). */
  private readonly batch: TimerNode[] = [];
  private readonly strategies: Map<string, StrategyComparator>;
  private readonly memberOrders = new Map<string, (a: Member, b: Member) => boolean>();
  private readonly handleTimeAlpha: number;
  private readonly byState: Record<AgentState, number> = { idle: 0, reserved: 0, onCall: 0, wrapUp: 0 };
  private readonly byStatus: Record<AgentStatus, number> = { loggedOut: 0, available: 0, notReady: 0 };
  private callSeq = 0;
  private offerSeq = 0;
  /** Agents reserved for an offer whose INVITE has not left the engine yet. */
  private pendingSends = 0;
  private timerSeq = 0;
  private agentOrder = 0;
  private out: AcdEffect[] = [];

  /** @throws AcdError `ACD_ERR_INVALID_CONFIG` on duplicate ids, unknown references or bad numbers. */
  constructor(config: AcdConfig) {
    this.strategies = new Map(Object.entries(builtinStrategies));
    for (const [name, fn] of Object.entries(config.strategies ?? {})) {
      if (isBuiltinStrategy(name)) invalid(`strategy '${name}' shadows a built-in`);
      if (typeof fn !== 'function') invalid(`strategy '${name}' is not a function`);
      this.strategies.set(name, fn);
    }
    this.handleTimeAlpha = config.handleTimeAlpha ?? 0.1;
    if (!(this.handleTimeAlpha > 0 && this.handleTimeAlpha <= 1)) invalid('handleTimeAlpha must be in (0, 1]');
    for (const qc of config.queues) this.buildQueue(qc);
    for (const qc of config.queues) this.linkQueue(qc);
    for (const ac of config.agents ?? []) {
      const err = this.createAgent(ac);
      if (err !== null) invalid(err);
    }
  }

  // ---------------------------------------------------------------- calls

  /**
   * A new caller enters `call.queueId`. Effects: `offer` if an eligible agent is idle; otherwise the
   * call waits (and may get `overflowed`, `callbackOffer`, or `ended: rejected` when the queue is full).
   */
  enqueue(call: CallInput, now: Millis): AcdEffect[] {
    this.out = [];
    const queue = this.queues.get(call.queueId);
    if (queue === undefined) return this.fail('ACD_ERR_UNKNOWN_QUEUE', `unknown queue '${call.queueId}'`);
    if (this.calls.has(call.id)) return this.fail('ACD_ERR_DUPLICATE_CALL', `call '${call.id}' already in the core`);
    const c = this.newCall(call, 'call', call.arrivalTime ?? now, queue);
    this.admit(c, queue, now, true, 0);
    return this.out;
  }

  /** The agent answered the offer: the call is talking, the agent on call. */
  offerAnswered(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state !== 'offered' || call.agent === null) return this.badState(call, 'offerAnswered');
    const agent = call.agent;
    const queue = call.queue;
    call.state = 'talking';
    call.answeredAt = now;
    this.settleOffer(agent, true);
    if (call.kind === 'call') {
      queue.answered++;
      if (now - call.enteredAt <= queue.serviceLevelMs) queue.answeredInServiceLevel++;
      // The caller got through live: a pending callback for the same number is moot.
      const cb = this.callbacksByNumber.get(call.callerNumber);
      if (cb !== undefined && cb.state === 'waiting') {
        this.leaveWaiting(cb);
        this.end(cb, 'satisfied');
      }
    }
    this.timers.remove(agent.timer);
    this.setState(agent, 'onCall');
    this.emitAgent(agent);
    return this.out;
  }

  /** The agent declined the offer: the agent goes not-ready ('rejected'), the call back to the head. */
  offerRejected(callId: string, now: Millis): AcdEffect[] {
    return this.offerFailed(callId, now, 'rejected');
  }

  /** Nobody answered the offer (ring-no-answer reported by the runtime): as {@link offerRejected}, reason 'ringNoAnswer'. */
  offerTimedOut(callId: string, now: Millis): AcdEffect[] {
    return this.offerFailed(callId, now, 'ringNoAnswer');
  }

  /**
   * The INVITE of the offer left the engine: the ring timeout is measured from now, not from the
   * decision (under load the two can be seconds apart, and the agent must not pay for that).
   */
  offerSent(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state !== 'offered' || call.agent === null) return this.badState(call, 'offerSent');
    const agent = call.agent;
    if (agent.offerStage !== 'pending') return this.out;
    this.pendingSends--;
    agent.offerStage = 'sent';
    if (call.queue.ringTimeoutMs > 0) this.setTimer(agent.timer, now + call.queue.ringTimeoutMs);
    return this.out;
  }

  /** The agent's phone confirmed it rings (180/183): from now on a ring timeout is the agent's. */
  offerRinging(callId: string, now: Millis): AcdEffect[] {
    void now;
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state !== 'offered' || call.agent === null) return this.badState(call, 'offerRinging');
    const agent = call.agent;
    if (agent.offerStage === 'pending') this.pendingSends--;
    agent.offerStage = 'ringing';
    agent.unconfirmedOffers = 0;
    return this.out;
  }

  /**
   * The engine could not deliver the offer (no media leg, transport failure): not the agent's
   * doing, so the agent stays available (unless it happens twice in a row, see UNCONFIRMED_LIMIT)
   * and the call goes back to the head of its queue.
   */
  offerUndelivered(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state !== 'offered') return this.badState(call, 'offerUndelivered');
    this.unconfirmedOfferEnded(call, now);
    return this.out;
  }

  /** Agents reserved for an offer whose INVITE has not left the engine yet ("ringing but late"). */
  offersPendingSend(): number {
    return this.pendingSends;
  }

  /**
   * The caller hung up before being answered (waiting or ringing). Ends as 'abandoned'; with the
   * queue's `abandonToCallback`, a callback task takes its place and arrival time. For a callback
   * task this cancels it.
   */
  abandon(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state === 'talking') return this.badState(call, 'abandon');
    this.dropUnanswered(call, now, 'abandoned');
    return this.out;
  }

  /**
   * A waiting live caller accepted the callback offered by admission control and hangs up: the call
   * ends as 'callback' and a callback task keeps its place and arrival time.
   */
  acceptCallback(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.kind !== 'call' || call.state === 'talking') return this.badState(call, 'acceptCallback');
    this.dropUnanswered(call, now, 'callback');
    return this.out;
  }

  /**
   * Move a call to another queue, keeping its arrival time. Waiting: it changes queue. Ringing: the
   * offer is cancelled and the agent is free again. Talking (agent transfers the caller): the agent
   * goes to wrap-up and the caller waits in the new queue.
   *
   * `toAgentId` (a transfer to a named agent): the call is offered to that agent alone when it is
   * idle and available at entry, whatever its skills; if that offer fails (declined, no answer,
   * undelivered) the call waits in `queueId` at the head like any failed offer. An agent not free
   * at entry is not waited for: the call simply waits in `queueId`.
   */
  transfer(callId: string, queueId: string, now: Millis, toAgentId?: string): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    const target = this.queues.get(queueId);
    if (target === undefined) return this.fail('ACD_ERR_UNKNOWN_QUEUE', `unknown queue '${queueId}'`);
    let freed: Agent | null = null;
    let talked: Agent | null = null;
    const from = call.queue;
    if (call.state === 'waiting') this.leaveWaiting(call);
    else if (call.state === 'offered') freed = this.withdrawOffer(call, 'transfer');
    else {
      this.releaseConsultant(call, now);
      talked = this.finishTalk(call, now);
    }
    call.rank = call.arrivalTime;
    call.returned = false;
    call.preferred = toAgentId !== undefined ? this.agents.get(toAgentId) ?? null : null;
    call.directed = call.preferred !== null;
    this.admit(call, target, now, false, 0);
    if (freed !== null) this.becomeIdle(freed, now);
    if (talked !== null) this.startWrapUp(talked, from, now);
    return this.out;
  }

  // ---------------------------------------------------------------- consultation (attended transfer)

  /**
   * The agent of talking call `callId` consults `agentId` (an attended transfer begins): that agent
   * must be idle and available, and is `reserved` for the consultation from now on, so it is
   * offered no caller (it leaves its idle heaps) until {@link consultEnded} frees it or
   * {@link consultCompleted} makes it the call's agent. A status it asks for meanwhile is kept
   * pending, as on a call. Error effect (nothing changes) for an unknown call or agent, a call not
   * talking or consulting already, the call's own agent, or an agent not free.
   */
  consultStart(callId: string, agentId: string, now: Millis): AcdEffect[] {
    void now;
    this.out = [];
    const call = this.consultCall(callId, 'consultStart');
    if (call === null) return this.out;
    const agent = this.agents.get(agentId);
    if (agent === undefined) return this.fail('ACD_ERR_UNKNOWN_AGENT', `unknown agent '${agentId}'`);
    if (agent === call.agent || agent.state !== 'idle' || agent.status !== 'available') {
      return this.fail('ACD_ERR_INVALID_STATE', `consultStart: agent '${agentId}' is ${agent.state}, ${agent.status}`);
    }
    this.leaveIdle(agent);
    // An idle agent has no timer of its own armed; a stale one must not fire on the reservation.
    this.timers.remove(agent.timer);
    agent.consultFor = call;
    call.consultant = agent;
    call.consultStage = 'ringing';
    this.setState(agent, 'reserved');
    this.emitAgent(agent);
    return this.out;
  }

  /** The consulted agent answered: it is on a call (with the call's agent) until the consultation ends. */
  consultAnswered(callId: string, now: Millis): AcdEffect[] {
    void now;
    this.out = [];
    const call = this.consultCall(callId, 'consultAnswered');
    if (call === null) return this.out;
    call.consultStage = 'talking';
    this.setState(call.consultant!, 'onCall');
    this.emitAgent(call.consultant!);
    return this.out;
  }

  /**
   * The call's agent joined the caller to its talk with the consulted agent (a three-way
   * conference): the consulted agent stays on the call (offered nothing) and, having talked to the
   * caller, goes to wrap-up when it leaves (see {@link consultEnded}) or the call ends.
   */
  consultConference(callId: string, now: Millis): AcdEffect[] {
    void now;
    this.out = [];
    const call = this.consultCall(callId, 'consultConference');
    if (call === null) return this.out;
    call.consultStage = 'conference';
    return this.out;
  }

  /**
   * The consultation is completed: the consulted agent becomes the call's agent (talking from now,
   * for its talk time), the call's former agent goes to wrap-up as after a transfer. The call
   * keeps its queue, priority and arrival.
   */
  consultCompleted(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.consultCall(callId, 'consultCompleted');
    if (call === null) return this.out;
    const next = call.consultant!;
    next.consultFor = null;
    call.consultant = null;
    call.consultStage = 'none';
    const former = this.finishTalk(call, now);
    call.agent = next;
    next.call = call;
    call.answeredAt = now;
    // On a call already (state unchanged); the effect says whose call it now is.
    this.emitAgent(next);
    this.startWrapUp(former, call.queue, now);
    return this.out;
  }

  /**
   * The consultation ended without completion (cancelled, the consulted phone declined or was not
   * reached, it hung up): the consulted agent is free, with its status unchanged (a status asked
   * for meanwhile applies now) and no wrap-up, and may be offered a caller at once. The call stays
   * with its agent. Out of a conference the consulted agent has talked to the caller: it goes to
   * wrap-up of the call's queue first, as after a call of its own.
   */
  consultEnded(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.consultCall(callId, 'consultEnded');
    if (call === null) return this.out;
    this.releaseConsultant(call, now);
    return this.out;
  }

  /**
   * The call is over. Talking: 'completed', the agent goes to wrap-up (then idle, via tick).
   * Waiting or ringing: treated as {@link abandon}, since the caller is gone either way.
   */
  callEnded(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state !== 'talking') {
      this.dropUnanswered(call, now, 'abandoned');
      return this.out;
    }
    this.releaseConsultant(call, now);
    const agent = this.finishTalk(call, now);
    this.end(call, 'completed');
    this.startWrapUp(agent, call.queue, now);
    return this.out;
  }

  /**
   * The customer of an offered or talking callback task was not reached (busy, no answer, invalid
   * number, trunk error): the entry ends 'unreached' and its agent is idle at once, with no wrap-up
   * and its status unchanged (a status the agent asked for meanwhile applies now). The agent did
   * nothing wrong, so this is not a ring-no-answer; whether the task is tried again is the durable
   * store's policy, not the core's.
   */
  callbackUnreached(callId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.kind !== 'callback' || (call.state !== 'offered' && call.state !== 'talking')) return this.badState(call, 'callbackUnreached');
    const agent = call.agent!;
    // Offered: the ring timer is the agent's; talking: none is armed, removing is a no-op.
    this.timers.remove(agent.timer);
    this.settleOffer(agent, false);
    agent.call = null;
    call.agent = null;
    this.end(call, 'unreached');
    this.finishWrapUp(agent, now);
    return this.out;
  }

  /**
   * Add a callback task (web form, crash recovery...). It keeps `arrivalTime` and is deduplicated by
   * caller number: if a task for the number exists, this one ends as 'merged' and the existing task
   * keeps the earlier of the two arrival times.
   */
  addCallback(task: CallbackInput, now: Millis): AcdEffect[] {
    this.out = [];
    const queue = this.queues.get(task.queueId);
    if (queue === undefined) return this.fail('ACD_ERR_UNKNOWN_QUEUE', `unknown queue '${task.queueId}'`);
    if (this.calls.has(task.id)) return this.fail('ACD_ERR_DUPLICATE_CALL', `call '${task.id}' already in the core`);
    const existing = this.callbacksByNumber.get(task.callerNumber);
    if (existing !== undefined) {
      this.mergeInto(existing, task.arrivalTime);
      this.out.push({ type: 'ended', callId: task.id, queueId: queue.id, kind: 'callback', outcome: 'merged' });
      return this.out;
    }
    const c = this.newCall(task, 'callback', task.arrivalTime, queue);
    this.startCallback(c, queue, now, null);
    return this.out;
  }

  // ---------------------------------------------------------------- agents

  /** Add an agent at run time (logged out). Error effect on a duplicate id or bad skills. */
  addAgent(agent: AgentConfig): AcdEffect[] {
    this.out = [];
    const err = this.createAgent(agent);
    if (err !== null) return this.fail(this.agents.has(agent.id) ? 'ACD_ERR_DUPLICATE_AGENT' : 'ACD_ERR_INVALID_CONFIG', err);
    return this.out;
  }

  /**
   * Replace an agent's skills at run time (a supervisor moves it into or out of a queue, surge
   * mode). The agent's pool memberships, its pools' staffed counts and idle heaps, and its lanes
   * are rebuilt from the new skills, whatever its state:
   * - idle and available: it may take a waiting call of its new pools at once (`offer` effect);
   * - reserved: the offer stands (the agent chose nothing; the call is already its);
   * - on a call or in wrap-up: the new skills apply from its next call.
   * Calls waiting for this agent as their preferred agent keep waiting for it until their
   * preferred phase ends, as they would if its skills had not changed. Error effect on an unknown
   * agent or a bad level; nothing changes then.
   */
  setAgentSkills(agentId: string, skills: Readonly<Record<string, number>>, now: Millis): AcdEffect[] {
    this.out = [];
    const agent = this.agents.get(agentId);
    if (agent === undefined) return this.fail('ACD_ERR_UNKNOWN_AGENT', `unknown agent '${agentId}'`);
    const err = badSkills(agentId, skills);
    if (err !== null) return this.fail('ACD_ERR_INVALID_CONFIG', err);
    this.leaveIdle(agent);
    const available = agent.status === 'available';
    for (const m of agent.members) {
      const list = m.pool.members;
      const i = list.indexOf(m);
      // Order inside a pool's member list carries no meaning: swap-remove.
      if (i >= 0) {
        list[i] = list[list.length - 1]!;
        list.pop();
      }
      if (available) m.pool.staffed--;
    }
    agent.members.length = 0;
    agent.lanes.length = 0;
    agent.skills = { ...skills };
    this.joinPools(agent);
    if (available) for (const m of agent.members) m.pool.staffed++;
    // idleSince is kept: an idle agent keeps its place among the idle of the pools it stays in.
    if (agent.state === 'idle' && available) this.agentFree(agent, now);
    return this.out;
  }

  /**
   * The agent chooses a status. Applies at once when idle; while ringing, a status other than
   * 'available' withdraws the offer (the call goes back to the head); on a call or in wrap-up it is
   * kept pending and applied when wrap-up ends.
   */
  setAgentStatus(agentId: string, status: AgentStatus, reason: string | null, now: Millis): AcdEffect[] {
    this.out = [];
    const agent = this.agents.get(agentId);
    if (agent === undefined) return this.fail('ACD_ERR_UNKNOWN_AGENT', `unknown agent '${agentId}'`);
    // Consulted (reserved or talking for another agent's call): like a call, the status waits.
    if (agent.state === 'onCall' || agent.state === 'wrapUp' || agent.consultFor !== null) {
      agent.pendingStatus = status;
      agent.pendingReason = reason;
      return this.out;
    }
    if (agent.state === 'reserved') {
      if (status === 'available') {
        agent.pendingStatus = null;
        return this.out;
      }
      const call = agent.call!;
      this.withdrawOffer(call, 'agentStatus');
      this.applyStatus(agent, status, reason, now);
      this.emitAgent(agent);
      this.sendBackToHead(call, now);
      return this.out;
    }
    const wasAvailable = agent.status === 'available';
    this.applyStatus(agent, status, reason, now);
    this.emitAgent(agent);
    if (status === 'available' && !wasAvailable) this.agentFree(agent, now);
    return this.out;
  }

  /**
   * The agent ends its wrap-up early (it is done with the notes): as if the wrap-up timer fired
   * now, so a status asked for meanwhile applies, and an available agent may be offered a call.
   * Error effect when the agent is not in wrap-up.
   */
  endWrapUp(agentId: string, now: Millis): AcdEffect[] {
    this.out = [];
    const agent = this.agents.get(agentId);
    if (agent === undefined) return this.fail('ACD_ERR_UNKNOWN_AGENT', `unknown agent '${agentId}'`);
    if (agent.state !== 'wrapUp') return this.fail('ACD_ERR_INVALID_STATE', `endWrapUp: agent '${agentId}' is ${agent.state}`);
    this.timers.remove(agent.timer);
    this.finishWrapUp(agent, now);
    return this.out;
  }

  /** Shorthand for `setAgentStatus(agentId, 'available', null, now)`. */
  agentLoggedIn(agentId: string, now: Millis): AcdEffect[] {
    return this.setAgentStatus(agentId, 'available', null, now);
  }

  /** Shorthand for `setAgentStatus(agentId, 'loggedOut', null, now)`; during a call, after wrap-up. */
  agentLoggedOut(agentId: string, now: Millis): AcdEffect[] {
    return this.setAgentStatus(agentId, 'loggedOut', null, now);
  }

  // ---------------------------------------------------------------- time

  /**
   * Run every time-based rule due at or before `now`: ring timeouts, wrap-up ends, expansion steps,
   * preferred-agent fallbacks, max wait, announcements. Cost: O(k log n) for k due timers.
   */
  tick(now: Millis): AcdEffect[] {
    this.out = [];
    const batch = this.batch;
    for (;;) {
      const due = this.timers.peekKey1();
      if (due > now) break;
      batch.length = 0;
      while (this.timers.peekKey1() === due) batch.push(this.timers.pop()!);
      if (batch.length > 1) batch.sort(timerOrder);
      for (let i = 0; i < batch.length; i++) {
        const t = batch[i]!;
        // Re-armed by an earlier handler of this batch: it fires at its new time instead.
        if (t.heapIndex >= 0) continue;
        if (t.agent !== null) this.agentTimer(t.agent, now);
        else if (t.call !== null) this.callTimer(t.call, now);
      }
    }
    batch.length = 0;
    return this.out;
  }

  /**
   * The earliest time `tick` may have work to do, or null when no timer is pending. Arm one runtime
   * timer for it. A call that was offered keeps its timer armed, so a tick can find nothing to do.
   */
  nextDeadline(): Millis | null {
    const due = this.timers.peekKey1();
    return due === Infinity ? null : due;
  }

  // ---------------------------------------------------------------- reading

  /**
   * Estimated wait of a new normal caller in `queueId` (see docs/acd.md); Infinity when nobody is
   * staffed; NaN for an unknown queue.
   */
  estimatedWait(queueId: string, now: Millis): number {
    void now;
    const queue = this.queues.get(queueId);
    return queue === undefined ? NaN : this.ewtFor(queue, queue.waiting.size + 1);
  }

  /** Figures for the API and metrics, O(queues + pools). */
  snapshot(now: Millis): AcdSnapshot {
    const queues: QueueSnapshot[] = [];
    for (const q of this.queueList) {
      const oldest = q.waiting.minArrival();
      const closed = q.answered + q.abandoned;
      queues.push({
        queueId: q.id,
        waiting: q.liveWaiting,
        callbacksWaiting: q.callbacksWaiting,
        oldestWaitMs: oldest === Infinity ? 0 : Math.max(0, now - oldest),
        ewtMs: this.ewtFor(q, q.waiting.size + 1),
        staffed: q.primary.staffed,
        idle: q.primary.idle.size,
        answered: q.answered,
        answeredInServiceLevel: q.answeredInServiceLevel,
        abandoned: q.abandoned,
        serviceLevel: closed === 0 ? 1 : q.answeredInServiceLevel / closed,
        handleTimeMs: q.handleTimeMs,
      });
    }
    return { at: now, queues, agentsByState: { ...this.byState }, agentsByStatus: { ...this.byStatus }, offersPendingSend: this.pendingSends };
  }

  /** A view of one call in the core (waiting, ringing or talking), or undefined. */
  inspectCall(callId: string): CallView | undefined {
    const c = this.calls.get(callId);
    if (c === undefined) return undefined;
    return {
      id: c.id, kind: c.kind, queueId: c.queue.id, state: c.state, priority: c.priority,
      arrivalTime: c.arrivalTime, enteredAt: c.enteredAt, step: c.step, preferredOnly: c.preferredOnly,
      preferredAgentId: c.preferred?.id ?? null, returnedToHead: c.returned, agentId: c.agent?.id ?? null,
      callerNumber: c.callerNumber, dialledNumber: c.dialledNumber,
    };
  }

  /**
   * 1-based position of a waiting live call in its queue (1 = next; the order announcements use),
   * or null when the call is not waiting (ringing, talking, gone) or is a callback task.
   */
  positionOf(callId: string): number | null {
    const c = this.calls.get(callId);
    if (c === undefined || c.kind !== 'call' || c.state !== 'waiting') return null;
    return c.queue.waiting.rankOf(c.queueNode) + 1;
  }

  /** A view of one agent, or undefined. */
  inspectAgent(agentId: string): AgentView | undefined {
    const a = this.agents.get(agentId);
    if (a === undefined) return undefined;
    return {
      id: a.id, status: a.status, pendingStatus: a.pendingStatus, reason: a.reason, state: a.state,
      callId: a.call?.id ?? a.consultFor?.id ?? null, skills: a.skills, callsHandled: a.callsHandled, talkTimeMs: a.talkTimeMs,
      idleSince: a.idleSince,
    };
  }

  /** Number of calls and callback tasks in the core (waiting, ringing, talking). */
  get size(): number {
    return this.calls.size;
  }

  // ================================================================ internals: configuration

  private buildQueue(qc: QueueConfig): void {
    if (this.queues.has(qc.id)) invalid(`duplicate queue '${qc.id}'`);
    const strategyName = qc.strategy ?? 'longestIdle';
    const strategy = this.strategies.get(strategyName);
    if (strategy === undefined) invalid(`queue '${qc.id}': unknown strategy '${strategyName}'`);
    const num = (v: number | undefined, d: number, name: string): number => {
      const x = v ?? d;
      if (!(x >= 0)) invalid(`queue '${qc.id}': ${name} must be >= 0`);
      return x;
    };
    const q = new Queue(qc.id, strategy, {
      serviceLevelMs: num(qc.serviceLevelMs, 20_000, 'serviceLevelMs'),
      maxLength: num(qc.maxLength, Infinity, 'maxLength'),
      maxWaitMs: num(qc.maxWaitMs, Infinity, 'maxWaitMs'),
      wrapUpMs: num(qc.wrapUpMs, 0, 'wrapUpMs'),
      ringTimeoutMs: num(qc.ringTimeoutMs, 20_000, 'ringTimeoutMs'),
      announcePeriodMs: num(qc.announcePeriodMs, 0, 'announcePeriodMs'),
      preferredAgentTimeoutMs: num(qc.preferredAgentTimeoutMs, 0, 'preferredAgentTimeoutMs'),
      weight: num(qc.weight, 1, 'weight'),
      abandonToCallback: qc.abandonToCallback ?? false,
      callbackShare: Math.min(1, num(qc.callbackShare, 0, 'callbackShare')),
      callbackAboveMs: num(qc.admission?.callbackAboveMs, Infinity, 'admission.callbackAboveMs'),
      overflowAboveMs: num(qc.admission?.overflowAboveMs, Infinity, 'admission.overflowAboveMs'),
      handleTimeMs: num(qc.initialHandleTimeMs, 180_000, 'initialHandleTimeMs'),
    });
    const lanes = new Map<Pool, Lane>();
    const pools: Pool[] = [];
    const addTarget = (skill: string, minLevel: number): void => {
      if (typeof skill !== 'string' || !(minLevel >= 0)) invalid(`queue '${qc.id}': bad skill target`);
      const pool = this.pool(skill, minLevel, strategyName, strategy);
      if (lanes.has(pool)) return;
      const lane = new Lane(q, pool);
      lanes.set(pool, lane);
      pool.lanes.push(lane);
      pools.push(pool);
    };
    addTarget(qc.skill ?? qc.id, qc.minLevel ?? 1);
    const resolved = (): { pools: Pool[]; lanes: Lane[] } => {
      const kept = pools.filter((p) => !pools.some((o) => o.skill === p.skill && o.strategyName === p.strategyName && o.minLevel < p.minLevel));
      return { pools: kept, lanes: kept.map((p) => lanes.get(p)!) };
    };
    q.steps.push({ afterMs: 0, queueLengthAtLeast: 0, ...resolved() });
    for (const step of qc.expansion ?? []) {
      if (step.afterMs === undefined && step.queueLengthAtLeast === undefined) {
        invalid(`queue '${qc.id}': an expansion step needs afterMs or queueLengthAtLeast`);
      }
      for (const t of step.add) addTarget(t.skill, t.minLevel);
      q.steps.push({
        afterMs: num(step.afterMs, Infinity, 'expansion.afterMs'),
        queueLengthAtLeast: num(step.queueLengthAtLeast, Infinity, 'expansion.queueLengthAtLeast'),
        ...resolved(),
      });
    }
    this.queues.set(q.id, q);
    this.queueList.push(q);
  }

  private linkQueue(qc: QueueConfig): void {
    const q = this.queues.get(qc.id)!;
    const ref = (id: string | undefined, what: string): Queue | null => {
      if (id === undefined) return null;
      const target = this.queues.get(id);
      if (target === undefined) invalid(`queue '${qc.id}': ${what} '${id}' is not a queue`);
      if (target === q) invalid(`queue '${qc.id}': ${what} points to itself`);
      return target;
    };
    q.fullOverflow = ref(qc.fullOverflowQueueId, 'fullOverflowQueueId');
    q.maxWaitQueue = ref(qc.maxWaitQueueId, 'maxWaitQueueId');
    q.admissionOverflow = ref(qc.admission?.overflowQueueId, 'admission.overflowQueueId');
  }

  private pool(skill: string, minLevel: number, strategyName: string, strategy: StrategyComparator): Pool {
    const key = `${skill}\u0000${minLevel}\u0000${strategyName}`;
    let pool = this.pools.get(key);
    if (pool === undefined) {
      let before = this.memberOrders.get(strategyName);
      if (before === undefined) this.memberOrders.set(strategyName, (before = memberBefore(strategy)));
      pool = new Pool(skill, minLevel, strategyName, before);
      this.pools.set(key, pool);
    }
    return pool;
  }

  private createAgent(ac: AgentConfig): string | null {
    if (this.agents.has(ac.id)) return `duplicate agent '${ac.id}'`;
    const err = badSkills(ac.id, ac.skills);
    if (err !== null) return err;
    const agent = new Agent(ac.id, this.agentOrder++, { ...ac.skills });
    this.joinPools(agent);
    this.agents.set(agent.id, agent);
    this.byState.idle++;
    this.byStatus.loggedOut++;
    return null;
  }

  /** Make the agent a member of every pool its skills qualify for, and give it their lanes. */
  private joinPools(agent: Agent): void {
    for (const pool of this.pools.values()) {
      const level = agent.skills[pool.skill];
      if (level === undefined || level < pool.minLevel) continue;
      const m = new Member(pool, agent, level);
      agent.members.push(m);
      pool.members.push(m);
      for (const lane of pool.lanes) agent.lanes.push(lane);
    }
  }

  // ================================================================ internals: calls

  private newCall(input: CallInput, kind: CallKind, arrivalTime: Millis, queue: Queue): Call {
    const c = new Call(input.id, kind, input.callerNumber, input.dialledNumber ?? '', input.priority ?? 0,
      arrivalTime, ++this.callSeq, queue);
    if (input.preferredAgentId !== undefined) c.preferred = this.agents.get(input.preferredAgentId) ?? null;
    this.calls.set(c.id, c);
    return c;
  }

  /**
   * Put a call (new or transferred) into `queue`, following full-queue and admission overflow (live
   * calls only).
   * `hops` stops overflow chains that loop (A full → B full → A).
   */
  private admit(call: Call, queue: Queue, now: Millis, admission: boolean, hops: number): void {
    if (hops > this.queueList.length) {
      this.end(call, 'rejected');
      return;
    }
    // Callback tasks were accepted already: no length limit, no admission control.
    if (call.kind === 'call' && queue.liveWaiting >= queue.maxLength) {
      if (queue.fullOverflow !== null) {
        this.out.push({ type: 'overflowed', callId: call.id, fromQueueId: queue.id, toQueueId: queue.fullOverflow.id, reason: 'queueFull' });
        this.admit(call, queue.fullOverflow, now, admission, hops + 1);
      } else {
        call.queue = queue;
        this.end(call, 'rejected');
      }
      return;
    }
    if (admission && call.kind === 'call' && (queue.overflowAboveMs !== Infinity || queue.callbackAboveMs !== Infinity)) {
      const ewt = this.ewtFor(queue, queue.waiting.size + 1);
      if (ewt > queue.overflowAboveMs && queue.admissionOverflow !== null) {
        this.out.push({ type: 'overflowed', callId: call.id, fromQueueId: queue.id, toQueueId: queue.admissionOverflow.id, reason: 'ewt' });
        this.admit(call, queue.admissionOverflow, now, admission, hops + 1);
        return;
      }
      if (ewt > queue.callbackAboveMs) this.out.push({ type: 'callbackOffer', callId: call.id, queueId: queue.id, ewtMs: ewt });
    }
    this.enter(call, queue, now, queue.waiting.size);
  }

  /** Set a call waiting in `queue` from `now`: entry step, timers, then try to route it. */
  private enter(call: Call, queue: Queue, now: Millis, lengthAtEntry: number): void {
    call.queue = queue;
    call.enteredAt = now;
    call.state = 'waiting';
    call.agent = null;
    let step = 0;
    for (let k = 1; k < queue.steps.length; k++) {
      const s = queue.steps[k]!;
      if (s.afterMs <= 0 || lengthAtEntry >= s.queueLengthAtLeast) step = k;
    }
    call.step = step;
    call.laneCount = 0;
    call.nextStepAt = this.nextStepTime(call);
    call.maxWaitAt = call.kind === 'call' ? now + queue.maxWaitMs : Infinity;
    call.nextAnnounceAt = call.kind === 'call' && queue.announcePeriodMs > 0 ? now + queue.announcePeriodMs : Infinity;
    const pref = call.preferred;
    const base = queue.primary;
    // The preferred agent must serve the queue: a caller's last agent who lacks the skill is no help.
    const directed = call.directed;
    call.directed = false;
    call.preferredOnly = directed
      // Named by a transfer: that agent now or not at all (route offers it at once, which ends the phase).
      ? pref !== null && pref.state === 'idle' && pref.status === 'available'
      : pref !== null && pref.status !== 'loggedOut' && queue.preferredAgentTimeoutMs > 0 && (pref.skills[base.skill] ?? -1) >= base.minLevel;
    call.preferredUntil = call.preferredOnly && !directed ? now + queue.preferredAgentTimeoutMs : Infinity;
    this.joinWaiting(call);
    this.route(call, now);
    if (call.state === 'waiting') this.schedule(call);
  }

  private nextStepTime(call: Call): Millis {
    const steps = call.queue.steps;
    let next = Infinity;
    for (let k = call.step + 1; k < steps.length; k++) next = Math.min(next, steps[k]!.afterMs);
    return call.enteredAt + next;
  }

  private joinWaiting(call: Call): void {
    const q = call.queue;
    call.queueNode.load();
    q.waiting.insert(call.queueNode);
    if (call.kind === 'call') q.liveWaiting++;
    else q.callbacksWaiting++;
  }

  /**
   * Take a waiting call out of every waiting structure (queue, lanes, preferred heap). Its timer is
   * left armed: a call that is offered keeps it until it fires (`callTimer` ignores a call that is not
   * waiting) or the call ends or waits again (re-armed in place). That keeps a timer-heap removal off
   * the offer path, the busiest decision; `end` disarms it so an ended call is not kept alive.
   */
  private leaveWaiting(call: Call): void {
    const q = call.queue;
    q.waiting.remove(call.queueNode);
    if (call.kind === 'call') q.liveWaiting--;
    else q.callbacksWaiting--;
    for (let i = 0; i < call.laneCount; i++) {
      const node = call.laneNodes[i]!;
      const lane = node.lane!;
      (call.kind === 'call' ? lane.live : lane.callbacks).remove(node);
      node.lane = null;
    }
    call.laneCount = 0;
    if (call.preferredNode !== null) call.preferred?.preferredCalls?.remove(call.preferredNode);
  }

  /**
   * Make the call sit in exactly the lanes of its current step: leave those the step no longer lists
   * (a dominated pool), join the new ones. Lists hold a handful of lanes, so plain scans.
   */
  private syncLanes(call: Call): void {
    const lanes = call.queue.steps[call.step]!.lanes;
    const nodes = call.laneNodes;
    let kept = 0;
    for (let i = 0; i < call.laneCount; i++) {
      const node = nodes[i]!;
      const lane = node.lane!;
      if (lanes.includes(lane)) {
        nodes[i] = nodes[kept]!;
        nodes[kept++] = node;
      } else {
        (call.kind === 'call' ? lane.live : lane.callbacks).remove(node);
        node.lane = null;
      }
    }
    call.laneCount = kept;
    for (let j = 0; j < lanes.length; j++) {
      const lane = lanes[j]!;
      let joined = false;
      for (let i = 0; i < kept; i++) if (nodes[i]!.lane === lane) joined = true;
      if (joined) continue;
      let node = nodes[call.laneCount];
      if (node === undefined) {
        node = new CallNode(call);
        nodes.push(node);
      }
      node.lane = lane;
      (call.kind === 'call' ? lane.live : lane.callbacks).push(node);
      call.laneCount++;
    }
  }

  /**
   * A waiting call looks for an idle agent: its preferred agent alone during the preferred phase,
   * otherwise the best idle head among the pools of its step. If none, it waits in the lanes.
   */
  private route(call: Call, now: Millis): void {
    if (call.preferredOnly) {
      const agent = call.preferred!;
      if (agent.state === 'idle' && agent.status === 'available') {
        this.offer(call, agent, now);
        return;
      }
      let heap = agent.preferredCalls;
      if (heap === null) heap = agent.preferredCalls = new IndexedHeap<CallNode>(arrivedFirst);
      const node = call.preferredNode ?? (call.preferredNode = new CallNode(call));
      if (!heap.has(node)) heap.push(node);
      return;
    }
    const pools = call.queue.steps[call.step]!.pools;
    const cmp = call.queue.strategy;
    let best: Member | undefined;
    for (let i = 0; i < pools.length; i++) {
      const m = pools[i]!.idle.peek();
      if (m === undefined) continue;
      if (best === undefined) {
        best = m;
        continue;
      }
      const c = cmp(m, best);
      if (c < 0 || (c === 0 && m.agent.order < best.agent.order)) best = m;
    }
    if (best !== undefined) this.offer(call, best.agent, now);
    else this.syncLanes(call);
  }

  private offer(call: Call, agent: Agent, now: Millis): void {
    if (call.state === 'waiting') this.leaveWaiting(call);
    this.leaveIdle(agent);
    const q = call.queue;
    call.state = 'offered';
    call.agent = agent;
    call.preferredOnly = false;
    agent.call = call;
    agent.lastOfferSeq = ++this.offerSeq;
    if (call.kind === 'call') q.callbackCredit = Math.min(1, q.callbackCredit + q.callbackShare);
    else q.callbackCredit = Math.max(0, q.callbackCredit - 1);
    this.setState(agent, 'reserved');
    agent.offerStage = 'pending';
    this.pendingSends++;
    // Re-armed by offerSent; this one bounds an offer whose INVITE never leaves.
    if (q.ringTimeoutMs > 0) this.setTimer(agent.timer, now + q.ringTimeoutMs);
    this.out.push({ type: 'offer', callId: call.id, agentId: agent.id, queueId: q.id, kind: call.kind, ringTimeoutMs: q.ringTimeoutMs });
    this.emitAgent(agent);
  }

  /** Cancel the offer of `call` (ringing); the agent is left idle with its status unchanged. Returns it. */
  private withdrawOffer(call: Call, reason: CancelReason): Agent {
    const agent = call.agent!;
    this.timers.remove(agent.timer);
    this.settleOffer(agent, false);
    agent.call = null;
    call.agent = null;
    this.setState(agent, 'idle');
    this.out.push({ type: 'cancelOffer', callId: call.id, agentId: agent.id, reason });
    return agent;
  }

  private offerFailed(callId: string, now: Millis, reason: 'rejected' | 'ringNoAnswer'): AcdEffect[] {
    this.out = [];
    const call = this.calls.get(callId);
    if (call === undefined) return this.unknownCall(callId);
    if (call.state !== 'offered') return this.badState(call, reason === 'rejected' ? 'offerRejected' : 'offerTimedOut');
    this.failOffer(call, now, reason);
    return this.out;
  }

  /** Ring-no-answer or reject: the agent goes not-ready, the call back to the head of its queue. */
  private failOffer(call: Call, now: Millis, reason: string): void {
    const agent = call.agent!;
    this.timers.remove(agent.timer);
    this.settleOffer(agent, true);
    agent.call = null;
    call.agent = null;
    this.setState(agent, 'idle');
    this.applyStatus(agent, 'notReady', reason, now);
    this.emitAgent(agent);
    this.sendBackToHead(call, now);
  }

  /**
   * An offer ended without the phone confirming it rang: the call goes back to the head; the
   * agent stays available and is idle at once, unless this happened UNCONFIRMED_LIMIT times in a
   * row (then its phone is the likelier cause: not-ready, 'unreachable').
   */
  private unconfirmedOfferEnded(call: Call, now: Millis): void {
    const agent = call.agent!;
    if (agent.unconfirmedOffers + 1 >= UNCONFIRMED_LIMIT) {
      this.failOffer(call, now, 'unreachable');
      return;
    }
    this.timers.remove(agent.timer);
    this.settleOffer(agent, false);
    agent.unconfirmedOffers++;
    agent.call = null;
    call.agent = null;
    // The agent keeps its place among the idle (idleSince unchanged): the lost offer was ours.
    this.setState(agent, 'idle');
    this.emitAgent(agent);
    this.sendBackToHead(call, now);
    if (agent.state === 'idle' && agent.status === 'available' && !agent.inIdleHeaps) this.agentFree(agent, now);
  }

  /** The agent's offer is over; `reset` clears its run of unconfirmed offers (it answered, or failed for good). */
  private settleOffer(agent: Agent, reset: boolean): void {
    if (agent.offerStage === 'pending') this.pendingSends--;
    agent.offerStage = 'none';
    if (reset) agent.unconfirmedOffers = 0;
  }

  /** A call whose offer failed waits again, ahead of its priority peers; the preferred phase ends. */
  private sendBackToHead(call: Call, now: Millis): void {
    call.state = 'waiting';
    call.returned = true;
    call.rank = call.arrivalTime - HEAD_BOOST;
    call.preferredOnly = false;
    call.laneCount = 0;
    this.joinWaiting(call);
    this.route(call, now);
    if (call.state === 'waiting') this.schedule(call);
  }

  /** Leave a call that was never answered: abandon, or accept a callback. */
  private dropUnanswered(call: Call, now: Millis, outcome: 'abandoned' | 'callback'): void {
    let freed: Agent | null = null;
    if (call.state === 'waiting') this.leaveWaiting(call);
    else freed = this.withdrawOffer(call, 'abandoned');
    if (call.kind === 'call') {
      if (outcome === 'abandoned') call.queue.abandoned++;
      this.end(call, outcome);
      if (outcome === 'callback' || call.queue.abandonToCallback) this.callbackFrom(call, now);
    } else {
      this.end(call, 'abandoned');
    }
    if (freed !== null) this.becomeIdle(freed, now);
  }

  /** Turn a departed live caller into a callback task with the same arrival time and priority. */
  private callbackFrom(call: Call, now: Millis): void {
    const existing = this.callbacksByNumber.get(call.callerNumber);
    if (existing !== undefined) {
      this.mergeInto(existing, call.arrivalTime);
      return;
    }
    let id = `${call.id}:callback`;
    while (this.calls.has(id)) id += '+';
    const cb = new Call(id, 'callback', call.callerNumber, call.dialledNumber, call.priority, call.arrivalTime,
      call.seq, call.queue);
    this.calls.set(id, cb);
    this.startCallback(cb, call.queue, now, call.id);
  }

  private startCallback(cb: Call, queue: Queue, now: Millis, fromCallId: string | null): void {
    this.callbacksByNumber.set(cb.callerNumber, cb);
    this.out.push({ type: 'callbackCreated', callId: cb.id, queueId: queue.id, callerNumber: cb.callerNumber, arrivalTime: cb.arrivalTime, fromCallId });
    this.enter(cb, queue, now, queue.waiting.size);
  }

  /** Deduplication: the surviving task keeps the earliest arrival (and so the earliest place). */
  private mergeInto(existing: Call, arrivalTime: Millis): void {
    if (arrivalTime >= existing.arrivalTime) return;
    const waiting = existing.state === 'waiting';
    // The ranked set needs the old key to find the entry: out first, then re-key, then back in.
    if (waiting) existing.queue.waiting.remove(existing.queueNode);
    existing.arrivalTime = arrivalTime;
    if (!existing.returned) existing.rank = arrivalTime;
    if (!waiting) return;
    existing.queueNode.load();
    existing.queue.waiting.insert(existing.queueNode);
    for (let i = 0; i < existing.laneCount; i++) {
      const node = existing.laneNodes[i]!;
      node.lane!.callbacks.update(node);
    }
  }

  /** The talk part of a call is over for its agent: statistics; returns the agent, due for wrap-up. */
  private finishTalk(call: Call, now: Millis): Agent {
    const agent = call.agent!;
    const q = call.queue;
    const talk = Math.max(0, now - call.answeredAt);
    agent.talkTimeMs += talk;
    agent.callsHandled++;
    agent.call = null;
    call.agent = null;
    q.handleTimeMs = ewma(q.handleTimeMs, talk + q.wrapUpMs, this.handleTimeAlpha);
    return agent;
  }

  /** Wrap-up after a call of queue `q`; with no wrap-up time the agent is idle at once. */
  private startWrapUp(agent: Agent, q: Queue, now: Millis): void {
    if (q.wrapUpMs > 0) {
      this.setState(agent, 'wrapUp');
      this.setTimer(agent.timer, now + q.wrapUpMs);
      this.emitAgent(agent);
    } else {
      this.finishWrapUp(agent, now);
    }
  }

  private end(call: Call, outcome: CallOutcome): void {
    call.state = 'ended';
    this.timers.remove(call.timer);
    this.calls.delete(call.id);
    if (call.kind === 'callback' && this.callbacksByNumber.get(call.callerNumber) === call) {
      this.callbacksByNumber.delete(call.callerNumber);
    }
    this.out.push({ type: 'ended', callId: call.id, queueId: call.queue.id, kind: call.kind, outcome });
  }

  // ================================================================ internals: agents

  private setState(agent: Agent, state: AgentState): void {
    this.byState[agent.state]--;
    this.byState[state]++;
    agent.state = state;
  }

  /** Change the effective status, keeping pool staffing and idle heaps in step. */
  private applyStatus(agent: Agent, status: AgentStatus, reason: string | null, now: Millis): void {
    agent.pendingStatus = null;
    agent.pendingReason = null;
    agent.reason = reason;
    if (status === agent.status) return;
    const wasAvailable = agent.status === 'available';
    this.byStatus[agent.status]--;
    this.byStatus[status]++;
    agent.status = status;
    if (wasAvailable) {
      this.leaveIdle(agent);
      for (const m of agent.members) m.pool.staffed--;
    } else if (status === 'available') {
      for (const m of agent.members) m.pool.staffed++;
      agent.idleSince = now;
    }
    if (status === 'loggedOut') this.releasePreferred(agent, now);
  }

  /** A logged-out agent can no longer be waited for: its preferred calls fall back at once. */
  private releasePreferred(agent: Agent, now: Millis): void {
    const heap = agent.preferredCalls;
    if (heap === null) return;
    for (let node = heap.pop(); node !== undefined; node = heap.pop()) {
      const call = node.call;
      call.preferredOnly = false;
      this.route(call, now);
      if (call.state === 'waiting') this.schedule(call);
    }
  }

  private leaveIdle(agent: Agent): void {
    // Most offers go to an agent who just freed up and never entered the idle heaps: skip the walk.
    if (!agent.inIdleHeaps) return;
    agent.inIdleHeaps = false;
    for (const m of agent.members) m.pool.idle.remove(m);
  }

  /** The agent became idle (after wrap-up, a cancelled offer...): take a call if available. */
  private becomeIdle(agent: Agent, now: Millis): void {
    if (agent.state !== 'idle') this.setState(agent, 'idle');
    agent.idleSince = now;
    this.emitAgent(agent);
    if (agent.status === 'available') this.agentFree(agent, now);
  }

  private finishWrapUp(agent: Agent, now: Millis): void {
    if (agent.pendingStatus !== null) this.applyStatus(agent, agent.pendingStatus, agent.pendingReason, now);
    this.becomeIdle(agent, now);
  }

  /**
   * The call of a consultation input, when the {@link CONSULT_NEEDS} row allows it: a talking live
   * call in one of the row's stages. Otherwise the error effect is in `out` and the result is null.
   */
  private consultCall(callId: string, input: ConsultInput): Call | null {
    const call = this.calls.get(callId);
    if (call === undefined) {
      this.unknownCall(callId);
      return null;
    }
    if (call.kind !== 'call' || call.state !== 'talking' || !CONSULT_NEEDS[input].includes(call.consultStage)) {
      this.fail('ACD_ERR_INVALID_STATE', `${input}: call '${call.id}' is ${call.state}, consultation ${call.consultStage}`);
      return null;
    }
    return call;
  }

  /**
   * End the call's consultation, if any: the consulted agent is free (pending status first), no
   * wrap-up; after a conference (it talked to the caller) it goes to the queue's wrap-up.
   */
  private releaseConsultant(call: Call, now: Millis): void {
    const agent = call.consultant;
    if (agent === null) return;
    const conferenced = call.consultStage === 'conference';
    call.consultant = null;
    call.consultStage = 'none';
    agent.consultFor = null;
    if (conferenced) this.startWrapUp(agent, call.queue, now);
    else this.finishWrapUp(agent, now);
  }

  /**
   * An available agent is idle: offer it the best call it may take, else put it in its pools' idle
   * heaps. Preferred calls first; then across lane heads, priority first, then waiting time times
   * the queue weight. Callback tasks go only when no live caller of equal or higher priority is
   * eligible, unless the callback's queue has its share due.
   */
  private agentFree(agent: Agent, now: Millis): void {
    const preferred = agent.preferredCalls?.peek();
    if (preferred !== undefined) {
      this.offer(preferred.call, agent, now);
      return;
    }
    let live: LaneHeap | null = null;
    let cb: LaneHeap | null = null;
    const lanes = agent.lanes;
    for (let i = 0; i < lanes.length; i++) {
      const lane = lanes[i]!;
      const l = lane.live;
      if (l.head !== null && (live === null || ahead(l, live, now))) live = l;
      const c = lane.callbacks;
      if (c.head !== null && (cb === null || ahead(c, cb, now))) cb = c;
    }
    let pick = live;
    if (cb !== null) {
      if (live === null || cb.priority > live.priority) pick = cb;
      else if (cb.priority === live.priority && cb.queue.callbackCredit >= 1 && ahead(cb, live, now)) pick = cb;
    }
    if (pick !== null) {
      this.offer(pick.head!, agent, now);
      return;
    }
    agent.inIdleHeaps = true;
    for (const m of agent.members) m.pool.idle.push(m);
  }

  // ================================================================ internals: time

  private setTimer(t: TimerNode, due: Millis): void {
    t.seq = ++this.timerSeq;
    this.timers.set(t, due, t.seq, 0);
  }

  /** (Re)arm the call's single timer at its earliest pending rule. */
  private schedule(call: Call): void {
    let due = Math.min(call.nextStepAt, call.maxWaitAt, call.nextAnnounceAt);
    if (call.preferredOnly) due = Math.min(due, call.preferredUntil);
    if (due === Infinity) this.timers.remove(call.timer);
    else this.setTimer(call.timer, due);
  }

  private agentTimer(agent: Agent, now: Millis): void {
    if (agent.state === 'reserved') {
      const call = agent.call!;
      this.out.push({ type: 'cancelOffer', callId: call.id, agentId: agent.id, reason: 'ringTimeout' });
      // Only a phone that rang had an agent who did not answer; otherwise the offer was late.
      if (agent.offerStage === 'ringing') this.failOffer(call, now, 'ringNoAnswer');
      else this.unconfirmedOfferEnded(call, now);
    } else if (agent.state === 'wrapUp') {
      this.finishWrapUp(agent, now);
    }
  }

  private callTimer(call: Call, now: Millis): void {
    if (call.state !== 'waiting') return;
    const q = call.queue;
    if (call.maxWaitAt <= now) {
      this.leaveWaiting(call);
      if (q.maxWaitQueue !== null) {
        this.out.push({ type: 'overflowed', callId: call.id, fromQueueId: q.id, toQueueId: q.maxWaitQueue.id, reason: 'maxWait' });
        this.admit(call, q.maxWaitQueue, now, false, 0);
      } else {
        this.end(call, 'maxWait');
      }
      return;
    }
    if (call.preferredOnly && call.preferredUntil <= now) {
      call.preferred!.preferredCalls!.remove(call.preferredNode!);
      call.preferredOnly = false;
      this.route(call, now);
      if (call.state !== 'waiting') return;
    }
    if (call.nextStepAt <= now) {
      const waited = now - call.enteredAt;
      const steps = q.steps;
      for (let k = call.step + 1; k < steps.length; k++) if (steps[k]!.afterMs <= waited) call.step = k;
      call.nextStepAt = this.nextStepTime(call);
      if (!call.preferredOnly) this.route(call, now);
      if (call.state !== 'waiting') return;
    }
    if (call.nextAnnounceAt <= now) {
      const position = q.waiting.rankOf(call.queueNode) + 1;
      this.out.push({ type: 'announce', callId: call.id, queueId: q.id, position, ewtMs: this.ewtFor(q, position) });
      const period = q.announcePeriodMs;
      call.nextAnnounceAt += Math.max(1, Math.ceil((now - call.nextAnnounceAt + 1) / period)) * period;
    }
    this.schedule(call);
  }

  private ewtFor(q: Queue, position: number): number {
    const p = q.primary;
    return estimateWait(position, p.staffed, p.idle.size, q.handleTimeMs);
  }

  // ================================================================ internals: effects

  private emitAgent(agent: Agent): void {
    this.out.push({ type: 'agentStateChanged', agentId: agent.id, state: agent.state, status: agent.status, reason: agent.reason });
  }

  private fail(code: AcdErrorCode, message: string): AcdEffect[] {
    this.out.push({ type: 'error', code, message });
    return this.out;
  }

  private unknownCall(callId: string): AcdEffect[] {
    return this.fail('ACD_ERR_UNKNOWN_CALL', `unknown call '${callId}'`);
  }

  private badState(call: Call, input: string): AcdEffect[] {
    return this.fail('ACD_ERR_INVALID_STATE', `${input}: call '${call.id}' is ${call.state}`);
  }
}

/** Preferred-agent heaps: first come, first served (one shared function, see `memberBefore`). */
const arrivedFirst = (a: CallNode, b: CallNode): boolean => a.call.seq < b.call.seq;

const timerOrder = (a: TimerNode, b: TimerNode): number => (timerBefore(a, b) ? -1 : 1);

/**
 * Across lane heads: priority, then calls sent back to the head of their queue, then waiting time
 * times the queue weight, then rank, then sequence. Within one queue this is exactly the lane order
 * (same weight: longer wait = earlier rank), which makes it a total order over all heads, so the best
 * head does not depend on the order the lanes are visited in.
 */
function ahead(a: LaneHeap, b: LaneHeap, now: Millis): boolean {
  if (a.priority !== b.priority) return a.priority > b.priority;
  if (a.returned !== b.returned) return a.returned;
  if (a.queue !== b.queue) {
    const wa = a.queue.weight * (now - a.arrival);
    const wb = b.queue.weight * (now - b.arrival);
    if (wa !== wb) return wa > wb;
  }
  if (a.rank !== b.rank) return a.rank < b.rank;
  return a.seq < b.seq;
}

/** Why a skills map is unusable (a level that is not a number >= 0), or null. */
function badSkills(agentId: string, skills: Readonly<Record<string, number>>): string | null {
  if (typeof skills !== 'object' || skills === null) return `agent '${agentId}': skills must be an object`;
  for (const [skill, level] of Object.entries(skills)) {
    if (!(typeof level === 'number' && level >= 0)) return `agent '${agentId}': bad level for skill '${skill}'`;
  }
  return null;
}

function invalid(message: string): never {
  throw new AcdError('ACD_ERR_INVALID_CONFIG', message);
}
