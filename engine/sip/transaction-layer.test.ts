import t from 'tap';
import fc from 'fast-check';
import { newBranch } from './branch.ts';
import { createResponse } from './message.ts';
import type { Endpoint } from './contracts.ts';
import { responseDestination, stampVia } from './transaction.ts';
import type { InviteClientTransaction } from './transaction-client.ts';
import type { InviteServerTransaction } from './transaction-server.ts';
import { PEER_TCP, PEER_UDP, TransactionHarness, arrival, peerRequest, peerResponse } from './testing/transaction-harness.ts';

const T64 = 32_000;

t.test('CANCEL of a ringing INVITE: 200 for the CANCEL, TU told, 487 + ACK end both', async (t) => {
  const h = new TransactionHarness();
  const invite = peerRequest({ method: 'INVITE' });
  h.receive(invite);
  const ist = h.of('request')[0]!.tx as InviteServerTransaction;
  ist.respond(createResponse(invite, 180, undefined, { toTag: 'uas' }));
  h.receive(peerRequest({ method: 'CANCEL' }));
  const ok = h.transport.responses(200);
  t.equal(ok.length, 1);
  t.equal(ok[0]!.message.headers.cseq.method, 'CANCEL');
  t.equal(ok[0]!.message.headers.to.params.get('tag'), 'uas', '§9.2: same To tag as the INVITE responses');
  t.same(h.of('cancel').map((e) => e.tx), [ist]);
  t.equal(h.of('request').length, 1, 'the CANCEL is not a new request for the TU');
  // CANCEL retransmission: the 200 again, the TU not bothered again.
  h.receive(peerRequest({ method: 'CANCEL' }));
  t.equal(h.transport.responses(200).length, 2);
  t.equal(h.of('cancel').length, 1);
  ist.respond(createResponse(invite, 487, undefined, { toTag: 'uas' }));
  h.receive(peerRequest({ method: 'ACK', toTag: 'uas' }));
  t.equal(ist.state, 'confirmed');
  h.clock.advance(T64);
  t.ok(h.idle);
});

t.test('CANCEL without a matching INVITE → 481; after the final → 200 and no effect', async (t) => {
  const h = new TransactionHarness();
  h.receive(peerRequest({ method: 'CANCEL', branch: 'z9hG4bKnobody' }));
  t.equal(h.transport.responses(481).length, 1);
  t.equal(h.of('cancel').length, 0);

  const invite = peerRequest({ method: 'INVITE' });
  h.receive(invite);
  const ist = h.of('request')[0]!.tx as InviteServerTransaction;
  ist.respond(createResponse(invite, 200, undefined, { toTag: 'uas' }));
  h.receive(peerRequest({ method: 'CANCEL' }));
  t.equal(h.transport.responses(200).filter((s) => s.message.headers.cseq.method === 'CANCEL').length, 1);
  t.equal(h.of('cancel').length, 0, 'final already sent: the CANCEL changes nothing');
  // Same branch but another sent-by: a different transaction (§17.2.3), so 481.
  h.receive(peerRequest({ method: 'CANCEL', sentBy: '192.0.2.99:5060' }), { ...PEER_UDP, address: '192.0.2.99' });
  t.equal(h.transport.responses(481).length, 2);
  h.clock.advance(T64);
  t.ok(h.idle);
});

function ours() {
  return peerRequest({
    method: 'INVITE', branch: newBranch(), sentBy: '198.51.100.1:5060', uri: 'sip:agent7@192.0.2.10',
    extra: ['Route: <sip:edge.onair.example;lr>'],
  });
}

