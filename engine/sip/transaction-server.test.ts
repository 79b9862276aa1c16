import t from 'tap';
import { createResponse } from './message.ts';
import type { InviteServerTransaction, NonInviteServerTransaction } from './transaction-server.ts';
import { PEER_TCP, PEER_UDP, TransactionHarness, peerRequest } from './testing/transaction-harness.ts';
import type { Endpoint } from './contracts.ts';
import { serialize } from './serializer.ts';
import { isParsedMessage, reachable } from './testing/retained.ts';

const T64 = 32_000;

function invite(h: TransactionHarness, peer: Endpoint = PEER_UDP) {
  const request = peerRequest({ method: 'INVITE', transport: peer.transport });
  h.receive(request, peer);
  const event = h.of('request')[0]!;
  return { request, tx: event.tx as InviteServerTransaction };
}

function ackFor(branch = 'z9hG4bKpeer1', toTag = 'uas', transport: 'UDP' | 'TCP' = 'UDP') {
  return peerRequest({ method: 'ACK', branch, toTag, transport });
}

function responseTimes(h: TransactionHarness, status: number): number[] {
  return h.transport.responses(status).map((s) => s.at);
}

t.test('IST: 100 Trying after 200 ms of TU silence, resent on INVITE retransmission', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  t.equal(tx.state, 'proceeding');
  h.clock.advance(199);
  t.equal(h.transport.sent.length, 0);
  h.clock.advance(1);
  t.same(responseTimes(h, 100), [200]);
  t.equal(h.transport.responses(100)[0]!.message.headers.to.params.get('tag'), undefined, '100 carries no To tag');
  h.clock.advance(300);
  h.receive(peerRequest({ method: 'INVITE' })); // retransmission at 500
  t.same(responseTimes(h, 100), [200, 500]);
  t.equal(h.of('request').length, 1, 'retransmission not passed to the TU');
  t.ok(tx.respond(createResponse(request, 486, undefined, { toTag: 'uas' })));
  h.receive(ackFor());
  h.clock.advance(5000);
  t.ok(h.idle);
});

t.test('IST: no 100 Trying when the TU answers within 200 ms; last provisional resent', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  h.clock.advance(100);
  tx.respond(createResponse(request, 180, undefined, { toTag: 'uas' }));
  h.clock.advance(1000);
  t.equal(h.transport.responses(100).length, 0);
  h.receive(peerRequest({ method: 'INVITE' }));
  t.same(responseTimes(h, 180), [100, 1100]);
  tx.respond(createResponse(request, 200, undefined, { toTag: 'uas' }));
  h.clock.advance(T64);
  t.ok(h.idle);
});

t.test('IST over UDP: timer G doubles to T2, timer H reports the missing ACK', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  h.clock.advance(1000);
  tx.respond(createResponse(request, 486, undefined, { toTag: 'uas' }));
  t.equal(tx.state, 'completed');
  h.clock.advance(T64 - 1);
  t.same(responseTimes(h, 486), [1000, 1500, 2500, 4500, 8500, 12500, 16500, 20500, 24500, 28500, 32500].map((x) => x));
  t.equal(h.of('server-failure').length, 0);
  h.clock.advance(1);
  t.same(h.of('server-failure').map((e) => [e.reason, e.at]), [['timeout', 1000 + T64]]);
  t.equal(tx.state, 'terminated');
  t.ok(h.idle);
});

t.test('IST: ACK → Confirmed, G stops, I absorbs ACKs then ends', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  tx.respond(createResponse(request, 480, undefined, { toTag: 'uas' }));
  h.clock.advance(1000); // G at 500
  h.receive(peerRequest({ method: 'INVITE' })); // retransmission in Completed: final resent
  t.same(responseTimes(h, 480), [0, 500, 1000]);
  h.receive(ackFor());
  t.equal(tx.state, 'confirmed');
  h.receive(ackFor()); // ACK retransmission absorbed
  h.receive(peerRequest({ method: 'INVITE' })); // so is the INVITE
  t.equal(h.of('ack2xx').length, 0, 'ACKs for the non-2xx never reach the TU');
  h.clock.advance(4999);
  t.same(responseTimes(h, 480), [0, 500, 1000], 'G stopped by the ACK');
  t.equal(tx.state, 'confirmed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated', 'timer I = T4');
  t.ok(h.idle);
});

