/**
 * A 4-ary min-heap whose keys sit in typed arrays beside the node array. It holds the core's two
 * busiest kinds of entries: timers (every waiting call has one, re-armed at each announcement) and
 * lane entries (every waiting call sits in one to a few lanes, and every offer takes it out of all of
 * them). Comparing keys in contiguous memory instead of through each node's object, and four children
 * per level instead of two, roughly halve the memory loads of a sift; on a shared machine, where
 * nearly every load of a scattered node misses the cache, that is most of the cost of a decision.
 */
import type { HeapNode } from './heap.ts';

/**
 * Min-heap of nodes keyed by three numbers compared in order (k1, then k2, then k3). Callers encode
 * their order into the keys (for a max on a key, store its negation). A node is in at most one heap.
 */
export class KeyHeap<T extends HeapNode> {
  private readonly nodes: T[] = [];
  private k1: Float64Array;
  private k2: Float64Array;
  private k3: Float64Array;

  constructor(capacity = 16) {
    this.k1 = new Float64Array(capacity);
    this.k2 = new Float64Array(capacity);
    this.k3 = new Float64Array(capacity);
  }

  /** Number of nodes. */
  get size(): number {
    return this.nodes.length;
  }

  /** The first node, or undefined when empty. */
  peek(): T | undefined {
    return this.nodes[0];
  }

  /** First key of the first node, Infinity when empty. */
  peekKey1(): number {
    return this.nodes.length === 0 ? Infinity : this.k1[0]!;
  }

  /** True when `node` is in this heap. */
  has(node: T): boolean {
    const i = node.heapIndex;
    return i >= 0 && i < this.nodes.length && this.nodes[i] === node;
  }

  /** Insert `node` with these keys, or re-key it if it is here. O(log n). */
  set(node: T, k1: number, k2: number, k3: number): void {
    if (!this.has(node)) {
      const i = this.nodes.length;
      if (i === this.k1.length) this.grow();
      this.nodes.push(node);
      node.heapIndex = i;
      this.k1[i] = k1;
      this.k2[i] = k2;
      this.k3[i] = k3;
      this.up(i);
      return;
    }
    const i = node.heapIndex;
    this.k1[i] = k1;
    this.k2[i] = k2;
    this.k3[i] = k3;
    this.up(i);
    this.down(node.heapIndex);
  }

  /** Remove `node` if it is here; returns whether it was. O(log n). */
  remove(node: T): boolean {
    if (!this.has(node)) return false;
    const i = node.heapIndex;
    const lastIndex = this.nodes.length - 1;
    const last = this.nodes.pop()!;
    node.heapIndex = -1;
    if (i === lastIndex) return true;
    this.nodes[i] = last;
    last.heapIndex = i;
    this.k1[i] = this.k1[lastIndex]!;
    this.k2[i] = this.k2[lastIndex]!;
    this.k3[i] = this.k3[lastIndex]!;
    this.up(i);
    this.down(last.heapIndex);
    return true;
  }

  /** Remove and return the first node. */
  pop(): T | undefined {
    const top = this.nodes[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  private less(i: number, j: number): boolean {
    const a = this.k1[i]!;
    const b = this.k1[j]!;
    if (a !== b) return a < b;
    const c = this.k2[i]!;
    const d = this.k2[j]!;
    if (c !== d) return c < d;
    return this.k3[i]! < this.k3[j]!;
  }

  /** Move node and keys from slot `from` to slot `to`. */
  private move(from: number, to: number): void {
    const node = this.nodes[from]!;
    this.nodes[to] = node;
    node.heapIndex = to;
    this.k1[to] = this.k1[from]!;
    this.k2[to] = this.k2[from]!;
    this.k3[to] = this.k3[from]!;
  }

  /** Sift the entry at `i` up, moving parents down into the hole (one write per level). */
  private up(i: number): void {
    if (i === 0 || !this.less(i, (i - 1) >> 2)) return;
    const node = this.nodes[i]!;
    const a = this.k1[i]!;
    const b = this.k2[i]!;
    const c = this.k3[i]!;
    while (i > 0) {
      const p = (i - 1) >> 2;
      const pa = this.k1[p]!;
      if (pa < a || (pa === a && (this.k2[p]! < b || (this.k2[p]! === b && this.k3[p]! <= c)))) break;
      this.move(p, i);
      i = p;
    }
    this.nodes[i] = node;
    node.heapIndex = i;
    this.k1[i] = a;
    this.k2[i] = b;
    this.k3[i] = c;
  }

  /** Sift the entry at `i` down, moving the best child up into the hole. */
  private down(i: number): void {
    const n = this.nodes.length;
    for (;;) {
      const first = 4 * i + 1;
      if (first >= n) return;
      let best = first;
      const end = first + 4 < n ? first + 4 : n;
      for (let c = first + 1; c < end; c++) if (this.less(c, best)) best = c;
      if (!this.less(best, i)) return;
      this.swap(i, best);
      i = best;
    }
  }

  private swap(i: number, j: number): void {
    const nodes = this.nodes;
    const a = nodes[i]!;
    const b = nodes[j]!;
    nodes[i] = b;
    nodes[j] = a;
    b.heapIndex = i;
    a.heapIndex = j;
    let t = this.k1[i]!;
    this.k1[i] = this.k1[j]!;
    this.k1[j] = t;
    t = this.k2[i]!;
    this.k2[i] = this.k2[j]!;
    this.k2[j] = t;
    t = this.k3[i]!;
    this.k3[i] = this.k3[j]!;
    this.k3[j] = t;
  }

  private grow(): void {
    const size = this.k1.length * 2;
    const grow = (old: Float64Array): Float64Array => {
      const a = new Float64Array(size);
      a.set(old);
      return a;
    };
    this.k1 = grow(this.k1);
    this.k2 = grow(this.k2);
    this.k3 = grow(this.k3);
  }
}
