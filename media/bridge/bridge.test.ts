import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RelayDirection, WavRecorder } from './index.ts';
import type { RelayEndpoint } from './index.ts';
import { PacingClock, Playback, OutboundStream, compilePlaylist } from '../player/index.ts';
import type { RtpSink } from '../player/index.ts';
import { RtpView, writeRtpHeader } from '../rtp/index.ts';
import { ULAW_TO_ALAW, ULAW_TO_LINEAR, ALAW_TO_LINEAR, linearToUlaw, linearToAlaw } from '../codec/index.ts';

const PCMU: RelayEndpoint = { codec: 'PCMU', payloadType: 0, dtmfPayloadType: 101 };
const PCMA: RelayEndpoint = { codec: 'PCMA', payloadType: 8, dtmfPayloadType: 96 };

interface Seen {
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  pt: number;
  first: number;
  atMs: number;
}

function packet(pt: number, seq: number, ts: number, ssrc: number, fill: number, len = 160, marker = false): Buffer {
  const b = Buffer.alloc(12 + len, fill);
  writeRtpHeader(b, 0, pt, seq, ts, ssrc, marker);
  return b;
}

t.test('one continuous stream across player → relay → new source → player', (t) => {
  let now = 0;
  const clock = new PacingClock({ now: () => now, slots: 1 });
  const out = new OutboundStream(0xabcdef01, 100, 5000);
  const seen: Seen[] = [];
  const view = new RtpView();
  const record = (buf: Buffer): void => {
    t.ok(view.reset(buf, buf.length));
    seen.push({ seq: view.sequence, ts: view.timestamp, ssrc: view.ssrc, marker: view.marker, pt: view.payloadType, first: buf[12]!, atMs: now });
  };
  const sink: RtpSink = { sendRtp: record };
  const pb = new Playback(clock, out, sink, { playbackDone() {} }, 0, 'PCMU');
  const hold = compilePlaylist({ items: [{ kind: 'silence', ms: 1000 }], loop: true }, 'PCMU', { get: () => undefined });
  if (!hold.ok) throw new Error(hold.reason);

  // 1. hold audio, frames at 0..80 ms
  pb.start(hold.playlist, 1);
  clock.stop();
  for (now = 0; now <= 80; now += 20) clock.poll(now);
  pb.stop();
  // 2. the agent's audio relayed from 150 ms: its own SSRC, sequence and timestamps
  const relay = new RelayDirection(out, PCMU, PCMU);
  const agentSeq = 40000;
  const agentTs = 0x7ffffff0;
  for (let i = 0; i < 5; i++) {
    now = 150 + i * 20;
    if (i === 2) continue; // lost on the way in: the gap must stay visible
    const p = packet(0, agentSeq + i, agentTs + i * 160, 0x11111111, 0x55);
    t.ok(view.reset(p, p.length) && relay.rewrite(view, now));
    record(p);
  }
  // 3. the agent's phone restarts its stream (new SSRC, new numbering) at 300 ms
  for (let i = 0; i < 3; i++) {
    now = 300 + i * 20;
    const p = packet(0, 7 + i, 999 + i * 160, 0x22222222, 0x66);
    t.ok(view.reset(p, p.length) && relay.rewrite(view, now));
    record(p);
  }
  // 4. unbridged: back to hold audio at 500 ms
  now = 500;
  pb.start(hold.playlist, 2);
  clock.stop();
  for (now = 500; now <= 540; now += 20) clock.poll(now);

  t.ok(seen.every((p) => p.ssrc === 0xabcdef01), 'one SSRC throughout');
  const seqSteps = seen.slice(1).map((p, i) => (p.seq - seen[i]!.seq) & 0xffff);
  t.same(seqSteps, [1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1], 'sequence +1 except the packet lost upstream');
  const tsSteps = seen.slice(1).map((p, i) => (p.ts - seen[i]!.ts) >>> 0);
  // Switch steps follow the wall clock: 80→150 ms = 560 samples; 230→300 = 560; 340→500 = 1280.
  t.same(tsSteps, [160, 160, 160, 160, 560, 160, 320, 160, 560, 160, 160, 1280, 160, 160]);
  t.same(seen.map((p) => p.marker), [true, false, false, false, false, true, false, false, false, true, false, false, true, false, false],
    'marker on each source switch only');
  t.same(seen.map((p) => p.first), [0xff, 0xff, 0xff, 0xff, 0xff, 0x55, 0x55, 0x55, 0x55, 0x66, 0x66, 0x66, 0xff, 0xff, 0xff]);
  t.equal(relay.rebases, 2);
  t.end();
});