t.test('IST over TCP: no G, H still guards, ACK ends it at once (I = 0)', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h, PEER_TCP);
  tx.respond(createResponse(request, 486, undefined, { toTag: 'uas' }));
  h.clock.advance(10_000);
  t.same(responseTimes(h, 486), [0]);
  t.same(h.transport.responses(486)[0]!.to, PEER_TCP, 'on the connection it came in on');
  h.receive(ackFor(undefined, undefined, 'TCP'), PEER_TCP);
  t.equal(tx.state, 'terminated');
  t.ok(h.idle);

  const h2 = new TransactionHarness();
  const second = invite(h2, PEER_TCP);
  second.tx.respond(createResponse(second.request, 486, undefined, { toTag: 'uas' }));
  h2.clock.advance(T64);
  t.equal(h2.of('server-failure').length, 1, 'timer H over TCP');
  t.ok(h2.idle);
});

t.test('IST (RFC 6026): 2xx → Accepted; INVITE retransmissions absorbed; timer L; TU 2xx passes', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  const ok = createResponse(request, 200, undefined, { toTag: 'uas' });
  t.ok(tx.respond(ok));
  t.equal(tx.state, 'accepted');
  h.clock.advance(500);
  h.receive(peerRequest({ method: 'INVITE' }));
  t.same(responseTimes(h, 200), [0], 'retransmitted INVITE absorbed, not answered');
  t.ok(tx.respond(ok), 'the TU core may resend its 2xx');
  t.notOk(tx.respond(createResponse(request, 486)), 'no non-2xx after a 2xx');
  t.same(responseTimes(h, 200), [0, 500]);
  h.clock.advanceTo(T64 - 1);
  t.equal(tx.state, 'accepted');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.equal(h.of('server-failure').length, 0);
  t.ok(h.idle);
});

t.test('2xx retransmission (§13.3.1.4): T1 doubling to T2 until the ACK', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  const ok = createResponse(request, 200, undefined, { toTag: 'uas' });
  tx.respond(ok);
  h.layer.retransmitSuccess(tx, ok, { onNoAck: () => t.fail('ACK came') });
  h.clock.advance(8000);
  t.same(responseTimes(h, 200), [0, 500, 1500, 3500, 7500]);
  // The ACK for a 2xx has its own branch: it matches no transaction and goes to the TU.
  h.receive(ackFor('z9hG4bKack2xx'));
  t.same(h.of('ack2xx').map((e) => e.stopped), [true]);
  h.clock.advance(T64);
  t.same(responseTimes(h, 200), [0, 500, 1500, 3500, 7500], 'stopped by the ACK');
  t.ok(h.idle);
});

t.test('2xx retransmission: no ACK within 64*T1 → onNoAck', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h, PEER_TCP);
  const ok = createResponse(request, 200, undefined, { toTag: 'uas' });
  tx.respond(ok);
  const noAck: number[] = [];
  h.layer.retransmitSuccess(tx, ok, { onNoAck: (r) => noAck.push(r.status, h.clock.now()) });
  h.clock.advance(T64);
  t.same(responseTimes(h, 200), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500], 'also over TCP (§13.3.1.4)');
  t.same(noAck, [200, T64]);
  // A late ACK is still the TU's, but stops nothing.
  h.receive(ackFor('z9hG4bKlate', 'uas', 'TCP'), PEER_TCP);
  t.same(h.of('ack2xx').map((e) => e.stopped), [false]);
  t.ok(h.idle);
  // An ACK with another To tag does not stop a retransmission in progress.
  const h2 = new TransactionHarness();
  const second = invite(h2);
  const ok2 = createResponse(second.request, 200, undefined, { toTag: 'uas' });
  second.tx.respond(ok2);
  h2.layer.retransmitSuccess(second.tx, ok2, { onNoAck() {} });
  h2.receive(ackFor('z9hG4bKx', 'someone-else'));
  t.equal(h2.layer.successes.size, 1);
  t.ok(h2.layer.successes.stop(ok2));
  h2.clock.advance(T64);
  t.ok(h2.idle);
});

