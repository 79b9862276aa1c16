/**
 * One node of the active-standby pair: bids for the lease while standby, renews it while active,
 * and fences itself the moment it cannot show a live lease.
 *
 * Two guards keep a node that lost its lease out, even before its timers run (a process resumed
 * after SIGSTOP handles the packets that waited in its sockets before any timer fires):
 * - {@link HaNode.accepting}, read for every new INVITE/REGISTER, is true only while the role is
 *   `active` AND the clock is before the end of the last renewed lease;
 * - {@link HaNode.fence}, checked in every durable write's transaction (the PostgreSQL store's
 *   writer), refuses a write without a live lease locally, and in the database when the lease's
 *   epoch is no longer this node's.
 *
 * The lease ends `leaseMs` after the renewal was SENT, on both sides: the row's `expires_at` is
 * `sentAt + leaseMs`, and the node counts its lease valid until the same instant.
 *
 * How close a node came to fencing itself is measured, not guessed: {@link HaFigures.leaseUsedMaxMs}
 * is the most of a lease that had gone by when a renewal's answer extended it (the time from the
 * send of the renewal in force to the answer of the next). It must stay well below `leaseMs`; the
 * failover bench reports it under load (docs/operations.md, "Choosing the lease").
 *
 * A standby told the lease is held until T bids again at T (not a renewal period later), so a
 * takeover starts as soon as the old lease has run out.
 */
import type { Clock, TimerHandle } from '../clock/index.ts';
import type { PgLease } from './lease.ts';
import { nextRole, type HaInput, type HaRole } from './role.ts';
import type { Transaction } from 'kysely';

/** What the node logs through (a pino logger fits). */
export interface HaLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The fencing port of the PostgreSQL store's writer (structurally `WriteFence` of engine/store/pg). */
export interface HaFence {
  check(tx: Transaction<Record<string, never>>): Promise<void>;
}

/** Options of {@link HaNode}. */
export interface HaNodeOptions {
  lease: PgLease;
  /** This node's name in the lease row (unique per node). */
  nodeId: string;
  /** How long a taken or renewed lease lasts (ms). */
  leaseMs: number;
  /** How often the active renews and the standby bids (ms); well below `leaseMs`. */
  renewIntervalMs: number;
  /** The epoch clock (lease times are stored and compared across nodes). */
  clock: Clock;
  log: HaLog;
  /** The lease was lost (activating or active → fenced): stop every call and every writer now. */
  onFenced?: (reason: string) => void;
  /** Every role change, after it happened. */
  onRole?: (role: HaRole, previous: HaRole) => void;
}

/** Figures for metrics. */
export interface HaFigures {
  role: HaRole;
  /** The epoch this node holds or last held; 0 before its first lease. */
  epoch: number;
  /** Leases this node took over from another node. */
  takeovers: number;
  /** Renewals answered in time (each extended the lease). */
  renewals: number;
  /** Most of a lease gone by when a renewal's answer extended it (ms; 0 before the first renewal). */
  leaseUsedMaxMs: number;
}

/** The lease-holding state machine of one node. */
export class HaNode {
  readonly nodeId: string;
  readonly #o: HaNodeOptions;
  #role: HaRole = 'standby';
  #epoch: number | null = null;
  #validUntil = Number.NEGATIVE_INFINITY;
  #takeovers = 0;
  #renewals = 0;
  #leaseUsedMaxMs = 0;
  /** When the lease last in force was sent for (taken or renewed), epoch ms. */
  #inForceSentAt = Number.NEGATIVE_INFINITY;
  /** The next bid's delay when a held lease runs out before the next renewal period; else undefined. */
  #bidDelayMs: number | undefined;
  #busy = false;
  #loop: TimerHandle | undefined;
  #deadline: TimerHandle | undefined;
  #activate: (() => Promise<void>) | undefined;
  /** The store writer's fencing check (see the class comment). */
  readonly fence: HaFence;

  constructor(o: HaNodeOptions) {
    if (!(o.renewIntervalMs > 0 && o.renewIntervalMs * 2 <= o.leaseMs)) throw new RangeError('renewIntervalMs must be positive and at most half of leaseMs');
    this.#o = o;
    this.nodeId = o.nodeId;
    // The server cuts a write transaction idle longer than the lease: a paused writer's share lock cannot stall a takeover.
    this.fence = { check: (tx) => o.lease.check(tx, this.writeEpoch(), o.leaseMs) };
  }

  /** The role now. */
  get role(): HaRole {
    return this.#role;
  }

  /** Until when (epoch ms) the lease this node holds is valid; -Infinity when it holds none. */
  get validUntil(): number {
    return this.#validUntil;
  }

  /** True when this node may take a new call or registration now. */
  accepting(): boolean {
    return this.#role === 'active' && this.#o.clock.now() < this.#validUntil;
  }

