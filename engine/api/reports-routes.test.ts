// The reports route through real fastify (startApi) on real interval tables (engine/reports on
// SQLite): JSON, CSV and XLSX (read back with exceljs, cells checked), the roles that may use it,
// its refusals of bad input, and its place in the OpenAPI document.
import t from 'tap';
import ExcelJS from 'exceljs';
import { openStore } from '../store/index.ts';
import { UserDirectory } from '../users/index.ts';
import { ReportQueries, SqliteReports, SqliteSchedule } from '../reports/index.ts';
import { T, context, records, teamOf } from '../reports/testdata/fixtures.ts';
import { ORDERS_AT, enterFixtureOrders } from '../reports/testdata/orders.ts';
import { ShopStore } from '../../crm-adapter/shop/index.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';

t.test('GET /api/v1/reports: json, csv, xlsx; supervisors only; bad input refused', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const reports = new SqliteReports({ db: store.db, writer: store.writer, context, now: T });
  for (const r of records) reports.ingestSync(r);
  const queries = new ReportQueries({ db: store.db, teamOf });
  const users = await UserDirectory.open(store.db, store.writer, [
    { username: '1001', role: 'agent', agentId: '1001', name: null, password: 'pw-1001' },
    { username: 'boss', role: 'supervisor', agentId: null, name: null, password: 'pw-boss' },
  ], new Set(['1001']), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 }, sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const engine = new FakeEngine();
  engine.reports = { run: (q, now) => queries.run(q, now) };
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [], users });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const signIn = async (u: string, p: string): Promise<string> => {
    const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: u, password: p }) });
    return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };
  const boss = await signIn('boss', 'pw-boss');
  const agent = await signIn('1001', 'pw-1001');
  const get = (path: string, cookie = boss) => fetch(`${base}${path}`, { headers: { cookie } });
  const range = `from=${T}&to=${T + 30 * 60_000}`;

  const json = await get(`/api/v1/reports?group=queue,programme&interval=30m&${range}`);
  t.equal(json.status, 200);
  const body = await json.json() as { rows: { keys: Record<string, string | null>; figures: Record<string, number>; derived: Record<string, number | null> }[] };
  const orders = body.rows.find((r) => r.keys.queue === 'orders' && r.keys.programme === 'kitchen')!;
  t.same([orders.figures.offered, orders.figures.answered, orders.figures.handled], [5, 3, 3], 'c1 c2 c3 c5 c10 offered; c1 c2 c10 answered');
  t.equal(orders.derived.abandonRate, 2 / 5);

  t.equal((await get(`/api/v1/reports?${range}`, agent)).status, 403, 'an agent may not read reports');
  t.equal((await fetch(`${base}/api/v1/reports?${range}`)).status, 401);
  for (const bad of ['group=colour', 'interval=7m', 'from=x&to=1', `from=${T}&to=${T}`, `from=0&to=${500 * 86_400_000}`, `${range}&extra=1`, `${range}&utcOffsetMinutes=9999`]) {
    const r = await get(`/api/v1/reports?${bad.includes('from') ? bad : `${bad}&${range}`}`);
    t.equal(r.status, 400, bad);
    t.match(await r.json(), { error: { code: 'API_ERR_VALIDATION' } });
  }

  const csv = await get(`/api/v1/reports?group=queue&interval=all&format=csv&${range}`);
  t.equal(csv.status, 200);
  t.match(csv.headers.get('content-type'), /^text\/csv/);
  const lines = (await csv.text()).trimEnd().split('\r\n');
  const header = lines[0]!.split(',');
  t.same(header.slice(0, 5), ['start', 'end', 'queue', 'records', 'offered']);
  const service = lines.find((l) => l.split(',')[2] === 'service')!.split(',');
  t.equal(service[header.indexOf('answeredInSl')], '1');
  t.equal(service[header.indexOf('asaMs')], '25000');

  const x = await get(`/api/v1/reports?group=queue,programme&interval=15m&format=xlsx&${range}`);
  t.equal(x.status, 200);
  t.equal(x.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(Buffer.from(await x.arrayBuffer()) as unknown as ArrayBuffer);
  const ws = wb.getWorksheet('report')!;
  t.ok(ws, 'sheet report');
  const cols = (ws.getRow(1).values as unknown[]).slice(1);
  const col = (name: string): number => cols.indexOf(name) + 1;
  t.same(cols.slice(0, 6), ['start', 'end', 'queue', 'programme', 'records', 'offered']);
  let found = 0;
  ws.eachRow((row, n) => {
    if (n === 1) return;
    if (row.getCell(col('queue')).value === 'orders' && row.getCell(col('programme')).value === 'kitchen' && row.getCell(col('start')).value === new Date(T).toISOString()) {
      found++;
      // Bucket 20:00, queue orders, programme kitchen: c1 c2 c3 c5, by hand.
      t.equal(row.getCell(col('offered')).value, 4);
      t.equal(row.getCell(col('answered')).value, 2);
      t.equal(row.getCell(col('answeredInSl')).value, 1);
      t.equal(row.getCell(col('waitMaxMs')).value, 45_000);
      t.equal(row.getCell(col('abandonedRinging')).value, 1);
      t.equal(row.getCell(col('asaMs')).value, 20_000);
      t.equal(row.getCell(col('ahtMs')).value, (180_000 + 30_000 + 60_000 + 10_000) / 2);
      t.equal(row.getCell(col('serviceLevel')).value, 1 / 4);
    }
  });
  t.equal(found, 1);
  t.equal(ws.rowCount, 1 + (await (await get(`/api/v1/reports?group=queue,programme&interval=15m&${range}`)).json() as { rows: unknown[] }).rows.length);

  const doc = await (await get('/api/v1/openapi.json')).json() as { paths: Record<string, { get?: { summary: string; parameters: { name: string }[] } }> };
  t.ok(doc.paths['/api/v1/reports']?.get, 'documented');
  t.ok(doc.paths['/api/v1/reports']!.get!.parameters.some((p) => p.name === 'group'));
});