t.test('client CANCEL waits for a provisional (§9.1), then mirrors the INVITE', async (t) => {
  const h = new TransactionHarness();
  const invite = ours();
  const ict = h.layer.sendRequest(invite, PEER_UDP, h) as InviteClientTransaction;
  t.ok(h.layer.cancel(ict, [{ name: 'Reason', value: 'SIP;cause=487;text="caller hung up"' }]));
  t.equal(h.transport.requests('CANCEL').length, 0, 'nothing before a provisional');
  h.clock.advance(700);
  h.receive(peerResponse(invite, 180, 'agent'));
  const sent = h.transport.requests('CANCEL');
  t.equal(sent.length, 1, 'sent when the 180 arrives');
  const cancel = sent[0]!.message;
  t.equal(cancel.uriText, invite.uriText);
  t.equal(cancel.headers.callId, invite.headers.callId);
  t.equal(cancel.headers.get('From'), invite.headers.get('From'));
  t.equal(cancel.headers.get('To'), invite.headers.get('To'), 'To of the INVITE, not of the 180');
  t.same(cancel.headers.cseq, { seq: invite.headers.cseq.seq, method: 'CANCEL' });
  t.same(cancel.headers.getAll('Via'), [invite.headers.getAll('Via')[0]]);
  t.same(cancel.headers.getAll('Route'), ['<sip:edge.onair.example;lr>']);
  t.equal(cancel.headers.get('Reason'), 'SIP;cause=487;text="caller hung up"');
  t.same(sent[0]!.to, PEER_UDP);
  t.ok(h.layer.cancel(ict), 'asking again is harmless');
  t.equal(h.transport.requests('CANCEL').length, 1);
  h.receive(peerResponse(cancel, 200, 'agent'));
  h.receive(peerResponse(invite, 487, 'agent'));
  t.equal(h.transport.requests('ACK').length, 1);
  t.same(h.of('response').map((e) => e.response.status), [180, 487]);
  t.notOk(h.layer.cancel(ict), 'too late after the final');
  h.clock.advance(T64);
  t.ok(h.idle);
});

t.test('client CANCEL after a provisional goes out at once; CANCEL retransmits over UDP', async (t) => {
  const h = new TransactionHarness();
  const invite = ours();
  const ict = h.layer.sendRequest(invite, PEER_UDP, h) as InviteClientTransaction;
  h.receive(peerResponse(invite, 183, 'agent'));
  h.clock.advance(1000);
  h.layer.cancel(ict);
  h.clock.advance(1000);
  t.same(h.transport.requests('CANCEL').map((s) => s.at), [1000, 1500]);
  h.receive(peerResponse(h.transport.requests('CANCEL')[0]!.message, 200, 'agent'));
  h.receive(peerResponse(invite, 200, 'agent')); // the 200 raced the CANCEL
  t.equal(ict.state, 'accepted');
  h.clock.advance(T64);
  t.ok(h.idle);
  t.equal(h.of('timeout').length, 0);
});

t.test('client CANCEL with no provisional ever: timer B ends the INVITE, no CANCEL sent', async (t) => {
  const h = new TransactionHarness();
  const ict = h.layer.sendRequest(ours(), PEER_UDP, h) as InviteClientTransaction;
  h.layer.cancel(ict);
  h.clock.advance(T64);
  t.equal(h.transport.requests('CANCEL').length, 0);
  t.equal(h.of('timeout').length, 1);
  t.ok(h.idle);
});

t.test('RFC 2543 matching (no magic cookie)', async (t) => {
  const h = new TransactionHarness();
  const legacy = { branch: null, sentBy: '192.0.2.50' } as const;
  const from = { ...PEER_UDP, address: '192.0.2.50' };
  const invite = peerRequest({ method: 'INVITE', ...legacy });
  h.receive(invite, from);
  t.equal(h.of('request').length, 1);
  h.receive(peerRequest({ method: 'INVITE', ...legacy }), from);
  t.equal(h.of('request').length, 1, 'retransmission matched by URI, tags, Call-ID, CSeq, Via');
  h.receive(peerRequest({ method: 'INVITE', ...legacy, callId: 'other@x' }), from);
  h.receive(peerRequest({ method: 'INVITE', ...legacy, cseq: 2 }), from);
  h.receive(peerRequest({ method: 'INVITE', ...legacy, uri: 'sip:other@onair.example' }), from);
  h.receive(peerRequest({ method: 'INVITE', ...legacy, fromTag: 'f2' }), from);
  h.receive(peerRequest({ method: 'INVITE', ...legacy, sentBy: '192.0.2.50:5062' }), from);
  t.equal(h.of('request').length, 6, 'each differing field makes a new transaction');
  const ist = h.of('request')[0]!.tx as InviteServerTransaction;
  // CANCEL matches the INVITE by the same fields.
  h.receive(peerRequest({ method: 'CANCEL', ...legacy }), from);
  t.same(h.of('cancel').map((e) => e.tx), [ist]);
  ist.respond(createResponse(invite, 487, undefined, { toTag: 'uas' }));
  // An ACK whose To tag is not the one of our response is not this transaction's.
  h.receive(peerRequest({ method: 'ACK', ...legacy, toTag: 'bogus' }), from);
  t.equal(ist.state, 'completed');
  t.equal(h.of('ack2xx').length, 1);
  h.receive(peerRequest({ method: 'ACK', ...legacy, toTag: 'uas' }), from);
  t.equal(ist.state, 'confirmed', 'ACK matched with the To tag of our response');
  // The 2543 ACK for a 2xx matches the IST in Accepted and goes to the TU.
  const second = h.of('request')[1]!;
  const ok = createResponse(second.request, 200, undefined, { toTag: 'uas2' });
  (second.tx as InviteServerTransaction).respond(ok);
  h.layer.retransmitSuccess(second.tx as InviteServerTransaction, ok, { onNoAck() {} });
  h.receive(peerRequest({ method: 'ACK', ...legacy, callId: 'other@x', toTag: 'uas2' }), from);
  t.same(h.of('ack2xx').map((e) => e.stopped), [false, true]);
  for (const e of h.of('request')) if (e.tx.state === 'proceeding') e.tx.respond(createResponse(e.request, 500));
  h.clock.advance(T64 * 2);
  t.ok(h.idle);
});

