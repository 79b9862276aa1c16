import t from 'tap';
import { PacingClock, Playback, OutboundStream, compilePlaylist, LatenessHistogram } from './index.ts';
import type { PacedStream, PromptSource, PlaybackDelegate, RtpSink, Playback as PlaybackT } from './index.ts';
import { RtpView } from '../rtp/index.ts';

/** A fake time source the tests move by hand. */
function fakeTime(): { now: () => number; set(ms: number): void } {
  let ms = 0;
  return { now: () => ms, set: (v: number) => { ms = v; } };
}

class CountingStream implements PacedStream {
  clockSlot = -1;
  clockIndex = -1;
  paced: number[] = [];
  skipped = 0;
  pace(dueMs: number): void {
    this.paced.push(dueMs);
  }
  skip(frames: number): void {
    this.skipped += frames;
  }
}

t.test('a stream added to a running clock starts at the soonest phase, within a balance margin', (t) => {
  const time = fakeTime();
  const clock = new PacingClock({ now: time.now, slots: 4 });
  const base = Array.from({ length: 8 }, () => new CountingStream());
  for (const s of base) clock.add(s);
  // Phases 0 and 1 (0 ms and 5 ms) have run: phase 2 (slot 2, at 10 ms) is next.
  time.set(6);
  clock.poll(6);
  const late = new CountingStream();
  clock.add(late);
  t.equal(late.clockSlot, 2, 'the slot of the next phase, not slot 0');
  time.set(10);
  clock.poll(10);
  t.same(late.paced, [10], 'first frame 4 ms after it was added, not up to a period later');
  // Phase 2 has run: phase 3 is next. A crowd added at once fills the soonest slots up to the
  // margin (one over the least loaded here), then moves on.
  const again = new CountingStream();
  clock.add(again);
  t.equal(again.clockSlot, 3, 'slot 2 just ran: slot 3 is the soonest');
  const crowd = Array.from({ length: 4 }, () => new CountingStream());
  for (const s of crowd) clock.add(s);
  const counts = [0, 1, 2, 3].map((slot) => [...base, late, again, ...crowd].filter((s) => s.clockSlot === slot).length);
  t.ok(Math.max(...counts) - Math.min(...counts) <= 2, `slots stay balanced: ${counts.join(', ')}`);
  clock.stop();
  t.end();
});

t.test('clock paces every stream once per period, spread over slots', (t) => {
  const time = fakeTime();
  const clock = new PacingClock({ now: time.now, slots: 4 });
  clock.stop(); // drive by poll() only
  const streams = Array.from({ length: 8 }, () => new CountingStream());
  for (const s of streams) clock.add(s);
  clock.stop();
  const slots = new Set(streams.map((s) => s.clockSlot));
  t.equal(slots.size, 4, 'streams spread over all slots');
  for (let ms = 0; ms <= 100; ms += 1) {
    time.set(ms);
    clock.poll(ms);
  }
  for (const s of streams) {
    t.equal(s.paced.length, 5 + (s.clockSlot === 0 ? 1 : 0), `slot ${s.clockSlot}: one frame per 20 ms`);
    for (let i = 1; i < s.paced.length; i++) t.equal(s.paced[i]! - s.paced[i - 1]!, 20);
    t.equal(s.paced[0], s.clockSlot * 5, 'phase of the slot');
  }
  t.equal(clock.lateness.quantile(0.99), 0.05, 'polled on time: lateness within one bucket');
  t.end();
});

t.test('after a stall the clock bursts at most maxBurst frames and skips the rest', (t) => {
  const time = fakeTime();
  const clock = new PacingClock({ now: time.now, slots: 1, maxBurst: 3 });
  const s = new CountingStream();
  clock.add(s);
  clock.stop();
  clock.poll(0);
  t.equal(s.paced.length, 1);
  time.set(200); // 10 periods late
  const next = clock.poll(200);
  t.equal(s.paced.length, 1 + 3, 'the newest three of the ten owed frames');
  t.same(s.paced.slice(1), [160, 180, 200], 'sent with their own due times');
  t.equal(s.skipped, 7, 'frames due at 20..140 skipped');
  t.equal(clock.skipped, 7);
  t.equal(next, 220, 'schedule stays absolute');
  time.set(260);
  clock.poll(260); // a second stall within a second: only the newest frame
  t.same(s.paced.slice(4), [260]);
  t.equal(s.skipped, 9);
  t.end();
});

t.test('remove during iteration neither skips nor repeats streams', (t) => {
  const time = fakeTime();
  const clock = new PacingClock({ now: time.now, slots: 1 });
  const removing: PacedStream[] = [];
  const counts = new Map<PacedStream, number>();
  for (let i = 0; i < 5; i++) {
    const st: PacedStream = {
      clockSlot: -1,
      clockIndex: -1,
      pace() {
        counts.set(st, (counts.get(st) ?? 0) + 1);
        if (i % 2 === 0) clock.remove(st);
      },
      skip() {},
    };
    removing.push(st);
    clock.add(st);
  }
  clock.stop();
  clock.poll(0);
  clock.poll(20);
  t.same(removing.map((s) => counts.get(s)), [1, 2, 1, 2, 1]);
  t.equal(clock.streams, 2);
  t.end();
});

