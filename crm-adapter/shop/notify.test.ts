/**
 * Customer notifications of the shop: written in the transaction of the order step (none for a
 * refused step), rendered in the customer's language with the order's real figures, bounded and
 * to validated recipients; delivered by the worker to a real SMTP server (smtp-server, the message
 * parsed) and an HTTP SMS gateway on loopback, in order per order, through an outage and a
 * restart in between. On SQLite and on PostgreSQL.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { smsGatewayPeer, smtpPeer } from '../../engine/testing/notify-peers.ts';
import { waitFor } from '../../engine/testing/engine-rig.ts';
import {
  EMAIL_BODY_MAX, NOTIFY_EVENTS, SMS_BODY_MAX, ShopCrmAdapter, ShopStore, fillJson, isEmailAddress, isSmsNumber, notifyBackoff, notifyLanguage, renderNotification, seedShopDemo,
  type NotifyPlan, type ShopNotifyConfig, type ShopStoreConfig,
} from './index.ts';

const ADDRESS = { recipient: '王丽', phone: '13800000001', region: '上海市', city: '上海市', line: '世纪大道100号', postcode: '200120' };

t.test('templates: language, variables, bounds, recipients (pure)', async (t) => {
  t.equal(notifyLanguage('zh', 'en'), 'zh-CN');
  t.equal(notifyLanguage('zh-TW', 'en'), 'zh-CN');
  t.equal(notifyLanguage('en-GB', 'zh-CN'), 'en');
  t.equal(notifyLanguage(null, 'zh-CN'), 'zh-CN', 'no language: the configured default');
  const facts = {
    shop: '东方购物', name: '王丽', order: 'SO20261207000001', totalFen: 29900, courier: '顺丰速运', waybill: 'SF0000000001',
    items: [{ name: '铸铁炒锅', quantity: 1, gift: false, unitPriceFen: 29900 }, { name: '围裙', quantity: 1, gift: true, unitPriceFen: 0 }],
  };
  const zh = renderNotification('ship', 'zh-CN', facts);
  t.equal(zh.subject, '订单已发货 SO20261207000001');
  t.equal(zh.sms, '【东方购物】王丽您好，您的订单 SO20261207000001 已由顺丰速运发出，运单号 SF0000000001，合计 ¥299.00。');
  t.match(zh.email, /铸铁炒锅 ×1  ¥299\.00\n  围裙 ×1  （赠品）\n合计: ¥299\.00\n\n— 东方购物/);
  const en = renderNotification('create', 'en', { ...facts, name: 'Rita', items: [{ name: 'Cast-iron wok', quantity: 2, gift: false, unitPriceFen: 29900 }], totalFen: 59800 });
  t.equal(en.sms, '【东方购物】Rita, we received your order SO20261207000001: Cast-iron wok ×2, total ¥598.00. We will ship it once it is reviewed.');
  for (const e of NOTIFY_EVENTS) {
    for (const l of ['zh-CN', 'en'] as const) {
      const r = renderNotification(e, l, facts);
      t.notOk(`${r.subject}${r.sms}${r.email}`.includes('{'), `${e} ${l}: every variable filled`);
    }
  }
  const hostile = renderNotification('create', 'en', {
    ...facts, name: `Evil\r\nBcc: all@example.com${'x'.repeat(5000)}`, items: Array.from({ length: 50 }, () => ({ name: 'y'.repeat(200), quantity: 99, gift: false, unitPriceFen: 1 })),
  });
  t.notOk(/[\r\n]/.test(hostile.subject) || hostile.sms.includes('\n') || hostile.email.includes('\r'), 'no line break from a customer name');
  t.ok(hostile.email.length <= EMAIL_BODY_MAX && hostile.sms.length <= SMS_BODY_MAX, `bounded: e-mail ${hostile.email.length}, SMS ${hostile.sms.length}`);
  t.ok(isEmailAddress('rita.gular@example.com'));
  for (const bad of ['rita', 'a@b', 'a@@example.com', 'a b@example.com', '"x"@example.com', 'a@exa_mple.com', 'a@example.com\r\nBcc: x@y.z', `${'a'.repeat(65)}@example.com`]) {
    t.notOk(isEmailAddress(bad), `refused: ${JSON.stringify(bad.slice(0, 30))}`);
  }
  t.ok(isSmsNumber('+8613800000001') && isSmsNumber('13800000001'));
  t.notOk(isSmsNumber('+86 138') || isSmsNumber('12345') || isSmsNumber('+'.concat('1'.repeat(21))));
  t.same(fillJson({ msisdn: '{to}', content: { text: '{text}' }, tags: ['{id}', 1, null] }, { to: '+861', text: '"quoted"\n', id: 'M1' }),
    { msisdn: '+861', content: { text: '"quoted"\n' }, tags: ['M1', 1, null] }, 'the SMS body template: values placed as JSON values, not spliced text');
  t.same([1, 2, 3, 10].map((a) => notifyBackoff({ baseDelayMs: 100, maxDelayMs: 500, maxAttempts: 9 }, a, 0)), [100, 200, 400, 500], 'doubling, capped');
  t.equal(notifyBackoff({ baseDelayMs: 100, maxDelayMs: 500, maxAttempts: 9 }, 1, 0.999), 80, 'up to 20% jitter');
});

/** A store with the demo catalog, a Chinese and an English customer, and a shipped order factory. */
async function fixtures(store: ShopStore, zhEmail = 'wang.li@example.com') {
  await seedShopDemo(store, Date.now());
  const zh = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001'], language: 'zh', email: zhEmail });
  if (!zh.ok) throw new Error(zh.reason);
  await store.addAddress(zh.value.id, ADDRESS, true);
  const order = async (customerId: string) => {
    const o = await store.createOrder({ customerId, items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'cod', programme: 'demo-shopping-hour', airing: null, callId: null, agent: null }, 'user:boss');
    if (!o.ok) throw new Error(o.reason);
    return o.value;
  };
  return { zh: zh.value, order };
}

