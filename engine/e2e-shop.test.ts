/**
 * End to end, the shop (crm.adapter: shop, SQLite beside the engine database) through the real
 * engine: a sipp caller the shop knows dials the demo programme's number and reaches agent 1001 (a
 * sipp phone); the look-up carries the shop's customer and its card (an earlier order with its
 * status, notes, address) into the offer's screen pop; the agent, signed in, enters an order for
 * its call through the API and the programme's promotion (price and gift) is applied; another agent
 * may not, and the agent may not review; the supervisor reviews, ships, delivers and settles
 * (an illegal step and an edit after shipping are refused); the order history shows each step with
 * who did it; the call record reaches the shop and is on the card. SF's shipping document is a PDF
 * whose text (pdftotext) names the order, waybill, recipient and sender; the courier reports the
 * parcel in transit through the signed webhook and its logistics CSV, imported by the supervisor,
 * marks it delivered; the customer got an e-mail (a real SMTP server on
 * loopback, the message parsed) and an SMS (a loopback HTTP gateway) at each step, with the order
 * number, items, amount, courier and waybill. On SQLite and on PostgreSQL.
 */
import t, { type Test } from 'tap';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { requirePeer } from './testing/index.ts';
import { requirePostgres } from './testing/postgres.ts';
import {
  SCENARIOS, SippGroup, callersFile, demoQueues, freeUdpPort, registerSippAgents, startEngineRig, waitFor, within, type EngineRig,
} from './testing/engine-rig.ts';
import { startSipp } from './testing/sipp.ts';
import { smsGatewayPeer, smtpPeer, type SmtpPeer, type SmsGatewayPeer } from './testing/notify-peers.ts';
import { webhookSignature, type Notification } from '../crm-adapter/shop/index.ts';
import { demoUsers } from './config/index.ts';
import type { CustomerCard, Order, OrderHistoryEntry } from '../crm-adapter/shop/index.ts';

/** The session cookie of a user signed in to the API. */
async function sessionCookie(rig: EngineRig, username: string, password: string): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password }) });
  if (res.status !== 200) throw new Error(`sign-in ${username}: ${res.status}`);
  return (res.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
}

