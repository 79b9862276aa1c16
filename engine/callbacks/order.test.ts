/**
 * Surge mode's order of callbacks (issue 18, order.ts): the previous airing of the same programme,
 * and its tasks before any other, oldest first; the order by original arrival otherwise.
 */
import t from 'tap';
import { firstAirings, previousAiring, previousAiringFirst } from './index.ts';

const H = 3_600_000;
const AIRINGS = [
  { id: 'P#1', programme: 'P', start: 20 * H },
  { id: 'Q#1', programme: 'Q', start: 21 * H },
  { id: 'P#2', programme: 'P', start: 22 * H },
  { id: 'P#0', programme: 'P', start: 18 * H },
];

t.test('the previous airing is the same programme\'s latest earlier one', async (t) => {
  t.equal(previousAiring(AIRINGS, 'P#2'), 'P#1', 'not Q#1 (another programme), not P#0 (earlier)');
  t.equal(previousAiring(AIRINGS, 'P#1'), 'P#0');
  t.equal(previousAiring(AIRINGS, 'P#0'), null, 'the first airing has none');
  t.equal(previousAiring(AIRINGS, 'Q#1'), null);
  t.equal(previousAiring(AIRINGS, 'gone'), null, 'an airing the schedule no longer has');
  t.same([...firstAirings(AIRINGS, ['P#2', 'Q#1'])], ['P#1'], 'one per airing in surge that has a previous one');
});

t.test('the previous airing\'s due tasks go first, oldest first; the others wait while one is due', async (t) => {
  // Due tasks as the store gives them: oldest original arrival first (the order before surge mode).
  const due = [
    { id: 1, airing: 'Q#1', arrivedAt: 20.6 * H },
    { id: 2, airing: 'P#1', arrivedAt: 20.9 * H },
    { id: 3, airing: null, arrivedAt: 19 * H },
    { id: 4, airing: 'P#1', arrivedAt: 21.2 * H },
  ].sort((a, b) => a.arrivedAt - b.arrivedAt);
  t.same(due.map((x) => x.id), [3, 1, 2, 4], 'by arrival, the previous airing\'s tasks would not be first');
  t.same(previousAiringFirst(due, new Set(['P#1'])).map((x) => x.id), [2, 4], 'P#1\'s tasks, oldest first, and only those');
  t.same(previousAiringFirst([...due, due[1]!], new Set(['P#1'])).map((x) => x.id), [2, 4], 'a task listed twice (two store queries) once');
  t.same(previousAiringFirst(due, new Set(['P#9'])).map((x) => x.id), [3, 1, 2, 4], 'none of the previous airing due: every task, by arrival');
  t.same(previousAiringFirst(due, new Set()).map((x) => x.id), [3, 1, 2, 4], 'no surge: unchanged');
});
