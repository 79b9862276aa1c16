/**
 * A pacing clock over its capacity yields to the event loop (issue 13): between its wake-ups the
 * poll phase runs, so a bridged leg's packets are relayed while the hold streams are late. The
 * clock runs on a fake time that moves only while streams pace (each frame costs 1 ms, two
 * streams per 1 ms phase: twice what the thread can do), and a chain of `setImmediate` callbacks
 * stands for the I/O a worker must still serve; the test counts frames between two of them.
 */
import t from 'tap';
import { PacingClock } from './index.ts';
import type { PacedStream } from './index.ts';

/** Frames paced between consecutive turns of the event loop, until `total` frames. */
async function gapsBetweenTurns(yieldAfterMs: number, total = 2000): Promise<{ gaps: number[]; yields: number; skipped: number }> {
  let now = 1000;
  let paced = 0;
  const clock = new PacingClock({ now: () => now, slots: 20, sleepMs: 0, spinMs: 0, yieldAfterMs });
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => { done = resolve; });
  const stream = (): PacedStream => ({
    clockSlot: -1, clockIndex: -1,
    pace() {
      now += 1;
      if (++paced === total) {
        clock.stop();
        done();
      }
    },
    skip() {},
  });
  for (let i = 0; i < 40; i++) clock.add(stream());
  const seen: number[] = [paced];
  let over = false;
  const turn = (): void => {
    seen.push(paced);
    if (!over) setImmediate(turn);
  };
  setImmediate(turn);
  await finished;
  over = true;
  await new Promise((r) => setImmediate(r));
  const gaps = seen.slice(1).map((p, i) => p - seen[i]!);
  return { gaps, yields: clock.yields, skipped: clock.skipped };
}

t.test('behind schedule, the clock hands the thread back every few frames', async (t) => {
  const r = await gapsBetweenTurns(3);
  const worst = Math.max(...r.gaps);
  // Budget 3 ms = 3 frames, plus the rest of the phase it was in (2 frames a phase).
  t.ok(worst <= 5, `at most 5 frames between two turns of the event loop (worst ${worst})`);
  t.ok(r.yields > 100, `the clock yielded (${r.yields} times)`);
  t.ok(r.skipped > 0, 'and the streams on the clock were the ones late: old frames skipped');
});

t.test('with yieldAfterMs 0 (the old behaviour) the clock holds the thread until it is stopped', async (t) => {
  const r = await gapsBetweenTurns(0);
  const busy = r.gaps.filter((g) => g > 0);
  t.equal(busy.length, 1, 'one stretch without a turn of the event loop');
  t.ok(busy[0]! >= 2000, `from the first frame to the last (${busy[0]} frames)`);
  t.equal(r.yields, 0);
});