t.test('NIST over UDP: Trying drops retransmissions, Proceeding resends the 1xx, Completed the final, J', async (t) => {
  const h = new TransactionHarness();
  const request = peerRequest({ method: 'REGISTER' });
  h.receive(request);
  const tx = h.of('request')[0]!.tx as NonInviteServerTransaction;
  t.equal(tx.kind, 'nist');
  t.equal(tx.state, 'trying');
  h.receive(peerRequest({ method: 'REGISTER' }));
  t.equal(h.transport.sent.length, 0, 'Trying: retransmission discarded');
  t.ok(tx.respond(createResponse(request, 100)));
  t.equal(tx.state, 'proceeding');
  h.clock.advance(500);
  h.receive(peerRequest({ method: 'REGISTER' }));
  t.same(responseTimes(h, 100), [0, 500]);
  t.ok(tx.respond(createResponse(request, 200, undefined, { toTag: 'r' })));
  t.equal(tx.state, 'completed');
  t.notOk(tx.respond(createResponse(request, 500)), 'one final only');
  h.clock.advance(1000);
  h.receive(peerRequest({ method: 'REGISTER' }));
  t.same(responseTimes(h, 200), [500, 1500]);
  t.equal(responseTimes(h, 500).length, 0);
  t.equal(h.of('request').length, 1);
  h.clock.advanceTo(500 + T64 - 1);
  t.equal(tx.state, 'completed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated', 'timer J = 64*T1');
  t.ok(h.idle);
});

t.test('NIST over TCP: J = 0', async (t) => {
  const h = new TransactionHarness();
  h.answer = (tx, r) => tx.respond(createResponse(r, 200, undefined, { toTag: 'x' }));
  h.receive(peerRequest({ method: 'OPTIONS', transport: 'TCP' }), PEER_TCP);
  t.equal(h.transport.responses(200).length, 1);
  t.same(h.transport.responses(200)[0]!.to, PEER_TCP);
  t.ok(h.idle);
});

t.test('NIST guard: a TU that never answers does not pin the transaction', async (t) => {
  const h = new TransactionHarness();
  h.receive(peerRequest({ method: 'OPTIONS' }));
  h.clock.advance(T64);
  t.same(h.of('server-failure').map((e) => [e.tx.method, e.reason, e.at]), [['OPTIONS', 'timeout', T64]]);
  t.ok(h.idle);
});

t.test('server transport errors: Terminated and reported', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  tx.respond(createResponse(request, 486, undefined, { toTag: 'uas' }));
  h.layer.sendFailed(PEER_UDP);
  t.equal(tx.state, 'terminated');
  t.same(h.of('server-failure').map((e) => e.reason), ['transport-error']);
  h.layer.sendFailed(PEER_UDP);
  t.equal(h.of('server-failure').length, 1, 'reported once');
  t.ok(h.idle);
});

t.test('2xx retransmission keeps the bytes sent, not the parsed response (memory, issue 11)', async (t) => {
  const h = new TransactionHarness();
  const { request, tx } = invite(h);
  const ok = createResponse(request, 200, undefined, { toTag: 'uas', body: Buffer.from('v=0\r\n'), contentType: 'application/sdp' });
  tx.respond(ok);
  h.layer.retransmitSuccess(tx, ok, { onNoAck() {} });
  t.equal(h.layer.successes.size, 1);
  // Walk what the retransmitter holds (not the fake transport's record of what was sent).
  t.same(reachable(h.layer.successes, isParsedMessage, [h.transport, h.clock]).length, 0, 'no parsed message retained');
  t.same(reachable(tx, isParsedMessage, [h.transport, h.clock, h.layer]).length, 0, 'nor by the Accepted IST');
  h.clock.advance(500);
  const [first, again] = h.transport.responses(200);
  t.ok(first && again, 'retransmitted at T1');
  t.equal(again!.message.kind === 'response' && serialize(again!.message).toString('latin1'), serialize(ok).toString('latin1'), 'the same 2xx, byte for byte');
  t.ok(h.layer.successes.stop(ok));
  h.clock.advance(T64);
  t.ok(h.idle);
});
