/**
 * The three-way mixer with known samples: each party hears the sum of the others (minus its own
 * signal), parties it does not hear are left out (whisper, listen), sums saturate, and feeding
 * packets of any length lines frames up.
 */
import t from 'tap';
import { Mixer } from './index.ts';
import { FRAME_SAMPLES } from '../player/index.ts';

/** A decode "table" that maps octet k to sample k*100 − 12800 (known, distinct values). */
const TABLE = new Int16Array(256).map((_, k) => k * 100 - 12800);
const octet = (sample: number): number => (sample + 12800) / 100;

function frame(sample: number): Uint8Array {
  return new Uint8Array(FRAME_SAMPLES).fill(octet(sample));
}

t.test('barge: each party hears the other two, never itself', (t) => {
  const m = new Mixer();
  m.hears.set([0b110, 0b101, 0b011]);
  m.feed(0, frame(1000), 0, FRAME_SAMPLES, TABLE);
  m.feed(1, frame(-300), 0, FRAME_SAMPLES, TABLE);
  m.feed(2, frame(200), 0, FRAME_SAMPLES, TABLE);
  t.equal(m.take(), 3, 'three frames taken');
  const out = new Int16Array(FRAME_SAMPLES);
  m.mixFor(0, out);
  t.same([out[0], out[159]], [-100, -100], 'party 0 hears -300 + 200');
  m.mixFor(1, out);
  t.same([out[0], out[159]], [1200, 1200], 'party 1 hears 1000 + 200');
  m.mixFor(2, out);
  t.same([out[0], out[159]], [700, 700], 'party 2 hears 1000 - 300');
  t.end();
});

t.test('whisper: the caller (0) does not hear the supervisor (2); listen: nobody does', (t) => {
  const m = new Mixer();
  m.hears.set([0b010, 0b101, 0b011]);
  m.feed(0, frame(1000), 0, FRAME_SAMPLES, TABLE);
  m.feed(1, frame(-300), 0, FRAME_SAMPLES, TABLE);
  m.feed(2, frame(200), 0, FRAME_SAMPLES, TABLE);
  m.take();
  const out = new Int16Array(FRAME_SAMPLES);
  m.mixFor(0, out);
  t.equal(out[0], -300, 'the caller hears the agent alone');
  m.mixFor(1, out);
  t.equal(out[0], 1200, 'the agent hears caller and supervisor');
  m.hears.set([0b010, 0b001, 0b011]);
  m.mixFor(1, out);
  t.equal(out[0], 1000, 'listen: the agent hears the caller alone');
  m.hears[2] = 0;
  m.mixFor(2, out);
  t.equal(out[0], 0, 'a party hearing nobody gets silence');
  t.end();
});

t.test('sums saturate at 16 bits; a missing frame is silence', (t) => {
  const m = new Mixer();
  m.hears.set([0b110, 0b101, 0b011]);
  m.feed(0, frame(12700), 0, FRAME_SAMPLES, TABLE);
  m.feed(1, frame(12700), 0, FRAME_SAMPLES, TABLE);
  m.feed(2, frame(12700), 0, FRAME_SAMPLES, TABLE);
  m.take();
  const out = new Int16Array(FRAME_SAMPLES);
  m.mixFor(0, out);
  t.equal(out[0], 25400, 'in range');
  // Through the full table range: two loud parties clip instead of wrapping around.
  const loud = new Int16Array(256).fill(30000);
  m.feed(0, frame(0), 0, FRAME_SAMPLES, loud);
  m.feed(1, frame(0), 0, FRAME_SAMPLES, loud);
  t.equal(m.take(), 2, 'party 2 sent nothing this frame');
  m.mixFor(2, out);
  t.equal(out[0], 32767, 'saturated, not wrapped');
  const neg = new Int16Array(256).fill(-30000);
  m.feed(0, frame(0), 0, FRAME_SAMPLES, neg);
  m.feed(1, frame(0), 0, FRAME_SAMPLES, neg);
  m.take();
  m.mixFor(2, out);
  t.equal(out[0], -32768, 'saturated low');
  m.mixFor(0, out);
  t.equal(out[0], -30000, 'party 0 hears party 1 and the silence of party 2');
  t.end();
});

t.test('packets of 10 and 30 ms line up into 20 ms frames; a party far ahead loses its oldest', (t) => {
  const m = new Mixer();
  m.hears.set([0b010, 0b001, 0]);
  const ramp = new Uint8Array(240);
  for (let i = 0; i < 240; i++) ramp[i] = i;
  m.feed(0, ramp, 0, 80, TABLE);
  t.equal(m.take(), 0, 'half a frame is not a frame');
  m.feed(0, ramp, 80, 160, TABLE);
  t.equal(m.take(), 1);
  const out = new Int16Array(FRAME_SAMPLES);
  m.mixFor(1, out);
  t.same([out[0], out[80], out[159]], [TABLE[0], TABLE[80], TABLE[159]], 'the first 160 samples in order');
  t.equal(m.take(), 0, 'the 80 samples left wait for more');
  for (let i = 0; i < 6; i++) m.feed(1, frame(100 * i), 0, FRAME_SAMPLES, TABLE);
  t.equal(m.overruns, 2, 'six frames into a FIFO of four: two dropped');
  m.take();
  m.mixFor(0, out);
  t.equal(out[0], 200, 'the oldest kept frame comes first');
  t.end();
});
