/**
 * What the predictive dialers over the same auto-answer agents share (issue 14). The callback
 * dialer in mode predictive and the campaigns' predictive dialer each pace customers for the
 * same agents; each counting only its own customers in flight, both would dial for the same idle
 * agent and together over-dial past the abandon cap. So every dialer joins one share: the pacer
 * of each sees the customers all of them are dialling or holding, and when each agent's current
 * dialled call began, whichever dialer connected it.
 */

/** Customers one dialer has in flight: being dialled, or answered and not yet with an agent. */
export interface InFlight {
  dialing: number;
  held: number;
}

/** One per set of auto-answer agents (the engine makes one; every predictive dialer joins it). */
export class PredictiveShare {
  private readonly members: (() => InFlight)[] = [];
  /** Dials decided but not yet started: a dialer awaits its due tasks between the two. */
  private reserved = 0;
  /** When each auto-answer agent's current dialled call began (its busy time so far). */
  readonly busySince = new Map<string, number>();

  /** A dialer joins with the count of its own customers in flight. */
  join(inFlight: () => InFlight): void {
    this.members.push(inFlight);
  }

  /**
   * Count `n` dials as in flight from the moment they are decided until `release()` (once the
   * dialer has started them, they count as its own): two dialers pacing in the same turn must not
   * both spend the same idle agent.
   */
  reserve(n: number): () => void {
    this.reserved += n;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.reserved -= n;
    };
  }

  /** Customers in flight across every member, reserved dials included. */
  inFlight(): InFlight {
    let dialing = this.reserved;
    let held = 0;
    for (const m of this.members) {
      const f = m();
      dialing += f.dialing;
      held += f.held;
    }
    return { dialing, held };
  }
}