t.test('Via stamping: received and rport (RFC 3261 §18.2.1, RFC 3581)', async (t) => {
  const nat: Endpoint = { transport: 'UDP', address: '203.0.113.9', port: 40123 };
  const r1 = peerRequest({ sentBy: '10.0.0.7:5060', rport: true });
  t.ok(stampVia(r1, nat));
  const v1 = r1.headers.via[0]!;
  t.equal(v1.params.get('rport'), '40123');
  t.equal(v1.params.get('received'), '203.0.113.9');
  t.equal(v1.branch, 'z9hG4bKpeer1', 'other params kept');
  t.same(responseDestination(r1, arrival(r1, nat)), { transport: 'UDP', address: '203.0.113.9', port: 40123 });

  const r2 = peerRequest({ sentBy: '192.0.2.10:5060', rport: true });
  stampVia(r2, PEER_UDP);
  t.equal(r2.headers.via[0]!.params.get('received'), '192.0.2.10', 'rport asks for received even when equal');

  const r3 = peerRequest({ sentBy: '192.0.2.10' });
  t.notOk(stampVia(r3, PEER_UDP), 'same address, no rport: untouched');
  t.same(responseDestination(r3, arrival(r3)), { transport: 'UDP', address: '192.0.2.10', port: 5060 });

  const r4 = peerRequest({ sentBy: 'phone.example.com:5070' });
  stampVia(r4, PEER_UDP);
  t.equal(r4.headers.via[0]!.params.get('received'), '192.0.2.10', 'a host name always gets received');
  t.equal(r4.headers.via[0]!.params.has('rport'), false);
  t.same(responseDestination(r4, arrival(r4)), { transport: 'UDP', address: '192.0.2.10', port: 5070 }, 'received + sent-by port');

  const v6: Endpoint = { transport: 'UDP', address: '2001:db8::5', port: 5099 };
  const r5 = peerRequest({ sentBy: '[2001:db8::5]', rport: true });
  stampVia(r5, v6);
  t.equal(r5.headers.via[0]!.params.get('rport'), '5099');
  t.same(responseDestination(r5, arrival(r5, v6)), { transport: 'UDP', address: '2001:db8::5', port: 5099 });

  // Only the top Via changes; the rest stays in order.
  const r6 = peerRequest({ sentBy: '10.0.0.7', rport: true, extra: ['Via: SIP/2.0/UDP proxy.example;branch=z9hG4bKp2'] });
  stampVia(r6, nat);
  t.equal(r6.headers.via.length, 2);
  t.equal(r6.headers.via[1]!.host, 'proxy.example');
  t.equal(r6.headers.via[1]!.params.has('received'), false);
  // The layer stamps before the TU sees the request, so responses carry the stamp.
  const h = new TransactionHarness();
  h.answer = (tx, r) => tx.respond(createResponse(r, 200, undefined, { toTag: 'x' }));
  h.receive(peerRequest({ method: 'OPTIONS', sentBy: '10.0.0.7:5060', rport: true }), nat);
  const sent = h.transport.responses(200)[0]!;
  t.equal(sent.message.headers.via[0]!.params.get('received'), '203.0.113.9');
  t.same(sent.to, { transport: 'UDP', address: '203.0.113.9', port: 40123 });
  h.clock.advance(T64);
  t.ok(h.idle);
});

