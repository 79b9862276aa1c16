import t from 'tap';
import type { Test } from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ALAW_TO_ULAW, ULAW_TO_ALAW, linearToAlaw, linearToUlaw } from '../codec/index.ts';
import { loadWav, parseWav, FRAME_BYTES } from './index.ts';

/** A WAV file: fmt fields, data bytes, and optional extra chunks before data. */
function wav(o: { tag: number; channels?: number; rate?: number; bits: number; data: Buffer; extensible?: boolean; extra?: Buffer }): Buffer {
  const channels = o.channels ?? 1;
  const rate = o.rate ?? 8000;
  const fmtLen = o.extensible === true ? 40 : 16;
  const fmt = Buffer.alloc(8 + fmtLen);
  fmt.write('fmt ', 0, 'latin1');
  fmt.writeUInt32LE(fmtLen, 4);
  fmt.writeUInt16LE(o.extensible === true ? 0xfffe : o.tag, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE((rate * channels * o.bits) / 8, 16);
  fmt.writeUInt16LE((channels * o.bits) / 8, 20);
  fmt.writeUInt16LE(o.bits, 22);
  if (o.extensible === true) {
    fmt.writeUInt16LE(22, 24);
    fmt.writeUInt16LE(o.bits, 26);
    fmt.writeUInt16LE(o.tag, 32); // SubFormat GUID starts with the format tag
  }
  const dataHdr = Buffer.alloc(8);
  dataHdr.write('data', 0, 'latin1');
  dataHdr.writeUInt32LE(o.data.length, 4);
  const body = Buffer.concat([Buffer.from('WAVE', 'latin1'), fmt, o.extra ?? Buffer.alloc(0), dataHdr, o.data]);
  const riff = Buffer.alloc(8);
  riff.write('RIFF', 0, 'latin1');
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/** Each case must be refused with `code`, a reason matching its pattern and naming the file. */
function refused(t: Test, cases: [string, Buffer, RegExp][], code: string, also?: RegExp): void {
  for (const [name, bytes, re] of cases) {
    const r = parseWav(bytes, `${name}.wav`);
    t.equal(r.ok, false, name);
    if (r.ok) continue;
    t.equal(r.code, code, name);
    t.match(r.reason, re, name);
    t.match(r.reason, `${name}.wav`, `${name}: names the file`);
    if (also !== undefined) t.match(r.reason, also, `${name}: says what is accepted`);
  }
}

const pcm = Buffer.alloc(2 * 200);
for (let i = 0; i < 200; i++) pcm.writeInt16LE(Math.round(12000 * Math.sin(i / 3)), i * 2);

t.test('PCM16 is converted to both laws and padded to whole 20 ms frames', async (t) => {
  const r = parseWav(wav({ tag: 1, bits: 16, data: pcm }), 'x.wav', 'en/x');
  if (!r.ok) throw new Error(r.reason);
  t.equal(r.prompt.name, 'en/x');
  t.equal(r.prompt.durationMs, 25);
  t.equal(r.prompt.pcmu.length, 2 * FRAME_BYTES);
  t.equal(r.prompt.pcma.length, 2 * FRAME_BYTES);
  for (let i = 0; i < 200; i++) {
    const s = pcm.readInt16LE(i * 2);
    if (r.prompt.pcmu[i] !== linearToUlaw(s) || r.prompt.pcma[i] !== linearToAlaw(s)) t.fail(`sample ${i}`);
  }
  t.same([...new Set(r.prompt.pcmu.subarray(200))], [0xff], 'µ-law silence padding');
  t.same([...new Set(r.prompt.pcma.subarray(200))], [0xd5], 'A-law silence padding');
});

t.test('µ-law and A-law files are kept as they are and transcoded once', async (t) => {
  const codes = Buffer.from(Array.from({ length: 320 }, (_, i) => i & 0xff));
  const u = parseWav(wav({ tag: 7, bits: 8, data: codes }), 'u.wav');
  const a = parseWav(wav({ tag: 6, bits: 8, data: codes }), 'a.wav');
  if (!u.ok || !a.ok) throw new Error('refused');
  t.same(u.prompt.pcmu, codes);
  t.same([...u.prompt.pcma], [...codes].map((c) => ULAW_TO_ALAW[c]));
  t.same(a.prompt.pcma, codes);
  t.same([...a.prompt.pcmu], [...codes].map((c) => ALAW_TO_ULAW[c]));
  t.equal(u.prompt.durationMs, 40);
  t.equal(u.prompt.pcmu.length, 320, 'already whole frames: no padding');
});

t.test('WAVE_FORMAT_EXTENSIBLE, extra chunks and odd-sized chunk padding', async (t) => {
  const list = Buffer.from([...Buffer.from('LIST', 'latin1'), 3, 0, 0, 0, 0x61, 0x62, 0x63, 0x00]); // 3 bytes + pad
  const r = parseWav(wav({ tag: 7, bits: 8, data: Buffer.alloc(160, 0x7f), extensible: true, extra: list }), 'e.wav');
  t.ok(r.ok);
  if (r.ok) t.equal(r.prompt.durationMs, 20);
});

t.test('other formats are refused, naming the file and the format', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['stereo', wav({ tag: 1, bits: 16, channels: 2, data: pcm }), /stereo\.wav: PCM 16-bit, stereo, 8000 Hz/],
    ['16k', wav({ tag: 1, bits: 16, rate: 16000, data: pcm }), /16k\.wav: PCM 16-bit, mono, 16000 Hz/],
    ['pcm8', wav({ tag: 1, bits: 8, data: pcm }), /pcm8\.wav: PCM 8-bit, mono/],
    ['float', wav({ tag: 3, bits: 32, data: pcm }), /float\.wav: IEEE float 32-bit/],
    ['adpcm', wav({ tag: 0x11, bits: 4, data: pcm }), /adpcm\.wav: IMA ADPCM/],
    ['gsm', wav({ tag: 0x31, bits: 0, data: pcm }), /gsm\.wav: format tag 0x31/],
  ];
  refused(t, cases, 'MEDIA_ERR_WAV_FORMAT', /8000 Hz mono PCM 16-bit, µ-law or A-law/);
});

