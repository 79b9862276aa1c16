/**
 * The core's single timer queue: a 4-ary min-heap whose keys (due time, then scheduling sequence) sit
 * in typed arrays beside the node array. Timer operations are the most frequent heap operations of the
 * core (every waiting call has one, re-armed at each announcement), and comparing keys in contiguous
 * memory instead of through each node's object halves their cost; four children per level halve the
 * depth.
 */
import type { HeapNode } from './heap.ts';

/**
 * Min-heap of timer nodes keyed by (due, seq). `seq` must be unique per arming so equal due times
 * come out in arming order.
 */
export class TimerQueue<T extends HeapNode> {
  private readonly nodes: T[] = [];
  private due: Float64Array = new Float64Array(256);
  private seq: Float64Array = new Float64Array(256);

  /** Number of armed timers. */
  get size(): number {
    return this.nodes.length;
  }

  /** Due time of the first timer, Infinity when none. */
  peekDue(): number {
    return this.nodes.length === 0 ? Infinity : this.due[0]!;
  }

  /** True when `node` is armed here. */
  has(node: T): boolean {
    const i = node.heapIndex;
    return i >= 0 && i < this.nodes.length && this.nodes[i] === node;
  }

  /** Arm `node` at `due` (re-arm if armed). O(log n). */
  set(node: T, due: number, seq: number): void {
    let i = node.heapIndex;
    if (!this.has(node)) {
      i = this.nodes.length;
      if (i === this.due.length) this.grow();
      this.nodes.push(node);
      node.heapIndex = i;
      this.due[i] = due;
      this.seq[i] = seq;
      this.up(i);
      return;
    }
    const later = due > this.due[i]! || (due === this.due[i]! && seq > this.seq[i]!);
    this.due[i] = due;
    this.seq[i] = seq;
    if (later) this.down(i);
    else this.up(i);
  }

  /** Disarm `node` if armed. O(log n). */
  remove(node: T): void {
    if (!this.has(node)) return;
    const i = node.heapIndex;
    const lastIndex = this.nodes.length - 1;
    const last = this.nodes.pop()!;
    node.heapIndex = -1;
    if (i === lastIndex) return;
    this.nodes[i] = last;
    last.heapIndex = i;
    this.due[i] = this.due[lastIndex]!;
    this.seq[i] = this.seq[lastIndex]!;
    this.up(i);
    this.down(last.heapIndex);
  }

  /** Remove and return the first timer. */
  pop(): T | undefined {
    const top = this.nodes[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  private less(i: number, j: number): boolean {
    const a = this.due[i]!;
    const b = this.due[j]!;
    return a < b || (a === b && this.seq[i]! < this.seq[j]!);
  }

  private swap(i: number, j: number): void {
    const nodes = this.nodes;
    const a = nodes[i]!;
    const b = nodes[j]!;
    nodes[i] = b;
    nodes[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
    const d = this.due[i]!;
    this.due[i] = this.due[j]!;
    this.due[j] = d;
    const s = this.seq[i]!;
    this.seq[i] = this.seq[j]!;
    this.seq[j] = s;
  }

  private up(i: number): void {
    while (i > 0) {
      const p = (i - 1) >> 2;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i: number): void {
    const n = this.nodes.length;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) break;
      let best = first;
      const end = Math.min(first + 4, n);
      for (let c = first + 1; c < end; c++) if (this.less(c, best)) best = c;
      if (!this.less(best, i)) break;
      this.swap(i, best);
      i = best;
    }
  }

  private grow(): void {
    const due = new Float64Array(this.due.length * 2);
    due.set(this.due);
    this.due = due;
    const seq = new Float64Array(this.seq.length * 2);
    seq.set(this.seq);
    this.seq = seq;
  }
}
