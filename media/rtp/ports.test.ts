import t from 'tap';
import { PortAllocator } from './index.ts';

t.test('even RTP ports with room for RTCP on +1', async (t) => {
  const a = new PortAllocator(10001, 10010); // odd bounds on purpose
  t.equal(a.min, 10002);
  t.equal(a.max, 10008, '10010 has no 10011 for its RTCP inside the range');
  t.equal(a.capacity, 4);
  const got: number[] = [];
  for (let p = a.allocate(); p !== undefined; p = a.allocate()) got.push(p);
  t.same(got, [10002, 10004, 10006, 10008]);
  for (const p of got) {
    t.equal(p % 2, 0);
    t.ok(p + 1 <= 10010);
  }
  t.equal(a.available, 0);
  t.equal(a.allocate(), undefined, 'exhausted');
});

t.test('release puts the port at the back of the queue', async (t) => {
  const a = new PortAllocator(20000, 20007);
  const p1 = a.allocate()!;
  const p2 = a.allocate()!;
  a.release(p1);
  t.notOk(a.isAllocated(p1));
  t.ok(a.isAllocated(p2));
  t.equal(a.allocate(), 20004, 'the never-used ports first');
  t.equal(a.allocate(), 20006);
  t.equal(a.allocate(), p1, 'the released port last');
  t.equal(a.allocate(), undefined);
  a.release(p2);
  t.equal(a.available, 1);
  t.equal(a.allocate(), p2, 'usable again after exhaustion');
});

t.test('releasing a port that is not allocated is a bug', async (t) => {
  const a = new PortAllocator(30000, 30003);
  const p = a.allocate()!;
  a.release(p);
  t.throws(() => a.release(p), /MEDIA_ERR_PORT_RELEASE/, 'double release');
  t.throws(() => a.release(30001), /not allocated/, 'an RTCP port');
  t.throws(() => a.release(40000), /not allocated/, 'outside the range');
  t.equal(a.available, 2, 'bad releases change nothing');
});

t.test('bad ranges', async (t) => {
  t.throws(() => new PortAllocator(10000, 10000), RangeError);
  t.throws(() => new PortAllocator(0, 100), RangeError);
  t.throws(() => new PortAllocator(60000, 70000), RangeError);
  t.equal(new PortAllocator(10000, 10001).capacity, 1);
});

t.test('full cycle over a large range', async (t) => {
  const a = new PortAllocator(10000, 59999);
  t.equal(a.capacity, 25000);
  const seen = new Set<number>();
  for (let i = 0; i < a.capacity; i++) seen.add(a.allocate()!);
  t.equal(seen.size, 25000);
  for (const p of seen) a.release(p);
  t.equal(a.available, 25000);
});
