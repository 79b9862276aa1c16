/**
 * The pacing simulation on one small floor (deterministic per seed, no timing): the engine's
 * predictive pacer keeps dialer abandons under the 3 % ceiling and keeps agents busier than
 * progressive dialing does.
 */
import t from 'tap';
import { simulate } from './sim.ts';

t.test('predictive pacing on 50 agents at a 30 % answer rate: abandons under the ceiling, occupancy above progressive', async (t) => {
  const o = { agents: 50, answerRate: 0.3, seed: 7, minutes: 20, warmupMinutes: 5 };
  const pred = simulate({ ...o, mode: 'predictive' });
  const prog = simulate({ ...o, mode: 'progressive' });
  t.ok(pred.answered > 100, `enough answered customers to judge (${pred.answered})`);
  t.ok(pred.abandonRatio <= 0.03, `dialer abandons ${pred.abandonRatio.toFixed(4)} <= 0.03`);
  t.equal(prog.abandoned, 0, 'progressive: an agent waits for every customer, nobody is abandoned');
  t.ok(pred.occupancy > prog.occupancy + 0.1, `occupancy ${pred.occupancy.toFixed(3)} vs progressive ${prog.occupancy.toFixed(3)}`);
});

t.test('a stricter ceiling buys fewer abandons with fewer dials', async (t) => {
  const o = { agents: 50, answerRate: 0.3, seed: 3, minutes: 20, warmupMinutes: 5, mode: 'predictive' as const };
  const loose = simulate({ ...o, pacing: { maxAbandonRatio: 0.05 } });
  const strict = simulate({ ...o, pacing: { maxAbandonRatio: 0.005 } });
  t.ok(strict.abandonRatio <= loose.abandonRatio, `${strict.abandonRatio} <= ${loose.abandonRatio}`);
  t.ok(strict.dialled < loose.dialled, `${strict.dialled} < ${loose.dialled} dials`);
});
