/**
 * Couriers and shipping documents on both stores (SQLite temp file, throwaway PostgreSQL): the
 * courier rules as data choose the courier when a reviewed order ships, a waybill is numbered in
 * the same transaction, and the courier's PDF carries order number, waybill, courier and the
 * Chinese name and address as text (`pdftotext`) and renders (`pdftoppm`).
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { chooseCourier, parseLogisticsCsv, renderShippingDocument, ShopStore, type Address, type Courier, type ShopStoreConfig } from './index.ts';

const ADDRESS: Address = { recipient: '王丽', phone: '13800000001', region: '上海市', city: '浦东新区', line: '世纪大道100号', postcode: '200120' };
const SENDER = { name: '东方购物', phone: '4008000000', address: '上海市徐汇区宜山路1号' };
const T0 = Date.UTC(2026, 11, 7, 2, 0, 0);

t.test('chooseCourier: first matching rule in priority order; cash on delivery only by a courier that collects', async (t) => {
  const c = (id: string, cod: boolean, active = true): Courier => ({ id, nameZh: id, nameEn: id, layout: 'ems', waybillPrefix: id, cod, active });
  const couriers = new Map([['A', c('A', false)], ['B', c('B', true)], ['OFF', c('OFF', true, false)]]);
  const rules = [
    { id: 'off', priority: 1, courierId: 'OFF', region: '*', deliveryMethod: '*' as const },
    { id: 'sh', priority: 5, courierId: 'A', region: '上海市', deliveryMethod: 'standard' as const },
    { id: 'any', priority: 9, courierId: 'B', region: '*', deliveryMethod: '*' as const },
  ];
  t.equal(chooseCourier(rules, couriers, { region: '上海市', deliveryMethod: 'standard', paymentMethod: 'card' })?.id, 'A', 'region + method rule; the inactive courier skipped');
  t.equal(chooseCourier(rules, couriers, { region: '上海市', deliveryMethod: 'standard', paymentMethod: 'cod' })?.id, 'B', 'A collects no cash: next rule');
  t.equal(chooseCourier(rules, couriers, { region: '北京市', deliveryMethod: 'standard', paymentMethod: 'card' })?.id, 'B', 'another region: the catch-all');
  t.equal(chooseCourier(rules.slice(0, 2), couriers, { region: '北京市', deliveryMethod: 'post', paymentMethod: 'card' }), null, 'no rule: null');
});

async function suite(t: Test, cfg: ShopStoreConfig, out: string): Promise<void> {
  const store = await ShopStore.open(cfg, { now: () => T0 });
  t.teardown(() => store.close());
  await store.upsertProducts([{ sku: 'WOK', nameZh: '不粘炒锅', nameEn: 'Wok', priceFen: 39900, stock: 10, ivrZh: '', ivrEn: '', active: true }]);
  const made = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001'] });
  if (!made.ok) throw new Error(made.reason);
  const order = async (deliveryMethod: 'standard' | 'express' | 'post', paymentMethod: 'cod' | 'card') => {
    const r = await store.createOrder({ customerId: made.value.id, items: [{ sku: 'WOK', quantity: 1 }], deliveryMethod, paymentMethod, address: ADDRESS, programme: null, airing: null, callId: null, agent: null }, 'user:boss');
    if (!r.ok) throw new Error(r.reason);
    const rv = await store.transition(r.value.id, 'review', 'user:boss', 'staff', null);
    if (!rv.ok) throw new Error(rv.reason);
    return r.value.id;
  };

  t.test('the seeded rules: express by SF, post by China Post, cod by post falls to EMS', async (t) => {
    t.same((await store.couriers()).map((c) => c.id), ['EMS', 'POST', 'SF']);
    for (const [method, pay, courier] of [['express', 'card', 'SF'], ['post', 'card', 'POST'], ['post', 'cod', 'EMS'], ['standard', 'card', 'EMS']] as const) {
      const id = await order(method, pay);
      const shipped = await store.transition(id, 'ship', 'user:boss', 'staff', null);
      t.match(shipped, { ok: true, value: { status: 'shipped' } });
      const [s] = await store.shipments(id);
      t.equal(s?.courierId, courier, `${method}/${pay} → ${courier}`);
      t.match(s?.waybill, new RegExp(`^${(await store.getCourier(courier))!.waybillPrefix}\\d{10}$`), 'waybill: the courier prefix and its own counter');
      t.equal(s?.codFen, pay === 'cod' ? 39900 : 0, 'cash to collect');
      t.equal((await store.shipmentByWaybill(s!.waybill))?.orderId, id);
      t.same((await store.orderHistory(id)).at(-1), { seq: 3, action: 'ship', from: 'reviewed', to: 'shipped', actor: 'user:boss', reason: null, at: T0 }, 'the ship step in the history');
    }
  });

  t.test('rules are data: with no rule serving the order, shipping is refused and nothing changes', async (t) => {
    const id = await order('express', 'card');
    const r = await store.setCourierRules([{ id: 'post', priority: 1, courierId: 'POST', region: '*', deliveryMethod: 'post' }]);
    t.ok(r.ok);
    t.match(await store.transition(id, 'ship', 'user:boss', 'staff', null), { ok: false, code: 'SHOP_ERR_NO_COURIER' });
    t.equal((await store.getOrder(id))?.status, 'reviewed', 'still reviewed');
    t.same(await store.shipments(id), [], 'no shipment');
    t.match(await store.setCourierRules([{ id: 'x', priority: 1, courierId: 'NOPE', region: '*', deliveryMethod: '*' }]), { ok: false, code: 'SHOP_ERR_INVALID' });
    t.equal((await store.courierRules()).length, 1, 'a refused rule set leaves the old one');
    await store.setCourierRules([{ id: 'sh', priority: 1, courierId: 'SF', region: '上海市', deliveryMethod: '*' }]);
    t.match(await store.transition(id, 'ship', 'user:boss', 'staff', null), { ok: true });
    t.equal((await store.shipments(id))[0]?.courierId, 'SF', 'the region rule');
  });

  t.test('logistics CSV: line errors reported, valid lines applied in one transaction, re-import changes nothing, COD reconciled', async (t) => {
    await store.setCourierRules([{ id: 'default', priority: 100, courierId: 'EMS', region: '*', deliveryMethod: '*' }]);
    const ids = [await order('standard', 'cod'), await order('standard', 'cod'), await order('standard', 'card')];
    for (const id of ids) await store.transition(id, 'ship', 'user:boss', 'staff', null);
    const wb = await Promise.all(ids.map(async (id) => (await store.shipments(id))[0]!.waybill));
    const strikes0 = (await store.getCustomer(made.value.id))!.strikes;
    const stock0 = (await store.getProduct('WOK'))!.stock;
    const csv = [
      'waybill,status,time,reason,collected_fen',
      `${wb[0]},delivered,2026-12-08T03:00:00Z,,39000`,
      `${wb[1]},refused,2026-12-08T04:00:00+08:00,"not home, called twice",`,
      `${wb[2]},returned,1796702400000,damaged,`,
      'NOPE1,delivered,2026-12-08T03:00:00Z,,',
      `${wb[0]},lost,2026-12-08T03:00:00Z,,`,
      `${wb[0]},delivered,2026-12-08 03:00:00,,`,
      `${wb[2]},delivered,2026-12-08T05:00:00Z,,`,
    ].join('\r\n');
    const parsed = parseLogisticsCsv(csv);
    if (!parsed.ok) throw new Error(parsed.reason);
    t.same(parsed.errors.map((e) => e.line), [6, 7], 'bad status and a time without offset refused by line');
    const r = await store.applyLogistics(parsed.events, 'courier:EMS');
    t.match(r, { ok: true, value: { applied: 3, duplicates: 0, errors: [{ line: 5, reason: /no waybill NOPE1/ }, { line: 8, reason: /is returned, cannot be delivered/ }] } });
    t.same(await Promise.all(ids.map(async (id) => (await store.getOrder(id))!.status)), ['delivered', 'refused', 'returned']);
    t.equal((await store.getCustomer(made.value.id))!.strikes, strikes0 + 1, 'the refusal is a strike');
    t.equal((await store.getProduct('WOK'))!.stock, stock0 + 1, 'the returned parcel restocked');
    t.match((await store.orderHistory(ids[2]!)).slice(-2), [{ action: 'refuse', actor: 'courier:EMS', reason: /damaged/ }, { action: 'return', to: 'returned' }]);
    t.match(await store.applyLogistics(parsed.events, 'courier:EMS'), { ok: true, value: { applied: 0, duplicates: 3 } }, 're-import: nothing applied twice');
    t.equal((await store.getCustomer(made.value.id))!.strikes, strikes0 + 1, 'no second strike');
    t.match(await store.transition(ids[0]!, 'settle', 'user:acc', 'staff', null), { ok: true, value: { status: 'settled' } }, 'delivered: settlement eligible');
    t.same(await store.codReconciliation(Date.UTC(2026, 11, 8), Date.UTC(2026, 11, 9)), [{ courierId: 'EMS', parcels: 1, expectedFen: 39900, collectedFen: 39000, differenceFen: -900 }], 'EMS owes 9 yuan');
    t.match(parseLogisticsCsv('waybill,when\n'), { ok: false }, 'wrong header refused');
    t.match(parseLogisticsCsv(`waybill,status,time,reason\n${'x'.repeat(2 * 1024 * 1024)}`), { ok: false, reason: /larger/ }, 'bounded size');
  });

  t.test('the shipping document: text extracted, page rendered; a missing font refused', async (t) => {
    const id = await order('standard', 'cod');
    await store.setCourierRules([{ id: 'default', priority: 100, courierId: 'EMS', region: '*', deliveryMethod: '*' }]);
    await store.transition(id, 'ship', 'user:boss', 'staff', null);
    const o = (await store.getOrder(id))!;
    const [s] = await store.shipments(id);
    const courier = (await store.getCourier(s!.courierId))!;
    const pdf = await renderShippingDocument(o, s!, courier, { sender: SENDER });
    t.equal(pdf.subarray(0, 5).toString('latin1'), '%PDF-');
    const file = path.join(out, `${cfg.kind}.pdf`);
    writeFileSync(file, pdf);
    const text = execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' });
    for (const want of [o.id, s!.waybill, '邮政EMS', '王丽', '上海市', '浦东新区', '世纪大道100号', '¥399.00', '东方购物']) t.ok(text.includes(want), `pdftotext finds ${want}`);
    execFileSync('pdftoppm', ['-png', '-r', '60', '-f', '1', '-l', '1', '-singlefile', file, path.join(out, cfg.kind)]);
    t.ok(existsSync(path.join(out, `${cfg.kind}.png`)), 'page 1 rendered');
    await t.rejects(renderShippingDocument(o, s!, courier, { sender: SENDER, fontPath: path.join(out, 'no-such-font.ttc') }), { code: 'SHOP_ERR_FONT' });
  });
}

const tmp = (t: Test): string => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-ship-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('sqlite', async (t) => {
  const dir = tmp(t);
  await suite(t, { kind: 'sqlite', path: path.join(dir, 'shop.db') }, dir);
});

t.test('postgres', async (t) => {
  const cluster = await requirePostgres(t);
  if (cluster === undefined) return;
  await suite(t, { kind: 'postgres', url: await cluster.createDatabase('ship1') }, tmp(t));
});