t.test('histogram quantiles', (t) => {
  const h = new LatenessHistogram();
  for (let i = 0; i < 99; i++) h.record(0.1);
  h.record(7);
  t.ok(Math.abs(h.quantile(0.5) - 0.15) < 1e-9);
  t.ok(Math.abs(h.quantile(0.99) - 0.15) < 1e-9);
  t.ok(Math.abs(h.quantile(1) - 7.05) < 1e-9);
  t.equal(h.maxMs, 7);
  t.end();
});

/** Prompts whose every byte is a known value. */
const prompts: PromptSource = {
  get(name) {
    const bytes = name === 'a' ? 400 : name === 'b' ? 160 : -1;
    if (bytes < 0) return undefined;
    const v = name === 'a' ? 0x11 : 0x22;
    return { pcmu: Buffer.alloc(bytes, v), pcma: Buffer.alloc(bytes, v + 1) };
  },
  readout: (n) => String(n).split('').map((d) => (d === '1' ? 'a' : 'b')),
};

interface Sent {
  seq: number;
  ts: number;
  ssrc: number;
  marker: boolean;
  pt: number;
  payload: Buffer;
}

function harness(): {
  clock: PacingClock; out: OutboundStream; pb: PlaybackT; sent: Sent[]; done: [number, string][]; time: ReturnType<typeof fakeTime>;
} {
  const time = fakeTime();
  const clock = new PacingClock({ now: time.now, slots: 1 });
  const out = new OutboundStream(0x1234, 65534, 0xfffffe00);
  const sent: Sent[] = [];
  const view = new RtpView();
  const sink: RtpSink = {
    sendRtp(buf) {
      t.ok(view.reset(buf, buf.length));
      sent.push({ seq: view.sequence, ts: view.timestamp, ssrc: view.ssrc, marker: view.marker, pt: view.payloadType, payload: Buffer.from(view.payload()) });
    },
  };
  const done: [number, string][] = [];
  const delegate: PlaybackDelegate = { playbackDone: (_p, id, why) => done.push([id, why]) };
  const pb = new Playback(clock, out, sink, delegate, 0, 'PCMU');
  return { clock, out, pb, sent, done, time };
}

function run(h: ReturnType<typeof harness>, fromMs: number, toMs: number): void {
  for (let ms = fromMs; ms <= toMs; ms += 20) {
    h.time.set(ms);
    h.clock.poll(ms);
  }
}

t.test('playlist: sequence, silence, number read-out, padding, finished once', (t) => {
  const h = harness();
  const c = compilePlaylist({ items: [{ kind: 'prompt', name: 'a' }, { kind: 'silence', ms: 30 }, { kind: 'number', value: 12, lang: 'en' }] }, 'PCMU', prompts);
  if (!c.ok) throw new Error(c.reason);
  t.equal(c.playlist.frames, 3 + 2 + 3 + 1, "a (3 frames), 30 ms silence (2), '12' read as a + b");
  h.pb.start(c.playlist, 7);
  h.clock.stop();
  run(h, 0, 300);
  t.equal(h.sent.length, 9);
  t.same(h.sent.map((p) => p.payload[0]), [0x11, 0x11, 0x11, 0xff, 0xff, 0x11, 0x11, 0x11, 0x22]);
  t.equal(h.sent[2]!.payload[79], 0x11, 'last partial frame: prompt bytes');
  t.equal(h.sent[2]!.payload[80], 0xff, 'then µ-law silence');
  t.same(h.done, [[7, 'finished']]);
  t.equal(h.clock.streams, 0, 'detached when finished');
  // Sequence wraps 65535 → 0, timestamp wraps 2^32 → 0, +160 per frame.
  t.same(h.sent.map((p) => p.seq), [65534, 65535, 0, 1, 2, 3, 4, 5, 6]);
  for (let i = 1; i < h.sent.length; i++) t.equal((h.sent[i]!.ts - h.sent[i - 1]!.ts) >>> 0, 160);
  t.same(h.sent.map((p) => p.marker), [true, false, false, false, false, false, false, false, false]);
  t.ok(h.sent.every((p) => p.ssrc === 0x1234 && p.pt === 0));
  t.end();
});

t.test('loop restarts at loopFrom; A-law uses the pcma bytes; stop reports stopped', (t) => {
  const h = harness();
  const c = compilePlaylist({ items: [{ kind: 'prompt', name: 'b' }, { kind: 'prompt', name: 'a' }], loop: true, loopFrom: 1 }, 'PCMA', prompts);
  if (!c.ok) throw new Error(c.reason);
  h.pb.setCodec('PCMA', 8);
  h.pb.start(c.playlist, 3);
  h.clock.stop();
  run(h, 0, 180);
  t.same(h.sent.map((p) => p.payload[0]), [0x23, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12, 0x12]);
  t.equal(h.sent[3]!.payload[100], 0xd5, 'A-law silence pads the loop prompt');
  t.ok(h.sent.every((p) => p.pt === 8));
  h.pb.stop();
  t.same(h.done, [[3, 'stopped']]);
  t.end();
});

