/**
 * The work scheduler on a fake clock with turns run by hand: ordering by class, the per-turn
 * budget, the bounds (shed, never silent), the late notice, and the guarantee against starvation.
 */
import t from 'tap';
import { WorkScheduler, WORK_CLASSES, type WorkClass, type WorkHandler } from './index.ts';

/** A scheduler whose turns wait in `turns` and whose clock moves `cost` ms per item run. */
function rig(opts: { budget?: number; limit?: number; cost?: number; lateAfterMs?: number; readAhead?: number } = {}) {
  let now = 0;
  const turns: (() => void)[] = [];
  const ran: string[] = [];
  const shed: string[] = [];
  const late: string[] = [];
  const cost = opts.cost ?? 1;
  const sched = new WorkScheduler({
    turnBudgetMs: opts.budget ?? 3, lateAfterMs: opts.lateAfterMs ?? 100, now: () => now, readAheadPosts: opts.readAhead ?? 0,
    defer: (turn) => turns.push(turn),
    ...(opts.limit !== undefined ? { limits: { agent: opts.limit, record: opts.limit, signalling: opts.limit, media: opts.limit } } : {}),
  });
  const handler: WorkHandler<string> = {
    run(item) { ran.push(item); now += cost; },
    shed(item) { shed.push(item); },
    late(item) { late.push(item); },
  };
  const post = (cls: WorkClass, item: string) => sched.post(cls, handler, item);
  /** Run the pending turn; returns what it ran. */
  const turn = () => {
    const before = ran.length;
    const next = turns.shift();
    if (next) next();
    return ran.slice(before);
  };
  return { sched, post, turn, ran, shed, late, turns, advance: (ms: number) => { now += ms; } };
}

t.test('a turn runs the highest class first, FIFO within a class', async (t) => {
  const r = rig({ budget: 100 });
  r.post('media', 'm1');
  r.post('signalling', 's1');
  r.post('record', 'r1');
  r.post('signalling', 's2');
  r.post('agent', 'a1');
  r.post('agent', 'a2');
  t.equal(r.turns.length, 1, 'one turn scheduled for many posts');
  t.same(r.turn(), ['a1', 'a2', 'r1', 's1', 's2', 'm1'], 'agent, record, signalling, media; arrival order inside each');
  t.equal(r.turns.length, 0, 'nothing left, no turn scheduled');
});

t.test('work posted by running work is taken by class, not appended', async (t) => {
  const r = rig({ budget: 100 });
  const sched = r.sched;
  const ran: string[] = [];
  const h: WorkHandler<string> = {
    run(item) {
      ran.push(item);
      if (item === 's1') sched.post('agent', h, 'a-from-s1');
    },
    shed() {},
  };
  sched.post('signalling', h, 's1');
  sched.post('signalling', h, 's2');
  r.turn();
  t.same(ran, ['s1', 'a-from-s1', 's2'], 'the agent work s1 produced ran before the next signalling item');
});

t.test('the budget ends a turn; the rest waits for the next turn', async (t) => {
  const r = rig({ budget: 3, cost: 1 });
  for (let i = 0; i < 10; i++) r.post('signalling', `s${i}`);
  t.same(r.turn(), ['s0', 's1', 's2'], 'three items of 1 ms in a 3 ms budget');
  t.equal(r.turns.length, 1, 'the next turn is scheduled');
  r.post('agent', 'a0');
  t.same(r.turn(), ['a0', 's3', 's4'], 'an agent item posted between turns goes first in the next one');
  t.equal(r.sched.turnCount, 2);
});

t.test('a turn always runs at least one item, even over budget', async (t) => {
  const r = rig({ budget: 1, cost: 50 });
  r.post('agent', 'a0');
  r.post('agent', 'a1');
  t.same(r.turn(), ['a0'], 'one slow item, then the turn yields');
  t.same(r.turn(), ['a1']);
});

