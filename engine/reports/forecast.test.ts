import t from 'tap';
import { agentsNeeded, erlangAServiceLevel, erlangC, erlangCServiceLevel } from './forecast.ts';

t.test('Erlang C against textbook values', async (t) => {
  // B(10, 10) = 0.2146 (Erlang B tables); C(11, 10) = B / (1 − (A/n)(1 − B)) = 0.6821.
  t.equal(+erlangC(11, 10).toFixed(4), 0.6821);
  t.equal(erlangC(10, 10), 1, 'overloaded: everyone waits');
  // 100 calls / 30 min, AHT 180 s: A = 10 E; 20 s SL with 11 agents = 1 − 0.6821·e^{−(11−10)·20/180}.
  const lambda = 100 / 1_800_000, mu = 1 / 180_000;
  t.equal(+erlangCServiceLevel(11, lambda, mu, 20_000).toFixed(4), +(1 - 0.68209 * Math.exp(-20 / 180)).toFixed(4));
  t.equal(+erlangC(12, 10).toFixed(4), 0.4494);
  // n = 13: 1 − 0.2853·e^{−3·20/180} = 0.7956 < 0.8; n = 14: 1 − 0.1741·e^{−4·20/180} = 0.8884.
  t.equal(agentsNeeded(lambda, mu, 0, 20_000, 0.8), 14, 'the first n with SL ≥ 80 %');
});

t.test('Erlang A tends to Erlang C as patience grows, and needs fewer agents with impatient callers', async (t) => {
  const lambda = 100 / 1_800_000, mu = 1 / 180_000;
  for (const n of [11, 12, 14]) {
    const c = erlangCServiceLevel(n, lambda, mu, 20_000);
    const a = erlangAServiceLevel(n, lambda, mu, 1 / 1e12, 20_000);
    t.ok(Math.abs(a - c) < 1e-3, `n=${n}: A ${a.toFixed(5)} ≈ C ${c.toFixed(5)}`);
  }
  const impatient = erlangAServiceLevel(11, lambda, mu, 1 / 60_000, 20_000);
  t.ok(impatient > erlangCServiceLevel(11, lambda, mu, 20_000), 'abandons shorten the queue for those who stay');
  t.ok((agentsNeeded(lambda, mu, 1 / 60_000, 20_000, 0.8) ?? 99) <= 14);
});
