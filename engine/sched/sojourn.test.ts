/**
 * Sojourn admission in the work scheduler (issue 13), on a fake clock with turns run by hand: an
 * item of a class with a deadline that waited past it when its turn comes goes to its handler's
 * `overdue` instead of `run`; one under it runs; classes without a deadline (agent, record) run
 * whatever their wait; the wait counts from the poster's `since`; every item's wait is observed.
 */
import t from 'tap';
import { WorkScheduler, type WorkClass, type WorkHandler } from './index.ts';

function rig(deadlines: Partial<Record<WorkClass, number>>) {
  let now = 1000;
  const turns: (() => void)[] = [];
  const ran: string[] = [];
  const overdue: { item: string; waited: number }[] = [];
  const observed: { cls: WorkClass; waited: number }[] = [];
  const sched = new WorkScheduler({
    turnBudgetMs: 1000, readAheadPosts: 0, deadlines, now: () => now, defer: (turn) => turns.push(turn),
    observe: (cls, waited) => observed.push({ cls, waited }),
  });
  const handler: WorkHandler<string> = {
    run(item) { ran.push(item); now += 1; },
    shed() {},
    overdue(item, _cls, waited) {
      if (item.startsWith('keep')) return false;
      overdue.push({ item, waited });
      return true;
    },
  };
  return {
    sched, ran, overdue, observed,
    post: (cls: WorkClass, item: string, since?: number) => sched.post(cls, handler, item, since),
    turn: () => turns.shift()?.(),
    advance: (ms: number) => { now += ms; },
    get now() { return now; },
  };
}

t.test('a signalling item past its deadline gets the cheap answer, one under it runs', async (t) => {
  const r = rig({ signalling: 2000 });
  r.post('signalling', 'old');
  r.advance(1500);
  r.post('signalling', 'new');
  r.advance(500); // 'old' has waited 2000 ms, 'new' 500 ms
  r.turn();
  t.same(r.overdue.map((o) => o.item), ['old'], 'the INVITE that waited 2 s is overdue');
  t.equal(r.overdue[0]!.waited, 2000, 'with how long it waited');
  t.same(r.ran, ['new'], 'the one that waited 0.5 s is worked as a full call');
  t.equal(r.sched.stats('signalling').overdue, 1, 'counted as overdue');
  t.equal(r.sched.stats('signalling').run, 1, 'and only the other as run');
});

t.test('agent and record work is never cut short, however long it waited', async (t) => {
  const r = rig({ signalling: 100 });
  r.post('agent', 'answer');
  r.post('record', 'cdr');
  r.post('signalling', 'invite');
  r.advance(10_000);
  r.turn();
  t.same(r.ran, ['answer', 'cdr'], 'the agent\'s answer and the record run after 10 s in the queue');
  t.same(r.overdue.map((o) => o.item), ['invite'], 'only the signalling item is overdue');
  t.equal(r.sched.stats('agent').overdue + r.sched.stats('record').overdue, 0, 'no overdue in the classes without a deadline');
});

t.test('the wait counts from the poster\'s since (the parse), not from the post', async (t) => {
  const r = rig({ signalling: 2000 });
  r.post('signalling', 'parsed-early', r.now - 1900);
  r.post('signalling', 'parsed-now', r.now);
  r.advance(150);
  r.turn();
  t.same(r.overdue.map((o) => o.item), ['parsed-early'], 'parsed 2,050 ms before its turn');
  t.same(r.ran, ['parsed-now'], 'posted at the same moment, parsed 150 ms before its turn');
  r.post('signalling', 'future', r.now + 5000);
  r.advance(10);
  r.turn();
  t.same(r.ran, ['parsed-now', 'future'], 'a since after now counts as now');
});

t.test('no deadline (absent or 0): every item runs; the wait is observed for every item', async (t) => {
  const r = rig({ signalling: 0 });
  r.post('signalling', 's');
  r.post('media', 'm');
  r.advance(60_000);
  r.turn();
  t.same(r.ran, ['s', 'm'], 'both run after a minute');
  t.same(r.overdue, [], 'nothing overdue');
  t.same(r.observed.map((o) => o.cls), ['signalling', 'media'], 'each wait observed with its class');
  t.equal(r.observed[0]!.waited, 60_000, 'the signalling item waited a minute');
});

t.test('an item its handler declines to cut short runs, counted as run', async (t) => {
  const r = rig({ signalling: 100 });
  r.post('signalling', 'keep-options');
  r.post('signalling', 'invite');
  r.advance(500);
  r.turn();
  t.same(r.ran, ['keep-options'], 'declined: run as usual');
  t.same(r.overdue.map((o) => o.item), ['invite'], 'the other one is overdue');
  t.match(r.sched.stats('signalling'), { run: 1, overdue: 1 }, 'counted apart');
});

t.test('a handler without overdue runs its late item as usual', async (t) => {
  let now = 0;
  const turns: (() => void)[] = [];
  const ran: string[] = [];
  const sched = new WorkScheduler({ deadlines: { signalling: 10 }, now: () => now, defer: (turn) => turns.push(turn) });
  sched.post('signalling', { run: (item: string) => ran.push(item), shed() {} }, 'x');
  now = 50;
  turns.shift()?.();
  t.same(ran, ['x'], 'run');
  t.equal(sched.stats('signalling').overdue, 0, 'not counted overdue');
});
