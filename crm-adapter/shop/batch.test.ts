/**
 * Batch printing (docs/shop.md, Batch printing) on both stores (SQLite temp file, throwaway
 * PostgreSQL): a day's reviewed orders of two couriers, the batch of one courier rendered as one
 * PDF (`pdfinfo` counts its pages, `pdftotext` reads each page), the other courier's orders, an
 * order of another day and orders not reviewed absent; the print recorded in each order's history,
 * a reprint keeping its waybill, the parcel shipped under the printed waybill, an edit voiding it,
 * the cap refusing a batch and recording nothing.
 */
import t, { type Test } from 'tap';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePostgres } from '../../engine/testing/postgres.ts';
import { renderShippingDocuments, ShopStore, type DeliveryMethod, type PaymentMethod, type PrintBatch, type ShopStoreConfig } from './index.ts';

const SENDER = { name: '东方购物', phone: '4008000000', address: '上海市徐汇区宜山路1号' };
/** 2026-12-07 00:00 UTC: the day printed. */
const DAY = Date.UTC(2026, 11, 7);
const NEXT = DAY + 86_400_000;
const RECIPIENTS = ['王丽', '李娜', '张伟', '刘洋', '陈静', '杨帆', '赵敏', '黄磊', '周杰'];

async function suite(t: Test, cfg: ShopStoreConfig, out: string): Promise<void> {
  let clock = DAY + 2 * 3_600_000;
  const store = await ShopStore.open(cfg, { now: () => clock });
  t.teardown(() => store.close());
  await store.upsertProducts([{ sku: 'WOK', nameZh: '不粘炒锅', nameEn: 'Wok', priceFen: 39900, stock: 100, ivrZh: '', ivrEn: '', active: true }]);
  const made = await store.createCustomer({ name: '王丽', numbers: ['+8613800000001'] });
  if (!made.ok) throw new Error(made.reason);
  let n = 0;
  /** An order entered at `at` by the seeded rules' couriers: express → SF, standard and post with cash → EMS. */
  const order = async (at: number, deliveryMethod: DeliveryMethod, paymentMethod: PaymentMethod, review = true): Promise<{ id: string; recipient: string }> => {
    clock = at;
    const recipient = RECIPIENTS[n++ % RECIPIENTS.length]!;
    const address = { recipient, phone: `1380000000${n}`, region: '上海市', city: '浦东新区', line: `世纪大道${n}号`, postcode: '200120' };
    const r = await store.createOrder({ customerId: made.value.id, items: [{ sku: 'WOK', quantity: 1 }], deliveryMethod, paymentMethod, address, programme: null, airing: null, callId: null, agent: null }, 'user:boss');
    if (!r.ok) throw new Error(r.reason);
    if (review && !(await store.transition(r.value.id, 'review', 'user:boss', 'staff', null)).ok) throw new Error('review');
    return { id: r.value.id, recipient };
  };
  const sf = [await order(DAY + 3_600_000, 'express', 'card'), await order(DAY + 5 * 3_600_000, 'express', 'cod'), await order(NEXT - 1, 'express', 'card')];
  const ems = [await order(DAY + 3_600_000, 'standard', 'card'), await order(DAY + 4 * 3_600_000, 'post', 'cod')];
  const unreviewed = await order(DAY + 6 * 3_600_000, 'express', 'card', false);
  const shippedBefore = await order(DAY + 7 * 3_600_000, 'express', 'card');
  t.ok((await store.transition(shippedBefore.id, 'ship', 'user:boss', 'staff', null)).ok, 'one SF order shipped already');
  const nextDay = await order(NEXT, 'express', 'card');
  const before = await order(DAY - 1, 'express', 'card');
  clock = NEXT + 3_600_000;

  const pdfOf = async (b: PrintBatch, name: string): Promise<{ pages: number; text: (page: number) => string; all: string }> => {
    const file = path.join(out, `${cfg.kind}-${name}.pdf`);
    writeFileSync(file, await renderShippingDocuments(b.pages.map((p) => ({ ...p, courier: b.courier })), { sender: SENDER }, { title: name, subject: name }));
    const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
    const pages = Number(/^Pages:\s+(\d+)/m.exec(info)?.[1]);
    const text = (page: number): string => execFileSync('pdftotext', ['-layout', '-f', String(page), '-l', String(page), file, '-'], { encoding: 'utf8' });
    return { pages, text, all: execFileSync('pdftotext', ['-layout', file, '-'], { encoding: 'utf8' }) };
  };

  const first = await store.printBatch('SF', DAY, NEXT, 'user:boss', 500);
  if (!first.ok) throw new Error(first.reason);
  const want = [...sf].sort((a, b) => (a.id < b.id ? -1 : 1));
  t.same(first.value.pages.map((p) => p.order.id), want.map((o) => o.id), 'the reviewed SF orders of the day, by order number');
  t.equal(first.value.reprints, 0);
  const waybills = first.value.pages.map((p) => p.shipment.waybill);
  t.equal(new Set(waybills).size, 3, 'a waybill each');
  for (const w of waybills) t.match(w, /^SF\d{10}$/, 'numbered by SF\'s counter');
  t.same(first.value.pages.map((p) => p.shipment.codFen), want.map((o) => (o.id === sf[1]!.id ? 39900 : 0)), 'cash to collect on the COD order only');
  const doc = await pdfOf(first.value, 'sf');
  t.equal(doc.pages, 3, 'pdfinfo: one page per order');
  for (const [i, o] of want.entries()) {
    const page = doc.text(i + 1);
    for (const s of [o.id, o.recipient, waybills[i]!, '顺丰速运', 'SF Express Waybill']) t.ok(page.includes(s), `page ${i + 1} has ${s}`);
  }
  for (const o of [...ems, unreviewed, shippedBefore, nextDay, before]) t.notOk(doc.all.includes(o.id), `${o.id} (another courier, not reviewed, shipped or another day) is not in the batch`);
  for (const o of sf) {
    t.match((await store.orderHistory(o.id)).at(-1), { action: 'print', from: 'reviewed', to: 'reviewed', actor: 'user:boss', reason: /^print SF SF\d{10}$/, at: NEXT + 3_600_000 }, 'the print in the history');
    t.equal((await store.getOrder(o.id))?.status, 'reviewed', 'printing changes no status');
  }

  const emsBatch = await store.printBatch('EMS', DAY, NEXT, 'user:boss', 500);
  if (!emsBatch.ok) throw new Error(emsBatch.reason);
  t.same(emsBatch.value.pages.map((p) => p.order.id), ems.map((o) => o.id).sort(), 'EMS: the standard order and the COD parcel by post');
  t.equal((await pdfOf(emsBatch.value, 'ems')).text(1).includes('国内特快专递详情单'), true, 'in EMS\'s layout');

  clock += 60_000;
  const again = await store.printBatch('SF', DAY, NEXT, 'user:desk', 500);
  t.match(again, { ok: true, value: { reprints: 3 } });
  if (!again.ok) throw new Error(again.reason);
  t.same(again.value.pages.map((p) => p.shipment.waybill), waybills, 'a reprint keeps the waybills');
  t.same((await store.orderHistory(want[0]!.id)).filter((h) => h.action === 'print').map((h) => [h.actor, h.reason]), [
    ['user:boss', `print SF ${waybills[0]}`], ['user:desk', `reprint SF ${waybills[0]}`],
  ], 'both prints visible: who, and that the second was a reprint');

  t.ok((await store.transition(want[0]!.id, 'ship', 'user:boss', 'staff', null)).ok);
  t.equal((await store.shipments(want[0]!.id))[0]?.waybill, waybills[0], 'shipped under the printed waybill');
  const edited = await store.editOrder(want[1]!.id, { specialRequests: '请放门口' }, 'user:boss', 'staff', 'note');
  t.match(edited, { ok: true, value: { status: 'ordered' } }, 'an edit sends it back to review');
  t.ok((await store.transition(want[1]!.id, 'review', 'user:boss', 'staff', null)).ok);
  const third = await store.printBatch('SF', DAY, NEXT, 'user:boss', 500);
  if (!third.ok) throw new Error(third.reason);
  t.same(third.value.pages.map((p) => p.order.id), [want[1]!.id, want[2]!.id], 'the shipped order left the batch');
  t.not(third.value.pages[0]!.shipment.waybill, waybills[1], 'the edited order\'s old paper is void: a new waybill');
  t.equal(third.value.pages[1]!.shipment.waybill, waybills[2]);
  t.equal(third.value.reprints, 1);

  const historyLength = (await store.orderHistory(ems[0]!.id)).length;
  t.match(await store.printBatch('EMS', DAY, NEXT, 'user:boss', 1), { ok: false, code: 'SHOP_ERR_BATCH_TOO_LARGE', reason: /2 reviewed orders for EMS/ }, 'past the cap: refused');
  t.equal((await store.orderHistory(ems[0]!.id)).length, historyLength, 'a refused batch records nothing');
  t.match(await store.printBatch('NOPE', DAY, NEXT, 'user:boss', 500), { ok: false, code: 'SHOP_ERR_NOT_FOUND' });
  t.match(await store.printBatch('SF', NEXT, NEXT + 86_400_000, 'user:boss', 500), { ok: true, value: { pages: [{ order: { id: nextDay.id } }] } }, 'the next day: its own order');
  t.match(await store.printBatch('POST', DAY, NEXT, 'user:boss', 500), { ok: true, value: { pages: [] } }, 'a courier with nothing that day: an empty batch');
}

for (const kind of ['sqlite', 'postgres'] as const) {
  t.test(kind, async (t) => {
    const out = mkdtempSync(path.join(tmpdir(), 'onair-batch-'));
    t.teardown(() => rmSync(out, { recursive: true, force: true }));
    if (kind === 'sqlite') return suite(t, { kind, path: path.join(out, 'shop.db') }, out);
    const cluster = await requirePostgres(t);
    if (cluster !== undefined) await suite(t, { kind, url: await cluster.createDatabase('batch1') }, out);
  });
}
