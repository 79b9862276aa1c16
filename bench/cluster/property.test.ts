/**
 * Property: whatever the center, the load and the database's latency, no agent's phone is ever
 * offered a second call before it is free of the first, under either coordinated design. Checked
 * on the run's timeline of offers and frees, apart from the simulation's own counter.
 */
import t from 'tap';
import fc from 'fast-check';
import { simulate, type AgentEvent, type Design } from './index.ts';

/** Offers made to an agent whose phone still had a call, read off the timeline. */
function overlaps(timeline: readonly AgentEvent[]): number {
  const open = new Map<string, number>();
  let bad = 0;
  for (const e of timeline) {
    const n = open.get(e.agentId) ?? 0;
    if (e.kind === 'offer') {
      if (n > 0) bad++;
      open.set(e.agentId, n + 1);
    } else {
      open.set(e.agentId, n - 1);
    }
  }
  return bad;
}

const run = (design: Design, p: { nodes: number; agents: number; rate: number; cross: number; dbScale: number; seed: number; occupancy: number }) =>
  simulate({
    design, nodes: p.nodes, agents: p.agents, rate: p.rate, seconds: 10, warmupSeconds: 2, seed: p.seed, queues: 4 * p.nodes + 2,
    crossShare: p.cross, dbScale: p.dbScale, occupancy: p.occupancy, wrapUpMs: 500, recordTimeline: true,
  });

const params = fc.record({
  nodes: fc.integer({ min: 1, max: 4 }),
  agents: fc.integer({ min: 5, max: 120 }),
  rate: fc.integer({ min: 2, max: 60 }),
  cross: fc.double({ min: 0, max: 1, noNaN: true }),
  dbScale: fc.constantFrom(0, 0.2, 1, 5, 50, 500),
  seed: fc.integer({ min: 1, max: 1_000_000 }),
  occupancy: fc.double({ min: 0.5, max: 1.3, noNaN: true }),
});

t.test('no agent is offered two calls at once (owner, db)', async (t) => {
  let offers = 0;
  let lost = 0;
  fc.assert(
    fc.property(params, fc.constantFrom<Design>('owner', 'db'), (p, design) => {
      const r = run(design, p);
      offers += r.timeline.length;
      lost += r.offersLost;
      return r.doubleOffers === 0 && overlaps(r.timeline) === 0;
    }),
    { numRuns: 60, seed: 19 },
  );
  t.ok(offers > 10_000, `the runs offered calls (${offers} timeline entries)`);
  t.ok(lost > 0, `and lost reserves to other nodes on the way (${lost})`);
});

t.test('the timeline check catches the uncoordinated baseline', async (t) => {
  const r = run('none', { nodes: 4, agents: 100, rate: 40, cross: 0.8, dbScale: 1, seed: 5, occupancy: 0.9 });
  t.ok(overlaps(r.timeline) > 0, `overlapping offers found (${overlaps(r.timeline)})`);
  t.equal(overlaps(r.timeline), r.doubleOffers, 'and they are the ones the simulation counted');
});