t.test('a reordered packet keeps its place and does not move the stream back', (t) => {
  const out = new OutboundStream(1, 10, 1000);
  const relay = new RelayDirection(out, PCMU, PCMU);
  const view = new RtpView();
  const seqs: number[] = [];
  for (const [i, at] of [[0, 0], [2, 40], [1, 45], [3, 60]] as const) {
    const p = packet(0, 500 + i, 160 * i, 9, 0);
    view.reset(p, p.length);
    relay.rewrite(view, at);
    seqs.push(view.sequence);
  }
  t.same(seqs, [10, 12, 11, 13]);
  t.equal(out.seq, 14, 'next sequence after the newest packet');
  t.end();
});

t.test('µ-law → A-law by table only when the codecs differ; DTMF payload type mapped', (t) => {
  const view = new RtpView();
  const payload = Buffer.from(Array.from({ length: 160 }, (_, i) => (i * 37) & 0xff));
  const same = new RelayDirection(new OutboundStream(), PCMU, PCMU);
  t.equal(same.transcoding, false);
  const p1 = Buffer.concat([packet(0, 1, 1, 1, 0, 0), payload]);
  view.reset(p1, p1.length);
  same.rewrite(view, 0);
  t.same(p1.subarray(12), payload, 'same codec: payload untouched');

  const cross = new RelayDirection(new OutboundStream(), PCMU, PCMA);
  t.equal(cross.transcoding, true);
  const p2 = Buffer.concat([packet(0, 1, 1, 1, 0, 0), payload]);
  view.reset(p2, p2.length);
  t.ok(cross.rewrite(view, 0));
  t.equal(view.payloadType, 8);
  for (let i = 0; i < 160; i++) {
    if (p2[12 + i] !== ULAW_TO_ALAW[payload[i]!]) {
      t.fail(`byte ${i}`);
      break;
    }
  }
  // The transcoded sample decodes to (nearly) the same linear value.
  t.ok(Math.abs(ALAW_TO_LINEAR[p2[12 + 5]!]! - ULAW_TO_LINEAR[payload[5]!]!) <= 128);

  const dtmf = packet(101, 2, 1, 1, 0, 4, true);
  dtmf[12] = 5;
  view.reset(dtmf, dtmf.length);
  t.ok(cross.rewrite(view, 20));
  t.equal(view.payloadType, 96, 'telephone-event PT of the other leg');
  t.equal(dtmf[12], 5, 'event payload not transcoded');

  const other = packet(18, 3, 1, 1, 0); // G.729: not negotiated on the other leg
  view.reset(other, other.length);
  t.notOk(cross.rewrite(view, 40));
  t.equal(cross.dropped, 1);
  t.end();
});

t.test('recording: a valid stereo WAV with each direction on its channel', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'call.wav');
  const rec = new WavRecorder(file, 0, { jitterMs: 100, chunkMs: 200 });
  // Left: +1000 for 1 s from t=0; right: -2000 for 0.5 s starting at t=0.5 s, A-law.
  const left = Buffer.alloc(160, linearToUlaw(1000));
  const right = Buffer.alloc(160, linearToAlaw(-2000));
  for (let i = 0; i < 50; i++) {
    rec.write(0, left, 0, 160, ULAW_TO_LINEAR, 12345 + i * 160, i * 20);
    if (i >= 25) rec.write(1, right, 0, 160, ALAW_TO_LINEAR, 777 + (i - 25) * 160, i * 20);
  }
  rec.write(0, left, 0, 160, ULAW_TO_LINEAR, 12345, 1000); // far too late: dropped, not misplaced
  const r = await rec.stop();
  t.ok(r.ok, JSON.stringify(r));
  if (!r.ok) return;
  t.equal(r.lateDrops, 1);
  const wav = readFileSync(file);
  t.equal(wav.toString('latin1', 0, 4), 'RIFF');
  t.equal(wav.readUInt32LE(4), wav.length - 8);
  t.equal(wav.toString('latin1', 8, 16), 'WAVEfmt ');
  t.equal(wav.readUInt16LE(20), 1, 'PCM');
  t.equal(wav.readUInt16LE(22), 2, 'stereo');
  t.equal(wav.readUInt32LE(24), 8000);
  t.equal(wav.readUInt16LE(34), 16);
  t.equal(wav.toString('latin1', 36, 40), 'data');
  const frames = wav.readUInt32LE(40) / 4;
  t.equal(wav.length, 44 + frames * 4);
  t.equal(frames, 8000, 'one second');
  t.equal(r.durationMs, 1000);
  const at = (frame: number, ch: number): number => wav.readInt16LE(44 + frame * 4 + ch * 2);
  const l = ULAW_TO_LINEAR[linearToUlaw(1000)]!;
  const rv = ALAW_TO_LINEAR[linearToAlaw(-2000)]!;
  t.same([at(0, 0), at(3999, 0), at(7999, 0)], [l, l, l]);
  t.same([at(0, 1), at(3999, 1), at(4000, 1), at(7999, 1)], [0, 0, rv, rv]);
});

