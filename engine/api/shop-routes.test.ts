/**
 * The shop's routes through the real API server, the real user directory and a real shop store
 * (SQLite): input refused at the edge, who may enter which order (an agent only for its own call,
 * the media source taken from the call), who may move it (staff), and the shop's codes on the wire.
 * The live call comes from a map the test sets, as call control would answer.
 */
import t from 'tap';
import { openStore } from '../store/index.ts';
import { AuditLog } from '../audit/index.ts';
import { UserDirectory, type AccountSeed } from '../users/index.ts';
import { ShopStore, seedShopDemo } from '../../crm-adapter/shop/index.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';
import type { ShopApiDeps, ShopLiveCall } from './shop-routes.ts';
import type { ReportQuery, ReportRow } from '../reports/index.ts';

const TOKEN = 'integration-token-123456';
const SEEDS: AccountSeed[] = [
  { username: '1001', role: 'agent', agentId: '1001', name: 'Agent One', password: 'pw-1001' },
  { username: '1002', role: 'agent', agentId: '1002', name: 'Agent Two', password: 'pw-1002' },
  { username: 'boss', role: 'supervisor', agentId: null, name: 'Boss', password: 'pw-boss' },
];

t.test('shop routes: validation, roles, media source from the call, codes', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, SEEDS, new Set(['1001', '1002']), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 }, sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  // E-mail is the one channel configured; no step notifies by itself, so every row is a request's.
  const shop = await ShopStore.open({ kind: 'sqlite', path: ':memory:' }, { notifications: { channels: { email: true, sms: false }, events: new Set(), defaultLanguage: 'zh-CN', shopName: '东方购物' } });
  t.teardown(() => shop.close());
  await seedShopDemo(shop, Date.now());
  const live = new Map<string, ShopLiveCall>([['call-1', { agent: '1001', caller: '+4915110000004', programme: 'demo-shopping-hour', airing: null, customerId: 'DEMO-REGULAR' }]]);
  const shopDeps: ShopApiDeps = { store: shop, liveCall: (id: string) => live.get(id) };
  const audit = AuditLog.open(store.db, store.writer);
  const engine = Object.assign(new FakeEngine(), { shop: shopDeps, audit });
  const api = await startApi(engine, { address: '127.0.0.1', port: 0, tokens: [TOKEN], openPaths: [], users });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;
  const as = async (username: string, password: string) => {
    const r = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
    const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    return async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
      const res = await fetch(`${base}${path}`, { method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
      return { status: res.status, body: res.headers.get('content-type') === 'application/pdf' ? Buffer.from(await res.arrayBuffer()) : await res.json() };
    };
  };
  const one = await as('1001', 'pw-1001');
  const two = await as('1002', 'pw-1002');
  const boss = await as('boss', 'pw-boss');
  const entry = { callId: 'call-1', customerId: 'DEMO-REGULAR', items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'cod' };

  t.equal((await fetch(`${base}/api/v1/shop/products`)).status, 401, 'signed in only');
  t.match(await one('GET', '/api/v1/shop/products'), { status: 200, body: { items: [{ sku: 'APRON' }, { sku: 'KNIFE-SET' }, { sku: 'WOK-01' }] } });
  t.match(await one('POST', '/api/v1/shop/orders', { ...entry, callId: undefined }), { status: 400, body: { error: { code: 'API_ERR_VALIDATION', message: /callId/ } } }, 'an agent enters orders for its calls');
  t.match(await one('POST', '/api/v1/shop/orders', { ...entry, items: [{ sku: 'WOK-01', quantity: 1, price: 1 }] }), { status: 400 }, 'no price from the client');
  t.match(await one('POST', '/api/v1/shop/orders', { ...entry, paymentMethod: 'bitcoin' }), { status: 400 });
  t.match(await one('POST', '/api/v1/shop/orders', { ...entry, items: [{ sku: 'NOPE', quantity: 1 }] }), { status: 400, body: { error: { code: 'SHOP_ERR_INVALID' } } });
  t.match(await one('POST', '/api/v1/shop/orders', { ...entry, callId: 'call-x' }), { status: 404, body: { error: { code: 'SHOP_ERR_NOT_FOUND' } } }, 'an unknown call');
  t.match(await two('POST', '/api/v1/shop/orders', entry), { status: 403 }, 'not agent 1002\'s call');
  const made = await one('POST', '/api/v1/shop/orders', entry);
  t.match(made, { status: 201, body: { agent: '1001', programme: 'demo-shopping-hour', totalFen: 29900 } }, 'the media source from the call');
  const id = made.body.id as string;
  t.match(await boss('POST', '/api/v1/shop/orders', { ...entry, callId: undefined }), { status: 201, body: { agent: null, programme: null, totalFen: 39900 } }, 'staff without a call: list price');

  t.match(await two('GET', `/api/v1/shop/orders/${id}`), { status: 404 }, 'another agent\'s order is not shown');
  t.match(await two('GET', '/api/v1/shop/orders'), { status: 200, body: { items: [] } });
  t.match(await one('GET', '/api/v1/shop/orders'), { status: 200, body: { items: [{ id }] } });
  t.match(await one('POST', `/api/v1/shop/orders/${id}/review`, {}), { status: 403 });
  t.match(await one('POST', `/api/v1/shop/orders/${id}/fly`, {}), { status: 400 }, 'no such action');
  t.match(await boss('POST', `/api/v1/shop/orders/${id}/deliver`, {}), { status: 409, body: { error: { code: 'SHOP_ERR_ILLEGAL_TRANSITION' } } });
  t.match(await one('PATCH', `/api/v1/shop/orders/${id}`, { items: [{ sku: 'WOK-01', quantity: 2 }], reason: 'two', version: 1 }), { status: 200, body: { totalFen: 59800, version: 2 } });
  t.match(await one('PATCH', `/api/v1/shop/orders/${id}`, { specialRequests: 'x', version: 1 }), { status: 409, body: { error: { code: 'SHOP_ERR_CONFLICT' } } });
  t.match(await boss('POST', `/api/v1/shop/orders/${id}/review`, {}), { status: 200, body: { status: 'reviewed' } });
  t.match(await boss('GET', `/api/v1/shop/orders/${id}/shipping-document`), { status: 404, body: { error: { code: 'SHOP_ERR_NOT_FOUND', message: /not been shipped/ } } });
  t.match(await boss('POST', `/api/v1/shop/orders/${id}/ship`, {}), { status: 200, body: { status: 'shipped' } });
  t.match(await boss('GET', `/api/v1/shop/orders/${id}/shipping-document`), { status: 500, body: { error: { code: 'SHOP_ERR_CONFIG', message: /crm\.shipper/ } } }, 'no sender configured: refused');
  shopDeps.shipper = { name: '东方购物', phone: '4008000000', address: '上海市徐汇区宜山路1号' };
  t.match(await one('GET', `/api/v1/shop/orders/${id}/shipping-document`), { status: 403 }, 'agents get no shipping documents');
  const paper = await boss('GET', `/api/v1/shop/orders/${id}/shipping-document`);
  t.equal(paper.status, 200);
  t.equal((paper.body as Buffer).subarray(0, 5).toString('latin1'), '%PDF-', 'a PDF for staff');
  const waybill = (await shop.shipments(id))[0]!.waybill;
  const csv = `waybill,status,time,reason,collected_fen\n${waybill},delivered,2026-12-08T03:00:00Z,,59800\nNOPE,delivered,2026-12-08T03:00:00Z,,\nx,lost,1,,\n`;
  t.match(await one('POST', '/api/v1/shop/logistics/import', { csv }), { status: 403 }, 'agents import nothing');
  t.match(await boss('POST', '/api/v1/shop/logistics/import', { csv: 'a,b\n' }), { status: 400, body: { error: { code: 'SHOP_ERR_INVALID' } } });
  t.match(await boss('POST', '/api/v1/shop/logistics/import', { csv }), { status: 200, body: { applied: 1, duplicates: 0, errors: [{ line: 3, reason: /NOPE/ }, { line: 4, reason: /status/ }] } });
  t.match(await boss('POST', '/api/v1/shop/logistics/import', { csv }), { status: 200, body: { applied: 0, duplicates: 1 } }, 're-import');
  t.match(await boss('GET', `/api/v1/shop/reports/cod?from=${Date.UTC(2026, 11, 8)}&to=${Date.UTC(2026, 11, 9)}`), { status: 200, body: { items: [{ courierId: 'EMS', parcels: 1, collectedFen: 59800 }] } });
  t.match(await one('GET', '/api/v1/shop/reports/cod?from=0&to=1'), { status: 403 });
  shopDeps.cjkFont = '/nonexistent/font.ttc';
  t.match(await boss('GET', `/api/v1/shop/orders/${id}/shipping-document`), { status: 500, body: { error: { code: 'SHOP_ERR_FONT', message: /fonts-noto-cjk/ } } }, 'a missing font refused, not garbled');
  t.match(await one('POST', `/api/v1/shop/orders/${id}/cancel`, {}), { status: 409, body: { error: { code: 'SHOP_ERR_ILLEGAL_TRANSITION' } } }, 'no cancel after shipping');
  t.match(await one('PATCH', `/api/v1/shop/orders/${id}`, { specialRequests: 'x' }), { status: 409, body: { error: { code: 'SHOP_ERR_LOCKED' } } });

  t.match(await one('POST', '/api/v1/shop/customers', { name: '新客户', numbers: ['+8613911112222'], address: { recipient: '新客户', phone: '13911112222', region: '江苏省', city: '南京市', line: '中山路1号' } }), { status: 201, body: { numbers: ['+8613911112222'] } });
  t.match(await one('POST', '/api/v1/shop/customers', { numbers: ['+8613911112222'] }), { status: 409, body: { error: { code: 'SHOP_ERR_NUMBER_TAKEN' } } });
  t.match(await one('POST', '/api/v1/shop/customers', { numbers: ['not a number'] }), { status: 400 });
  t.match(await one('GET', '/api/v1/shop/customers?number=%2B8613911112222'), { status: 200, body: { name: '新客户' } });
  t.match(await one('POST', '/api/v1/shop/customers/DEMO-REGULAR/notes', { kind: 'complaint', text: 'late' }), { status: 201, body: { open: true, author: 'agent:1001' } });
  t.match(await one('GET', '/api/v1/shop/customers/DEMO-REGULAR/card'), { status: 200, body: { openComplaints: [{ text: 'late' }], lastOrders: [{}, {}] } });
  // Batch printing: staff, validated, refused before recording when it cannot print, capped, audited.
  delete shopDeps.cjkFont;
  const sfOrders: { id: string; createdAt: number }[] = [];
  for (let i = 0; i < 2; i++) {
    const o = await boss('POST', '/api/v1/shop/orders', { ...entry, callId: undefined, deliveryMethod: 'express' });
    t.equal((await boss('POST', `/api/v1/shop/orders/${o.body.id as string}/review`, {})).status, 200);
    sfOrders.push(o.body);
  }
  const today = new Date(sfOrders[0]!.createdAt).toISOString().slice(0, 10);
  const batch = { date: today, courier: 'SF' };
  t.match(await one('POST', '/api/v1/shop/shipping/batch', batch), { status: 403 }, 'agents print no batches');
  t.match(await boss('POST', '/api/v1/shop/shipping/batch', { ...batch, date: '2026-02-30' }), { status: 400, body: { error: { code: 'API_ERR_VALIDATION' } } }, 'not a calendar day');
  t.match(await boss('POST', '/api/v1/shop/shipping/batch', { ...batch, courier: 'S F' }), { status: 400 });
  t.match(await boss('POST', '/api/v1/shop/shipping/batch', { ...batch, utcOffsetMinutes: 900 }), { status: 400 });
  shopDeps.cjkFont = '/nonexistent/font.ttc';
  t.match(await boss('POST', '/api/v1/shop/shipping/batch', batch), { status: 500, body: { error: { code: 'SHOP_ERR_FONT' } } }, 'no font: refused');
  delete shopDeps.cjkFont;
  t.notOk((await shop.orderHistory(sfOrders[0]!.id)).some((h) => h.action === 'print'), 'a refused batch marks nothing printed');
  shopDeps.batchMaxOrders = 1;
  t.match(await boss('POST', '/api/v1/shop/shipping/batch', batch), { status: 413, body: { error: { code: 'SHOP_ERR_BATCH_TOO_LARGE', message: /2 reviewed orders for SF/ } } }, 'past the cap');
  delete shopDeps.batchMaxOrders;
  t.match(await boss('POST', '/api/v1/shop/shipping/batch', { ...batch, courier: 'POST' }), { status: 404, body: { error: { code: 'SHOP_ERR_NOT_FOUND' } } }, 'nothing to print');
  const res = await fetch(`${base}/api/v1/shop/shipping/batch`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(batch) });
  t.equal(res.status, 200);
  t.equal(res.headers.get('content-type'), 'application/pdf');
  t.equal(res.headers.get('x-onair-batch-orders'), '2');
  t.equal(Buffer.from(await res.arrayBuffer()).subarray(0, 5).toString('latin1'), '%PDF-');
  t.match((await shop.orderHistory(sfOrders[1]!.id)).at(-1), { action: 'print', actor: 'token', reason: /^print SF SF\d{10}$/ }, 'printed: in the history');
  t.match(audit.query({ action: 'shop.batchPrint', limit: 10, offset: 0 }), [{ actor: 'token', target: 'SF', detail: { date: today, orders: 2, reprints: 0 } }], 'audited: who, which courier and day, how many');

  // The shop's reports: staff, validated filters, the engine's answered calls per agent for conversion, CSV and XLSX.
  const day = 86_400_000;
  const period = `from=${sfOrders[0]!.createdAt - day}&to=${sfOrders[0]!.createdAt + day}`;
  const asked: ReportQuery[] = [];
  // The engine's report answers agent 1001 with four answered calls (the real join is tested in crm-adapter/shop/reports.test.ts).
  shopDeps.reports = { run: (q) => { asked.push(q); return [{ start: q.from, keys: { agent: '1001' }, figures: { answered: 4 } } as unknown as ReportRow]; } };
  t.match(await one('GET', `/api/v1/shop/reports/orders?by=agent&${period}`), { status: 403 }, 'agents get no shop reports');
  t.match(await boss('GET', `/api/v1/shop/reports/orders?by=region&${period}`), { status: 400 });
  t.match(await boss('GET', `/api/v1/shop/reports/orders?by=agent&from=10&to=5`), { status: 400, body: { error: { message: /after from/ } } });
  t.match(await boss('GET', `/api/v1/shop/reports/orders?by=agent&from=0&to=${500 * day}`), { status: 400, body: { error: { message: /400 days/ } } });
  t.match(await boss('GET', `/api/v1/shop/reports/delivery?by=courier&${period}&interval=day`), { status: 400 }, 'no such filter on delivery');
  const agents = await boss('GET', `/api/v1/shop/reports/orders?by=agent&interval=all&${period}`);
  t.match(agents, { status: 200, body: { rows: [{ agent: null, orders: 3 }, { agent: '1001', orders: 1, units: 2, valueFen: 59_800, answered: 4, conversion: 0.25 }] } }, 'by agent with conversion');
  t.match(asked.at(-1), { group: ['agent'], interval: 'all', filter: { direction: 'inbound' } }, 'the engine asked for answered inbound calls by agent');
  t.match(await boss('GET', `/api/v1/shop/reports/orders?by=agent&interval=all&programme=demo-shopping-hour&${period}`), { status: 200, body: { rows: [{ agent: '1001', orders: 1 }] } });
  t.match(asked.at(-1), { filter: { direction: 'inbound', programme: 'demo-shopping-hour' } }, 'the same media source asked of the engine');
  t.match(await boss('GET', `/api/v1/shop/reports/orders?by=product&interval=all&${period}`), { status: 200, body: { rows: [{ sku: 'APRON', orders: 0, units: 0, giftUnits: 2 }, { sku: 'WOK-01', orders: 4, units: 5 }] } }, 'by product');
  t.match(await boss('GET', `/api/v1/shop/reports/delivery?by=courier&${period}`), { status: 200, body: { rows: [{ key: 'EMS', shipped: 1, delivered: 1, refusalRate: 0 }] } }, 'delivery by courier');
  const csvRes = await fetch(`${base}/api/v1/shop/reports/orders?by=agent&interval=all&format=csv&${period}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(csvRes.headers.get('content-type'), 'text/csv; charset=utf-8');
  t.equal((await csvRes.text()).split('\r\n')[0], 'start,agent,orders,units,valueFen,answered,conversion', 'CSV header');
  const xlsx = await fetch(`${base}/api/v1/shop/reports/delivery?by=product&format=xlsx&${period}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  t.equal(xlsx.headers.get('content-type'), 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
  t.equal(Buffer.from(await xlsx.arrayBuffer()).subarray(0, 2).toString('latin1'), 'PK', 'an XLSX (zip) workbook');

  // Notifications on request: the order's current status again, a new row per request, audited.
  t.match(await one('POST', `/api/v1/shop/orders/${id}/notify`, { channel: 'fax' }), { status: 400, body: { error: { code: 'API_ERR_VALIDATION' } } });
  t.match(await one('POST', `/api/v1/shop/orders/${id}/notify`, { channel: 'email', to: 'x@example.com' }), { status: 400 }, 'no recipient from the client');
  t.match(await two('POST', `/api/v1/shop/orders/${id}/notify`, { channel: 'email' }), { status: 404 }, 'another agent\'s order');
  t.match(await boss('POST', '/api/v1/shop/orders/SO20000101999999/notify', { channel: 'email' }), { status: 404, body: { error: { code: 'SHOP_ERR_NOT_FOUND' } } });
  const resent = await one('POST', `/api/v1/shop/orders/${id}/notify`, { channel: 'email' });
  t.match(resent, { status: 202, body: { orderId: id, channel: 'email', event: 'deliver', status: 'pending', recipient: 'rita.gular@example.com', language: 'en', subject: `Order ${id} delivered` } },
    'the current status (delivered) in the customer\'s language');
  t.ok(resent.body.request > 0, 'a request, not the step\'s own');
  t.match(await boss('POST', `/api/v1/shop/orders/${id}/notify`, { channel: 'email' }), { status: 202, body: { event: 'deliver', request: resent.body.request + 1 } }, 'a second request: a second row');
  t.same((await shop.notifications(id)).map((n) => [n.event, n.seq, n.request]), [['deliver', resent.body.seq, resent.body.request], ['deliver', resent.body.seq, resent.body.request + 1]]);
  t.match(await boss('POST', `/api/v1/shop/orders/${id}/notify`, { channel: 'sms' }), { status: 409, body: { error: { code: 'SHOP_ERR_NO_CHANNEL', message: /not configured/ } } }, 'SMS is not configured');
  const newcomer = await boss('GET', '/api/v1/shop/customers?number=%2B8613911112222');
  const bare = await boss('POST', '/api/v1/shop/orders', { ...entry, callId: undefined, customerId: newcomer.body.id });
  t.match(await boss('POST', `/api/v1/shop/orders/${bare.body.id as string}/notify`, { channel: 'email' }), { status: 409, body: { error: { code: 'SHOP_ERR_NO_CHANNEL', message: /no e-mail address/ } } }, 'a customer without an address');
  t.equal((await shop.notifications(bare.body.id as string)).length, 0, 'a refused request writes nothing');
  await audit.flushed();
  t.match(audit.query({ action: 'shop.notify', limit: 10, offset: 0 }), [
    { actor: 'boss', role: 'supervisor', target: id, detail: { channel: 'email', event: 'deliver' } }, { actor: '1001', role: 'agent', target: id, detail: { channel: 'email', notification: resent.body.id } },
  ], 'audited: who, which order, which notification');

  const doc = await (await fetch(`${base}/api/v1/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { paths: Record<string, unknown> };
  t.ok(doc.paths['/api/v1/shop/orders'] !== undefined && doc.paths['/api/v1/shop/orders/{id}/{action}'] !== undefined && doc.paths['/api/v1/shop/shipping/batch'] !== undefined, 'in the OpenAPI document');
  t.match(doc.paths['/api/v1/shop/orders/{id}/notify'], { post: { parameters: [{ name: 'id', in: 'path', required: true }], requestBody: { required: true } } }, 'the notify route in the OpenAPI document');
  for (const p of ['/api/v1/shop/reports/orders', '/api/v1/shop/reports/delivery']) {
    t.match(doc.paths[p], { get: { parameters: [{ name: 'by', required: true }] } }, `${p} in the OpenAPI document with its filters`);
  }
});
