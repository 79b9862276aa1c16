/**
 * The outbound metrics as /metrics renders them: the engine's Metrics is the dialer's
 * OutboundMetrics port; every trunk × result exists at 0, counts and the active gauge follow.
 */
import t from 'tap';
import { createMetrics } from '../api/metrics.ts';
import type { OutboundMetrics } from './index.ts';

t.test('onair_outbound_calls_total and onair_outbound_active_calls', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const port: OutboundMetrics = metrics;
  let active = 2;
  metrics.setSources({ outbound: () => [{ trunk: 'a', active }, { trunk: 'b', active: 0 }] });
  port.outboundCall('a', 'answered');
  port.outboundCall('a', 'answered');
  port.outboundCall('b', 'trunk_error');
  port.outboundCall('', 'trunk_error');
  let text = await metrics.render();
  t.match(text, /onair_outbound_calls_total\{trunk="a",result="answered"\} 2/);
  t.match(text, /onair_outbound_calls_total\{trunk="a",result="busy"\} 0/, 'series at 0 before the first event');
  t.match(text, /onair_outbound_calls_total\{trunk="b",result="trunk_error"\} 1/);
  t.match(text, /onair_outbound_calls_total\{trunk="",result="trunk_error"\} 1/, 'no trunk had room');
  t.match(text, /onair_outbound_active_calls\{trunk="a"\} 2/);
  t.match(text, /onair_outbound_active_calls\{trunk="b"\} 0/);
  active = 0;
  text = await metrics.render();
  t.match(text, /onair_outbound_active_calls\{trunk="a"\} 0/, 'the gauge is read at scrape time');
});
