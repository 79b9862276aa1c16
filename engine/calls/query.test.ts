/**
 * The IVR's CRM query step (issue 17, self-service): the runner's deadline and edge checks on the
 * adapter's answer, the readout built from the typed result, and the step in call control (real
 * UA, ACD, store; fake media): a found order is read out and its variables reach the agent's
 * INVITE and the CDR (with the `played` trace); not found, a timeout, an error, a malformed answer
 * or an adapter without query take the step's branches — the caller is never left waiting.
 */
import t from 'tap';
import { CallRig } from './testing.ts';
import { CrmQueryRunner, checkQueryResult, promptChecker, queryVariables, readout, runQueryStep, type CrmQuery, type QueryAsk, type QueryStep } from './query.ts';
import type { Flow, FlowStep } from './types.ts';
import type { Cdr, QueryRequest, QueryResult } from '../../crm-adapter/index.ts';

const quiet = { warn: () => {} };
const order: QueryResult = { kind: 'orderStatus', orderNumber: 'SO20261207000001', status: 'shipped', courier: 'SF', waybill: 'SF123', amountFen: 29950 };
const smsQueued: QueryResult = { kind: 'orderSms', orderNumber: 'SO20261207000001' };
const promo: QueryResult = { kind: 'promotion', product: 'WOK-01', priceFen: 29900, gift: 'APRON', validUntil: Date.UTC(2027, 0, 1) };

const orderStep = (o: Partial<QueryStep> = {}): QueryStep => ({
  type: 'query', kind: 'orderStatus', orderNumberVar: 'orderNumber', verificationVar: null, into: 'order', timeoutMs: 2000, readout: true,
  notFoundPrompts: ['query-not-found'], notFound: null, failedPrompts: ['query-failed'], failed: { type: 'queue', queue: 'orders', vipQueue: null }, ...o,
});

t.test('checkQueryResult: only the typed kinds, bounded fields, no free text', async (t) => {
  t.same(checkQueryResult(order, 'orderStatus'), order);
  t.same(checkQueryResult({ ...order, courier: undefined, waybill: undefined }, 'orderStatus'), { ...order, courier: null, waybill: null }, 'absent optional fields are null');
  t.same(checkQueryResult(promo, 'promotion'), promo);
  t.same(checkQueryResult({ kind: 'notFound' }, 'promotion'), { kind: 'notFound' });
  const bad: [unknown, 'orderStatus' | 'promotion', string][] = [
    [null, 'orderStatus', 'null'], ['shipped', 'orderStatus', 'a string'], [promo, 'orderStatus', 'another kind than asked'],
    [{ ...order, status: 'on its way to you, dear customer' }, 'orderStatus', 'a status outside the fixed set'],
    [{ ...order, amountFen: -1 }, 'orderStatus', 'a negative amount'], [{ ...order, amountFen: 1.5 }, 'orderStatus', 'a fractional amount'],
    [{ ...order, amountFen: 1e12 }, 'orderStatus', 'an amount beyond the readout'], [{ ...order, orderNumber: '../../x' }, 'orderStatus', 'a path in the order number'],
    [{ ...promo, product: '../en/goodbye' }, 'promotion', 'a product id that would be a prompt path'], [{ ...promo, gift: 'a b' }, 'promotion', 'a bad gift id'],
    [{ ...promo, validUntil: Number.NaN }, 'promotion', 'no validity'],
  ];
  for (const [r, kind, why] of bad) t.equal(checkQueryResult(r, kind), undefined, why);
  t.same(checkQueryResult(smsQueued, 'orderSms'), smsQueued, 'the SMS queued for an order');
  t.equal(checkQueryResult({ kind: 'orderSms', orderNumber: '../x' }, 'orderSms'), undefined, 'a path in its order number');
  t.equal(checkQueryResult(smsQueued, 'orderStatus'), undefined, 'not the kind asked');
});

