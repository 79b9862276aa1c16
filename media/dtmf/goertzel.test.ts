import t from 'tap';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { encodeLinear, linearToUlaw, ULAW_TO_LINEAR as ULAW } from '../codec/index.ts';
import type { G711 } from '../codec/index.ts';
import { RtpView, readPcapUdp } from '../rtp/index.ts';
import { loadWav } from '../prompts/index.ts';
import { GoertzelDetector } from './index.ts';
import type { DtmfDigit, GoertzelOptions } from './index.ts';

const ROW: Record<string, number> = {};
const COL: Record<string, number> = {};
'123A456B789C*0#D'.split('').forEach((d, i) => {
  ROW[d] = [697, 770, 852, 941][i >> 2]!;
  COL[d] = [1209, 1336, 1477, 1633][i & 3]!;
});

/** Seeded PRNG (mulberry32) so noise is the same on every run. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gaussian white noise, standard deviation `sigma`. */
function gauss(random: () => number, sigma: number): number {
  return sigma * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

interface Tone { digit: string; onMs: number; offMs: number }
interface Signal {
  /** Level of the low (row) tone, dBFS (sine peak). */
  rowDbfs?: number;
  /** High tone level minus low tone level, dB (positive = normal twist). */
  twistDb?: number;
  /** White noise RMS, dBFS (relative to a full-scale sine), or undefined for none. */
  noiseDbfs?: number;
  seed?: number;
  /** Frequency error of both tones, relative (0.015 = +1.5%). */
  deviation?: number;
}

/** 16-bit samples of a key sequence. */
function dtmfSignal(tones: Tone[], s: Signal = {}): Int16Array {
  const total = tones.reduce((n, x) => n + (x.onMs + x.offMs) * 8, 0);
  const out = new Int16Array(total);
  const random = rng(s.seed ?? 1);
  const a1 = 32767 * 10 ** ((s.rowDbfs ?? -10) / 20);
  const a2 = a1 * 10 ** ((s.twistDb ?? 0) / 20);
  const noise = s.noiseDbfs === undefined ? 0 : (32767 / Math.SQRT2) * 10 ** (s.noiseDbfs / 20);
  let i = 0;
  for (const x of tones) {
    const f1 = ROW[x.digit]! * (1 + (s.deviation ?? 0));
    const f2 = COL[x.digit]! * (1 + (s.deviation ?? 0));
    for (let k = 0; k < x.onMs * 8; k++, i++) {
      const v = a1 * Math.sin((2 * Math.PI * f1 * k) / 8000) + a2 * Math.sin((2 * Math.PI * f2 * k) / 8000);
      out[i] = Math.max(-32768, Math.min(32767, Math.round(v + gauss(random, noise))));
    }
    for (let k = 0; k < x.offMs * 8; k++, i++) out[i] = Math.max(-32768, Math.min(32767, Math.round(gauss(random, noise))));
  }
  return out;
}

/** Feed G.711 audio in 20 ms packets starting at time 0; every digit detected, then flushed. */
function detect(g711: Uint8Array, codec: G711, opts?: GoertzelOptions, chunk = 160): DtmfDigit[] {
  const det = new GoertzelDetector(opts);
  const buf = Buffer.from(g711.buffer, g711.byteOffset, g711.length);
  const out: DtmfDigit[] = [];
  for (let off = 0; off < buf.length; off += chunk) {
    const len = Math.min(chunk, buf.length - off);
    for (let d = det.feed(buf, off, len, codec, off / 8); d !== undefined; d = det.poll()) out.push(d);
  }
  for (let d = det.flush(); d !== undefined; d = det.poll()) out.push(d);
  return out;
}

function encode(pcm: Int16Array, codec: G711): Uint8Array {
  const out = new Uint8Array(pcm.length);
  encodeLinear(pcm, out, 0, codec);
  return out;
}

const ALL = '123A456B789C*0#D';
const keys = (digits: string, onMs = 80, offMs = 80): Tone[] => digits.split('').map((digit) => ({ digit, onMs, offMs }));

t.test('all sixteen digits, both laws, each reported once with its timing', async (t) => {
  for (const codec of ['PCMU', 'PCMA'] as const) {
    const found = detect(encode(dtmfSignal(keys(ALL, 100, 100)), codec), codec);
    t.equal(found.map((d) => d.digit).join(''), ALL, codec);
    found.forEach((d, i) => {
      t.ok(Math.abs(d.startMs - i * 200) <= 13, `${codec} ${d.digit} starts at ${d.startMs} ms, near ${i * 200}`);
      t.ok(Math.abs(d.durationMs - 100) <= 26, `${codec} ${d.digit} lasts ${d.durationMs} ms, near 100`);
      t.equal(d.source, 'inband');
    });
  }
});

t.test('twist ±6 dB is accepted, 12 dB is not', async (t) => {
  for (const twistDb of [6, -6]) {
    for (const codec of ['PCMU', 'PCMA'] as const) {
      const found = detect(encode(dtmfSignal(keys(ALL), { twistDb, rowDbfs: twistDb > 0 ? -16 : -10 }), codec), codec);
      t.equal(found.map((d) => d.digit).join(''), ALL, `${codec} twist ${twistDb} dB`);
    }
  }
  for (const twistDb of [12, -12]) {
    const found = detect(encode(dtmfSignal(keys('159#'), { twistDb, rowDbfs: twistDb > 0 ? -20 : -8 }), 'PCMU'), 'PCMU');
    t.same(found, [], `twist ${twistDb} dB rejected`);
  }
});

t.test('white noise: detected at 15 dB SNR', async (t) => {
  // Each tone at -10 dBFS peak (-13 dBFS RMS); noise at -28 dBFS RMS: 15 dB below either tone.
  for (const seed of [1, 2, 3]) {
    const pcm = dtmfSignal(keys(ALL), { noiseDbfs: -28, seed });
    t.equal(detect(encode(pcm, 'PCMA'), 'PCMA').map((d) => d.digit).join(''), ALL, `seed ${seed}`);
  }
});

t.test('frequency error of ±1.5% is accepted (ITU-T Q.24)', async (t) => {
  for (const deviation of [0.015, -0.015]) {
    const found = detect(encode(dtmfSignal(keys(ALL), { deviation }), 'PCMU'), 'PCMU');
    t.equal(found.map((d) => d.digit).join(''), ALL, `${deviation * 100}%`);
  }
});

t.test('weak tones: -30 dBFS accepted, -45 dBFS ignored', async (t) => {
  t.equal(detect(encode(dtmfSignal(keys('258'), { rowDbfs: -30 }), 'PCMU'), 'PCMU').map((d) => d.digit).join(''), '258');
  t.same(detect(encode(dtmfSignal(keys('258'), { rowDbfs: -45 }), 'PCMU'), 'PCMU'), []);
});

t.test('duration: 40 ms tones count, 20 ms blips do not', async (t) => {
  const forty = detect(encode(dtmfSignal(keys('0123456789', 40, 40)), 'PCMU'), 'PCMU');
  t.equal(forty.map((d) => d.digit).join(''), '0123456789');
  const blips = detect(encode(dtmfSignal(keys('0123456789', 20, 60)), 'PCMU'), 'PCMU');
  t.same(blips, []);
});

t.test('the same key twice with a short gap is two digits', async (t) => {
  const found = detect(encode(dtmfSignal(keys('55', 80, 50)), 'PCMU'), 'PCMU');
  t.equal(found.map((d) => d.digit).join(''), '55');
});

t.test('packet size does not matter', async (t) => {
  const g711 = encode(dtmfSignal(keys('1379', 60, 60)), 'PCMU');
  for (const chunk of [1, 80, 240, 1000, g711.length]) {
    t.equal(detect(g711, 'PCMU', undefined, chunk).map((d) => d.digit).join(''), '1379', `chunks of ${chunk}`);
  }
});

t.test('a single frequency is not a digit', async (t) => {
  const pcm = new Int16Array(8000);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(10000 * Math.sin((2 * Math.PI * 770 * i) / 8000));
  t.same(detect(encode(pcm, 'PCMU'), 'PCMU'), []);
});

t.test('no false digits on noise, speech-like noise, speech and hold music', async (t) => {
  const random = rng(42);
  // 10 s of white noise at -10 dBFS.
  const white = new Int16Array(80000);
  for (let i = 0; i < white.length; i++) white[i] = Math.max(-32768, Math.min(32767, Math.round(gauss(random, 7000))));
  t.same(detect(encode(white, 'PCMU'), 'PCMU'), [], 'white noise');

  // Speech-like: a buzz at a wandering pitch through two wandering formant resonators, syllabic
  // amplitude modulation (4 Hz) — harmonics sweep across the DTMF band the way voiced speech does.
  const speech = new Int16Array(10 * 8000);
  let phase = 0;
  const y = [0, 0, 0, 0];
  for (let i = 0; i < speech.length; i++) {
    const tSec = i / 8000;
    const f0 = 110 + 60 * Math.sin(2 * Math.PI * 0.7 * tSec) + 20 * Math.sin(2 * Math.PI * 3.1 * tSec);
    phase += f0 / 8000;
    const pulse = phase % 1 < f0 / 8000 ? 1 : 0;
    const excitation = pulse * 20000 + gauss(random, 300);
    const formants = [700 + 300 * Math.sin(2 * Math.PI * 1.3 * tSec), 1300 + 500 * Math.sin(2 * Math.PI * 0.9 * tSec)];
    let v = 0;
    formants.forEach((f, k) => {
      const r = 0.97;
      const c = 2 * r * Math.cos((2 * Math.PI * f) / 8000);
      const out = excitation + c * y[2 * k]! - r * r * y[2 * k + 1]!;
      y[2 * k + 1] = y[2 * k]!;
      y[2 * k] = out;
      v += out;
    });
    const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * 4 * tSec);
    speech[i] = Math.max(-32768, Math.min(32767, Math.round(v * 0.05 * envelope)));
  }
  t.same(detect(encode(speech, 'PCMA'), 'PCMA'), [], 'synthetic voiced speech');

  // The shipped prompts (espeak-ng speech, English and Mandarin) and the hold-music loop.
  const dir = path.join(import.meta.dirname, '../prompts');
  let checked = 0;
  for (const sub of ['en', 'en/numbers', 'zh', 'zh/numbers', 'hold']) {
    if (!existsSync(path.join(dir, sub))) continue;
    for (const f of readdirSync(path.join(dir, sub)).filter((x) => x.endsWith('.wav'))) {
      const r = loadWav(path.join(dir, sub, f));
      if (!r.ok) continue;
      checked++;
      const found = detect(r.prompt.pcmu, 'PCMU');
      if (found.length > 0) t.fail(`${sub}/${f}: false digits ${found.map((d) => d.digit).join('')}`);
    }
  }
  t.ok(checked >= 60, `${checked} shipped prompts checked`);
  // The corpus is a real test: without the speech rejection checks it does produce digits.
  let loose = 0;
  for (const f of readdirSync(path.join(dir, 'zh')).filter((x) => x.endsWith('.wav'))) {
    const r = loadWav(path.join(dir, 'zh', f));
    if (r.ok) loose += detect(r.prompt.pcmu, 'PCMU', { minToneShare: 0, minRelativePeakDb: 0, maxHalfDiffDb: 100 }).length;
  }
  t.ok(loose > 0, `${loose} false digits in Mandarin prompts with the rejection checks off`);

  // The A-law speech capture that ships with sipp.
  const pcap = '/usr/share/sip-tester/g711a.pcap';
  if (existsSync(pcap)) {
    const v = new RtpView();
    const audio = Buffer.concat(readPcapUdp(pcap).map((p) => (v.reset(p.payload, p.payload.length) ? v.payload() : Buffer.alloc(0))));
    t.ok(audio.length > 50000, 'sipp g711a.pcap has audio');
    t.same(detect(audio, 'PCMA'), [], 'sipp g711a.pcap');
  }
});

t.test('digits pressed over hold music are found', async (t) => {
  // A digit pressed while hold music plays under it at -20 dBFS is still found.
  const dir = path.join(import.meta.dirname, '../prompts');
  const music = loadWav(path.join(dir, 'hold/music.wav'));
  if (!music.ok) {
    t.fail(music.reason);
    return;
  }
  const tones = dtmfSignal(keys('42', 100, 100));
  const mix = new Uint8Array(tones.length);
  for (let i = 0; i < tones.length; i++) {
    const m = ULAW[music.prompt.pcmu[i] ?? 0xff]! * 0.3;
    mix[i] = linearToUlaw(tones[i]! + m);
  }
  t.equal(detect(mix, 'PCMU').map((d) => d.digit).join(''), '42');
});

