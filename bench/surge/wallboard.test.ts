import t from 'tap';
import { summarizeWallboard, type WallboardSample } from './wallboard.ts';

const at = (t: number, messages: number, staleS: number, shownWaiting: number | null, engineWaiting: number): WallboardSample =>
  ({ t, messages, staleS, shownWaiting, engineWaiting });

t.test('the wallboard summary: rate, longest silence while callers waited, error against the gauge', async (t) => {
  const s = summarizeWallboard([
    at(1, 5, 0, 0, 0),
    at(2, 9, 0.2, 10, 12),
    null, // the page did not answer that second
    at(4, 9, 2.5, 10, 40), // frozen while 40 waited
    at(5, 30, 0, 41, 41),
    at(6, 30, 9, 0, 0), // silent, but nobody waits: not a stale wallboard
  ], 6);
  t.equal(s.taken, 6);
  t.equal(s.read, 5);
  t.equal(s.messagesPerS, 5, '30 messages over 6 s');
  t.equal(s.staleMaxS, 2.5, 'the silence after the queue emptied does not count');
  t.equal(s.waitingErrorMax, 30);
  t.equal(s.waitingErrorP50, 0, 'errors 0, 0, 0, 2, 30: median 0');
});

t.test('a page never read gives no figures rather than zeros', async (t) => {
  const s = summarizeWallboard([null, null], 2);
  t.equal(s.read, 0);
  t.ok(Number.isNaN(s.waitingErrorMax));
});
