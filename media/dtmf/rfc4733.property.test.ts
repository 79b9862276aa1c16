import t from 'tap';
import fc from 'fast-check';
import { RtpView, writeRtpHeader } from '../rtp/index.ts';
import { Rfc4733Receiver, encodeRfc4733, DTMF_DIGITS } from './index.ts';

interface Press { digit: string; samples: number; gapMs: number }
interface Sent { atMs: number; bytes: Buffer; press: number }

/** Packets of a key sequence as a sender emits them: an update every 20 ms, the end three times. */
function send(presses: Press[]): Sent[] {
  const out: Sent[] = [];
  let ts = 1_000_000;
  let now = 0;
  let seq = 0;
  presses.forEach((p, i) => {
    const packet = (duration: number, end: boolean, marker: boolean): Buffer => {
      const b = Buffer.alloc(16);
      writeRtpHeader(b, 0, 101, seq++ & 0xffff, ts, 7, marker);
      encodeRfc4733(b, 12, p.digit, end, 10, duration);
      return b;
    };
    for (let d = 0; d < p.samples; d += 160) out.push({ atMs: now + d / 8, bytes: packet(d, false, d === 0), press: i });
    for (let k = 0; k < 3; k++) out.push({ atMs: now + p.samples / 8, bytes: packet(p.samples, true, false), press: i });
    now += p.samples / 8 + p.gapMs;
    ts = (ts + (p.samples / 8 + p.gapMs) * 8) >>> 0;
  });
  return out;
}

const press = fc.record({
  digit: fc.constantFrom(...DTMF_DIGITS.split('')),
  samples: fc.integer({ min: 320, max: 4000 }), // 40..500 ms
  gapMs: fc.integer({ min: 40, max: 500 }),
});

t.test('every press is reported exactly once, in order, despite loss, duplication and reordering', async (t) => {
  fc.assert(
    fc.property(
      fc.array(press, { minLength: 1, maxLength: 8 }),
      fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 200, maxLength: 200 }),
      (presses, dice) => {
        const sent = send(presses);
        // The network: drop ~25%, duplicate ~10%, swap neighbours ~10%; always keep one packet per
        // press (a press with every packet lost cannot be reported by anyone).
        let k = 0;
        const roll = (): number => dice[k++ % dice.length]!;
        const arrived: Sent[] = [];
        for (const s of sent) {
          const r = roll();
          if (r < 0.25) continue;
          arrived.push(s);
          if (r > 0.9) arrived.push(s);
        }
        presses.forEach((_, i) => {
          if (!arrived.some((s) => s.press === i)) arrived.push(sent.find((s) => s.press === i)!);
        });
        arrived.sort((a, b) => a.atMs - b.atMs);
        // Reordering within a press; a packet overtaken by the next press is stale by design
        // (the 'late copies' unit test covers that those are dropped).
        for (let i = 0; i + 1 < arrived.length; i++) {
          if (roll() < 0.1 && arrived[i]!.press === arrived[i + 1]!.press) [arrived[i], arrived[i + 1]] = [arrived[i + 1]!, arrived[i]!];
        }
        const rx = new Rfc4733Receiver({ endTimeoutMs: 1000 });
        const view = new RtpView();
        const got: string[] = [];
        let now = 0;
        for (const s of arrived) {
          now = Math.max(now, s.atMs);
          view.reset(s.bytes, s.bytes.length);
          for (let d = rx.onPacket(view, now); d !== undefined; d = rx.poll(now)) got.push(d.digit);
        }
        for (let d = rx.poll(now + 1000); d !== undefined; d = rx.poll(now + 1000)) got.push(d.digit);
        return got.join('') === presses.map((p) => p.digit).join('');
      },
    ),
    { numRuns: 300, seed: 4733 },
  );
  t.pass('300 random key sequences over a lossy network');
});

t.test('no packet loss: durations are exact', async (t) => {
  fc.assert(
    fc.property(fc.array(press, { minLength: 1, maxLength: 6 }), (presses) => {
      const rx = new Rfc4733Receiver();
      const view = new RtpView();
      const got: number[] = [];
      for (const s of send(presses)) {
        view.reset(s.bytes, s.bytes.length);
        for (let d = rx.onPacket(view, s.atMs); d !== undefined; d = rx.poll(s.atMs)) got.push(d.durationMs);
      }
      return got.join() === presses.map((p) => p.samples / 8).join();
    }),
    { numRuns: 200, seed: 2833 },
  );
  t.pass('durations');
});