  /** The epoch this node may write at now (activating: recovery; active), or null. */
  writeEpoch(): number | null {
    const live = (this.#role === 'active' || this.#role === 'activating') && this.#o.clock.now() < this.#validUntil;
    return live ? this.#epoch : null;
  }

  figures(): HaFigures {
    return { role: this.#role, epoch: this.#epoch ?? 0, takeovers: this.#takeovers, renewals: this.#renewals, leaseUsedMaxMs: this.#leaseUsedMaxMs };
  }

  /**
   * Start bidding every `renewIntervalMs` (at once first). `activate` runs once the lease is taken
   * (journal recovery, outbox, dialer, registrations); the node is `active` when it resolves.
   * `loop: false` only sets `activate`: a test on a fake clock then calls {@link step} itself.
   */
  start(activate: () => Promise<void>, opts: { loop: boolean } = { loop: true }): void {
    this.#activate = activate;
    if (!opts.loop) return;
    const run = (): void => {
      this.#loop = undefined;
      void this.step().finally(() => {
        if (this.#role !== 'fenced' && this.#role !== 'stopped') this.#loop = this.#o.clock.setTimer(this.nextStepMs(), run);
      });
    };
    run();
  }

  /**
   * How long until the next {@link step}: the renewal period, or less for a standby whose last bid
   * found a lease that runs out sooner (it bids the moment it has expired).
   */
  nextStepMs(): number {
    const d = this.#role === 'standby' ? this.#bidDelayMs : undefined;
    return d === undefined ? this.#o.renewIntervalMs : d;
  }

  /**
   * One bid (standby) or renewal (activating, active). The loop of {@link start} calls it; a test
   * on a fake clock calls it itself. Database errors are logged: the lease's deadline fences.
   */
  async step(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      if (this.#role === 'standby') await this.#bid();
      else if (this.#role === 'activating' || this.#role === 'active') await this.#renew();
    } catch (err) {
      this.#o.log.warn({ err, role: this.#role }, this.#role === 'standby' ? 'lease bid failed' : 'lease renewal failed');
    } finally {
      this.#busy = false;
    }
  }

  /** Stop bidding and renewing; a holder gives the lease up so the standby takes it at its next bid. Idempotent. */
  async stop(): Promise<void> {
    if (this.#role === 'stopped') return;
    const held = (this.#role === 'active' || this.#role === 'activating') && this.#epoch !== null ? this.#epoch : null;
    this.#clearTimers();
    this.#to('stop');
    if (held !== null) {
      try { await this.#o.lease.release(this.nodeId, held); } catch (err) { this.#o.log.warn({ err }, 'lease release failed: the standby waits for it to expire'); }
    }
  }

  async #bid(): Promise<void> {
    const now = this.#o.clock.now();
    const got = await this.#o.lease.acquire(this.nodeId, now, this.#o.leaseMs, this.#o.renewIntervalMs);
    if (got.held) {
      // Held until T: bid again at T if that comes before the next period (1 ms past: expires_at <= now takes it).
      const left = got.expiresAt === null ? Infinity : got.expiresAt - this.#o.clock.now() + 1;
      this.#bidDelayMs = left < this.#o.renewIntervalMs ? Math.max(0, left) : undefined;
      return;
    }
    this.#bidDelayMs = undefined;
    if (this.#role !== 'standby') return;
    this.#epoch = got.epoch;
    this.#inForceSentAt = now;
    this.#extend(now + this.#o.leaseMs);
    if (got.previous !== null && got.previous !== this.nodeId) this.#takeovers++;
    this.#to('acquired');
    this.#o.log.warn({ node: this.nodeId, epoch: got.epoch, previous: got.previous }, 'lease taken: this node becomes active');
    void this.#runActivation(got.epoch);
  }

  async #runActivation(epoch: number): Promise<void> {
    try {
      await this.#activate?.();
    } catch (err) {
      this.#o.log.error({ err }, 'activation failed');
      if (this.#epoch === epoch) this.#lose('activation failed');
      return;
    }
    if (this.#role === 'activating' && this.#epoch === epoch) {
      this.#to('activated');
      this.#o.log.warn({ node: this.nodeId, epoch }, 'active: taking calls');
    }
  }

  async #renew(): Promise<void> {
    const epoch = this.#epoch!;
    const sentAt = this.#o.clock.now();
    const ok = await this.#o.lease.renew(this.nodeId, epoch, sentAt, this.#o.leaseMs);
    if ((this.#role !== 'active' && this.#role !== 'activating') || this.#epoch !== epoch) return;
    if (!ok) {
      this.#lose('another node holds the lease (the epoch moved on)');
      return;
    }
    // A renewal answered after the lease ran out does not revive it: the deadline fenced already.
    const answeredAt = this.#o.clock.now();
    if (answeredAt >= this.#validUntil) return;
    this.#renewals++;
    this.#leaseUsedMaxMs = Math.max(this.#leaseUsedMaxMs, answeredAt - this.#inForceSentAt);
    this.#inForceSentAt = sentAt;
    this.#extend(sentAt + this.#o.leaseMs);
    this.#to('renewed');
  }

  #extend(until: number): void {
    if (until <= this.#validUntil) return;
    this.#validUntil = until;
    if (this.#deadline !== undefined) this.#o.clock.clearTimer(this.#deadline);
    this.#deadline = this.#o.clock.setTimer(until - this.#o.clock.now(), () => {
      this.#deadline = undefined;
      if (this.#o.clock.now() >= this.#validUntil) this.#lose('the lease ran out before it was renewed');
    });
  }

  #lose(reason: string): void {
    if (this.#role !== 'active' && this.#role !== 'activating') return;
    this.#validUntil = Number.NEGATIVE_INFINITY;
    this.#clearTimers();
    this.#to('lost');
    this.#o.log.error({ node: this.nodeId, epoch: this.#epoch, reason }, 'lease lost: this node is fenced and takes no more calls (restart it to rejoin as standby)');
    this.#o.onFenced?.(reason);
  }

  #clearTimers(): void {
    if (this.#loop !== undefined) this.#o.clock.clearTimer(this.#loop);
    if (this.#deadline !== undefined) this.#o.clock.clearTimer(this.#deadline);
    this.#loop = undefined;
    this.#deadline = undefined;
  }

  #to(input: HaInput): void {
    const previous = this.#role;
    this.#role = nextRole(previous, input);
    if (this.#role !== previous) this.#o.onRole?.(this.#role, previous);
  }
}