t.test('readout: the order number digit by digit, the status word, the amount in 元角 / yuan-fen', async (t) => {
  t.same(readout(order, 'zh', () => false), [
    'zh/order-intro', ...'20261207000001'.split('').map((d) => `zh/numbers/${d}`), 'zh/order-status/shipped', 'zh/order-amount',
    'zh/numbers/2', 'zh/numbers/hundred', 'zh/numbers/9', 'zh/numbers/10', 'zh/numbers/9', 'zh/money/yuan', 'zh/numbers/5', 'zh/money/jiao',
  ]);
  t.same(readout(order, 'en', () => false).slice(-7), ['en/numbers/2', 'en/numbers/hundred', 'en/numbers/90', 'en/numbers/9', 'en/money/yuan', 'en/numbers/50', 'en/money/fen']);
  t.same(readout(promo, 'en', () => true), [
    'en/promotion-today', 'en/products/wok-01', 'en/promotion-price', 'en/numbers/2', 'en/numbers/hundred', 'en/numbers/90', 'en/numbers/9', 'en/money/yuan',
    'en/promotion-gift', 'en/products/apron',
  ]);
  t.same(readout(promo, 'en', () => false), ['en/promotion-today', 'en/promotion-price', 'en/numbers/2', 'en/numbers/hundred', 'en/numbers/90', 'en/numbers/9', 'en/money/yuan'],
    'a product the prompt set cannot name is left out, not guessed');
  t.same(queryVariables('order', 'found', order), {
    orderResult: 'found', orderNumber: 'SO20261207000001', orderStatus: 'shipped', orderAmountFen: '29950', orderCourier: 'SF', orderWaybill: 'SF123',
  });
  t.same(queryVariables('promo', 'timeout', null), { promoResult: 'timeout' });
  t.same(readout(smsQueued, 'zh', () => false), ['zh/order-sms-sent'], 'the SMS: "we are sending it"');
  t.same(queryVariables('orderSms', 'found', smsQueued), { orderSmsResult: 'found', orderSmsNumber: 'SO20261207000001' });
});

t.test('promptChecker asks the file system once per name', async (t) => {
  const asked: string[] = [];
  const has = promptChecker('/prompts', (f) => { asked.push(f); return f.endsWith('wok-01.wav'); });
  t.equal(has('zh/products/wok-01'), true);
  t.equal(has('zh/products/wok-01'), true);
  t.equal(has('zh/products/pan'), false);
  t.same(asked, ['/prompts/zh/products/wok-01.wav', '/prompts/zh/products/pan.wav']);
});

t.test('the runner: the deadline, an error, a malformed answer, no query at all', async (t) => {
  const seen: string[] = [];
  const metrics = { crmQuery: (kind: string, _ms: number, outcome: string) => { seen.push(`${kind} ${outcome}`); } };
  const ask = { kind: 'orderStatus' as const, orderNumber: '1', verification: null, callId: 'c1', caller: '+861', dialled: '100', programme: null, airing: null, customerId: null };
  let signal: AbortSignal | undefined;
  const never = new CrmQueryRunner({ adapter: { query: (req: QueryRequest) => { signal = req.signal; return new Promise<QueryResult>(() => {}); } }, metrics, log: quiet });
  t.same(await never.query(ask, 20), { ok: false, outcome: 'timeout' }, 'a CRM that never answers: timeout at the deadline');
  t.equal(signal?.aborted, true, 'and its work is aborted');
  const throws = new CrmQueryRunner({ adapter: { query: async () => { throw new Error('db down'); } }, metrics, log: quiet });
  t.same(await throws.query(ask, 1000), { ok: false, outcome: 'error' });
  const junk = new CrmQueryRunner({ adapter: { query: async () => ({ kind: 'orderStatus', text: 'Your parcel is with our best courier' }) as unknown as QueryResult }, metrics, log: quiet });
  t.same(await junk.query(ask, 1000), { ok: false, outcome: 'invalid' });
  const v1 = new CrmQueryRunner({ adapter: {}, metrics, log: quiet });
  t.same(await v1.query(ask, 1000), { ok: false, outcome: 'unsupported' }, 'a v1 adapter without query');
  const ok = new CrmQueryRunner({ adapter: { query: async (req) => (req.kind === 'orderStatus' && req.orderNumber === '1' ? order : { kind: 'notFound' }) }, metrics, log: quiet });
  t.same(await ok.query(ask, 1000), { ok: true, result: order });
  t.same(seen, ['orderStatus timeout', 'orderStatus error', 'orderStatus invalid', 'orderStatus unsupported', 'orderStatus found']);
});

