import t from 'tap';
import fc from 'fast-check';
import { RankedSet, treapWeight } from './ranked.ts';
import type { RankedNode } from './ranked.ts';

class Node implements RankedNode {
  left: RankedNode | null = null;
  right: RankedNode | null = null;
  size = 0;
  minArrival = 0;
  readonly weight: number;
  constructor(readonly key: number, readonly id: number, public arrival: number) {
    this.weight = treapWeight(id);
  }
}
const before = (a: Node, b: Node): boolean => (a.key !== b.key ? a.key < b.key : a.id < b.id);
const order = (a: Node, b: Node): number => (before(a, b) ? -1 : 1);

t.test('RankedSet keeps order, ranks and the minimum arrival under random inserts and removes', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: -30, max: 30 }), fc.nat(), fc.integer({ min: 0, max: 1000 })), { maxLength: 300, size: 'max' }), (ops) => {
    const set = new RankedSet<Node>(before);
    const live: Node[] = [];
    let id = 0;
    for (const [add, key, pick, arrival] of ops) {
      if (add || live.length === 0) {
        const n = new Node(key, id++, arrival);
        set.insert(n);
        live.push(n);
      } else {
        const n = live.splice(pick % live.length, 1)[0]!;
        set.remove(n);
        if (set.has(n)) return false;
      }
      live.sort(order);
      if (set.size !== live.length) return false;
      if (set.minArrival() !== Math.min(...live.map((n) => n.arrival))) return false;
      const probe = live[pick % Math.max(1, live.length)];
      if (probe !== undefined && set.rankOf(probe) !== live.indexOf(probe)) return false;
    }
    const inOrder: Node[] = [];
    set.forEach((n) => inOrder.push(n));
    return inOrder.length === live.length && inOrder.every((n, i) => n === live[i]) && live.every((n, i) => set.rankOf(n) === i);
  }), { numRuns: 300 });
  t.pass('ranks match a sorted array');
});

t.test('a sequential insert stays shallow (treap balance)', async (t) => {
  const set = new RankedSet<Node>(before);
  const nodes = Array.from({ length: 20_000 }, (_, i) => new Node(i, i, i));
  for (const n of nodes) set.insert(n);
  let maxDepth = 0;
  const depth = (n: RankedNode | null, d: number): void => {
    if (n === null) return;
    maxDepth = Math.max(maxDepth, d);
    depth(n.left, d + 1);
    depth(n.right, d + 1);
  };
  depth((set as unknown as { root: RankedNode | null }).root, 1);
  t.ok(maxDepth < 60, `depth ${maxDepth} for 20,000 sorted inserts`);
  t.equal(set.rankOf(nodes[12_345]!), 12_345);
});