t.test('no starvation: each waiting class gets one item per turn however busy the higher ones are', async (t) => {
  const r = rig({ budget: 2, cost: 1 });
  for (let i = 0; i < 100; i++) r.post('agent', `a${i}`);
  r.post('record', 'r0');
  r.post('signalling', 's0');
  r.post('signalling', 's1');
  r.post('media', 'm0');
  t.same(r.turn(), ['a0', 'a1', 'r0', 's0', 'm0'], 'the budget goes to agent work, then one item of each lower class');
  t.same(r.turn(), ['a2', 'a3', 's1'], 's1 was the second of its class: served in the second turn');
  // Keep the agent class busy forever: a lower item at position p is served within p + 1 turns.
  for (let i = 0; i < 5; i++) r.post('media', `m${i + 1}`);
  const served: number[] = [];
  for (let turn = 1; turn <= 5; turn++) {
    r.post('agent', `x${turn}`);
    r.post('agent', `y${turn}`);
    const out = r.turn();
    const m = out.filter((x) => x.startsWith('m'));
    t.equal(m.length, 1, `turn ${turn}: exactly one media item while agent work keeps coming`);
    served.push(Number(m[0]!.slice(1)));
  }
  t.same(served, [1, 2, 3, 4, 5], 'media items in order, one per turn');
});

t.test('a full class sheds through the handler; other classes still take work', async (t) => {
  const r = rig({ limit: 2, budget: 100 });
  t.equal(r.post('signalling', 's0'), true);
  t.equal(r.post('signalling', 's1'), true);
  t.equal(r.post('signalling', 's2'), false, 'the third signalling item is refused');
  t.same(r.shed, ['s2'], 'and handed to the handler to answer (never dropped silently)');
  t.equal(r.post('agent', 'a0'), true, 'the agent class has its own bound');
  t.match(r.sched.stats('signalling'), { queued: 2, posted: 3, shed: 1, run: 0 });
  r.turn();
  t.same(r.ran, ['a0', 's0', 's1']);
  t.equal(r.post('signalling', 's3'), true, 'room again once drained');
  t.match(r.sched.stats('signalling'), { queued: 1, posted: 4, shed: 1, run: 2 });
});

t.test('an item queued lateAfterMs or longer gets one late notice before it runs', async (t) => {
  const r = rig({ budget: 2, cost: 1, lateAfterMs: 100 });
  for (let i = 0; i < 6; i++) r.post('signalling', `s${i}`);
  r.advance(50);
  r.post('signalling', 's6');
  r.turn();
  t.same(r.late, [], 'nothing has waited 100 ms yet');
  r.advance(60);
  r.turn();
  t.same(r.late, ['s2', 's3', 's4', 's5'], 'the items posted at 0 that still wait, oldest first; not s6 (posted at 50)');
  r.advance(200);
  r.turn();
  t.same(r.late, ['s2', 's3', 's4', 's5', 's6'], 'each item once');
  while (r.turns.length > 0) r.turn();
  t.same(r.ran, ['s0', 's1', 's2', 's3', 's4', 's5', 's6'], 'late items still run, in order');
});

t.test('a throwing handler costs its item only', async (t) => {
  const errors: WorkClass[] = [];
  const turns: (() => void)[] = [];
  const sched = new WorkScheduler({ defer: (f) => turns.push(f), onError: (_e, cls) => errors.push(cls) });
  const ran: string[] = [];
  const h: WorkHandler<string> = {
    run(item) {
      if (item === 'bad') throw new Error('bug');
      ran.push(item);
    },
    shed() { throw new Error('bug in shed'); },
  };
  sched.post('agent', h, 'bad');
  sched.post('agent', h, 'good');
  turns.shift()!();
  t.same(ran, ['good']);
  t.same(errors, ['agent']);
  t.equal(sched.stats('agent').failed, 1);
  t.same(WORK_CLASSES, ['agent', 'record', 'signalling', 'media'], 'C4 order');
});

t.test('the queue grows past its first ring size and keeps FIFO order across wrap-around', async (t) => {
  const r = rig({ budget: 1000, cost: 0 });
  for (let i = 0; i < 10; i++) r.post('media', `m${i}`);
  r.turn();
  for (let i = 10; i < 60; i++) r.post('media', `m${i}`);
  r.turn();
  t.same(r.ran, Array.from({ length: 60 }, (_, i) => `m${i}`));
});

t.test('after a full read (readAheadPosts) a turn runs agent work and one item per lower class, then full budgets again', async (t) => {
  const r = rig({ budget: 100, cost: 1, readAhead: 4 });
  for (let i = 0; i < 6; i++) r.post('signalling', `s${i}`);
  r.post('agent', 'a0');
  r.post('agent', 'a1');
  t.same(r.turn(), ['a0', 'a1', 's0'], '8 posts since the last turn: the backlog is read before it is worked off');
  r.post('signalling', 's6');
  t.same(r.turn(), ['s1', 's2', 's3', 's4', 's5', 's6'], 'one post since: the whole budget');
});