t.test('with the shop: orders and conversion per programme in JSON and CSV; none by queue', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const reports = new SqliteReports({ db: store.db, writer: store.writer, context, now: T });
  for (const r of records) reports.ingestSync(r);
  const queries = new ReportQueries({ db: store.db, teamOf });
  // The real shop store (SQLite in memory) with testdata/orders.ts: two kitchen orders and one garden order at 20:01, no call linked.
  const shop = await ShopStore.open({ kind: 'sqlite', path: ':memory:' }, { now: () => ORDERS_AT });
  t.teardown(() => shop.close());
  await enterFixtureOrders(shop);
  const engine = new FakeEngine();
  engine.reports = { run: (q, now) => queries.run(q, now), orders: shop };
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [] });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const range = `from=${T}&to=${T + 30 * 60_000}`;
  const body = await (await fetch(`${base}/api/v1/reports?group=programme&interval=all&${range}`)).json() as { rows: { keys: { programme: string | null }; figures: { answered: number }; orders: unknown }[] };
  t.same(body.rows.map((r) => [r.keys.programme, r.figures.answered, r.orders]), [
    [null, 0, { orders: 0, valueFen: 0, conversion: null }],
    ['garden', 1, { orders: 1, valueFen: 39_900, conversion: 1 }],
    ['kitchen', 3, { orders: 2, valueFen: 119_700, conversion: 2 / 3 }],
  ], 'kitchen: c1 c2 c10 answered, two orders (1 + 2 woks); garden: c9, one; the callback (no programme) none');
  const csv = (await (await fetch(`${base}/api/v1/reports?group=programme&interval=all&format=csv&${range}`)).text()).trimEnd().split('\r\n').map((l) => l.split(','));
  const header = csv[0]!;
  t.same(header.slice(-3), ['orders', 'orderValueFen', 'conversion'], 'the orders columns close the CSV');
  t.same(csv.find((l) => l[2] === 'garden')!.slice(-3), ['1', '39900', '1']);
  const byQueue = await (await fetch(`${base}/api/v1/reports?group=queue&interval=all&${range}`)).json() as { rows: { orders: unknown }[] };
  t.ok(byQueue.rows.length > 0 && byQueue.rows.every((r) => r.orders === null), 'a report by queue has no orders');
});

t.test('schedule routes: put, import YAML and CSV, refusals', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const schedule = new SqliteSchedule({ db: store.db, writer: store.writer, tailMs: 0 });
  const engine = new FakeEngine();
  engine.reports = { run: () => [], schedule };
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [], openPaths: [] });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const send = async (method: string, path: string, body: string, type = 'application/json') => {
    const r = await fetch(`${base}${path}`, { method, headers: { 'content-type': type }, body });
    return { status: r.status, body: r.status === 204 ? null : await r.json() as Record<string, unknown> };
  };
  t.equal((await send('PUT', '/api/v1/schedule/airings/a1', JSON.stringify({ id: 'a1', programme: 'nope', channel: 'c', start: 1, end: 2, numbers: ['100'] }))).status, 409);
  t.equal((await send('PUT', '/api/v1/schedule/programmes/p1', JSON.stringify({ id: 'p2', name: 'x' }))).status, 400, 'body id must match');
  t.equal((await send('PUT', '/api/v1/schedule/programmes/p1', JSON.stringify({ id: 'p1', name: 'x', extra: 1 }))).status, 400);
  const y = await send('POST', '/api/v1/schedule/import', 'programmes: [{ id: p1, name: One }]\nairings: [{ id: a1, programme: p1, channel: c, start: 1000, end: 2000, numbers: ["100"] }]\n', 'application/yaml');
  t.same(y, { status: 200, body: { programmes: 1, airings: 1 } });
  const c = await send('POST', '/api/v1/schedule/import', 'airing,programme,channel,start,end,numbers,expectedCalls,products\na2,p9,c,3000,4000,100,50,\n', 'text/csv');
  t.same(c, { status: 200, body: { programmes: 1, airings: 1 } });
  t.equal((await send('POST', '/api/v1/schedule/import', 'airings: [{ id: bad }]', 'application/yaml')).status, 400);
  t.equal((await send('POST', '/api/v1/schedule/import', 'x', 'text/plain')).status, 415);
  const all = await (await fetch(`${base}/api/v1/schedule`)).json() as { programmes: unknown[]; airings: { id: string }[] };
  t.same(all.airings.map((a) => a.id), ['a1', 'a2']);
  t.equal(all.programmes.length, 2);
  t.equal((await fetch(`${base}/api/v1/schedule/programmes/p1`, { method: 'DELETE' })).status, 409, 'it has airings');
});
