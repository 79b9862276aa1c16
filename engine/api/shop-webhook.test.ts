/**
 * The couriers' webhook (`POST /api/v1/shop/logistics/webhook/:courier`) through the real API
 * server and a real shop store (SQLite): a signed delivery moves the order through the same
 * life-cycle code as the CSV import (with its history, strike and notifications); a bad or
 * missing signature, a stale timestamp, another courier's secret, a replayed event id, an unknown
 * waybill, malformed JSON and an oversized body are each refused and change nothing.
 */
import t from 'tap';
import { openStore } from '../store/index.ts';
import { UserDirectory } from '../users/index.ts';
import { NOTIFY_EVENTS, ShopStore, WEBHOOK_MAX_BYTES, seedShopDemo, webhookSignature, verifyWebhook } from '../../crm-adapter/shop/index.ts';
import { startApi } from './server.ts';
import { FakeEngine } from './testkit.ts';
import type { ShopApiDeps } from './shop-routes.ts';

const SF_SECRET = 'sf-secret-0123456789';
const EMS_SECRET = 'ems-secret-0123456789';

t.test('verifyWebhook: timestamp window, signature over timestamp and body (pure)', async (t) => {
  const body = Buffer.from('{"id":"e1"}');
  const now = 1_796_608_800_000;
  const ts = String(now / 1000);
  const sig = webhookSignature(SF_SECRET, ts, body);
  t.same(verifyWebhook(SF_SECRET, sig, ts, body, now, 300), { ok: true });
  t.match(verifyWebhook(SF_SECRET, sig, ts, Buffer.from('{"id":"e2"}'), now, 300), { ok: false, reason: /does not match/ }, 'another body');
  t.match(verifyWebhook(SF_SECRET, sig, String(now / 1000 + 1), body, now, 300), { ok: false, reason: /does not match/ }, 'the timestamp is signed');
  t.match(verifyWebhook(EMS_SECRET, sig, ts, body, now, 300), { ok: false }, 'another secret');
  t.match(verifyWebhook(SF_SECRET, sig.slice(0, -1), ts, body, now, 300), { ok: false }, 'a shorter signature');
  t.match(verifyWebhook(SF_SECRET, sig, ts, body, now + 301_000, 300), { ok: false, reason: /outside/ }, 'too old');
  t.match(verifyWebhook(SF_SECRET, sig, '1e9', body, now, 300), { ok: false, reason: /epoch seconds/ });
  t.match(verifyWebhook(SF_SECRET, undefined, ts, body, now, 300), { ok: false, reason: /missing/ });
});