t.test('runQueryStep: no order number keyed asks nothing; verification is sent; a port that throws is a failure', async (t) => {
  const asked: unknown[] = [];
  const port: CrmQuery = { query: async (a) => { asked.push(a); return { ok: true, result: order }; } };
  const call = { callId: 'c1', caller: '+861', dialled: '100', programme: 'p', airing: null, customerId: 'C1', vars: {}, lang: 'en' as const };
  const none = await runQueryStep(port, orderStep(), call, () => false);
  t.same(none, { vars: { orderResult: 'notFound' }, prompts: ['query-not-found'], action: null, served: false });
  t.equal(asked.length, 0);
  await runQueryStep(port, orderStep({ verificationVar: 'pin' }), { ...call, vars: { orderNumber: '20261207000001', pin: '0004' } }, () => false);
  t.match(asked[0], { kind: 'orderStatus', orderNumber: '20261207000001', verification: '0004', caller: '+861', programme: 'p', customerId: 'C1' });
  const broken: CrmQuery = { query: () => Promise.reject(new Error('bug')) };
  t.same(await runQueryStep(broken, orderStep(), { ...call, vars: { orderNumber: '1' } }, () => false),
    { vars: { orderResult: 'error' }, prompts: ['query-failed'], action: { type: 'queue', queue: 'orders', vipQueue: null }, served: false });
  t.same((await runQueryStep(undefined, orderStep(), { ...call, vars: { orderNumber: '1' } }, () => false)).vars, { orderResult: 'unsupported' });
});

// ---- the step in call control ---------------------------------------------------------------

const collect: FlowStep = {
  type: 'collect', into: 'orderNumber', prompts: ['enter-order'], minDigits: 4, maxDigits: 16, terminator: '#',
  firstDigitTimeoutMs: 8000, interDigitTimeoutMs: 3000, retries: 0, invalidPrompts: [], pattern: null,
};
const hangup: FlowStep = { type: 'hangup', prompts: ['goodbye'] };

function rig(tt: { teardown(fn: () => unknown): void }, steps: FlowStep[], query: CrmQuery | undefined): CallRig {
  const main: Flow = { id: 'main', steps };
  const r = new CallRig({ settings: { flows: { main } }, ...(query ? { query } : {}), hasPrompt: () => true });
  tt.teardown(() => r.close());
  return r;
}

async function cdrOf(r: CallRig): Promise<Cdr | undefined> {
  const callId = r.of('call.arrived')[0]!.callId;
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  return item?.kind === 'cdr' ? item.payload : undefined;
}

/** Key `digits` + # into the collect step of a call just made. */
async function keyOrder(r: CallRig, digits: string): Promise<string> {
  r.invite();
  await r.settle();
  const leg = r.callerLeg(0);
  for (const d of `${digits}#`) r.media.digit(leg, d);
  await r.settle();
  return leg;
}

t.test('a found order is read out, then the flow goes on; its variables reach the agent and the CDR, which lists what was played', async (t) => {
  const asked: unknown[] = [];
  const r = rig(t, [collect, orderStep(), { type: 'queue', queue: 'orders', vipQueue: null }], {
    query: async (a) => { asked.push(a); return { ok: true, result: order }; },
  });
  const phone = r.agent('a1', '2001', 5070);
  const leg = await keyOrder(r, '20261207000001');
  t.match(asked[0], { kind: 'orderStatus', orderNumber: '20261207000001', programme: 'morning-show', airing: 'air-1' });
  const heard = r.media.lastPrompts(leg);
  t.same(heard, readout(order, 'en', () => true), 'the readout of the answer');
  t.equal(r.agentInvites().length, 0, 'not queued before the readout ends');
  r.media.done(leg);
  await r.settle();
  const invite = r.agentInvites()[0];
  t.equal(invite?.headers.get('X-Onair-Var-orderStatus'), 'shipped', 'the agent sees what the caller was told');
  t.equal(invite?.headers.get('X-Onair-Var-orderWaybill'), 'SF123');
  r.phoneAnswers(invite!, phone);
  await r.settle();
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  await r.advance(5000);
  const cdr = await cdrOf(r);
  t.match(cdr?.variables, { orderNumber: 'SO20261207000001', orderResult: 'found', orderStatus: 'shipped', orderAmountFen: '29950' });
  t.same(cdr?.played?.slice(0, 1 + heard.length), ['en/enter-order', ...heard], 'the CDR says what the caller heard, in order');
});

