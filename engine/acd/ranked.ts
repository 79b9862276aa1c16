/**
 * Order-statistics set: a treap whose nodes carry their subtree size, so that "how many entries come
 * before this one" costs O(log n). It holds each queue's waiting entries in queue order, which makes a
 * caller's announced position as cheap as any other decision instead of a walk over the callers ahead.
 * Nodes also carry the smallest `arrival` of their subtree, so the oldest entry's arrival is read at
 * the root without a second structure ordered by arrival.
 */

/** A node of a {@link RankedSet}; one set at a time. Fields are owned by the set. */
export interface RankedNode {
  left: RankedNode | null;
  right: RankedNode | null;
  /** Nodes in this subtree, this one included; 0 when outside any set. */
  size: number;
  /** Heap priority of the treap (smaller nearer the root); fixed for the node's life. */
  readonly weight: number;
  /** Arrival time of this entry; fixed while in a set. */
  arrival: number;
  /** Smallest `arrival` in this subtree; owned by the set. */
  minArrival: number;
}

/**
 * Treap weight from a sequence number: a full-avalanche integer hash (lowbias32), so weights look
 * random for consecutive sequence numbers while runs stay deterministic.
 */
export function treapWeight(seq: number): number {
  let x = seq | 0;
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

const sizeOf = (n: RankedNode | null): number => (n === null ? 0 : n.size);
const minOf = (n: RankedNode | null): number => (n === null ? Infinity : n.minArrival);

/** Recompute the minimum arrival of `t` from its children. */
function fixMin(t: RankedNode): void {
  t.minArrival = Math.min(t.arrival, minOf(t.left), minOf(t.right));
}

/** Recompute size and minimum arrival of `t` from its children. */
function fix(t: RankedNode): void {
  t.size = sizeOf(t.left) + sizeOf(t.right) + 1;
  fixMin(t);
}

/**
 * Ordered by `before`, which must be a strict total order on the nodes' keys. A node's key must not
 * change while it is in the set: remove it, change it, insert it again.
 */
export class RankedSet<T extends RankedNode> {
  private root: RankedNode | null = null;
  private readonly before: (a: T, b: T) => boolean;

  constructor(before: (a: T, b: T) => boolean) {
    this.before = before;
  }

  /** Number of nodes. */
  get size(): number {
    return sizeOf(this.root);
  }

  /** Smallest arrival among the nodes; Infinity when empty. O(1). */
  minArrival(): number {
    return minOf(this.root);
  }

  /** True when `node` is in some set (the runtime never shares nodes between sets). */
  has(node: T): boolean {
    return node.size > 0;
  }

  /** Insert a node that is in no set. O(log n) expected. */
  insert(node: T): void {
    node.left = null;
    node.right = null;
    node.size = 1;
    node.minArrival = node.arrival;
    this.root = this.ins(this.root, node);
  }

  /** Remove `node`; no-op when it is in no set. O(log n) expected. */
  remove(node: T): void {
    if (node.size === 0) return;
    this.root = this.del(this.root, node);
    node.left = null;
    node.right = null;
    node.size = 0;
  }

  /** Number of nodes before `node` (its 0-based position). `node` must be in the set. */
  rankOf(node: T): number {
    let count = 0;
    let t = this.root;
    while (t !== null) {
      if (t === node) return count + sizeOf(t.left);
      if (this.before(node, t as T)) t = t.left;
      else {
        count += sizeOf(t.left) + 1;
        t = t.right;
      }
    }
    return count;
  }

  /** Visit nodes in order. For tests and rare diagnostics. */
  forEach(fn: (node: T) => void): void {
    const walk = (t: RankedNode | null): void => {
      if (t === null) return;
      walk(t.left);
      fn(t as T);
      walk(t.right);
    };
    walk(this.root);
  }

  private ins(t: RankedNode | null, node: T): RankedNode {
    if (t === null) return node;
    t.size++;
    if (node.arrival < t.minArrival) t.minArrival = node.arrival;
    if (this.before(node, t as T)) {
      const l = this.ins(t.left, node);
      t.left = l;
      if (l.weight < t.weight) return rotateRight(t);
    } else {
      const r = this.ins(t.right, node);
      t.right = r;
      if (r.weight < t.weight) return rotateLeft(t);
    }
    return t;
  }

  private del(t: RankedNode | null, node: T): RankedNode | null {
    if (t === null) return null;
    if (t === node) return merge(t.left, t.right);
    if (this.before(node, t as T)) t.left = this.del(t.left, node);
    else t.right = this.del(t.right, node);
    t.size--;
    // The subtree minimum can only have changed if the removed node held it.
    if (node.arrival === t.minArrival) fixMin(t);
    return t;
  }
}

function rotateRight(t: RankedNode): RankedNode {
  const l = t.left!;
  t.left = l.right;
  l.right = t;
  fix(t);
  fix(l);
  return l;
}

function rotateLeft(t: RankedNode): RankedNode {
  const r = t.right!;
  t.right = r.left;
  r.left = t;
  fix(t);
  fix(r);
  return r;
}

/** Join two treaps where every node of `a` comes before every node of `b`. */
function merge(a: RankedNode | null, b: RankedNode | null): RankedNode | null {
  if (a === null) return b;
  if (b === null) return a;
  if (a.weight < b.weight) {
    a.right = merge(a.right, b);
    fix(a);
    return a;
  }
  b.left = merge(a, b.left);
  fix(b);
  return b;
}