t.test('the webhook route', async (t) => {
  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const users = await UserDirectory.open(store.db, store.writer, [{ username: 'boss', role: 'supervisor', agentId: null, name: 'Boss', password: 'pw-boss' }], new Set(), {
    sessions: { idleMs: 3_600_000, maxAgeMs: 3_600_000 },
    accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 }, sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
  });
  const shop = await ShopStore.open({ kind: 'sqlite', path: ':memory:' }, {
    notifications: { channels: { email: true, sms: true }, events: new Set(NOTIFY_EVENTS), defaultLanguage: 'zh-CN', shopName: 'onair' },
  });
  t.teardown(() => shop.close());
  await seedShopDemo(shop, Date.now());
  const shopDeps: ShopApiDeps = { store: shop, liveCall: () => undefined, webhook: { secrets: { SF: SF_SECRET, EMS: EMS_SECRET }, toleranceSeconds: 300 } };
  const api = await startApi(Object.assign(new FakeEngine(), { shop: shopDeps }), { address: '127.0.0.1', port: 0, tokens: ['integration-token-123456'], openPaths: [], users });
  t.teardown(() => api.close());
  const base = `http://127.0.0.1:${api.port}`;

  // Two shipped orders of DEMO-REGULAR: express → SF, standard cash on delivery → EMS.
  const ship = async (deliveryMethod: 'express' | 'standard') => {
    const o = await shop.createOrder({ customerId: 'DEMO-REGULAR', items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod, paymentMethod: 'cod', programme: null, airing: null, callId: null, agent: null }, 'user:boss');
    if (!o.ok) throw new Error(o.reason);
    for (const a of ['review', 'ship'] as const) if (!(await shop.transition(o.value.id, a, 'user:boss', 'staff', null)).ok) throw new Error(a);
    return { id: o.value.id, waybill: (await shop.shipments(o.value.id))[0]!.waybill };
  };
  const sf = await ship('express');
  const ems = await ship('standard');
  t.match(sf.waybill, /^SF/);
  t.match(ems.waybill, /^EM/);

  const post = async (courier: string, body: string | object, o: { secret?: string; ts?: number; sig?: string; type?: string } = {}) => {
    const raw = typeof body === 'string' ? body : JSON.stringify(body);
    const ts = String(o.ts ?? Math.floor(Date.now() / 1000));
    const res = await fetch(`${base}/api/v1/shop/logistics/webhook/${courier}`, {
      method: 'POST', body: raw,
      headers: { 'content-type': o.type ?? 'application/json', 'x-onair-timestamp': ts, 'x-onair-signature': o.sig ?? webhookSignature(o.secret ?? SF_SECRET, ts, Buffer.from(raw)) },
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const statusOf = async (id: string) => (await shop.getOrder(id))!.status;
  const delivered = { id: 'sf-evt-1', events: [{ waybill: sf.waybill, status: 'in_transit', at: '2026-12-08T01:00:00+08:00' }, { waybill: sf.waybill, status: 'delivered', at: Date.UTC(2026, 11, 8, 3), collectedFen: 29900 }] };

  t.match(await post('SF', delivered, { sig: 'sha256=' + '0'.repeat(64) }), { status: 401, body: { error: { code: 'SHOP_ERR_SIGNATURE', message: /does not match/ } } }, 'a bad signature');
  t.match(await post('SF', delivered, { secret: EMS_SECRET }), { status: 401, body: { error: { code: 'SHOP_ERR_SIGNATURE' } } }, 'signed with another courier\'s secret');
  t.match(await post('SF', delivered, { ts: Math.floor(Date.now() / 1000) - 3600 }), { status: 401, body: { error: { code: 'SHOP_ERR_SIGNATURE', message: /outside/ } } }, 'a stale timestamp');
  t.match(await post('POST', delivered), { status: 401, body: { error: { code: 'SHOP_ERR_SIGNATURE', message: /no webhook secret/ } } }, 'a courier without a secret');
  t.match(await post('constructor', delivered), { status: 401 }, 'no secret from the prototype');
  t.equal(await statusOf(sf.id), 'shipped', 'nothing applied by a refused delivery');
  t.equal((await shop.notifications(sf.id)).length, 6, 'nor notified');

  t.match(await post('SF', '{"id": "x", "events": ['), { status: 400, body: { error: { code: 'API_ERR_VALIDATION', message: /not JSON/ } } }, 'malformed JSON (signed)');
  t.match(await post('SF', { id: 'x', events: [{ waybill: sf.waybill, status: 'lost', at: 1 }] }), { status: 400, body: { error: { code: 'API_ERR_VALIDATION' } } }, 'a status the webhook does not know');
  t.match(await post('SF', { id: 'x', events: [] }), { status: 400 }, 'no events');
  t.match(await post('SF', { id: 'x', events: [{ waybill: sf.waybill, status: 'delivered', at: 1, extra: 1 }] }), { status: 400 }, 'unknown fields refused');
  t.match(await post('SF', delivered, { type: 'text/plain' }), { status: 415 }, 'JSON only');
  t.match(await post('SF', { id: 'big', events: [{ waybill: sf.waybill, status: 'delivered', at: 1, reason: 'x'.repeat(WEBHOOK_MAX_BYTES) }] }), { status: 413 }, 'body size bounded');

  const ok = await post('SF', delivered);
  t.match(ok, { status: 200, body: { applied: 1, duplicates: 0, inTransit: 1, errors: [] } }, 'a valid delivery applied');
  t.equal(await statusOf(sf.id), 'delivered');
  const h = (await shop.orderHistory(sf.id)).at(-1)!;
  t.match(h, { action: 'deliver', actor: 'courier:SF', reason: `SF ${sf.waybill} delivered` }, 'the history names the courier');
  t.match((await shop.notifications(sf.id)).slice(-2), [{ event: 'deliver', channel: 'email' }, { event: 'deliver', channel: 'sms' }], 'and the customer is notified');
  t.match(await shop.codReconciliation(Date.UTC(2026, 11, 8), Date.UTC(2026, 11, 9)), [{ courierId: 'SF', parcels: 1, collectedFen: 29900 }], 'the cash collected, as a CSV import records it');

  t.match(await post('SF', delivered), { status: 409, body: { error: { code: 'SHOP_ERR_REPLAY' } } }, 'a replay of the same event id');
  t.match(await post('SF', { ...delivered, id: 'sf-evt-2' }), { status: 200, body: { applied: 0, duplicates: 1 } }, 'the same report under a new id: idempotent');
  t.equal((await shop.orderHistory(sf.id)).filter((e) => e.action === 'deliver').length, 1, 'delivered once');

  t.match(await post('SF', { id: 'sf-evt-3', events: [{ waybill: 'SF9999999999', status: 'refused', at: 1 }, { waybill: ems.waybill, status: 'refused', at: 1 }, { waybill: ems.waybill, status: 'in_transit', at: 'yesterday' }] }),
    { status: 200, body: { applied: 0, errors: [{ line: 1, reason: /no waybill SF9999999999/ }, { line: 2, reason: `no waybill ${ems.waybill} of SF` }, { line: 3, reason: /at:/ }] } }, 'an unknown waybill, another courier\'s parcel, a bad time: reported');
  t.equal(await statusOf(ems.id), 'shipped', 'SF cannot report on an EMS parcel');
  const strikes = (await shop.getCustomer('DEMO-REGULAR'))!.strikes;
  const refused = { id: 'ems-1', events: [{ waybill: ems.waybill, status: 'refused', at: Date.now(), reason: '客户拒收' }] };
  t.match(await post('EMS', refused, { secret: EMS_SECRET }), { status: 200, body: { applied: 1 } }, 'EMS with its own secret');
  t.equal(await statusOf(ems.id), 'refused');
  t.equal((await shop.getCustomer('DEMO-REGULAR'))!.strikes, strikes + 1, 'a refusal is a strike, as from the CSV');
  t.match(await post('EMS', refused, { secret: EMS_SECRET }), { status: 409 }, 'replay refused');
  t.equal((await shop.getCustomer('DEMO-REGULAR'))!.strikes, strikes + 1, 'no second strike');
});
