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
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { openDatabase, postgresPool } from '../../engine/db/index.ts';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { smsGatewayPeer, smtpPeer } from '../../engine/testing/notify-peers.ts';
import { waitFor } from '../../engine/testing/engine-rig.ts';
import {
  EMAIL_BODY_MAX, NOTIFY_EVENTS, SMS_BODY_MAX, ShopCrmAdapter, ShopStore, fillJson, isEmailAddress, isSmsNumber, notifyBackoff, notifyLanguage, renderNotification, seedShopDemo,
  shopMigrationProvider, type NotifyPlan, type ShopNotifyConfig, type ShopStoreConfig,
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

/** crm.notifications towards the loopback SMTP server and SMS gateway, retrying fast. */
function peersConfig(smtpPort: number, gatewayUrl: string): ShopNotifyConfig {
  return {
    shopName: '东方购物', defaultLanguage: 'zh-CN', events: NOTIFY_EVENTS,
    email: { host: '127.0.0.1', port: smtpPort, secure: false, auth: null, from: '东方购物 <shop@example.com>', timeoutMs: 2000 },
    sms: { url: gatewayUrl, token: 'gw-token', body: { to: '{to}', content: '{text}', ref: '{id}' }, timeoutMs: 2000 },
    retry: { baseDelayMs: 20, maxDelayMs: 100, maxAttempts: 1000 }, pollMs: 20,
  };
}

/** A Kysely of its own on the store's database (no migration run), as an older release left it. */
function rawDb(cfg: ShopStoreConfig): Kysely<unknown> {
  return new Kysely<unknown>({
    dialect: cfg.kind === 'sqlite'
      ? new SqliteDialect({ database: openDatabase({ path: cfg.path }) as unknown as ConstructorParameters<typeof SqliteDialect>[0]['database'] })
      : new PostgresDialect({ pool: postgresPool(cfg.url, 2, undefined) }),
  });
}

/**
 * An outage: the SMTP server not listening, the gateway answering 503, an adapter delivering to
 * them, and the fixtures in its store. `restart(orderId)` stops that adapter, brings the peers
 * back, starts another on the same store and resolves with the order's notifications once every
 * one is sent.
 */
async function peersOut(t: Test, config: () => Promise<ShopStoreConfig>) {
  const smtp = await smtpPeer(t.teardown.bind(t));
  const gateway = await smsGatewayPeer(t.teardown.bind(t));
  gateway.status = 503;
  const cfg = await config();
  const notifications = peersConfig(smtp.port, gateway.url);
  const first = new ShopCrmAdapter({ store: cfg, notifications });
  await first.init();
  t.teardown(() => first.close());
  const restart = async (orderId: string) => {
    await first.close();
    await smtp.up();
    gateway.status = 200;
    const second = new ShopCrmAdapter({ store: cfg, notifications });
    await second.init();
    t.teardown(() => second.close());
    const sent = await waitFor('every notification sent', async () => {
      const ns = await second.store.notifications(orderId);
      return ns.every((n) => n.status === 'sent') ? ns : undefined;
    });
    return { second, sent };
  };
  return { smtp, gateway, cfg, first, restart, ...(await fixtures(first.store)) };
}

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
    const { smtp, gateway, first, restart, zh, order } = await peersOut(t, config);
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

    // The engine restarts; meanwhile the SMTP server and the gateway come back.
    const { second, sent } = await restart(o.id);
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

  t.test('on request: the current status again, after the step\'s own and before the next step, in order; written before delivery, so a restart delivers it', async (t) => {
    const { smtp, gateway, cfg, first, restart, zh, order } = await peersOut(t, config);
    const o = await order(zh.id);
    t.ok((await first.store.transition(o.id, 'review', 'user:boss', 'staff', null)).ok);
    const email = await first.store.requestNotification(o.id, 'email');
    const sms1 = await first.store.requestNotification(o.id, 'sms');
    const sms2 = await first.store.requestNotification(o.id, 'sms');
    if (!email.ok || !sms1.ok || !sms2.ok) throw new Error('a request was refused');
    t.match(email.value, { event: 'review', seq: 2, channel: 'email', status: 'pending', recipient: 'wang.li@example.com', subject: `订单已确认 ${o.id}` }, 'the last step\'s template, the customer\'s language');
    t.match(sms1.value, { event: 'review', seq: 2, channel: 'sms', recipient: '+8613800000001', body: `【东方购物】王丽您好，您的订单 ${o.id}（合计 ¥299.00）已确认，正在备货。` });
    t.ok(email.value.request > 0 && sms1.value.request > 0 && sms2.value.request > sms1.value.request, 'requests numbered in the order asked');
    t.ok((await first.store.transition(o.id, 'ship', 'user:boss', 'staff', null)).ok, 'a later step after the requests');
    const tried = await waitFor('the first step tried on both channels', async () => {
      const ns = await first.store.notifications(o.id);
      return ns.filter((n) => n.seq === 1).every((n) => n.attempts >= 2) ? ns : undefined;
    });
    t.ok(tried.filter((n) => n.seq > 1).every((n) => n.attempts === 0 && n.status === 'pending'), 'requests and the later step wait for the first step: never tried out of order');

    // Restart with the peers back: the requests were rows, not memory.
    const { second, sent } = await restart(o.id);
    t.same(sent.map((n) => [n.event, n.channel, n.request > 0]), [
      ['create', 'email', false], ['create', 'sms', false], ['review', 'email', false], ['review', 'sms', false],
      ['review', 'email', true], ['review', 'sms', true], ['review', 'sms', true], ['ship', 'email', false], ['ship', 'sms', false],
    ], 'a row per request: after the step\'s own, before the next step');
    t.same(smtp.messages.map((m) => m.subject), [`订单已收到 ${o.id}`, `订单已确认 ${o.id}`, `订单已确认 ${o.id}`, `订单已发货 ${o.id}`], 'the re-send by SMTP after the original, before the next step');
    t.equal(smtp.messages[2]!.headers['message-id'], `<${email.value.id}@onair.shop>`, 'the third e-mail is the request\'s');
    t.same(gateway.received.map((r) => (r.body as { ref: string }).ref), sent.filter((n) => n.channel === 'sms').map((n) => n.id), 'SMS through the gateway in the same order');
    t.same(gateway.received.slice(2, 4).map((r) => (r.body as { ref: string }).ref), [sms1.value.id, sms2.value.id], 'two requests, two messages, in the order asked');

    // Refused, with nothing written.
    t.match(await second.store.requestNotification('SO20000101999999', 'email'), { ok: false, code: 'SHOP_ERR_NOT_FOUND' });
    t.match(await second.store.requestNotification(o.id, 'sms', '13800-0001'), { ok: false, code: 'SHOP_ERR_NO_CHANNEL', reason: /not a valid SMS number/ }, 'an IVR number that is not one');
    const noMail = await second.store.createCustomer({ name: 'Ann', numbers: ['anonymous'], language: 'en' });
    if (!noMail.ok) throw new Error(noMail.reason);
    await second.store.addAddress(noMail.value.id, ADDRESS, true);
    const made = await second.store.createOrder({ customerId: noMail.value.id, items: [{ sku: 'APRON', quantity: 1 }], deliveryMethod: 'post', paymentMethod: 'card', programme: null, airing: null, callId: null, agent: null }, 'user:boss');
    if (!made.ok) throw new Error(made.reason);
    const o2 = made.value;
    const before = (await second.store.notifications(o2.id)).length;
    t.match(await second.store.requestNotification(o2.id, 'email'), { ok: false, code: 'SHOP_ERR_NO_CHANNEL', reason: /no e-mail address/ });
    t.match(await second.store.requestNotification(o2.id, 'sms'), { ok: false, code: 'SHOP_ERR_NO_CHANNEL', reason: /anonymous is not a valid SMS number/ });
    t.equal((await second.store.notifications(o2.id)).length, before, 'a refused request writes no row');
    const emailOnly = await ShopStore.open(cfg, { notifications: { ...PLAN, channels: { email: true, sms: false } } });
    t.teardown(() => emailOnly.close());
    t.match(await emailOnly.requestNotification(o.id, 'sms'), { ok: false, code: 'SHOP_ERR_NO_CHANNEL', reason: /not configured/ });
  });

  t.test('migration 0006: a store of 0005 keeps its notifications (ids, status), then takes requests, delivered after them', async (t) => {
    const cfg = await config();
    const raw = rawDb(cfg);
    const old = await new Migrator({ db: raw, provider: shopMigrationProvider, migrationTableName: 'shop_migrations', migrationLockTableName: 'shop_migrations_lock' })
      .migrateTo('0005_reports_batch_printing');
    t.equal(old.error, undefined);
    const id = 'SO20261207000001';
    await sql`insert into shop_customers (id, name, language, vip_level, blacklisted, strikes, low_credit, email, created_at, updated_at) values ('C1', '王丽', 'zh', 0, 0, 0, 0, 'wang.li@example.com', 1, 1)`.execute(raw);
    await sql`insert into shop_customer_numbers (number, customer_id, created_at) values ('+8613800000001', 'C1', 1)`.execute(raw);
    await sql`insert into shop_orders (id, customer_id, status, delivery_method, payment_method, recipient, phone, region, city, line, total_fen, version, created_at, updated_at)
      values (${id}, 'C1', 'ordered', 'express', 'cod', '王丽', '13800000001', '上海市', '上海市', '世纪大道100号', 29900, 1, 1, 1)`.execute(raw);
    await sql`insert into shop_order_history (order_id, seq, action, from_status, to_status, actor, at) values (${id}, 1, 'create', null, 'ordered', 'user:boss', 1)`.execute(raw);
    await sql`insert into shop_notifications (id, order_id, seq, channel, event, language, recipient, subject, body, status, attempts, next_attempt_at, created_at, sent_at) values
      ('M-old-email', ${id}, 1, 'email', 'create', 'zh-CN', 'wang.li@example.com', 's', 'b', 'sent', 1, 1, 1, 2),
      ('M-old-sms', ${id}, 1, 'sms', 'create', 'zh-CN', '+8613800000001', null, 'b', 'pending', 3, 1, 1, null)`.execute(raw);
    await raw.destroy();

    const store = await ShopStore.open(cfg, { notifications: PLAN });
    t.teardown(() => store.close());
    t.match(await store.notifications(id), [
      { id: 'M-old-email', seq: 1, request: 0, status: 'sent', attempts: 1, sentAt: 2 }, { id: 'M-old-sms', seq: 1, request: 0, status: 'pending', attempts: 3 },
    ], 'the rows of 0005, as they were, as the steps\' own');
    const asked = await store.requestNotification(id, 'sms');
    t.match(asked, { ok: true, value: { seq: 1, request: 1, event: 'create', status: 'pending' } }, 'a second row of the same step and channel');
    const now = Date.now();
    t.same((await store.dueNotifications(now, 10)).map((n) => n.id), ['M-old-sms'], 'the request waits for the step\'s own');
    await store.markNotificationSent('M-old-sms', now);
    t.same((await store.dueNotifications(now, 10)).map((n) => n.id), [asked.ok ? asked.value.id : ''], 'then it is due');
    t.same(await store.migrate(), [], 'nothing left to apply');
    if (cfg.kind === 'sqlite') {
      // SQLite runs no migration in a transaction: the rebuild committed but its record lost (a crash) is found done.
      await sql`delete from shop_migrations where name = '0006_notifications_on_request'`.execute(store.db);
      t.same(await store.migrate(), ['0006_notifications_on_request'], 'applied again');
      t.same((await store.notifications(id)).map((n) => [n.id, n.request]), [['M-old-email', 0], ['M-old-sms', 0], [asked.ok ? asked.value.id : '', 1]], 'and nothing lost or renumbered');
    }
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