t.test('responseDestination: connection, then the packet source; maddr and a written received ignored (§18.2.2)', async (t) => {
  const tcp = peerRequest({ transport: 'TCP', sentBy: '192.0.2.10:5060' });
  t.same(responseDestination(tcp, arrival(tcp, PEER_TCP)), PEER_TCP, 'the connection first');
  const tcpNoConn = { ...PEER_TCP, connectionId: undefined };
  t.same(responseDestination(tcp, arrival(tcp, tcpNoConn)), { transport: 'TCP', address: '192.0.2.10', port: 5060 });
  // Issue 11: maddr would aim our answer at a multicast group, a received the client wrote at any
  // third party; the answer goes to where the packet came from.
  const maddr = peerRequest({ sentBy: '192.0.2.10:5080', extra: [] });
  maddr.headers.set('Via', 'SIP/2.0/UDP 192.0.2.10:5080;maddr=239.255.255.1;branch=z9hG4bKm;received=192.0.2.11');
  t.same(responseDestination(maddr, arrival(maddr)), { transport: 'UDP', address: '192.0.2.10', port: 5080 }, 'maddr and a written received ignored');
  const victim = peerRequest({ sentBy: '198.51.100.66:5060' });
  victim.headers.set('Via', 'SIP/2.0/UDP 198.51.100.66:5060;received=198.51.100.66;rport=5060;branch=z9hG4bKv');
  const from: Endpoint = { transport: 'UDP', address: '203.0.113.9', port: 40123 };
  t.same(responseDestination(victim, arrival(victim, from)), from, 'a sent-by, received and rport naming a victim: the answer goes to the source');
  t.ok(stampVia(victim, from), 'the forged values are replaced');
  t.equal(victim.headers.via[0]!.params.get('received'), '203.0.113.9');
  t.equal(victim.headers.via[0]!.params.get('rport'), '40123');
  const written = peerRequest({ sentBy: '192.0.2.10:5060' });
  written.headers.set('Via', 'SIP/2.0/UDP 192.0.2.10:5060;received=192.0.2.99;branch=z9hG4bKw');
  t.ok(stampVia(written, PEER_UDP), 'a received the client wrote is replaced even when its sent-by is its source');
  t.equal(written.headers.via[0]!.params.get('received'), '192.0.2.10');
  const tls = peerRequest({ transport: 'TLS' as never, sentBy: 'phone.example' });
  tls.headers.set('Via', 'SIP/2.0/TLS phone.example;branch=z9hG4bKt');
  t.same(responseDestination(tls, arrival(tls, { transport: 'TLS', address: '192.0.2.10', port: 40000 })),
    { transport: 'TLS', address: '192.0.2.10', port: 5061 }, 'no connection id: the source address (no DNS) with 5061');
  const ws = peerRequest();
  ws.headers.set('Via', 'SIP/2.0/WS df7jal23ls0d.invalid;branch=z9hG4bKw;received=192.0.2.10');
  t.same(responseDestination(ws, arrival(ws, PEER_TCP)), PEER_TCP, 'a transport we do not speak falls back to the arrival');
});

t.test('transaction limit: 503 with Retry-After, no state, CANCEL of a live INVITE still served', async (t) => {
  const h = new TransactionHarness({ maxServerTransactions: 2 });
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKa' }));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bKb' }));
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKc', callId: 'c3' }));
  const busy = h.transport.responses(503);
  t.equal(busy.length, 1);
  t.equal(busy[0]!.message.headers.get('Retry-After'), '5');
  t.equal(h.layer.serverCount, 2);
  t.equal(h.of('request').length, 2);
  h.receive(peerRequest({ method: 'ACK', branch: 'z9hG4bKc' }));
  t.equal(h.transport.responses(503).length, 1, 'ACKs are never answered');
  h.receive(peerRequest({ method: 'CANCEL', branch: 'z9hG4bKa' }));
  t.equal(h.of('cancel').length, 1, 'the CANCEL of a live INVITE gets through');
  h.receive(peerRequest({ method: 'CANCEL', branch: 'z9hG4bKzz' }));
  t.equal(h.transport.responses(503).length, 2, 'an unmatched CANCEL at the limit gets 503');
  for (const e of h.of('request')) e.tx.respond(createResponse(e.request, 487));
  h.clock.advance(T64 * 2);
  t.ok(h.idle);
});