t.test('compile errors are results', (t) => {
  const r1 = compilePlaylist({ items: [{ kind: 'prompt', name: 'nope' }] }, 'PCMU', prompts);
  t.equal(r1.ok, false);
  if (!r1.ok) t.match(r1.reason, /unknown prompt 'nope'/);
  const r2 = compilePlaylist({ items: [{ kind: 'silence', ms: 0 }], loop: true }, 'PCMU', prompts);
  t.equal(r2.ok, false);
  const r3 = compilePlaylist({ items: [{ kind: 'number', value: -1, lang: 'en' }] }, 'PCMU', prompts);
  t.equal(r3.ok, false);
  t.end();
});

t.test('skipped frames advance the timestamp but not the sequence', (t) => {
  const h = harness();
  const c = compilePlaylist({ items: [{ kind: 'silence', ms: 1000 }] }, 'PCMU', prompts);
  if (!c.ok) throw new Error(c.reason);
  h.pb.start(c.playlist, 1);
  h.clock.stop();
  run(h, 0, 20);
  h.time.set(200);
  h.clock.poll(200); // frames 2..10 owed: the newest three sent, six skipped
  const n = h.sent.length;
  t.equal(n, 2 + 3);
  for (let i = 1; i < n; i++) t.equal((h.sent[i]!.seq - h.sent[i - 1]!.seq) & 0xffff, 1, 'no sequence gap');
  const jump = (h.sent[n - 1]!.ts - h.sent[0]!.ts) >>> 0;
  t.equal(jump, 10 * 160, 'timestamp follows the wall clock across the skip');
  t.end();
});

t.test('sleepMs: the clock sleeps up to the deadline in the thread and never sends a frame early', async (t) => {
  const clock = new PacingClock({ slots: 2, periodMs: 4, sleepMs: 1 });
  const sent: { due: number; at: number }[] = [];
  const stream: PacedStream = {
    clockSlot: -1,
    clockIndex: -1,
    pace(dueMs: number): void {
      sent.push({ due: dueMs, at: performance.now() });
    },
    skip(): void {},
  };
  clock.add(stream);
  t.teardown(() => clock.stop());
  await new Promise((r) => setTimeout(r, 60));
  clock.stop();
  t.ok(sent.length >= 3, `frames were paced (${sent.length})`);
  t.ok(sent.every((s) => s.at >= s.due), 'no frame before its due time');
  t.ok(sent.every((s) => (s.due - sent[0]!.due) % 4 === 0), 'frames on the absolute schedule of the period');
});

t.test('phase: the clock starts on its place in the shared slot grid', (t) => {
  const time = fakeTime();
  // Slots of 2 ms; phase 0.5 puts this clock's phases at 1, 3, 5… ms of the shared time line.
  const clock = new PacingClock({ now: time.now, slots: 2, periodMs: 4, phase: 0.5, originMs: 100 });
  time.set(-97.5); // 2.5 ms on the shared line
  const a = new CountingStream();
  clock.add(a);
  clock.stop(); // drive by poll() only
  t.equal(clock.poll(-97.1), -97, 'nothing due before the aligned start; the first phase is at 3 ms');
  clock.poll(-97);
  clock.poll(-93);
  t.equal(a.clockSlot, 0);
  t.same(a.paced, [-97, -93], 'slot 0 at 3 ms on the shared line, then every period');
  const unaligned = new PacingClock({ now: time.now, slots: 2, periodMs: 4 });
  const c = new CountingStream();
  unaligned.add(c);
  unaligned.stop();
  unaligned.poll(-97.5);
  t.same(c.paced, [-97.5], 'without phase the clock starts at once');
  t.end();
});

t.test('a leg sends from one allocation: RING whole-packet views that never overlap, reused in turn', (t) => {
  const time = fakeTime();
  const clock = new PacingClock({ now: time.now, slots: 1 });
  const bufs: Buffer[] = [];
  const sink: RtpSink = { sendRtp: (buf) => { bufs.push(buf); } };
  const pb = new Playback(clock, new OutboundStream(1, 1, 1), sink, { playbackDone: () => {} }, 0, 'PCMU');
  const c = compilePlaylist({ items: [{ kind: 'silence', ms: 200 }] }, 'PCMU', prompts);
  if (!c.ok) throw new Error(c.reason);
  pb.start(c.playlist, 1);
  clock.stop();
  for (let ms = 0; ms <= 200; ms += 20) {
    time.set(ms);
    clock.poll(ms);
  }
  t.ok(bufs.length >= 8, `${bufs.length} packets`);
  const distinct = [...new Set(bufs)];
  t.equal(distinct.length, 4, 'four packet buffers, reused in turn');
  t.equal(new Set(distinct.map((b) => b.buffer)).size, 1, 'all views of one ArrayBuffer (one backing store per leg, not four)');
  t.ok(distinct.every((b) => b.length === 172), 'each exactly one packet');
  t.same(distinct.map((b) => b.byteOffset - distinct[0]!.byteOffset).sort((a, b) => a - b), [0, 172, 344, 516], 'side by side, never overlapping');
  t.end();
});
