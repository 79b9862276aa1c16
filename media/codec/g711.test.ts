import t from 'tap';
import alawmulaw from 'alawmulaw';
import {
  ULAW_TO_LINEAR, ALAW_TO_LINEAR, ULAW_TO_ALAW, ALAW_TO_ULAW, linearToUlaw, linearToAlaw, transcode,
  encodeLinear, ULAW_SILENCE, ALAW_SILENCE,
} from './index.ts';

const { alaw, mulaw } = alawmulaw;

t.test('decode tables hold the ITU-T G.711 reconstruction values', async (t) => {
  // G.711 Tables 1 and 2, scaled to 16 bits: the largest step and the smallest, both signs.
  t.equal(ULAW_TO_LINEAR[0x80], 32124);
  t.equal(ULAW_TO_LINEAR[0x00], -32124);
  t.equal(ULAW_TO_LINEAR[0xff], 0);
  t.equal(ULAW_TO_LINEAR[0x7f], 0);
  t.equal(ULAW_TO_LINEAR[0xfe], 8);
  t.equal(ALAW_TO_LINEAR[0xaa], 32256);
  t.equal(ALAW_TO_LINEAR[0x2a], -32256);
  t.equal(ALAW_TO_LINEAR[0xd5], 8);
  t.equal(ALAW_TO_LINEAR[0x55], -8);
  t.equal(ULAW_TO_LINEAR[ULAW_SILENCE], 0);
  t.equal(ALAW_TO_LINEAR[ALAW_SILENCE], 8);
});

t.test('decode tables equal the reference for all 256 codes', async (t) => {
  let bad = 0;
  for (let i = 0; i < 256; i++) {
    if (ULAW_TO_LINEAR[i] !== mulaw.decodeSample(i)) bad++;
    if (ALAW_TO_LINEAR[i] !== alaw.decodeSample(i)) bad++;
  }
  t.equal(bad, 0);
});

t.test('encoders equal the reference for all 65,536 inputs', async (t) => {
  let badU = 0;
  let badA = 0;
  for (let s = -32768; s <= 32767; s++) {
    if (linearToUlaw(s) !== (mulaw.encodeSample(s) & 0xff)) badU++;
    if (linearToAlaw(s) !== (alaw.encodeSample(s) & 0xff)) badA++;
  }
  t.equal(badU, 0, 'µ-law');
  t.equal(badA, 0, 'A-law');
});

t.test('encode(decode(code)) is the identity (except µ-law negative zero)', async (t) => {
  for (let i = 0; i < 256; i++) {
    if (i !== 0x7f) t.equal(linearToUlaw(ULAW_TO_LINEAR[i]!), i, `µ-law ${i}`);
    t.equal(linearToAlaw(ALAW_TO_LINEAR[i]!), i, `A-law ${i}`);
  }
  t.equal(linearToUlaw(0), 0xff, 'zero encodes as positive zero');
});

t.test('out-of-range input clamps', async (t) => {
  t.equal(linearToUlaw(100000), linearToUlaw(32767));
  t.equal(linearToUlaw(-100000), linearToUlaw(-32768));
  t.equal(linearToAlaw(40000), 0xaa);
});

t.test('µ-law ↔ A-law tables go through the nearest linear value', async (t) => {
  for (let i = 0; i < 256; i++) {
    t.equal(ULAW_TO_ALAW[i], linearToAlaw(ULAW_TO_LINEAR[i]!));
    t.equal(ALAW_TO_ULAW[i], linearToUlaw(ALAW_TO_LINEAR[i]!));
  }
  // A round trip moves a value by at most one A-law step: 16 below 512, |x|/16 above (16
  // steps per segment), the coarser of the two laws at every level.
  let worst = 0;
  for (let i = 0; i < 256; i++) {
    const a = ULAW_TO_LINEAR[i]!;
    const b = ULAW_TO_LINEAR[ALAW_TO_ULAW[ULAW_TO_ALAW[i]!]!]!;
    worst = Math.max(worst, Math.abs(a - b) / Math.max(16, Math.abs(a) / 16));
  }
  t.ok(worst <= 1, `µ→A→µ error ${worst.toFixed(3)} A-law steps`);
  t.ok(worst > 0, 'the laws differ, so some value moves');
  t.equal(ULAW_TO_ALAW[ULAW_SILENCE], ALAW_SILENCE);
});

t.test('transcode, also in place', async (t) => {
  const src = Buffer.from([0xff, 0x80, 0x00, 0x7f, 0x12]);
  const dst = Buffer.alloc(8, 0x33);
  transcode(src, 1, 3, dst, 2, ULAW_TO_ALAW);
  t.same([...dst], [0x33, 0x33, ULAW_TO_ALAW[0x80], ULAW_TO_ALAW[0x00], ULAW_TO_ALAW[0x7f], 0x33, 0x33, 0x33]);
  const same = Buffer.from(src);
  transcode(same, 0, same.length, same, 0, ULAW_TO_ALAW);
  t.same([...same], [...src].map((b) => ULAW_TO_ALAW[b]));
});

t.test('encodeLinear uses the tables', async (t) => {
  const pcm = Int16Array.from([0, 1000, -1000, 32767, -32768]);
  const out = new Uint8Array(7);
  encodeLinear(pcm, out, 2, 'PCMA');
  t.same([...out.subarray(2)], [...pcm].map((s) => linearToAlaw(s)));
  encodeLinear(pcm, out, 0, 'PCMU');
  t.same([...out.subarray(0, 5)], [...pcm].map((s) => linearToUlaw(s)));
});
