/** The predictive pacer's rules, input by input (the simulation test covers whole shifts). */
import t from 'tap';
import fc from 'fast-check';
import { PredictivePacer } from './pacing.ts';

const base = { now: 0, agentsLoggedIn: 10, agentsIdle: 0, busySince: [] as number[], dialing: 0, held: 0 };

t.test('nobody logged in, or the line cap reached: no dial', async (t) => {
  const p = new PredictivePacer({ maxLinesPerAgent: 2 });
  t.equal(p.dials({ ...base, agentsLoggedIn: 0, agentsIdle: 0 }), 0);
  t.equal(p.dials({ ...base, agentsIdle: 10, dialing: 20 }), 0, '2 lines x 10 agents in flight');
});

t.test('idle agents and a 30 % answer rate: several dials per idle agent, never more than the cap', async (t) => {
  const p = new PredictivePacer({ initialAnswerRate: 0.3, maxLinesPerAgent: 3 });
  const n = p.dials({ ...base, agentsIdle: 10 });
  t.ok(n > 10 && n <= 30, `${n} dials for 10 idle agents`);
});

t.test('held customers take idle agents first', async (t) => {
  const p = new PredictivePacer({ initialAnswerRate: 0.3 });
  t.ok(p.dials({ ...base, agentsIdle: 5, held: 5 }) < p.dials({ ...base, agentsIdle: 5 }));
});

t.test('a measured abandon ratio over the ceiling tightens the next decisions', async (t) => {
  const calm = new PredictivePacer({ initialAnswerRate: 0.3 });
  const burnt = new PredictivePacer({ initialAnswerRate: 0.3 });
  for (let i = 0; i < 100; i++) {
    calm.answeredCustomer(i, false);
    burnt.answeredCustomer(i, i % 10 === 0); // 10 % abandons
  }
  t.equal(burnt.abandonRatio(100), 0.1);
  t.ok(burnt.dials({ ...base, agentsIdle: 10 }) < calm.dials({ ...base, agentsIdle: 10 }));
  t.equal(burnt.abandonRatio(100 + 31 * 60_000), 0, 'the window forgets after 30 minutes');
});

t.test('the measured answer rate replaces the assumption after 20 attempts', async (t) => {
  const p = new PredictivePacer({ initialAnswerRate: 0.3 });
  for (let i = 0; i < 40; i++) p.attemptEnded(true, 5_000);
  t.ok(p.answerRate() > 0.9);
  t.ok(p.dials({ ...base, agentsIdle: 10 }) <= 11, 'everyone answers: about one dial per idle agent');
});

t.test('more idle agents never mean fewer dials; more calls in flight never mean more', async (t) => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 60 }), fc.double({ min: 0.05, max: 1, noNaN: true }),
    (idle, more, dialing, rate) => {
      const p = new PredictivePacer({ initialAnswerRate: rate });
      const s = { ...base, agentsLoggedIn: 100, agentsIdle: idle, dialing };
      const a = p.dials(s);
      return p.dials({ ...s, agentsIdle: idle + more }) >= a && p.dials({ ...s, dialing: dialing + more }) <= a;
    }));
});
