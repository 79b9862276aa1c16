import t, { type Test } from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock, OutboxDispatcher, openStore, sampleCdr, sampleEvent } from '../engine/store/index.ts';
import {
  CrmDeliveryError, signWebhookBody, unknownCaller, verifyWebhook, WebhookCrmAdapter, type LookupContext,
} from './index.ts';

const SECRET = 'test-secret';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
}

/** A CRM on 127.0.0.1:0; `reply` decides each answer (status, body), or null to never answer. */
async function crmServer(t: Test, reply: (seen: Seen, n: number) => { status: number; body?: unknown } | null) {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { url: req.url ?? '', headers: req.headers, raw: Buffer.concat(chunks) };
      seen.push(s);
      const r = reply(s, seen.length);
      if (r === null) return;
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, base };
}

function lookupCtx(deadlineMs: number): LookupContext {
  return { dialled: '100', deadlineMs, signal: new AbortController().signal, callId: 'call-1' };
}

t.test('events and CDRs: signed JSON POST that a receiver can verify', async (t) => {
  const { seen, base } = await crmServer(t, () => ({ status: 204 }));
  const crm = new WebhookCrmAdapter({ url: `${base}/onair`, lookupUrl: null, secret: SECRET, headers: { 'x-api-key': 'k' } });
  await crm.init();
  const ev = sampleEvent('call-1', 2);
  await crm.callEvent(ev, { deliveryId: 'call-1/7', attempt: 1 });
  await crm.deliverCdr(sampleCdr('call-1'), { deliveryId: 'call-1/8', attempt: 2 });
  t.equal(seen.length, 2);
  const [a, b] = seen;
  const va = verifyWebhook(a!.raw, a!.headers, SECRET, Date.now());
  t.ok(va.ok, 'signature and timestamp verify');
  t.match(va.ok && va.body, { contractVersion: 1, kind: 'call_event', deliveryId: 'call-1/7', attempt: 1, event: ev });
  t.equal(a!.headers['x-onair-signature'], signWebhookBody(a!.raw, SECRET));
  t.equal(a!.headers['x-onair-delivery'], 'call-1/7');
  t.equal(a!.headers['x-api-key'], 'k');
  t.equal(a!.headers['content-type'], 'application/json');
  t.equal(a!.url, '/onair');
  const vb = verifyWebhook(b!.raw, b!.headers, SECRET, Date.now());
  t.match(vb.ok && vb.body, { kind: 'cdr', attempt: 2, cdr: { callId: 'call-1', outcome: 'answered' } });
  await crm.close();
});

t.test('verifyWebhook refuses tampering, a wrong secret, a moved or stale timestamp', async (t) => {
  const now = Date.UTC(2026, 0, 1);
  const ts = now / 1000;
  const raw = Buffer.from(JSON.stringify({ contractVersion: 1, timestamp: ts, kind: 'cdr' }));
  const headers = { 'x-onair-signature': signWebhookBody(raw, SECRET), 'x-onair-timestamp': String(ts) };
  t.ok(verifyWebhook(raw, headers, SECRET, now).ok);
  const tampered = Buffer.from(raw.toString().replace('cdr', 'CDR'));
  t.match(verifyWebhook(tampered, headers, SECRET, now), { ok: false, code: 'WEBHOOK_ERR_SIGNATURE' });
  t.match(verifyWebhook(raw, headers, 'other', now), { ok: false, code: 'WEBHOOK_ERR_SIGNATURE' });
  t.match(verifyWebhook(raw, { ...headers, 'x-onair-signature': undefined }, SECRET, now), { ok: false, code: 'WEBHOOK_ERR_SIGNATURE' });
  t.match(verifyWebhook(raw, { ...headers, 'x-onair-timestamp': String(ts + 1) }, SECRET, now), { ok: false, code: 'WEBHOOK_ERR_TIMESTAMP' });
  t.match(verifyWebhook(raw, headers, SECRET, now + 301_000), { ok: false, code: 'WEBHOOK_ERR_TIMESTAMP' }, 'replay after 5 min');
  t.ok(verifyWebhook(raw, headers, SECRET, now + 299_000).ok);
});

