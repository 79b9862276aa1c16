import t from 'tap';
import fc from 'fast-check';
import { IndexedHeap } from './heap.ts';
import { KeyHeap } from './keyheap.ts';

interface Item { heapIndex: number; key: number; id: number }

t.test('IndexedHeap pops in order under random push / remove / re-key', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(3), fc.integer({ min: -50, max: 50 }), fc.nat()), { maxLength: 200, size: 'max' }), (ops) => {
    const before = (a: Item, b: Item): boolean => (a.key !== b.key ? a.key < b.key : a.id < b.id);
    const heap = new IndexedHeap<Item>(before);
    const order = (a: Item, b: Item): number => (before(a, b) ? -1 : 1);
    const live: Item[] = [];
    let id = 0;
    for (const [op, key, pick] of ops) {
      if (op === 0 || live.length === 0) {
        const it = { heapIndex: -1, key, id: id++ };
        heap.push(it);
        live.push(it);
      } else if (op === 1) {
        const it = live.splice(pick % live.length, 1)[0]!;
        if (!heap.remove(it) || it.heapIndex !== -1 || heap.has(it)) return false;
      } else if (op === 2) {
        const it = live[pick % live.length]!;
        it.key = key;
        heap.update(it);
      } else {
        const top = heap.pop()!;
        live.sort(order);
        if (top !== live[0]) return false;
        live.shift();
      }
      if (heap.size !== live.length) return false;
    }
    live.sort(order);
    for (const it of live) if (heap.pop() !== it) return false;
    return heap.size === 0 && heap.peek() === undefined;
  }), { numRuns: 300 });
  t.pass('heap order kept');
});

t.test('remove of a node from another heap is refused', async (t) => {
  const a = new IndexedHeap<Item>((x, y) => x.key < y.key);
  const b = new IndexedHeap<Item>((x, y) => x.key < y.key);
  const x = { heapIndex: -1, key: 1, id: 0 };
  a.push(x);
  b.push({ heapIndex: -1, key: 5, id: 1 });
  t.equal(b.remove(x), false);
  t.equal(a.size, 1);
});

t.test('KeyHeap pops by (k1, k2, k3) under random set / re-key / remove', async (t) => {
  fc.assert(fc.property(fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 0, max: 20 }), fc.integer({ min: -3, max: 3 }), fc.nat()), { maxLength: 300, size: 'max' }), (ops) => {
    const q = new KeyHeap<{ heapIndex: number; id: number }>(2);
    const nodes = Array.from({ length: 12 }, (_, id) => ({ heapIndex: -1, id }));
    const keyed = new Map<number, [number, number, number]>();
    let seq = 0;
    const lt = (a: [number, number, number], b: [number, number, number]): boolean =>
      a[0] !== b[0] ? a[0] < b[0] : a[1] !== b[1] ? a[1] < b[1] : a[2] < b[2];
    const first = (): number | undefined => {
      let best: number | undefined;
      for (const [id, k] of keyed) if (best === undefined || lt(k, keyed.get(best)!)) best = id;
      return best;
    };
    for (const [op, k1, k2, pick] of ops) {
      const node = nodes[pick % nodes.length]!;
      if (op <= 1) {
        const k: [number, number, number] = [k1, k2, ++seq];
        q.set(node, ...k);
        keyed.set(node.id, k);
      } else if (op === 2) {
        q.remove(node);
        keyed.delete(node.id);
        if (q.has(node)) return false;
      } else {
        const want = first();
        const got = q.pop();
        if (got?.id !== want) return false;
        if (want !== undefined) keyed.delete(want);
      }
      if (q.size !== keyed.size) return false;
      const f = first();
      if (q.peekKey1() !== (f === undefined ? Infinity : keyed.get(f)![0])) return false;
    }
    return true;
  }), { numRuns: 300 });
  t.pass('key order kept');
});
