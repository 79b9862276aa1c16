/**
 * Indexed binary heap: a priority queue whose elements know their own slot, so that removing or
 * re-keying an arbitrary element costs O(log n) instead of a linear search. Every ACD structure
 * (waiting calls per queue and per lane, idle agents per pool, the timer wheel) is one of these.
 */

/** An element that can sit in exactly one {@link IndexedHeap}; `heapIndex` is -1 when outside. */
export interface HeapNode {
  heapIndex: number;
}

/** `before(a, b)` is true when `a` must come out of the heap before `b`. Must be a strict order. */
export type Before<T> = (a: T, b: T) => boolean;

/**
 * Min-heap ordered by `before`. Nodes carry their position (`heapIndex`), which the heap keeps
 * current on every swap. A node belongs to at most one heap at a time: callers that need an entity
 * in several heaps give it one node per heap.
 */
export class IndexedHeap<T extends HeapNode> {
  private readonly items: T[] = [];
  private readonly before: Before<T>;

  constructor(before: Before<T>) {
    this.before = before;
  }

  /** Number of nodes in the heap. */
  get size(): number {
    return this.items.length;
  }

  /** The first node, or undefined when empty. */
  peek(): T | undefined {
    return this.items[0];
  }

  /** True when `node` is in this heap (not merely in some heap). */
  has(node: T): boolean {
    const i = node.heapIndex;
    return i >= 0 && i < this.items.length && this.items[i] === node;
  }

  /** Insert a node that is in no heap. O(log n). */
  push(node: T): void {
    const i = this.items.length;
    this.items.push(node);
    node.heapIndex = i;
    this.up(i);
  }

  /** Remove and return the first node. O(log n). */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.removeAt(0);
    return top;
  }

  /** Remove `node` if it is in this heap; returns whether it was. O(log n). */
  remove(node: T): boolean {
    if (!this.has(node)) return false;
    this.removeAt(node.heapIndex);
    return true;
  }

  /** Restore order after the key of `node` changed in either direction. O(log n). */
  update(node: T): void {
    if (!this.has(node)) return;
    this.up(node.heapIndex);
    this.down(node.heapIndex);
  }

  /** Visit every node in heap (not sorted) order. For tests and rare diagnostics only. */
  forEach(fn: (node: T) => void): void {
    for (let i = 0; i < this.items.length; i++) fn(this.items[i]!);
  }

  private removeAt(i: number): void {
    const items = this.items;
    const node = items[i]!;
    const last = items.pop()!;
    node.heapIndex = -1;
    if (i < items.length) {
      items[i] = last;
      last.heapIndex = i;
      this.up(i);
      this.down(last.heapIndex);
    }
  }

  private up(i: number): void {
    const items = this.items;
    const node = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p]!;
      if (!this.before(node, parent)) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = node;
    node.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const node = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let child = items[l]!;
      if (r < n) {
        const right = items[r]!;
        if (this.before(right, child)) {
          c = r;
          child = right;
        }
      }
      if (!this.before(child, node)) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = node;
    node.heapIndex = i;
  }
}