t.test('recording to an unwritable place is a result, not a throw', async (t) => {
  const rec = new WavRecorder('/nonexistent-dir/x.wav', 0);
  rec.write(0, Buffer.alloc(160), 0, 160, ULAW_TO_LINEAR, 0, 0);
  const r = await rec.stop();
  t.equal(r.ok, false);
  if (!r.ok) t.equal(r.code, 'MEDIA_ERR_RECORD');
});

t.test('pause and resume: silence of the pause\'s length in place, timing kept; mixed layout is mono', async (t) => {
  const dir = t.testdir({});
  const file = path.join(dir, 'paused.wav');
  const rec = new WavRecorder(file, 0, { jitterMs: 100, chunkMs: 200 });
  const left = Buffer.alloc(160, linearToUlaw(1000));
  const right = Buffer.alloc(160, linearToUlaw(-2000));
  // 2 s of both sides; paused from 0.5 s to 1.3 s (800 ms); the streams go on all along.
  for (let i = 0; i < 100; i++) {
    const now = i * 20;
    if (now === 500) rec.pause(now);
    if (now === 1300) rec.resume(now);
    rec.write(0, left, 0, 160, ULAW_TO_LINEAR, 1000 + i * 160, now);
    rec.write(1, right, 0, 160, ULAW_TO_LINEAR, 9000 + i * 160, now);
  }
  const r = await rec.stop(2000);
  t.ok(r.ok, JSON.stringify(r));
  if (!r.ok) return;
  t.equal(r.pausedMs, 800);
  t.equal(r.durationMs, 2000, 'the pause is in the file, as silence');
  const wav = readFileSync(file);
  const at = (frame: number, ch: number): number => wav.readInt16LE(44 + frame * 4 + ch * 2);
  const l = ULAW_TO_LINEAR[linearToUlaw(1000)]!;
  t.same([at(3999, 0), at(4000, 0), at(10399, 0), at(10400, 0)], [l, 0, 0, l], 'left: silent from 0.5 s to 1.3 s exactly');
  t.same([at(4000, 1), at(10399, 1)], [0, 0], 'right too');

  const mfile = path.join(dir, 'mixed.wav');
  const mrec = new WavRecorder(mfile, 0, { jitterMs: 100, chunkMs: 200, layout: 'mixed' });
  const loud = Buffer.alloc(160, linearToUlaw(30000));
  for (let i = 0; i < 10; i++) {
    mrec.write(0, i < 5 ? left : loud, 0, 160, ULAW_TO_LINEAR, i * 160, i * 20);
    mrec.write(1, i < 5 ? right : loud, 0, 160, ULAW_TO_LINEAR, i * 160, i * 20);
  }
  const m = await mrec.stop(200);
  t.ok(m.ok && m.durationMs === 200, JSON.stringify(m));
  const mw = readFileSync(mfile);
  t.equal(mw.readUInt16LE(22), 1, 'mono');
  t.equal(mw.readUInt32LE(28), 16000, 'bytes per second');
  t.equal(mw.readUInt32LE(40), 1600 * 2, 'one channel of 200 ms');
  t.equal(mw.readInt16LE(44), l + ULAW_TO_LINEAR[linearToUlaw(-2000)]!, 'both sides summed');
  t.equal(mw.readInt16LE(44 + 1599 * 2), 32767, 'saturated, not wrapped');
});