t.test('transaction limit: the TU hears of each new INVITE refused for overload (to keep a record), of nothing else', async (t) => {
  const h = new TransactionHarness({ maxServerTransactions: 1 });
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKa' }));
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKb', callId: 'refused-1' }));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bKc' }));
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKd', callId: 'reinvite-1', toTag: 'ours' }));
  t.equal(h.transport.responses(503).length, 3, 'all three above the limit got the 503');
  t.same(h.of('overload-refused').map((e) => e.request.headers.callId), ['refused-1'],
    'only the new INVITE: not the OPTIONS, not an in-dialog re-INVITE');
});

t.test('per-source limit: one peer cannot take the whole budget', async (t) => {
  const h = new TransactionHarness({ maxServerTransactionsPerSource: 2 });
  const other: Endpoint = { ...PEER_UDP, address: '192.0.2.77' };
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK1' }));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK2' }));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK3' }));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK4', sentBy: '192.0.2.77:5060' }), other);
  t.equal(h.transport.responses(503).length, 1);
  t.same(h.of('request').map((e) => e.tx.source.address), ['192.0.2.10', '192.0.2.10', '192.0.2.77']);
  t.equal(h.layer.sourceCount, 2);
  const first = h.of('request')[0]!;
  first.tx.respond(createResponse(first.request, 200));
  h.clock.advance(T64);
  t.equal(h.of('request').length, 3);
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK5' }));
  t.equal(h.of('request').length, 4, 'room again once one ended');
  for (const e of h.of('request')) e.tx.respond(createResponse(e.request, 200));
  h.clock.advance(T64);
  t.ok(h.idle);
});

t.test('per-source limit: IPv6 sources count per /64, so a host cannot take the budget by rotating addresses', async (t) => {
  const h = new TransactionHarness({ maxServerTransactionsPerSource: 2 });
  const from = (address: string): Endpoint => ({ ...PEER_UDP, address });
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK61', sentBy: '[2001:db8:5:6::1]:5060' }), from('2001:db8:5:6::1'));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK62', sentBy: '[2001:db8:5:6::2]:5060' }), from('2001:db8:5:6::2'));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK63', sentBy: '[2001:db8:5:6::3]:5060' }), from('2001:db8:5:6::3'));
  h.receive(peerRequest({ method: 'OPTIONS', branch: 'z9hG4bK64', sentBy: '[2001:db8:5:7::1]:5060' }), from('2001:db8:5:7::1'));
  t.equal(h.transport.responses(503).length, 1, 'the third address of one /64 is over its limit');
  t.same(h.of('request').map((e) => e.tx.source.address), ['2001:db8:5:6::1', '2001:db8:5:6::2', '2001:db8:5:7::1'], 'the next /64 is another source');
  t.equal(h.layer.sourceCount, 2);
  for (const e of h.of('request')) e.tx.respond(createResponse(e.request, 200));
  h.clock.advance(T64);
  t.equal(h.layer.sourceCount, 0, 'counts released under the same key');
});

t.test('stray ACK goes to the TU; requests with another method on a used branch are dropped', async (t) => {
  const h = new TransactionHarness();
  h.receive(peerRequest({ method: 'ACK', branch: 'z9hG4bKunknown', toTag: 'x' }));
  t.same(h.of('ack2xx').map((e) => e.stopped), [false]);
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKsame' }));
  h.receive(peerRequest({ method: 'INFO', branch: 'z9hG4bKsame' }));
  t.same(h.of('request').map((e) => e.request.method), ['INVITE', 'INFO'], 'method is part of the key');
  for (const e of h.of('request')) e.tx.respond(createResponse(e.request, 500));
  h.clock.advance(T64 * 2);
  t.ok(h.idle);
});

// ---- property: random peer/TU/clock interleavings never throw and never leak -----------------

type Step =
  | { kind: 'retransmit' }
  | { kind: 'respond'; status: number }
  | { kind: 'ack' }
  | { kind: 'cancel' }
  | { kind: 'advance'; ms: number }
  | { kind: 'fail' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: 'retransmit' }),
  fc.constantFrom(100, 180, 183, 200, 202, 302, 404, 486, 487, 503).map((status): Step => ({ kind: 'respond', status })),
  fc.constant<Step>({ kind: 'ack' }),
  fc.constant<Step>({ kind: 'cancel' }),
  fc.integer({ min: 0, max: 40_000 }).map((ms): Step => ({ kind: 'advance', ms })),
  fc.constant<Step>({ kind: 'fail' }),
);

