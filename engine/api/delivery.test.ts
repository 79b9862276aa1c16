import t from 'tap';
import type { DeliveryReport } from '../store/index.ts';
import { deliveryObserver } from './delivery.ts';
import { createMetrics } from './metrics.ts';

function report(ok: boolean, dead = false): DeliveryReport {
  return {
    ok, dead, error: ok ? null : 'HTTP 503', durationMs: 3,
    item: { id: 1, callId: 'c1', status: 'pending', createdAt: 0, attempts: 1, nextAttemptAt: 0, lastError: null, kind: 'cdr', payload: {} as never },
  };
}

t.test('deliveries counted by result; failures logged at most once per period with the count', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  let now = 0;
  const observe = deliveryObserver(metrics, { warn: ((obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg })) as never },
    { logEveryMs: 60_000, now: () => now });
  observe(report(true));
  t.equal(lines.length, 0, 'a success logs nothing');
  observe(report(false));
  t.equal(lines.length, 1, 'the first failure is logged at once');
  t.match(lines[0]!.obj, { failed: 1, dead: 0, lastError: 'HTTP 503', callId: 'c1' });
  for (let i = 0; i < 50; i++) { now += 1000; observe(report(false, i === 10)); }
  t.equal(lines.length, 1, 'a minute of failures: still one line');
  now += 10_000;
  observe(report(false));
  t.equal(lines.length, 2, 'the next period: one more line');
  t.match(lines[1]!.obj, { failed: 51, dead: 1 }, 'carrying how many failed since the last line');
  const text = await metrics.render();
  t.match(text, /^onair_crm_deliveries_total\{result="ok"\} 1$/m);
  t.match(text, /^onair_crm_deliveries_total\{result="retry"\} 51$/m);
  t.match(text, /^onair_crm_deliveries_total\{result="dead"\} 1$/m);
});