t.test('the SMS offer after the readout: 1 asks an orderSms query for the order keyed, says it is being sent, completed_ivr; no digit, no SMS', async (t) => {
  const offer: FlowStep = { type: 'menu', prompts: ['order-sms-offer'], options: { 1: { type: 'flow', flow: 'order-sms' } }, timeoutMs: 5000, retries: 0, invalidPrompts: [] };
  const flows = {
    main: { id: 'main', steps: [collect, orderStep(), offer, hangup] },
    'order-sms': { id: 'order-sms', steps: [orderStep({ kind: 'orderSms', into: 'orderSms' }), hangup] },
  } satisfies Record<string, Flow>;
  for (const pressed of [true, false]) {
    const asked: QueryAsk[] = [];
    const r = new CallRig({
      settings: { flows }, hasPrompt: () => true,
      query: { query: async (a) => { asked.push(a); return { ok: true, result: a.kind === 'orderSms' ? smsQueued : order }; } },
    });
    t.teardown(() => r.close());
    const leg = await keyOrder(r, '20261207000001');
    r.media.done(leg);
    await r.settle();
    t.same(r.media.lastPrompts(leg), ['en/order-sms-offer'], 'after the readout: press 1 to receive this by SMS');
    if (pressed) {
      r.media.digit(leg, '1');
      await r.settle();
      t.match(asked, [{ kind: 'orderStatus' }, { kind: 'orderSms', orderNumber: '20261207000001', verification: null, caller: r.of('call.arrived')[0]!.caller }], 'the same order, the same rule');
      t.same(r.media.lastPrompts(leg), ['en/order-sms-sent']);
      r.media.done(leg);
      await r.settle();
    } else {
      r.media.done(leg);
      await r.settle();
      await r.advance(5100);
      t.equal(asked.length, 1, 'no digit: nothing sent');
    }
    t.same(r.media.lastPrompts(leg), ['en/goodbye']);
    r.media.done(leg);
    await r.settle();
    await r.advance(1000);
    const cdr = await cdrOf(r);
    t.equal(cdr?.outcome, 'completed_ivr');
    if (pressed) {
      t.match(cdr?.variables, { orderResult: 'found', orderSmsResult: 'found', orderSmsNumber: 'SO20261207000001' });
      t.same(cdr?.played?.slice(-3), ['en/order-sms-offer', 'en/order-sms-sent', 'en/goodbye'], 'what the caller heard, in order');
    } else t.notOk(cdr?.variables && 'orderSmsResult' in cdr.variables);
  }
});

t.test('not found: the not-found prompt and the next step; the caller is never told about another caller\'s order', async (t) => {
  const r = rig(t, [collect, orderStep(), hangup], { query: async () => ({ ok: true, result: { kind: 'notFound' } }) });
  const leg = await keyOrder(r, '1234');
  t.same(r.media.lastPrompts(leg), ['en/query-not-found']);
  r.media.done(leg);
  await r.settle();
  t.same(r.media.lastPrompts(leg), ['en/goodbye'], 'then the next step');
});

t.test('a CRM that does not answer in time, fails or has no query: the failed prompt, then an agent', async (t) => {
  for (const [why, port] of [
    ['timeout', new CrmQueryRunner({ adapter: { query: () => new Promise<QueryResult>(() => {}) }, log: quiet })],
    ['error', new CrmQueryRunner({ adapter: { query: async () => { throw new Error('CRM down'); } }, log: quiet })],
    ['unsupported', undefined],
  ] as const) {
    const r = rig(t, [collect, orderStep({ timeoutMs: 50 }), hangup], port);
    r.agent('a1', '2001', 5070);
    const leg = await keyOrder(r, '1234');
    // The runner's deadline is a real timer (the CRM is outside the call's clock).
    await new Promise((res) => setTimeout(res, 80));
    await r.settle();
    t.same(r.media.lastPrompts(leg), ['en/query-failed'], `${why}: told, not left in silence`);
    r.media.done(leg);
    await r.settle();
    t.equal(r.agentInvites()[0]?.headers.get('X-Onair-Var-orderResult'), why, `${why}: the agent gets the caller, and sees why`);
  }
});

