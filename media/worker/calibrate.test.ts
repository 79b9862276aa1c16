/**
 * The start-up calibration of the media capacity (issue 13): a real burst of datagrams over
 * loopback, through a worker's command path, and the rule that turns its cost into streams.
 */
import t from 'tap';
import { MediaPool } from './pool.ts';
import { measureSendCost, streamsFor, PACING_OVERHEAD, PACKETS_PER_STREAM_PER_S } from './calibrate.ts';

t.test('streamsFor: workers x core share / (cost x pacing overhead x 50/s), bounded by the dearest worker', async (t) => {
  t.equal(PACING_OVERHEAD, 1.5, 'the overhead docs/bench.md measured');
  // 5 µs a bare datagram, 7.5 µs paced, half a core: 0.5 / (7.5e-6 * 50) = 1,333 streams a worker.
  t.equal(streamsFor([5], 0.5), 1333);
  t.equal(streamsFor([5, 5], 0.5), 2666);
  // The pool spreads legs evenly, so the slower worker sets the pace of both.
  t.equal(streamsFor([2.5, 5], 0.5), 2666);
  t.equal(streamsFor([10], 1), Math.floor(1 / (10e-6 * PACING_OVERHEAD * PACKETS_PER_STREAM_PER_S)));
  // A pathological cost still admits one caller at a time, never none.
  t.equal(streamsFor([1e9], 0.1), 1);
  t.throws(() => streamsFor([], 0.5), RangeError);
  t.throws(() => streamsFor([8], 0), RangeError);
  t.throws(() => streamsFor([8], 1.5), RangeError);
  t.throws(() => streamsFor([0], 0.5), RangeError);
  t.throws(() => streamsFor([Number.NaN], 0.5), RangeError);
});

t.test('measureSendCost times real datagrams over loopback and refuses a bad count', async (t) => {
  const r = await measureSendCost(2000);
  t.ok(r.ok, 'measured');
  if (r.ok) {
    t.equal(r.value.packets, 2000, 'whole bursts timed');
    t.ok(r.value.usPerPacket > 0 && Number.isFinite(r.value.usPerPacket), `a positive cost (${r.value.usPerPacket.toFixed(2)} µs)`);
  }
  for (const bad of [0, 10, 1.5, -1, 2_000_000, Number.NaN]) {
    const x = await measureSendCost(bad);
    t.equal(x.ok ? 'ok' : x.code, 'MEDIA_ERR_BAD_COMMAND', `packets ${bad} refused`);
  }
});

t.test('the pool calibrates every worker through the command path', async (t) => {
  const pool = await MediaPool.start({ workers: 2, bindAddress: '127.0.0.1', portMin: 30000 + 2 * Math.floor(Math.random() * 14000), portMax: 65000, spareLegs: 0 });
  t.teardown(() => pool.close());
  const r = await pool.calibrate(1000);
  t.ok(r.ok);
  if (r.ok) {
    t.equal(r.value.length, 2, 'one cost per worker');
    for (const c of r.value) t.ok(c.usPerPacket > 0 && c.packets === 1000);
  }
  const bad = await pool.calibrate(3);
  t.equal(bad.ok ? 'ok' : bad.code, 'MEDIA_ERR_BAD_COMMAND', 'a bad count comes back as a result');
});