/** Longest any transaction may outlive its last input: timer D/H/L/M/J + the 2xx retransmitter. */
const QUIET = 2 * 64 * 500 + 40_000;

t.test('property: server transactions never throw and never outlive their timers', async (t) => {
  fc.assert(fc.property(
    fc.constantFrom('INVITE', 'OPTIONS', 'BYE'),
    fc.constantFrom<'UDP' | 'TCP'>('UDP', 'TCP'),
    fc.boolean(),
    fc.array(stepArb, { maxLength: 30 }),
    (method, transport, retransmit2xx, steps) => {
      const h = new TransactionHarness();
      const peer = transport === 'UDP' ? PEER_UDP : PEER_TCP;
      const request = peerRequest({ method, transport });
      h.receive(request, peer);
      const tx = h.of('request')[0]!.tx;
      for (const step of steps) {
        switch (step.kind) {
          case 'retransmit': h.receive(peerRequest({ method, transport }), peer); break;
          case 'respond': {
            const response = createResponse(request, step.status, undefined, { toTag: 'uas' });
            if (tx.respond(response) && retransmit2xx && tx.kind === 'ist' && step.status >= 200 && step.status < 300) {
              h.layer.retransmitSuccess(tx, response, { onNoAck() {} });
            }
            break;
          }
          case 'ack': h.receive(peerRequest({ method: 'ACK', transport, toTag: 'uas' }), peer); break;
          case 'cancel': h.receive(peerRequest({ method: 'CANCEL', transport }), peer); break;
          case 'advance': h.clock.advance(step.ms); break;
          case 'fail': h.layer.sendFailed(peer); break;
        }
      }
      // The TU always answers in the end (a retransmission after a transport error is a new
      // transaction, so answer them all); then every timer must run out.
      for (const e of h.of('request')) {
        if (e.tx.state === 'trying' || e.tx.state === 'proceeding') e.tx.respond(createResponse(e.request, 480));
      }
      h.clock.advance(QUIET);
      return h.idle && tx.state === 'terminated';
    },
  ), { numRuns: 400 });
  t.pass('400 runs');
});

type ClientStep = { kind: 'response'; status: number; tag: string } | { kind: 'advance'; ms: number } | { kind: 'cancel' } | { kind: 'fail' };

t.test('property: client transactions never throw and never outlive their timers', async (t) => {
  const clientStep: fc.Arbitrary<ClientStep> = fc.oneof(
    fc.record({ status: fc.constantFrom(100, 180, 183, 200, 486, 487, 503), tag: fc.constantFrom('a', 'b') })
      .map((r): ClientStep => ({ kind: 'response', ...r })),
    fc.integer({ min: 0, max: 200_000 }).map((ms): ClientStep => ({ kind: 'advance', ms })),
    fc.constant<ClientStep>({ kind: 'cancel' }),
    fc.constant<ClientStep>({ kind: 'fail' }),
  );
  fc.assert(fc.property(
    fc.constantFrom('INVITE', 'REGISTER'),
    fc.constantFrom<Endpoint>(PEER_UDP, PEER_TCP),
    fc.array(clientStep, { maxLength: 30 }),
    (method, peer, steps) => {
      const h = new TransactionHarness();
      const request = peerRequest({ method, branch: newBranch(), sentBy: '198.51.100.1' });
      const tx = h.layer.sendRequest(request, peer, h);
      for (const step of steps) {
        if (step.kind === 'response') h.receive(peerResponse(request, step.status, step.tag), peer);
        else if (step.kind === 'advance') h.clock.advance(step.ms);
        else if (step.kind === 'cancel') { if (tx.kind === 'ict') h.layer.cancel(tx); }
        else h.layer.sendFailed(peer);
      }
      // No input at all: the INVITE provisional guard (180 s) + CANCEL give-up bound the longest life.
      h.clock.advance(180_000 + 2 * T64 + 1);
      const ended = h.of('timeout').length + h.of('transport-error').length;
      return h.idle && tx.state === 'terminated' && ended <= 1;
    },
  ), { numRuns: 400 });
  t.pass('400 runs');
});

