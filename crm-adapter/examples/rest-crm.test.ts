import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CrmDeliveryError, unknownCaller } from '../index.ts';
import { sampleCdr, sampleEvent } from '../../engine/store/index.ts';
import { ShopDeskAdapter } from './rest-crm.ts';

t.test('the example ShopDesk adapter against a fake ShopDesk on 127.0.0.1', async (t) => {
  const requests: { method: string; url: string; auth: string | undefined; key: string | undefined; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, key: req.headers['idempotency-key'] as string | undefined, body });
      if (req.headers.authorization !== 'Bearer tok') { res.writeHead(401).end(); return; }
      if (req.url === '/v2/ping') { res.writeHead(200).end('{}'); return; }
      if (req.url === '/v2/customers?phone=%2B4930111') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: 'SD-7', displayName: 'Ida', tier: 'gold', flags: 1, agentExt: '1003', locale: 'de', creditOk: false, notes: 'prefers evening' }));
        return;
      }
      if (req.url?.startsWith('/v2/customers')) { res.writeHead(404).end(); return; }
      if (req.url === '/v2/calls/bad/record') { res.writeHead(400).end(); return; }
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const crm = new ShopDeskAdapter({ baseUrl, token: 'tok', timeoutMs: 2000 });
  await crm.init();
  const ctx = { dialled: '100', deadlineMs: 2000, signal: AbortSignal.timeout(2000), callId: 'c1' };
  t.same(await crm.lookupCaller('+4930111', ctx), {
    known: true, customerId: 'SD-7', name: 'Ida', vipLevel: 2, blacklisted: false, strikes: 1, preferredAgent: '1003',
    language: 'de', lowCredit: true, screenPop: { notes: 'prefers evening' },
  });
  t.same(await crm.lookupCaller('+4930999', ctx), unknownCaller());
  await crm.callEvent(sampleEvent('c1'), { deliveryId: 'c1/1', attempt: 1 });
  await crm.deliverCdr(sampleCdr('c1'), { deliveryId: 'c1/2', attempt: 1 });
  t.match(requests.slice(-2), [
    { method: 'POST', url: '/v2/calls/c1/events', key: 'c1/1', auth: 'Bearer tok' },
    { method: 'PUT', url: '/v2/calls/c1/record', key: 'c1/2' },
  ]);
  t.equal((JSON.parse(requests.at(-1)!.body) as { callId: string }).callId, 'c1');
  const err = await crm.deliverCdr(sampleCdr('bad'), { deliveryId: 'bad/1', attempt: 1 }).catch((e: unknown) => e);
  t.ok(err instanceof CrmDeliveryError && err.permanent);
  await t.rejects(new ShopDeskAdapter({ baseUrl, token: 'wrong', timeoutMs: 2000 }).init(), /HTTP 401/);
});