t.test('broken files are parse errors', async (t) => {
  const good = wav({ tag: 1, bits: 16, data: pcm });
  const noData = good.subarray(0, 12 + 24);
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /not a RIFF\/WAVE/],
    ['mp3', Buffer.from('ID3\x03\x00\x00\x00\x00\x00\x00\x00\x00', 'latin1'), /not a RIFF\/WAVE/],
    ['no data chunk', noData, /no data chunk/],
    ['no fmt chunk', Buffer.concat([good.subarray(0, 12), good.subarray(36)]), /no fmt chunk/],
    ['truncated fmt', good.subarray(0, 20), /chunk "fmt " truncated/],
  ];
  refused(t, cases, 'MEDIA_ERR_WAV_PARSE');
  // A data chunk cut short (a prompt copied while being written) loads what is there.
  const cut = parseWav(good.subarray(0, good.length - 100), 'cut.wav');
  t.ok(cut.ok);
  if (cut.ok) t.equal(cut.prompt.durationMs, 150 / 8);
  // Streamed to a pipe: the data size is left at 0xffffffff.
  const streamed = Buffer.from(good);
  streamed.writeUInt32LE(0xffffffff, streamed.indexOf('data', 12, 'latin1') + 4);
  const s = parseWav(streamed, 'streamed.wav');
  t.ok(s.ok && s.prompt.durationMs === 25, 'streamed WAV loads every sample');
});

t.test('loadWav reads files and reports unreadable ones', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-wav-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'hello.wav');
  writeFileSync(file, wav({ tag: 7, bits: 8, data: Buffer.alloc(800, 0xff) }));
  const r = loadWav(file);
  t.ok(r.ok);
  if (r.ok) t.equal(r.prompt.name, file);
  const missing = loadWav(path.join(dir, 'nope.wav'));
  t.equal(missing.ok, false);
  if (!missing.ok) {
    t.equal(missing.code, 'MEDIA_ERR_WAV_READ');
    t.match(missing.reason, /nope\.wav/);
  }
});