/** OPTIONS number `i` from the UDP peer, answered 200 by the harness's TU at once. */
function options(i: number) {
  return peerRequest({ method: 'OPTIONS', branch: `z9hG4bKopt${i}`, callId: `opt-${i}@carrier.example` });
}

t.test('answered NISTs over UDP: one timer for all of them, each still ends at its own timer J', async (t) => {
  const h = new TransactionHarness();
  h.answer = (tx, r) => tx.respond(createResponse(r, 200, undefined, { toTag: 'o' }));
  const txs = [];
  for (let i = 0; i < 3; i++) {
    h.receive(options(i));
    txs.push(h.of('request')[i]!.tx);
    h.clock.advance(100);
  }
  t.equal(h.layer.retainedNonInviteCount, 3);
  t.equal(h.clock.pending, 1, 'one timer for three transactions waiting out J (was one each)');
  h.clock.advanceTo(T64 - 1);
  t.same(txs.map((x) => x.state), ['completed', 'completed', 'completed']);
  h.clock.advance(1);
  t.same(txs.map((x) => x.state), ['terminated', 'completed', 'completed'], 'the first at 64*T1 exactly');
  h.clock.advance(99);
  t.same(txs.map((x) => x.state), ['terminated', 'completed', 'completed']);
  h.clock.advance(1);
  t.same(txs.map((x) => x.state), ['terminated', 'terminated', 'completed'], 'the second 100 ms later');
  h.clock.advance(100);
  t.equal(h.layer.evictedCount, 0, 'expiry is not eviction');
  t.ok(h.idle);
});

t.test('ISTs answered 2xx: one timer for all of them in Accepted, each still ends at its own timer L', async (t) => {
  const h = new TransactionHarness();
  const invite = (i: number) => peerRequest({ method: 'INVITE', branch: `z9hG4bKacc${i}`, callId: `acc-${i}@carrier.example` });
  const txs: InviteServerTransaction[] = [];
  for (let i = 0; i < 3; i++) {
    const request = invite(i);
    h.receive(request);
    const tx = h.of('request')[i]!.tx as InviteServerTransaction;
    tx.respond(createResponse(request, 200, undefined, { toTag: `acc${i}` }));
    txs.push(tx);
    h.clock.advance(100);
  }
  t.equal(h.layer.answeredInviteCount, 3);
  t.equal(h.clock.pending, 1, 'one timer for three transactions waiting out L (was one each)');
  // RFC 6026 §7.1: Accepted absorbs a retransmitted INVITE; the ACK of the 2xx goes to the TU.
  h.receive(invite(1));
  t.equal(h.of('request').length, 3, 'the retransmission is no new request');
  h.receive(peerRequest({ method: 'ACK', branch: 'z9hG4bKacc2', callId: 'acc-2@carrier.example', toTag: 'acc2' }));
  t.equal(h.of('ack2xx').length, 1, 'the ACK of a 2xx passes to the TU');
  t.equal(txs[2]!.state, 'accepted', 'and leaves the transaction waiting out L');
  h.clock.advanceTo(T64 - 1);
  t.same(txs.map((x) => x.state), ['accepted', 'accepted', 'accepted']);
  h.clock.advance(1);
  t.same(txs.map((x) => x.state), ['terminated', 'accepted', 'accepted'], 'the first at 64*T1 exactly');
  h.clock.advance(100);
  t.same(txs.map((x) => x.state), ['terminated', 'terminated', 'accepted'], 'the second 100 ms later');
  h.clock.advance(100);
  t.equal(h.layer.answeredInviteCount, 0);
  t.equal(h.of('server-failure').length, 0, 'timer L ends quietly');
  t.ok(h.idle);
});