/** A signed-in user of the API (its session cookie). */
async function signIn(rig: EngineRig, username: string, password: string): Promise<<T = any>(method: string, url: string, body?: unknown) => Promise<{ status: number; body: T }>> {
  const base = `http://127.0.0.1:${rig.httpPort}`;
  const cookie = await sessionCookie(rig, username, password);
  return async (method, url, body) => {
    const r = await fetch(`${base}${url}`, {
      method, headers: { cookie, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
}

/**
 * The engine with the shop (demo data, desktop users) and agent 1001 registered on a sipp phone
 * that answers one call, signed in to the API (`agent`); `dial` starts a caller of `number` on the demo programme's number (100)
 * who hangs up `holdMs` after the engine answered. Peers, then the engine, stop when `t` ends.
 */
const SF_SECRET = 'e2e-sf-webhook-secret';

async function shopE2e(t: Test, wrapUpMs: number, postgresUrl: string | null = null, peers?: { smtp: SmtpPeer; gateway: SmsGatewayPeer }) {
  const sipps = new SippGroup();
  let closeRig = async (): Promise<void> => {};
  t.teardown(async () => {
    await sipps.close();
    await closeRig();
  });
  const notifications = peers === undefined ? {} : {
    notifications: {
      shopName: '东方购物',
      email: { host: '127.0.0.1', port: peers.smtp.port, secure: false, from: '东方购物 <shop@example.com>' },
      sms: { url: peers.gateway.url, token: 'e2e-gateway-token' },
    },
    logisticsWebhook: { secrets: { SF: SF_SECRET } },
  };
  const shipper = { name: '东方购物', phone: '020-12345678', address: '广州市天河区体育西路1号' };
  const rig = await startEngineRig({ crm: { adapter: 'shop', seedDemo: true, postgresUrl, shipper, ...notifications }, users: { accounts: demoUsers() }, queues: demoQueues({ wrapUpMs }) });
  closeRig = () => rig.close();
  // Signed in before the phone registers (the order the desktop is used in: sign in, then the phone makes the agent ready).
  const agent = await signIn(rig, '1001', 'demo1001');
  const agentPort = await freeUdpPort();
  const phone = sipps.add(startSipp({
    scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: agentPort, calls: 1,
    timeoutSec: 90, args: ['-d', '300', '-mp', String(await freeUdpPort())],
  }));
  await registerSippAgents(rig, ['1001'], agentPort);
  const dial = (number: string, holdMs: number) => sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1,
    timeoutSec: 60, args: ['-s', '100', '-d', String(holdMs), '-inf', callersFile(rig, [number])],
  });
  const talking = () => waitFor('the caller talking to agent 1001', () => rig.engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 30_000);
  return { rig, agent, phone, dial, talking };
}

/** The main case, on the shop's SQLite file or on PostgreSQL. */
async function orderToSettled(t: Test, postgresUrl: string | null): Promise<void> {
  const smtp = await smtpPeer(t.teardown.bind(t));
  await smtp.up();
  const gateway = await smsGatewayPeer(t.teardown.bind(t));
  const { rig, agent, phone, dial, talking } = await shopE2e(t, 500, postgresUrl, { smtp, gateway });
  const other = await signIn(rig, '1002', 'demo1002');
  const boss = await signIn(rig, 'supervisor', 'demo-supervisor');

  // An earlier order (staff may enter one without a call): the card shows it with its status.
  const earlier = await boss<Order>('POST', '/api/v1/shop/orders', { customerId: 'DEMO-REGULAR', items: [{ sku: 'KNIFE-SET', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'card' });
  t.equal(earlier.status, 201, 'staff entered an order by hand');

  const number = '+4915110000004';
  const caller = dial(number, 15000);
  const call = await talking();
  t.match(call.customer, {
    known: true, customerId: 'DEMO-REGULAR', name: 'Rita Gular', language: 'en', strikes: 1, blacklisted: false,
    screenPop: { lastOrders: new RegExp(`^${earlier.body.id} ordered ¥599\\.00$`), notes: /lastOrder: knife block/, address: /广州市/ },
  }, 'the look-up answered from the shop: customer and card in the screen pop');
  t.equal(call.route.programme, 'demo-shopping-hour');

  // The agent enters the order for its call; the programme's promotions apply.
  const entry = { callId: call.id, customerId: 'DEMO-REGULAR', items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'express', paymentMethod: 'cod', specialRequests: 'invoice please' };
  t.equal((await other('POST', '/api/v1/shop/orders', entry)).status, 403, 'another agent may not enter an order on this call');
  t.match(await agent('POST', '/api/v1/shop/orders', { ...entry, items: [{ sku: 'WOK-01', quantity: 0 }] }), { status: 400, body: { error: { code: 'API_ERR_VALIDATION' } } });
  const made = await agent<Order>('POST', '/api/v1/shop/orders', entry);
  t.equal(made.status, 201, 'the agent entered the order');
  const o = made.body;
  t.match(o, {
    status: 'ordered', agent: '1001', callId: call.id, programme: 'demo-shopping-hour', paymentMethod: 'cod', totalFen: 29900,
    items: [{ sku: 'WOK-01', unitPriceFen: 29900, listPriceFen: 39900, promotionId: 'DEMO-WOK-PRICE' }, { sku: 'APRON', gift: true, unitPriceFen: 0, promotionId: 'DEMO-WOK-GIFT' }],
    address: { recipient: '李强', city: '广州市' },
  }, 'the media source came from the call, the promotion price and gift were applied');
  t.match(o.id, /^SO\d{14}$/);

  t.equal((await agent('POST', `/api/v1/shop/orders/${o.id}/review`, {})).status, 403, 'an agent may not review');
  t.equal((await other('GET', `/api/v1/shop/orders/${o.id}`)).status, 404, 'nor see another agent\'s order');
  t.match(await boss('POST', `/api/v1/shop/orders/${o.id}/ship`, {}), { status: 409, body: { error: { code: 'SHOP_ERR_ILLEGAL_TRANSITION' } } }, 'not shipped before review');
  t.match(await boss('POST', `/api/v1/shop/orders/${o.id}/review`, { reason: 'address checked' }), { status: 200, body: { status: 'reviewed' } });
  t.match(await boss('POST', `/api/v1/shop/orders/${o.id}/ship`, { reason: 'EMS' }), { status: 200, body: { status: 'shipped' } });
  t.match(await agent('PATCH', `/api/v1/shop/orders/${o.id}`, { items: [{ sku: 'WOK-01', quantity: 2 }] }), { status: 409, body: { error: { code: 'SHOP_ERR_LOCKED' } } }, 'no edit after shipping');
  t.match(await boss('POST', `/api/v1/shop/orders/${o.id}/settle`, {}), { status: 409, body: { error: { code: 'SHOP_ERR_ILLEGAL_TRANSITION' } } }, 'not settled before delivery');
  // The courier's signed webhook reports the delivery; the waybill is the one the customer was sent.
  const shipped = await waitFor('the shipping notifications sent', async () => {
    const n = await boss<{ items: Notification[] }>('GET', `/api/v1/shop/orders/${o.id}/notifications`);
    const ship = n.body.items.filter((x) => x.event === 'ship');
    return ship.length === 2 && ship.every((x) => x.status === 'sent') ? ship : undefined;
  }, 20_000);
  const waybill = /SF\d{10}/.exec(shipped[0]!.body)?.[0] ?? '';
  t.match(waybill, /^SF\d{10}$/, 'express: SF, its waybill in the notification');
  // The courier's shipping document, as it prints it: the text checked with pdftotext.
  const doc = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/shop/orders/${o.id}/shipping-document`, { headers: { cookie: await sessionCookie(rig, 'supervisor', 'demo-supervisor') } });
  t.equal(doc.headers.get('content-type'), 'application/pdf', 'the shipping document is a PDF');
  const pdfFile = path.join(rig.dir, `${waybill}.pdf`);
  writeFileSync(pdfFile, Buffer.from(await doc.arrayBuffer()));
  const pdfText = execFileSync('pdftotext', ['-layout', pdfFile, '-'], { encoding: 'utf8' });
  for (const want of [o.id, waybill, '李强', '广州市', '东方购物', '¥299.00']) t.ok(pdfText.includes(want), `pdftotext finds ${want} on the SF document`);
  // The courier's signed webhook reports the parcel in transit (no status change) ...
  const report = JSON.stringify({ id: `sf-${o.id}`, events: [{ waybill, status: 'in_transit', at: Date.now() }] });
  const ts = String(Math.floor(Date.now() / 1000));
  const hook = (signature: string) => fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/shop/logistics/webhook/SF`, {
    method: 'POST', body: report, headers: { 'content-type': 'application/json', 'x-onair-timestamp': ts, 'x-onair-signature': signature },
  });
  t.equal((await hook(webhookSignature('not-the-secret', ts, Buffer.from(report)))).status, 401, 'a report signed with another secret is refused');
  const pushed = await hook(webhookSignature(SF_SECRET, ts, Buffer.from(report)));
  t.match({ status: pushed.status, body: await pushed.json() }, { status: 200, body: { applied: 0, inTransit: 1, errors: [] } }, 'the courier\'s webhook: in transit');
  t.match(await boss('GET', `/api/v1/shop/orders/${o.id}`), { status: 200, body: { status: 'shipped' } });
  // ... and the courier's daily logistics CSV marks it delivered, cash collected.
  const csv = `waybill,status,time,reason,collected_fen\n${waybill},delivered,${new Date().toISOString()},,29900\n`;
  t.match(await boss('POST', '/api/v1/shop/logistics/import', { csv }), { status: 200, body: { applied: 1, errors: [] } }, 'the logistics CSV delivered the order');
  t.match(await boss('GET', `/api/v1/shop/orders/${o.id}`), { status: 200, body: { status: 'delivered' } });
  t.match(await boss('POST', `/api/v1/shop/orders/${o.id}/settle`, { reason: 'COD remitted' }), { status: 200, body: { status: 'settled' } });

  const h = await agent<{ items: OrderHistoryEntry[] }>('GET', `/api/v1/shop/orders/${o.id}/history`);
  t.same(h.body.items.map((e) => [e.action, e.from, e.to, e.actor, e.reason]), [
    ['create', null, 'ordered', 'agent:1001', `call ${call.id}`],
    ['review', 'ordered', 'reviewed', 'user:supervisor', 'address checked'],
    ['ship', 'reviewed', 'shipped', 'user:supervisor', 'EMS'],
    ['deliver', 'shipped', 'delivered', 'user:supervisor', `SF ${waybill} delivered`],
    ['settle', 'delivered', 'settled', 'user:supervisor', 'COD remitted'],
  ], 'the history: each step, who, why');
  t.ok(h.body.items.every((e, i, all) => i === 0 || e.at >= all[i - 1]!.at), 'in time order');

  // The customer (English, rita.gular@example.com, +4915110000004) was told at each step, by e-mail and SMS, in order.
  const steps = ['received', 'confirmed', 'shipped', 'delivered', 'settled'];
  const mails = await waitFor('the e-mails of every step', () => {
    const m = smtp.messages.filter((x) => x.subject.includes(o.id));
    return m.length === steps.length ? m : undefined;
  }, 20_000);
  t.same(mails.map((m) => m.subject), steps.map((s) => `Order ${o.id} ${s}`), 'an e-mail per step, in order');
  t.ok(mails.every((m) => m.to.length === 1 && m.to[0] === 'rita.gular@example.com'), 'to the customer\'s address');
  t.match(mails[0]!.text, new RegExp(`Rita Gular, we received your order ${o.id}: Cast-iron wok ×1, Apron ×1 \\(gift\\), total ¥299\\.00`), 'items and amount in yuan');
  t.match(mails[2]!.text, new RegExp(`has shipped with SF Express, waybill ${waybill}, total ¥299\\.00`), 'courier and waybill');
  const sms = await waitFor('the SMS of every step', () => {
    const m = gateway.received.filter((x) => (x.body as { text: string }).text.includes(o.id));
    return m.length === steps.length ? m : undefined;
  }, 20_000);
  t.ok(sms.every((r) => (r.body as { to: string }).to === number && r.headers.authorization === 'Bearer e2e-gateway-token'), 'SMS to the number that called, with the gateway token');
  t.match((sms[3]!.body as { text: string }).text, new RegExp(`^【东方购物】Rita Gular, your order ${o.id} \\(SF Express ${waybill}\\) was delivered`), 'the delivery SMS');
  const sent = await boss<{ items: Notification[] }>('GET', `/api/v1/shop/orders/${o.id}/notifications`);
  t.same(sent.body.items.map((n) => [n.event, n.channel, n.status]), ['create', 'review', 'ship', 'deliver', 'settle'].flatMap((e) => [[e, 'email', 'sent'], [e, 'sms', 'sent']]), 'each recorded as sent');

  const done = await within(caller.done, 45_000, 'the caller');
  t.equal(done.successful, 1, 'the call completed');
  await within(phone.done, 15_000, 'the agent phone');
  // The CDR goes through the outbox after the wrap-up: the call lands on the card.
  const card = await waitFor('the call on the card', async () => {
    const c = await agent<CustomerCard>('GET', '/api/v1/shop/customers/DEMO-REGULAR/card');
    return c.body.lastCalls.length > 0 ? c.body : undefined;
  }, 20_000);
  t.match(card.lastCalls[0], { callId: call.id, outcome: 'answered', agent: '1001', programme: 'demo-shopping-hour' });
  t.same(card.lastOrders.map((x) => [x.id, x.status]), [[o.id, 'settled'], [earlier.body.id, 'ordered']], 'last orders with status');
  t.match(await boss('GET', '/api/v1/cdrs'), { status: 200, body: { items: [{ callId: call.id, caller: number, outcome: 'answered', agent: '1001' }] } }, 'the call records, from the shop');
}

t.test('a known caller reaches an agent with the shop\'s card; an order with a promotion goes ordered → settled through the API (SQLite)', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  await orderToSettled(t, null);
});

t.test('the same on PostgreSQL', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  await orderToSettled(t, await cluster.createDatabase('shop'));
});


t.test('the agent enters the order in wrap-up, after the caller hung up and before the call record is written: the media source still comes from the call', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  // A long wrap-up: the CDR (written when it ends) is not in the shop while the agent types.
  const { agent, phone, dial, talking, rig } = await shopE2e(t, 120_000);
  const caller = dial('+4915110000004', 6000);
  const call = await talking();
  t.equal((await within(caller.done, 30_000, 'the caller')).successful, 1, 'the caller hung up');
  await within(phone.done, 15_000, 'the agent phone');
  await waitFor('the call over', () => rig.engine.calls.size === 0, 10_000);
  t.equal(rig.engine.acd.inspectAgent('1001')?.state, 'wrapUp', 'the agent is in wrap-up');
  t.same((await agent<CustomerCard>('GET', '/api/v1/shop/customers/DEMO-REGULAR/card')).body.lastCalls, [], 'the call record is not in the shop yet');
  const made = await agent<Order>('POST', '/api/v1/shop/orders', { callId: call.id, customerId: 'DEMO-REGULAR', items: [{ sku: 'WOK-01', quantity: 1 }], deliveryMethod: 'standard', paymentMethod: 'cod' });
  t.match(made, { status: 201, body: { agent: '1001', programme: 'demo-shopping-hour', totalFen: 29900, items: [{ promotionId: 'DEMO-WOK-PRICE' }, { promotionId: 'DEMO-WOK-GIFT' }] } },
    'the programme\'s promotions applied to an order entered in wrap-up');
});