t.test('through the outbox: 500s are retried with backoff until the CRM takes it', async (t) => {
  const { seen, base } = await crmServer(t, (_s, n) => ({ status: n <= 2 ? 500 : 200, body: { ok: n > 2 } }));
  const clock = new FakeClock(Date.now());
  const store = openStore({ path: ':memory:', retry: { baseDelayMs: 1000, jitter: 0 } });
  t.teardown(() => store.close());
  const crm = new WebhookCrmAdapter({ url: `${base}/hook`, lookupUrl: null, secret: SECRET, now: () => clock.now() });
  const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter: crm, clock });
  await store.outbox.append('call-9', 'cdr', sampleCdr('call-9'), clock.now());
  t.same(await dispatcher.runOnce(), { attempted: 1, delivered: 0, failed: 1, dead: 0 });
  t.match((await store.outbox.listCall('call-9'))[0], { attempts: 1, lastError: 'webhook answered HTTP 500' });
  t.equal((await dispatcher.runOnce()).attempted, 0, 'not retried before the backoff');
  clock.advance(1000);
  t.equal((await dispatcher.runOnce()).failed, 1, 'second 500');
  clock.advance(1999);
  t.equal((await dispatcher.runOnce()).attempted, 0, 'backoff doubled');
  clock.advance(1);
  t.equal((await dispatcher.runOnce()).delivered, 1);
  t.equal(seen.length, 3);
  t.same(new Set(seen.map((s) => s.headers['x-onair-delivery'])).size, 1, 'same delivery id on every attempt');
  t.same(seen.map((s) => (JSON.parse(s.raw.toString()) as { attempt: number }).attempt), [1, 2, 3]);
  t.ok(seen.every((s) => verifyWebhook(s.raw, s.headers, SECRET, clock.now()).ok), 'every attempt freshly signed');
  t.same(await store.outbox.backlog(), { pending: 0, dead: 0, calls: 0 });
});

t.test('4xx is permanent (dead letter at once); 429 and network errors are retried', async (t) => {
  const { base } = await crmServer(t, (s) => ({ status: s.url === '/bad' ? 422 : 429 }));
  const bad = new WebhookCrmAdapter({ url: `${base}/bad`, lookupUrl: null, secret: SECRET });
  const err = await bad.deliverCdr(sampleCdr('x'), { deliveryId: 'x/1', attempt: 1 }).catch((e: unknown) => e);
  t.ok(err instanceof CrmDeliveryError && err.permanent, '422 is permanent');
  const busy = new WebhookCrmAdapter({ url: `${base}/busy`, lookupUrl: null, secret: SECRET });
  const err2 = await busy.deliverCdr(sampleCdr('x'), { deliveryId: 'x/1', attempt: 1 }).catch((e: unknown) => e);
  t.ok(err2 instanceof CrmDeliveryError && !err2.permanent, '429 is retried');

  const store = openStore({ path: ':memory:' });
  t.teardown(() => store.close());
  const dispatcher = new OutboxDispatcher({ outbox: store.outbox, adapter: bad, clock: new FakeClock() });
  await store.outbox.append('x', 'event', sampleEvent('x'), 0);
  t.same(await dispatcher.runOnce(), { attempted: 1, delivered: 0, failed: 1, dead: 1 });
  t.match(await store.outbox.deadLetters(10, 0), [{ callId: 'x', lastError: 'webhook answered HTTP 422', attempts: 1 }]);

  // A port with nothing listening: connection refused.
  const probe = http.createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const down = new WebhookCrmAdapter({ url: `http://127.0.0.1:${port}/`, lookupUrl: null, secret: SECRET });
  const err3 = await down.callEvent(sampleEvent('y'), { deliveryId: 'y/1', attempt: 1 }).catch((e: unknown) => e);
  t.ok(err3 instanceof CrmDeliveryError && !err3.permanent, 'unreachable is retried');
  t.match((err3 as Error).message, /unreachable/);
});

