/**
 * The simulation's clock: a binary min-heap of events ordered by (time, sequence), so events due
 * at the same instant run in the order they were scheduled and a run is the same for a seed.
 */

/** What happens at an event; its payload fields `a`-`d` are read as each kind says. */
export type EventKind =
  | 'arrival' // a: call
  | 'dbArrive' // a: request (reaches the database)
  | 'dbReply' // a: request (the answer reaches its node)
  | 'notify' // a: node, b: agent, c: row version, d: holder node (-1 = none)
  | 'answer' // a: node, b: call
  | 'end' // a: node, b: call
  | 'tick' // a: node
  | 'patience' // a: node, b: call
  | 'sample';

/** One scheduled event. Created with all its fields (one shape). */
export interface SimEvent {
  t: number;
  seq: number;
  kind: EventKind;
  a: number;
  b: number;
  c: number;
  d: number;
}

/** Min-heap of {@link SimEvent}s. */
export class EventQueue {
  private readonly items: SimEvent[] = [];
  private seq = 0;

  /** Events waiting. */
  get size(): number {
    return this.items.length;
  }

  /** Schedule `kind` at `t`. */
  push(t: number, kind: EventKind, a = 0, b = 0, c = 0, d = 0): void {
    const items = this.items;
    const e: SimEvent = { t, seq: this.seq++, kind, a, b, c, d };
    let i = items.length;
    items.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!earlier(e, parent)) break;
      items[i] = parent;
      i = p;
    }
    items[i] = e;
  }

  /** The earliest event, removed; undefined when none is left. */
  pop(): SimEvent | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    const n = items.length;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && earlier(items[r]!, items[l]!) ? r : l;
      if (!earlier(items[c]!, last)) break;
      items[i] = items[c]!;
      i = c;
    }
    items[i] = last;
    return top;
  }
}

function earlier(x: SimEvent, y: SimEvent): boolean {
  return x.t < y.t || (x.t === y.t && x.seq < y.seq);
}
