/**
 * The products step's plan (products.ts): the CRM's answer checked at the edge, names from the
 * recorded prompt or the run-time prompts, descriptions rendered with a fallback to the name, a
 * product that cannot be named left out, the price with the promotion, bounded variables; and the
 * CRM's failures as the step's failed branch.
 */
import t from 'tap';
import { checkQueryResult, type CrmQuery, type QueryCall } from './query.ts';
import { planProducts, type ProductsStep, type RuntimePromptPort } from './products.ts';
import type { QueryProduct, QueryRequest } from '../../crm-adapter/index.ts';

const step: ProductsStep = {
  type: 'products', max: 3, into: 'product', timeoutMs: 500, menuTimeoutMs: 5000, retries: 1, invalidPrompts: ['invalid-choice'],
  agent: { type: 'queue', queue: 'orders', vipQueue: null }, notFoundPrompts: ['query-not-found'], notFound: null,
  failedPrompts: ['query-failed'], failed: { type: 'queue', queue: 'orders', vipQueue: null },
};
const call: QueryCall = { callId: 'c1', caller: '+861390000001', dialled: '312', programme: 'p1', airing: null, customerId: null, vars: {}, lang: 'zh' };
const steamer: QueryProduct = { sku: 'STEAMER', name: '竹蒸笼', description: '三层竹蒸笼。', priceFen: 12900, offerPriceFen: 9900, gift: 'APRON', giftName: '围裙' };
const wok: QueryProduct = { sku: 'WOK-01', name: '铸铁炒锅', description: '铸铁炒锅。', priceFen: 39900, offerPriceFen: null, gift: null, giftName: null };

/** A CRM answering `products` (through the edge check, as the real runner does) and recording what it was asked. */
function crm(products: unknown): CrmQuery & { asked: Omit<QueryRequest, 'signal' | 'deadlineMs'>[] } {
  const asked: Omit<QueryRequest, 'signal' | 'deadlineMs'>[] = [];
  return {
    asked,
    query: (ask) => {
      asked.push(ask);
      const result = checkQueryResult({ kind: 'products', products }, 'products');
      return Promise.resolve(result === undefined ? { ok: false, outcome: 'invalid' } : { ok: true, result });
    },
  };
}

/** Run-time prompts that name each text `tts/<text>`, failing those in `fail`. */
function speaker(fail: string[] = []): RuntimePromptPort & { said: string[] } {
  const said: string[] = [];
  return {
    said,
    render: (text, lang) => {
      said.push(`${lang}:${text}`);
      return Promise.resolve(fail.includes(text) ? { ok: false, code: 'MEDIA_ERR_TTS_TIMEOUT', reason: 'late' } : { ok: true, name: `tts/${text}` });
    },
  };
}

const recorded = (names: string[]) => (name: string): boolean => names.includes(name);

t.test('the list and each product: recorded names first, run-time prompts for the rest, prices and the gift', async (t) => {
  const port = crm([steamer, wok]);
  const tts = speaker();
  const plan = await planProducts(port, tts, step, call, recorded(['zh/products/wok-01', 'zh/products/apron']));
  t.match(port.asked, [{ kind: 'products', language: 'zh', limit: 3, programme: 'p1' }], 'asked for the programme, in the caller\'s language');
  t.ok(plan.ok);
  if (!plan.ok) return;
  t.same(plan.list, [
    'zh/products-intro',
    'zh/product-for', 'tts/竹蒸笼', 'zh/product-press', 'zh/numbers/1',
    'zh/product-for', 'zh/products/wok-01', 'zh/product-press', 'zh/numbers/2',
  ]);
  t.same(plan.choices[0]?.detail, [
    'tts/三层竹蒸笼。', 'zh/product-price', 'zh/numbers/1', 'zh/numbers/hundred', 'zh/numbers/2', 'zh/numbers/10', 'zh/numbers/9', 'zh/money/yuan',
    'zh/promotion-price', 'zh/numbers/9', 'zh/numbers/10', 'zh/numbers/9', 'zh/money/yuan', 'zh/promotion-gift', 'zh/products/apron', 'zh/product-agent',
  ], '三层竹蒸笼 价格为一百二十九元 特价九十九元 另赠围裙');
  t.same(plan.choices[0]?.vars, { productSku: 'STEAMER', productName: '竹蒸笼', productPriceFen: '9900' });
  t.same(plan.choices[1]?.vars, { productSku: 'WOK-01', productName: '铸铁炒锅', productPriceFen: '39900' });
  t.same(plan.vars, { productResult: 'found', productCount: '2' });
  t.notOk(tts.said.includes('zh:铸铁炒锅'), 'a recorded name is not rendered');
});

t.test('render failures fall back: a description to the name; a product with no name prompt is left out', async (t) => {
  const plan = await planProducts(crm([steamer, wok]), speaker(['竹蒸笼', '铸铁炒锅。']), step, call, recorded(['zh/products/wok-01']));
  t.ok(plan.ok);
  if (!plan.ok) return;
  t.equal(plan.choices.length, 1, 'the steamer cannot be named: not offered');
  t.equal(plan.choices[0]?.sku, 'WOK-01');
  t.equal(plan.choices[0]?.digit, '1');
  t.equal(plan.choices[0]?.detail[0], 'zh/products/wok-01', 'no description: the name is said');
  const none = await planProducts(crm([steamer]), undefined, step, call, recorded([]));
  t.match(none, { ok: false, prompts: ['query-failed'], action: step.failed }, 'nothing can be named: the failed branch');
});

t.test('the CRM: nothing, a malformed answer, no query port, a throwing port', async (t) => {
  t.match(await planProducts(crm([]), speaker(), step, call, recorded([])), { ok: false, vars: { productResult: 'notFound' }, prompts: ['query-not-found'], action: null });
  const tooMany = Array.from({ length: 10 }, (_, i) => ({ ...wok, sku: `P${i}` }));
  t.match(await planProducts(crm(tooMany), speaker(), step, call, recorded([])), { ok: false, vars: { productResult: 'invalid' }, action: step.failed });
  t.match(await planProducts(crm([{ ...wok, priceFen: -1 }]), speaker(), step, call, recorded([])), { ok: false, vars: { productResult: 'invalid' } });
  t.match(await planProducts(crm([{ ...wok, sku: '../etc' }]), speaker(), step, call, recorded([])), { ok: false, vars: { productResult: 'invalid' } });
  t.match(await planProducts(undefined, speaker(), step, call, recorded([])), { ok: false, vars: { productResult: 'unsupported' } });
  const throwing: CrmQuery = { query: () => Promise.reject(new Error('boom')) };
  t.match(await planProducts(throwing, speaker(), step, call, recorded([])), { ok: false, vars: { productResult: 'error' } });
});

t.test('catalog text in variables: one line, no controls, at most 64 characters', async (t) => {
  const hostile = { ...wok, name: `Wok\r\nX-Evil: 1\u202e${'x'.repeat(100)}` };
  const plan = await planProducts(crm([hostile]), speaker(), { ...step, max: 1 }, { ...call, lang: 'en' }, recorded(['en/products/wok-01']));
  t.ok(plan.ok);
  if (!plan.ok) return;
  const name = plan.choices[0]?.vars['productName'] ?? '';
  t.notMatch(name, /[\r\n\u202e]/u);
  t.ok(Array.from(name).length <= 64);
  t.equal(name.slice(0, 13), 'Wok X-Evil: 1');
});
