import t from 'tap';
import { createMetrics } from './metrics.ts';
import { FakeEngine } from './testkit.ts';
import { openStore } from '../store/index.ts';

interface Sample { name: string; labels: Record<string, string>; value: number }

/**
 * A strict reader of the Prometheus text format (0.0.4): every line is a HELP, a TYPE or a sample;
 * every sample belongs to a family declared by TYPE; label values are quoted and escaped.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
  const labelPair = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type !== null) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const m = sampleLine.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    if (m[3] !== undefined && m[3] !== '') {
      labelPair.lastIndex = 0;
      while (labelPair.lastIndex < m[3].length) {
        const p = labelPair.exec(m[3]);
        if (p === null) throw new Error(`bad labels: ${line}`);
        labels[p[1]!] = p[2]!;
      }
    }
    const raw = m[4]!;
    // prom-client writes NaN as `Nan`; Prometheus reads it (Go's ParseFloat ignores case here).
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw.toLowerCase() !== 'nan') throw new Error(`bad value: ${line}`);
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(m[1]!) && types.get(family) !== 'histogram' && types.get(family) !== 'summary') {
      throw new Error(`sample without TYPE: ${line}`);
    }
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    && Object.keys(s.labels).length === Object.keys(labels).length)?.value;
}

t.test('every metric follows the naming conventions', async (t) => {
  const metrics = createMetrics();
  const all = await metrics.registry.getMetricsAsJSON();
  t.ok(all.length > 40, `${all.length} metrics, default process metrics included`);
  for (const m of all) {
    // prom-client declares `type` as a numeric enum; at run time it is the Prometheus type name.
    const type = String(m.type);
    t.match(m.name, /^onair_[a-z0-9_]+$/, `${m.name}: onair_ prefix, snake case`);
    if (type === 'counter') t.match(m.name, /_total$/, `${m.name}: counters end in _total`);
    else t.notMatch(m.name, /_total$/, `${m.name}: only counters end in _total`);
    if (type === 'histogram') t.match(m.name, /_(seconds|bytes)$/, `${m.name}: histograms in base units`);
    t.notMatch(m.name, /_(ms|milliseconds|us|kb|mb)(_|$)/, `${m.name}: base units only`);
    t.ok(m.help.length > 10, `${m.name}: has help`);
  }
});

t.test('the exposition parses and has the expected families', async (t) => {
  const metrics = createMetrics();
  const engine = new FakeEngine(metrics);
  metrics.setSources({
    acd: () => engine.snapshot,
    transactions: () => ({ client: 3, server: 5 }),
    calls: () => ({ queued: 4, talking: 2 }),
    outbox: async () => ({ pending: 7, dead: 1, calls: 3 }),
    agents: () => engine.agents(),
  });
  metrics.sipMessage('in', 'INVITE');
  metrics.queueEntered('orders');
  metrics.queueWait('orders', 'answered', 12_500);
  metrics.acdDecision(0.003);
  metrics.firstMedia(8);
  metrics.crmLookup(12, 'ok');
  metrics.callEnded('answered', 'carrier');
  metrics.sipParseReject('SIP_ERR_PARSE');
  metrics.setSources({ media: async () => [{ worker: 0, packetsIn: 100, packetsOut: 90, packetsLost: 2 }] });
  const { types, samples } = parseExposition(await metrics.render());
  const expected: Record<string, string> = {
    onair_sip_messages_total: 'counter', onair_sip_parse_rejects_total: 'counter', onair_sip_transactions: 'gauge',
    onair_calls: 'gauge', onair_calls_ended_total: 'counter', onair_first_media_seconds: 'histogram',
    onair_queue_waiting: 'gauge', onair_queue_callbacks_waiting: 'gauge', onair_queue_oldest_wait_seconds: 'gauge',
    onair_queue_ewt_seconds: 'gauge', onair_queue_agents_staffed: 'gauge', onair_queue_agents_idle: 'gauge',
    onair_queue_service_level_ratio: 'gauge', onair_queue_handle_time_seconds: 'gauge',
    onair_queue_offered_total: 'counter', onair_queue_answered_total: 'counter', onair_queue_answered_in_service_level_total: 'counter',
    onair_queue_abandoned_total: 'counter', onair_queue_rejected_total: 'counter', onair_queue_callbacks_captured_total: 'counter',
    onair_queue_wait_seconds: 'histogram', onair_agents_state: 'gauge', onair_agents_status: 'gauge',
    onair_acd_decision_seconds: 'histogram', onair_media_packets_received_total: 'counter', onair_media_packets_sent_total: 'counter',
    onair_media_packets_lost_total: 'counter', onair_crm_lookup_seconds: 'histogram', onair_crm_lookup_failures_total: 'counter',
    onair_outbox_items: 'gauge', onair_outbox_backlog_calls: 'gauge', onair_crm_deliveries_total: 'counter',
    onair_trunk_calls_total: 'counter', onair_build_info: 'gauge', onair_api_event_clients: 'gauge', onair_api_event_clients_dropped_total: 'counter',
    onair_nodejs_eventloop_lag_seconds: 'gauge', onair_process_resident_memory_bytes: 'gauge',
  };
  for (const [name, type] of Object.entries(expected)) t.equal(types.get(name), type, name);

  t.equal(value(samples, 'onair_sip_transactions', { side: 'server' }), 5);
  t.equal(value(samples, 'onair_calls', { phase: 'queued' }), 4);
  t.equal(value(samples, 'onair_calls', { phase: 'ivr' }), 0, 'every phase present, missing ones at 0');
  t.equal(value(samples, 'onair_outbox_items', { status: 'pending' }), 7, 'async source awaited');
  t.equal(value(samples, 'onair_outbox_items', { status: 'dead' }), 1);
  t.equal(value(samples, 'onair_outbox_backlog_calls'), 3);
  t.equal(value(samples, 'onair_media_packets_received_total'), 100, 'read from the workers at scrape time');
  t.equal(value(samples, 'onair_trunk_calls_total', { trunk: 'carrier', outcome: 'answered' }), 1);
  t.equal(value(samples, 'onair_queue_waiting', { queue: 'orders' }), 3);
  t.equal(value(samples, 'onair_queue_oldest_wait_seconds', { queue: 'orders' }), 42);
  t.equal(value(samples, 'onair_queue_ewt_seconds', { queue: 'vip' }), Infinity, 'unstaffed queue: +Inf');
  t.equal(value(samples, 'onair_queue_answered_total', { queue: 'orders' }), 10, 'answers counted by the ACD');
  t.equal(value(samples, 'onair_queue_offered_total', { queue: 'orders' }), 1);
  t.equal(value(samples, 'onair_agents_state', { state: 'on_call' }), 1, 'wire words in labels');
  t.equal(value(samples, 'onair_agents_state', { state: 'idle' }), 1, 'the logged-out agent (idle in the ACD) is not counted idle');
  t.equal(value(samples, 'onair_agents_status', { status: 'logged_out' }), 1);
  t.equal(value(samples, 'onair_queue_wait_seconds_bucket', { queue: 'orders', outcome: 'answered', le: '10' }), 0);
  t.equal(value(samples, 'onair_queue_wait_seconds_bucket', { queue: 'orders', outcome: 'answered', le: '20' }), 1);
  t.equal(value(samples, 'onair_acd_decision_seconds_bucket', { le: '0.0000025' }), 0, 'µs buckets');
  t.equal(value(samples, 'onair_acd_decision_seconds_bucket', { le: '0.000005' }), 1);
  t.equal(value(samples, 'onair_first_media_seconds_bucket', { le: '0.01' }), 1);
  t.equal(value(samples, 'onair_first_media_seconds_bucket', { le: '0.005' }), 0);
  t.equal(value(samples, 'onair_media_packets_lost_total'), 2);
  t.equal(value(samples, 'onair_calls_ended_total', { outcome: 'answered' }), 1);
  t.equal(value(samples, 'onair_sip_parse_rejects_total', { code: 'SIP_ERR_PARSE' }), 1);
});

t.test('the transport observer counts messages and only the parser\'s codes', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  const o = metrics.sipObserver();
  o.rejected?.('SIP_ERR_PARSE', 'bad', { transport: 'UDP', address: '127.0.0.1', port: 5 }, 400);
  o.rejected?.('SOMETHING_ELSE', 'bad', { transport: 'UDP', address: '127.0.0.1', port: 5 }, undefined);
  const { samples } = parseExposition(await metrics.render());
  t.same(samples.filter((s) => s.name === 'onair_sip_parse_rejects_total').map((s) => `${s.labels.code} ${s.value}`), ['SIP_ERR_PARSE 1']);
});

t.test('SIP messages: bounded labels, counted by direction, method and class', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.sipMessage('in', 'INVITE');
  metrics.sipMessage('in', 'INVITE');
  metrics.sipMessage('out', 'INVITE', 100);
  metrics.sipMessage('out', 'INVITE', 183);
  metrics.sipMessage('out', 'INVITE', 200);
  metrics.sipMessage('in', 'BYE', 481);
  metrics.sipMessage('in', 'XFOOBAR');
  metrics.sipMessage('in', 'invite');
  metrics.sipMessage('in', 'OPTIONS', 99);
  metrics.sipMessage('in', 'OPTIONS', 700);
  const { samples } = parseExposition(await metrics.render());
  const sip = samples.filter((s) => s.name === 'onair_sip_messages_total');
  t.same(sip.map((s) => `${s.labels.direction} ${s.labels.method} ${s.labels.status} ${s.value}`).sort(), [
    'in BYE 4xx 1',
    'in INVITE request 2',
    'in other request 2',
    'out INVITE 1xx 2',
    'out INVITE 2xx 1',
  ], 'unknown (and lower-case) methods count as other; impossible statuses are not counted');
});

t.test('sources are optional and replaceable', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  let { samples } = parseExposition(await metrics.render());
  t.equal(samples.filter((s) => s.name === 'onair_queue_waiting' || s.name === 'onair_sip_transactions').length, 0, 'no source, no samples');
  metrics.setSources({ transactions: () => ({ client: 1, server: 2 }) });
  metrics.setSources({ eventClients: () => 4 });
  ({ samples } = parseExposition(await metrics.render()));
  t.equal(value(samples, 'onair_sip_transactions', { side: 'client' }), 1, 'earlier sources kept');
  t.equal(value(samples, 'onair_api_event_clients'), 4);
  metrics.setSources({ transactions: () => ({ client: 9, server: 9 }) });
  ({ samples } = parseExposition(await metrics.render()));
  t.equal(value(samples, 'onair_sip_transactions', { side: 'client' }), 9, 'read at every scrape');
});

t.test('queue totals: kept per queue, returned as copies', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  t.same(metrics.queueTotals('orders'), { entered: 0, rejected: 0, callbacks: 0 });
  metrics.queueEntered('orders');
  metrics.queueEntered('orders');
  metrics.queueRejected('orders');
  metrics.callbackCaptured('service');
  const totals = metrics.queueTotals('orders');
  t.same(totals, { entered: 2, rejected: 1, callbacks: 0 });
  totals.entered = 100;
  t.equal(metrics.queueTotals('orders').entered, 2);
  const { samples } = parseExposition(await metrics.render());
  t.equal(value(samples, 'onair_queue_callbacks_captured_total', { queue: 'service' }), 1);
  t.equal(value(samples, 'onair_queue_rejected_total', { queue: 'orders' }), 1);
});

t.test('counters never go down across scrapes', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.crmLookup(300, 'timeout');
  metrics.crmLookup(5, 'error');
  metrics.crmLookup(5, 'timeout');
  metrics.eventClientDropped();
  const first = parseExposition(await metrics.render()).samples;
  const second = parseExposition(await metrics.render()).samples;
  t.equal(value(first, 'onair_crm_lookup_failures_total', { reason: 'timeout' }), 2);
  t.equal(value(second, 'onair_crm_lookup_failures_total', { reason: 'timeout' }), 2, 'a scrape does not double-count');
  t.equal(value(second, 'onair_crm_lookup_failures_total', { reason: 'error' }), 1);
  t.equal(value(second, 'onair_crm_lookup_seconds_count'), 3, 'every look-up timed');
  t.equal(value(second, 'onair_api_event_clients_dropped_total'), 1);
});

t.test('two metric objects do not share a registry', async (t) => {
  const a = createMetrics();
  const b = createMetrics();
  a.sipMessage('in', 'BYE');
  const { samples } = parseExposition(await b.render());
  t.equal(samples.filter((s) => s.name === 'onair_sip_messages_total').length, 0);
});

t.test('registrar counters are read from its stats at scrape time', async (t) => {
  const stats = { authFailures: 12, accountLockouts: 1, sourceBlocks: 2, replays: 5, refused: 40 };
  const metrics = createMetrics({ defaultMetrics: false, sources: { registrar: () => stats } });
  const { types, samples } = parseExposition(await metrics.render());
  t.equal(types.get('onair_registrar_account_lockouts_total'), 'counter');
  t.equal(value(samples, 'onair_registrar_account_lockouts_total'), 1);
  t.equal(value(samples, 'onair_registrar_source_blocks_total'), 2);
  t.equal(value(samples, 'onair_registrar_replays_total'), 5);
  t.equal(value(samples, 'onair_registrar_auth_failures_total'), 12);
  stats.accountLockouts++;
  t.equal(value(parseExposition(await metrics.render()).samples, 'onair_registrar_account_lockouts_total'), 2, 'live values');
});

t.test('known label values have series at 0 before the first event', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.declare({ queues: ['orders', 'vip'], trunks: ['carrier-a'] }, ['answered', 'abandoned_queue']);
  metrics.buildInfo({ version: '9.9.9', node: 'v20.0.0' });
  const { samples } = parseExposition(await metrics.render());
  for (const q of ['orders', 'vip']) {
    t.equal(value(samples, 'onair_queue_offered_total', { queue: q }), 0, `offered ${q}`);
    t.equal(value(samples, 'onair_queue_rejected_total', { queue: q }), 0, `rejected ${q}`);
    t.equal(value(samples, 'onair_queue_callbacks_captured_total', { queue: q }), 0, `callbacks ${q}`);
    for (const outcome of ['answered', 'abandoned']) {
      t.equal(value(samples, 'onair_queue_wait_seconds_count', { queue: q, outcome }), 0, `wait ${q} ${outcome}`);
    }
  }
  t.equal(value(samples, 'onair_calls_ended_total', { outcome: 'abandoned_queue' }), 0);
  t.equal(value(samples, 'onair_trunk_calls_total', { trunk: 'carrier-a', outcome: 'answered' }), 0);
  t.equal(value(samples, 'onair_crm_lookup_failures_total', { reason: 'timeout' }), 0);
  t.equal(value(samples, 'onair_crm_deliveries_total', { result: 'dead' }), 0);
  t.equal(value(samples, 'onair_sip_parse_rejects_total', { code: 'SIP_ERR_TOO_LARGE' }), 0);
  t.equal(value(samples, 'onair_build_info', { version: '9.9.9', node: 'v20.0.0' }), 1);
});

t.test('media packet counters: summed over workers, a dead worker keeps its last figures', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  let workers = [{ worker: 0, packetsIn: 10, packetsOut: 20, packetsLost: 1 }, { worker: 1, packetsIn: 5, packetsOut: 6, packetsLost: 0 }];
  let reads = 0;
  metrics.setSources({ media: async () => { reads++; return workers; } });
  let { samples } = parseExposition(await metrics.render());
  t.equal(reads, 1, 'one read of the workers per scrape for the three families');
  t.equal(value(samples, 'onair_media_packets_received_total'), 15);
  t.equal(value(samples, 'onair_media_packets_sent_total'), 26);
  t.equal(value(samples, 'onair_media_packets_lost_total'), 1);
  workers = [{ worker: 0, packetsIn: 12, packetsOut: 22, packetsLost: 3 }];
  ({ samples } = parseExposition(await metrics.render()));
  t.equal(value(samples, 'onair_media_packets_received_total'), 17, 'worker 1 died: its packets still count');
  t.equal(value(samples, 'onair_media_packets_lost_total'), 3);
});

t.test('media worker heaps: one series per live worker and kind, none for a dead worker', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  let workers = [
    { worker: 0, packetsIn: 0, packetsOut: 0, packetsLost: 0, heapTotal: 9_000_000, heapUsed: 6_000_000 },
    { worker: 1, packetsIn: 0, packetsOut: 0, packetsLost: 0, heapTotal: 8_000_000, heapUsed: 5_000_000 },
  ];
  metrics.setSources({ media: async () => workers });
  let { samples } = parseExposition(await metrics.render());
  t.equal(value(samples, 'onair_media_worker_heap_bytes', { worker: '0', kind: 'total' }), 9_000_000);
  t.equal(value(samples, 'onair_media_worker_heap_bytes', { worker: '0', kind: 'used' }), 6_000_000);
  t.equal(value(samples, 'onair_media_worker_heap_bytes', { worker: '1', kind: 'used' }), 5_000_000);
  workers = [workers[0]!];
  ({ samples } = parseExposition(await metrics.render()));
  t.equal(value(samples, 'onair_media_worker_heap_bytes', { worker: '1', kind: 'total' }), undefined, 'worker 1 died: no heap');
  t.equal(value(samples, 'onair_media_worker_heap_bytes', { worker: '0', kind: 'total' }), 9_000_000);
});

t.test('callback metrics from the real store: tasks by status, attempts by result, oldest open task', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const metrics = createMetrics({ defaultMetrics: false });
  const now = Date.UTC(2026, 0, 5, 2, 0); // 10:00 in Shanghai
  metrics.setSources({ callbacks: () => store.callbacks.figures(now) });
  const mk = async (caller: string, arrivedAt: number) => (await store.callbacks.create({
    caller, queue: 'orders', arrivedAt, callId: caller, reason: 'abandoned_queue', dialled: '100', programme: null, customerId: null,
  }, arrivedAt)).task;
  const a = await mk('+861', now - 120_000);
  await mk('+862', now - 30_000);
  const s = await store.callbacks.startAttempt(a.id, { callId: 'cb', agentId: '1001' }, now - 10_000);
  if (!s.ok) throw new Error(s.reason);
  await store.callbacks.finishAttempt(s.value.attempt.id, { result: 'busy', trunk: 'a', sipStatus: 486 }, now - 5000);
  const { types, samples } = parseExposition(await metrics.render());
  t.equal(types.get('onair_callback_tasks'), 'gauge');
  t.equal(types.get('onair_callback_attempts_total'), 'counter');
  t.equal(types.get('onair_callback_oldest_open_seconds'), 'gauge');
  t.equal(value(samples, 'onair_callback_tasks', { status: 'open' }), 2);
  t.equal(value(samples, 'onair_callback_tasks', { status: 'exhausted' }), 0, 'every status present');
  t.equal(value(samples, 'onair_callback_attempts_total', { result: 'busy' }), 1);
  t.equal(value(samples, 'onair_callback_attempts_total', { result: 'answered' }), 0);
  t.equal(value(samples, 'onair_callback_oldest_open_seconds'), 120);
});

t.test('onair_sip_transactions_evicted_total: the transaction layer\'s eviction count, a counter', async (t) => {
  const metrics = createMetrics({ defaultMetrics: false });
  let evicted = 0;
  metrics.setSources({ transactions: () => ({ client: 0, server: 20_000, evicted }) });
  let { types, samples } = parseExposition(await metrics.render());
  t.equal(types.get('onair_sip_transactions_evicted_total'), 'counter');
  t.equal(value(samples, 'onair_sip_transactions_evicted_total'), 0);
  evicted = 42;
  ({ types, samples } = parseExposition(await metrics.render()));
  t.equal(value(samples, 'onair_sip_transactions_evicted_total'), 42, 'read at every scrape');
});