t.test('a caller who hangs up while the CRM answers: the late answer is dropped', async (t) => {
  let answer: ((a: { ok: true; result: QueryResult }) => void) | undefined;
  const r = rig(t, [collect, orderStep(), hangup], { query: () => new Promise((res) => { answer = res; }) });
  const leg = await keyOrder(r, '1234');
  const plays = r.media.plays(leg).length;
  r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
  await r.settle();
  answer?.({ ok: true, result: order });
  await r.settle();
  t.equal(r.media.plays(leg).length, plays, 'nothing played to a gone caller');
  t.match(r.of('call.ended')[0], { outcome: 'abandoned_ivr' }, 'nothing was heard: an abandon');
});

t.test('served by the IVR: a caller who hangs up after the answer is read out is completed_ivr, no abandon and no callback; one who hangs up mid-readout abandoned', async (t) => {
  const cases = [
    { why: 'hangs up once the readout is heard', doneFirst: true, outcome: 'completed_ivr', callbacks: 0, abandoned: 0 },
    { why: 'hangs up during the readout', doneFirst: false, outcome: 'abandoned_ivr', callbacks: 1, abandoned: 1 },
  ] as const;
  for (const c of cases) {
    // A flow that goes on after the readout (to a menu of more options, here an agent queue whose
    // agent is away): the caller is still in the IVR when they hang up.
    const r = rig(t, [collect, orderStep(), { type: 'play', prompts: ['menu'] }, hangup], { query: async () => ({ ok: true, result: order }) });
    const leg = await keyOrder(r, '20261207000001');
    t.same(r.media.lastPrompts(leg), readout(order, 'en', () => true), `${c.why}: the readout plays`);
    if (c.doneFirst) {
      r.media.done(leg);
      await r.settle();
    }
    r.inDialog(r.of('call.arrived')[0]!.sipCallId, 'BYE');
    await r.settle();
    await r.advance(1000);
    const cdr = await cdrOf(r);
    t.equal(cdr?.outcome, c.outcome, `${c.why}: ${c.outcome}`);
    t.equal((await r.store.callbacks.list({})).length, c.callbacks, `${c.why}: ${c.callbacks} callback tasks`);
    t.equal(r.of('call.abandoned').length, c.abandoned, `${c.why}: ${c.abandoned} abandon events`);
  }
});

t.test('a flow that ends the call itself (hangup step) served the caller: completed_ivr, no callback', async (t) => {
  const r = rig(t, [{ type: 'play', prompts: ['welcome'] }, hangup], undefined);
  r.invite();
  await r.settle();
  const leg = r.callerLeg(0);
  r.media.done(leg);
  await r.settle();
  t.same(r.media.lastPrompts(leg), ['en/goodbye']);
  r.media.done(leg);
  await r.settle();
  await r.advance(1000);
  t.equal((await cdrOf(r))?.outcome, 'completed_ivr');
  t.equal((await r.store.callbacks.list({})).length, 0);
});

t.test('a CRM outage is one log line per period, with the count not logged', async (t) => {
  let clock = 0;
  const lines: { notLogged?: number }[] = [];
  const down = new CrmQueryRunner({
    adapter: { query: async () => { throw new Error('down'); } }, log: { warn: (o) => lines.push(o as { notLogged?: number }) }, logEveryMs: 10_000, now: () => clock,
  });
  const ask = { kind: 'promotion' as const, callId: 'c1', caller: '+861', dialled: '100', programme: null, airing: null, customerId: null };
  for (let i = 0; i < 5; i++) await down.query(ask, 100);
  clock = 10_000;
  await down.query(ask, 100);
  t.same(lines.map((l) => l.notLogged), [0, 4]);
});