t.test('lookup: answer parsed, 404 unknown, bad answers and silence fall back to unknown', async (t) => {
  const { seen, base } = await crmServer(t, (s) => {
    const body = JSON.parse(s.raw.toString()) as { number: string };
    switch (body.number) {
      case '+491': return { status: 200, body: { customerId: 'C1', name: 'Ann', vipLevel: 2, blacklisted: false, screenPop: { x: 'y' }, extra: 1 } };
      case '+492': return { status: 404 };
      case '+493': return { status: 200, body: { vipLevel: 'gold' } };
      case '+494': return { status: 200, body: 'not json' };
      case '+495': return { status: 503 };
      default: return null; // never answers
    }
  });
  const failures: string[] = [];
  const crm = new WebhookCrmAdapter({
    url: `${base}/hook`, lookupUrl: `${base}/lookup`, secret: SECRET, lookupTimeoutMs: 10_000,
    onLookupFailure: (n, reason) => { failures.push(`${n}: ${reason}`); },
  });
  const ann = await crm.lookupCaller('+491', lookupCtx(2000));
  t.same(ann, { ...unknownCaller(), known: true, customerId: 'C1', name: 'Ann', vipLevel: 2, screenPop: { x: 'y' } });
  const req = seen[0]!;
  t.ok(verifyWebhook(req.raw, req.headers, SECRET, Date.now()).ok, 'look-ups are signed too');
  t.match(JSON.parse(req.raw.toString()), { kind: 'lookup', number: '+491', dialled: '100', callId: 'call-1', deadlineMs: 2000 });
  t.equal(req.headers['x-onair-delivery'], undefined);
  t.same(await crm.lookupCaller('+492', lookupCtx(2000)), unknownCaller());
  t.same(await crm.lookupCaller('+493', lookupCtx(2000)), unknownCaller());
  t.same(await crm.lookupCaller('+494', lookupCtx(2000)), unknownCaller());
  t.same(await crm.lookupCaller('+495', lookupCtx(2000)), unknownCaller());
  t.same(await crm.lookupCaller('+499', lookupCtx(50)), unknownCaller(), 'no answer within the deadline');
  t.equal(failures.length, 4);
  t.match(failures, [/^\+493: invalid answer/, /^\+494: /, /^\+495: HTTP 503/, /^\+499: no answer within 50 ms/]);

  const ac = new AbortController();
  const pending = crm.lookupCaller('+499', { ...lookupCtx(10_000), signal: ac.signal });
  ac.abort();
  t.same(await pending, unknownCaller(), 'the engine giving up aborts the request');
  const none = new WebhookCrmAdapter({ url: `${base}/hook`, lookupUrl: null, secret: SECRET });
  t.same(await none.lookupCaller('+491', lookupCtx(100)), unknownCaller(), 'no lookup URL: unknown without a request');
  t.throws(() => new WebhookCrmAdapter({ url: 'not a url', lookupUrl: null, secret: SECRET }));
  t.throws(() => new WebhookCrmAdapter({ url: base, lookupUrl: null, secret: '' }), /CRM_ERR_CONFIG/);
});

t.test('query: signed POST to queryUrl; 200 is the answer, 404 nothing found, another status or silence fails; no queryUrl fails', async (t) => {
  const shipped = { kind: 'orderStatus', orderNumber: 'SO1', status: 'shipped', courier: 'SF', waybill: 'SF1', amountFen: 100 };
  const { seen, base } = await crmServer(t, (_s, n) => (n === 1 ? { status: 200, body: shipped } : n === 2 ? { status: 404 } : n === 3 ? { status: 500 } : null));
  const crm = new WebhookCrmAdapter({ url: `${base}/onair`, lookupUrl: null, queryUrl: `${base}/query`, secret: SECRET });
  const req = {
    kind: 'orderStatus' as const, orderNumber: '1', verification: null, caller: '+861', dialled: '100', programme: 'p', airing: null,
    customerId: null, deadlineMs: 300, signal: new AbortController().signal, callId: 'call-1',
  };
  t.same(await crm.query(req), shipped);
  const body = JSON.parse(seen[0]!.raw.toString('utf8')) as Record<string, unknown>;
  t.match(body, { contractVersion: 1, kind: 'query', deadlineMs: 300, query: { kind: 'orderStatus', orderNumber: '1', caller: '+861', programme: 'p', callId: 'call-1' } });
  t.notOk('signal' in (body.query as object), 'the signal is not sent');
  t.equal(seen[0]!.url, '/query');
  t.ok(verifyWebhook(seen[0]!.raw, seen[0]!.headers, SECRET, Date.now()).ok, 'signed like every request');
  t.same(await crm.query(req), { kind: 'notFound' });
  await t.rejects(crm.query(req), /HTTP 500/);
  await t.rejects(crm.query({ ...req, deadlineMs: 50 }), 'no answer within the deadline');
  const none = new WebhookCrmAdapter({ url: `${base}/onair`, lookupUrl: null, secret: SECRET });
  await t.rejects(none.query(req), /no queryUrl/);
});