const PLAN: NotifyPlan = { channels: { email: true, sms: true }, events: new Set(NOTIFY_EVENTS), defaultLanguage: 'zh-CN', shopName: '东方购物' };

async function suite(t: Test, config: () => Promise<ShopStoreConfig>): Promise<void> {
  t.test('a step writes its notifications in its own transaction; a refused step writes none', async (t) => {
    const store = await ShopStore.open(await config(), { notifications: PLAN });
    t.teardown(() => store.close());
    const { zh, order } = await fixtures(store);
    const o = await order(zh.id);
    const created = await store.notifications(o.id);
    t.match(created, [
      { channel: 'email', event: 'create', seq: 1, status: 'pending', recipient: 'wang.li@example.com', language: 'zh-CN', subject: `订单已收到 ${o.id}`, attempts: 0 },
      { channel: 'sms', event: 'create', seq: 1, status: 'pending', recipient: '+8613800000001', body: `【东方购物】王丽您好，您的订单 ${o.id} 已收到：铸铁炒锅 ×1、围裙 ×1（赠品），合计 ¥299.00。审核后我们会尽快发货。` },
    ], 'order entry: an e-mail and an SMS, rendered from the order');
    t.match(await store.transition(o.id, 'ship', 'user:boss', 'staff', null), { ok: false, code: 'SHOP_ERR_ILLEGAL_TRANSITION' });
    t.equal((await store.notifications(o.id)).length, 2, 'an illegal step: nothing written');
    t.ok((await store.transition(o.id, 'review', 'user:boss', 'staff', null)).ok);
    // Shipping fails inside its transaction when no rule serves the order: the notification goes with it.
    const rules = await store.courierRules();
    t.ok((await store.setCourierRules([])).ok);
    t.match(await store.transition(o.id, 'ship', 'user:boss', 'staff', null), { ok: false, code: 'SHOP_ERR_NO_COURIER' });
    t.same((await store.notifications(o.id)).map((n) => n.event), ['create', 'create', 'review', 'review'], 'a step rolled back mid-way: its notifications too');
    t.ok((await store.setCourierRules(rules)).ok);
    t.ok((await store.transition(o.id, 'ship', 'user:boss', 'staff', null)).ok);
    const [shipment] = await store.shipments(o.id);
    const shipped = (await store.notifications(o.id)).filter((n) => n.event === 'ship');
    t.match(shipped, [{ channel: 'email', seq: 3, subject: `订单已发货 ${o.id}` }, { channel: 'sms', seq: 3, body: new RegExp(`顺丰速运发出，运单号 ${shipment!.waybill}，合计 ¥299\\.00`) }], 'shipped: courier and waybill filled');
    const o2 = await order(zh.id);
    t.ok((await store.editOrder(o2.id, { specialRequests: 'x' }, 'agent:1001', 'sales', null)).ok);
    t.same((await store.dueNotifications(Date.now(), 100)).map((n) => [n.orderId, n.seq, n.channel]), [[o.id, 1, 'email'], [o.id, 1, 'sms'], [o2.id, 1, 'email'], [o2.id, 1, 'sms']],
      'due: only the first pending one of each order and channel (an edit writes none)');

    // English customer, invalid address: recorded failed with the reason, never sent; the SMS still goes.
    const en = await store.createCustomer({ name: 'Rita', numbers: ['+4915110000099'], language: 'en', email: 'rita-at-example' });
    if (!en.ok) throw new Error(en.reason);
    await store.addAddress(en.value.id, ADDRESS, true);
    const e = await order(en.value.id);
    t.match(await store.notifications(e.id), [
      { channel: 'email', status: 'failed', lastError: 'not a valid e-mail address', language: 'en', subject: `Order ${e.id} received` },
      { channel: 'sms', status: 'pending', body: /Cast-iron wok ×1, Apron ×1 \(gift\), total ¥299\.00/ },
    ], 'English from the product names; a bad address is not sent');
    t.same(await store.notificationCounts(), [{ channel: 'email', status: 'failed', n: 1 }, { channel: 'email', status: 'pending', n: 4 }, { channel: 'sms', status: 'pending', n: 5 }]);
  });

  t.test('delivery: SMTP down and gateway failing → retried; restart in between; both back → every message delivered, in order', async (t) => {
    const smtp = await smtpPeer(t.teardown.bind(t));
    const gateway = await smsGatewayPeer(t.teardown.bind(t));
    gateway.status = 503;
    const cfg = await config();
    const notifications: ShopNotifyConfig = {
      shopName: '东方购物', defaultLanguage: 'zh-CN', events: NOTIFY_EVENTS,
      email: { host: '127.0.0.1', port: smtp.port, secure: false, auth: null, from: '东方购物 <shop@example.com>', timeoutMs: 2000 },
      sms: { url: gateway.url, token: 'gw-token', body: { to: '{to}', content: '{text}', ref: '{id}' }, timeoutMs: 2000 },
      retry: { baseDelayMs: 20, maxDelayMs: 100, maxAttempts: 1000 }, pollMs: 20,
    };
    const first = new ShopCrmAdapter({ store: cfg, notifications });
    await first.init();
    const { zh, order } = await fixtures(first.store);
    const o = await order(zh.id);
    for (const a of ['review', 'ship'] as const) t.ok((await first.store.transition(o.id, a, 'user:boss', 'staff', null)).ok);
    const retried = await waitFor('retries of every channel', async () => {
      const ns = await first.store.notifications(o.id);
      return ns.some((n) => n.channel === 'email' && n.attempts >= 2) && ns.some((n) => n.channel === 'sms' && n.attempts >= 2) ? ns : undefined;
    });
    t.ok(retried.every((n) => n.status === 'pending'), 'still pending while the peers are out');
    t.match(retried.find((n) => n.channel === 'sms' && n.attempts > 0), { lastError: 'gateway answered 503' });
    t.match(retried.find((n) => n.channel === 'email' && n.attempts > 0), { lastError: /ECONNREFUSED|connect/ });
    t.ok(retried.filter((n) => n.seq > 1).every((n) => n.attempts === 0), 'later steps wait for the first: never tried out of order');
    await first.close();

    // The engine restarts; meanwhile the SMTP server and the gateway come back.
    await smtp.up();
    gateway.status = 200;
    const second = new ShopCrmAdapter({ store: cfg, notifications });
    await second.init();
    t.teardown(() => second.close());
    const sent = await waitFor('every notification sent', async () => {
      const ns = await second.store.notifications(o.id);
      return ns.every((n) => n.status === 'sent') ? ns : undefined;
    });
    t.equal(sent.length, 6);
    const [shipment] = await second.store.shipments(o.id);
    t.same(smtp.messages.map((m) => m.subject), [`订单已收到 ${o.id}`, `订单已确认 ${o.id}`, `订单已发货 ${o.id}`], 'e-mails received in step order');
    const mail = smtp.messages[2]!;
    t.same(mail.to, ['wang.li@example.com']);
    t.match(mail.headers, { from: /东方购物 <shop@example\.com>/, 'x-onair-order': o.id, 'message-id': `<${sent.find((n) => n.channel === 'email' && n.event === 'ship')!.id}@onair.shop>` });
    t.match(mail.text, new RegExp(`王丽您好，您的订单 ${o.id} 已由顺丰速运发出，运单号 ${shipment!.waybill}，合计 ¥299\\.00。\\n\\n  铸铁炒锅 ×1  ¥299\\.00\\n  围裙 ×1  （赠品）\\n合计: ¥299\\.00`), 'the parsed body: items, amount, courier, waybill');
    t.same(gateway.received.map((r) => (r.body as { content: string }).content.slice(0, 16)), [`【东方购物】王丽您好，您的订单 `, `【东方购物】王丽您好，您的订单 `, `【东方购物】王丽您好，您的订单 `]);
    t.match(gateway.received.map((r) => r.body), [{ to: '+8613800000001', content: /已收到/ }, { content: /已确认/ }, { content: new RegExp(`运单号 ${shipment!.waybill}`) }], 'SMS in step order, the body template filled');
    t.match(gateway.received[0]!.headers, { authorization: 'Bearer gw-token', 'idempotency-key': (gateway.received[0]!.body as { ref: string }).ref, 'content-type': 'application/json' });
    t.same(await second.store.notificationCounts(), [], 'nothing pending or failed');
    t.ok(second.notifier !== undefined && second.notifier.sentCount.email + second.notifier.sentCount.sms === 6, 'the restarted process delivered them');
  });

  t.test('a permanent refusal fails the message at once; the next one of the order goes', async (t) => {
    const gateway = await smsGatewayPeer(t.teardown.bind(t));
    gateway.status = 400;
    const adapter = new ShopCrmAdapter({
      store: await config(),
      notifications: {
        shopName: 'onair', defaultLanguage: 'en', events: ['create', 'cancel'], email: null,
        sms: { url: gateway.url, token: null, body: { to: '{to}', text: '{text}' }, timeoutMs: 2000 }, retry: { baseDelayMs: 20, maxDelayMs: 50, maxAttempts: 1000 }, pollMs: 20,
      },
    });
    await adapter.init();
    t.teardown(() => adapter.close());
    const { zh, order } = await fixtures(adapter.store);
    const o = await order(zh.id);
    await waitFor('the refused SMS failed', async () => (await adapter.store.notifications(o.id))[0]?.status === 'failed');
    gateway.status = 200;
    t.ok((await adapter.store.transition(o.id, 'review', 'user:boss', 'staff', null)).ok, 'review: not in crm.notifications.events');
    t.ok((await adapter.store.transition(o.id, 'cancel', 'user:boss', 'staff', null)).ok);
    const ns = await waitFor('the cancel SMS sent', async () => {
      const all = await adapter.store.notifications(o.id);
      return all.length === 2 && all[1]!.status === 'sent' ? all : undefined;
    });
    t.match(ns, [{ event: 'create', status: 'failed', attempts: 1, lastError: 'gateway answered 400' }, { event: 'cancel', status: 'sent', attempts: 1 }], 'a 400 is not retried; only the configured steps notify');
    t.equal(gateway.received.length, 1);
    t.notOk(gateway.received[0]!.headers.authorization, 'no token: no Authorization header');
  });
}

t.test('sqlite', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-notify-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  await suite(t, async () => ({ kind: 'sqlite', path: path.join(dir, `shop${++n}.db`) }));
});

t.test('postgres', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  let n = 0;
  await suite(t, async () => ({ kind: 'postgres', url: await cluster.createDatabase(`notify${++n}`) }));
});