t.test('ISTs answered 486 over UDP: timer G each, one timer for all their H; H still reports the missing ACK at 64*T1', async (t) => {
  const h = new TransactionHarness();
  const txs: InviteServerTransaction[] = [];
  for (let i = 0; i < 3; i++) {
    const request = peerRequest({ method: 'INVITE', branch: `z9hG4bKbusy${i}`, callId: `busy-${i}@carrier.example` });
    h.receive(request);
    const tx = h.of('request')[i]!.tx as InviteServerTransaction;
    tx.respond(createResponse(request, 486, undefined, { toTag: `busy${i}` }));
    txs.push(tx);
  }
  t.equal(h.layer.answeredInviteCount, 3);
  t.equal(h.clock.pending, 4, 'three G timers and one for the three H (was one H each)');
  h.clock.advance(500);
  t.equal(h.transport.responses(486).length, 6, 'G resent each 486 at T1 (§17.2.1)');
  h.receive(peerRequest({ method: 'ACK', branch: 'z9hG4bKbusy1', callId: 'busy-1@carrier.example', toTag: 'busy1' }));
  t.equal(txs[1]!.state, 'confirmed', 'the ACK still matches');
  h.clock.advanceTo(T64 - 1);
  t.same(txs.map((x) => x.state), ['completed', 'terminated', 'completed'], 'the ACKed one ended at timer I');
  h.clock.advance(1);
  t.same(txs.map((x) => x.state), ['terminated', 'terminated', 'terminated']);
  t.same(h.of('server-failure').map((e) => [e.tx, e.reason, e.at]), [[txs[0], 'timeout', T64], [txs[2], 'timeout', T64]], 'timer H: no ACK, told at 64*T1');
  t.equal(h.layer.answeredInviteCount, 0);
  t.ok(h.idle);
});

t.test('maxRetainedNonInvite: the oldest answered NIST is evicted first and counted; the rest keep absorbing', async (t) => {
  const h = new TransactionHarness({ maxRetainedNonInvite: 3 });
  h.answer = (tx, r) => tx.respond(createResponse(r, 200, undefined, { toTag: 'o' }));
  for (let i = 0; i < 5; i++) {
    h.receive(options(i));
    h.clock.advance(10);
  }
  const txs = h.of('request').map((e) => e.tx);
  t.same(txs.map((x) => x.state), ['terminated', 'terminated', 'completed', 'completed', 'completed'], 'the two oldest went');
  t.equal(h.layer.evictedCount, 2);
  t.equal(h.layer.retainedNonInviteCount, 3);
  t.equal(h.layer.serverCount, 3);
  // A retransmission of a kept one is answered from it; one of an evicted one is a new request.
  h.receive(options(4));
  t.equal(h.of('request').length, 5, 'kept: absorbed');
  t.equal(h.transport.responses(200).length, 6, 'kept: its 200 resent');
  h.receive(options(0));
  t.equal(h.of('request').length, 6, 'evicted: the TU sees it again');
  t.equal(h.layer.evictedCount, 3, 'and answering it evicted the next oldest (number 2)');
  t.equal(txs[2]!.state, 'terminated');
  t.same(h.layer.retainedNonInviteCount, 3);
  h.clock.advance(T64);
  t.equal(h.layer.evictedCount, 3, 'timer J is not counted as eviction');
  t.ok(h.idle);
});

t.test('maxRetainedNonInvite never evicts an INVITE awaiting its ACK: its retransmission is no new call', async (t) => {
  const h = new TransactionHarness({ maxRetainedNonInvite: 2 });
  const invite = peerRequest({ method: 'INVITE', branch: 'z9hG4bKinv' });
  h.receive(invite);
  const ist = h.of('request')[0]!.tx as InviteServerTransaction;
  ist.respond(createResponse(invite, 486, undefined, { toTag: 'uas' }));
  h.answer = (tx, r) => tx.respond(createResponse(r, 200, undefined, { toTag: 'o' }));
  for (let i = 0; i < 50; i++) h.receive(options(i));
  t.equal(h.layer.evictedCount, 48, '48 of the 50 answered OPTIONS evicted');
  t.equal(ist.state, 'completed', 'the IST stays');
  const sent486 = h.transport.responses(486).length;
  h.receive(peerRequest({ method: 'INVITE', branch: 'z9hG4bKinv' }));
  t.equal(h.of('request').filter((e) => e.request.method === 'INVITE').length, 1, 'the retransmitted INVITE reached no TU');
  t.equal(h.transport.responses(486).length, sent486 + 1, 'it got the 486 again (§17.2.1)');
  h.receive(peerRequest({ method: 'ACK', branch: 'z9hG4bKinv', toTag: 'uas' }));
  t.equal(ist.state, 'confirmed', 'the ACK still matches it');
  t.equal(h.of('ack2xx').length, 0, 'and is not taken for the ACK of a 2xx');
  h.clock.advance(T64);
  t.ok(h.idle);
});
