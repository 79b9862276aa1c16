import t from 'tap';
import { newBranch } from './branch.ts';
import type { InviteClientTransaction, NonInviteClientTransaction } from './transaction-client.ts';
import { PEER_TCP, PEER_UDP, TransactionHarness, peerRequest, peerResponse } from './testing/transaction-harness.ts';
import type { Endpoint } from './contracts.ts';

const T1 = 500;
const T64 = 64 * T1;

/** An outbound request with a fresh branch and a Route, as the UA would build it. */
function ours(method: string, transport: 'UDP' | 'TCP' = 'UDP') {
  return peerRequest({
    method, branch: newBranch(), transport, sentBy: '198.51.100.1:5060', uri: 'sip:agent7@192.0.2.10:5060',
    extra: ['Route: <sip:edge.onair.example;lr>', 'Route: <sip:sbc.carrier.example;lr>'],
  });
}

function start(method: string, peer: Endpoint = PEER_UDP) {
  const h = new TransactionHarness();
  const request = ours(method, peer.transport === 'UDP' ? 'UDP' : 'TCP');
  const tx = h.layer.sendRequest(request, peer, h);
  return { h, request, tx };
}

function sentTimes(h: TransactionHarness, method: string): number[] {
  return h.transport.requests(method).map((s) => s.at);
}

t.test('ICT over UDP: timer A doubles without cap until timer B reports the timeout', async (t) => {
  const { h, tx } = start('INVITE');
  t.equal(tx.state, 'calling');
  h.clock.advance(T64 - 1);
  t.same(sentTimes(h, 'INVITE'), [0, 500, 1500, 3500, 7500, 15500, 31500]);
  t.equal(h.of('timeout').length, 0);
  h.clock.advance(1);
  t.same(h.of('timeout').map((e) => e.at), [T64], 'timer B at 64*T1');
  t.equal(tx.state, 'terminated');
  t.ok(h.idle, 'no transaction or timer left');
  h.clock.advance(100_000);
  t.equal(h.transport.requests('INVITE').length, 7, 'nothing after B');
});

t.test('ICT over TCP: no retransmission, timer B still applies', async (t) => {
  const { h } = start('INVITE', PEER_TCP);
  h.clock.advance(T64);
  t.same(sentTimes(h, 'INVITE'), [0]);
  t.equal(h.of('timeout').length, 1);
  t.ok(h.idle);
});

t.test('ICT: provisional stops A, non-2xx final is ACKed by the transaction and absorbed after', async (t) => {
  const { h, tx, request } = start('INVITE');
  h.clock.advance(600);
  h.receive(peerResponse(request, 180, 'agent-tag'));
  t.equal(tx.state, 'proceeding');
  h.clock.advance(20_000);
  t.same(sentTimes(h, 'INVITE'), [0, 500], 'A stopped by the 180');
  h.receive(peerResponse(request, 183, 'agent-tag'));
  h.receive(peerResponse(request, 486, 'agent-tag'));
  t.equal(tx.state, 'completed');
  t.same(h.of('response').map((e) => e.response.status), [180, 183, 486]);
  const acks = h.transport.requests('ACK');
  t.equal(acks.length, 1, 'ACK sent');
  const ack = acks[0]!.message;
  // §17.1.1.3: same Request-URI, Call-ID, From, CSeq number; To of the response; one Via, same branch; Route copied.
  t.equal(ack.uriText, request.uriText);
  t.equal(ack.headers.callId, request.headers.callId);
  t.equal(ack.headers.get('From'), request.headers.get('From'));
  t.equal(ack.headers.to.params.get('tag'), 'agent-tag');
  t.same(ack.headers.cseq, { seq: request.headers.cseq.seq, method: 'ACK' });
  t.equal(ack.headers.via.length, 1);
  t.equal(ack.headers.via[0]!.branch, request.headers.via[0]!.branch);
  t.same(ack.headers.getAll('Route'), ['<sip:edge.onair.example;lr>', '<sip:sbc.carrier.example;lr>']);
  t.same(acks[0]!.to, PEER_UDP, 'ACK goes where the INVITE went');
  // A retransmitted final gets the same ACK again, and the TU does not see it.
  h.clock.advance(1000);
  h.receive(peerResponse(request, 486, 'agent-tag'));
  t.equal(h.transport.requests('ACK').length, 2);
  t.equal(h.transport.requests('ACK')[1]!.message, ack, 'the very same ACK');
  t.equal(h.of('response').length, 3);
  // Timer D: 32 s after the final.
  const completedAt = 20_600;
  h.clock.advanceTo(completedAt + 32_000 - 1);
  t.equal(tx.state, 'completed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.ok(h.idle);
});

t.test('ICT over TCP: non-2xx final → ACK and Terminated at once (timer D = 0)', async (t) => {
  const { h, tx, request } = start('INVITE', PEER_TCP);
  h.receive(peerResponse(request, 603, 'x'), PEER_TCP);
  t.equal(tx.state, 'terminated');
  t.equal(h.transport.requests('ACK').length, 1);
  t.ok(h.idle);
});

t.test('ICT: a final straight from Calling stops A and B', async (t) => {
  const { h, tx, request } = start('INVITE');
  h.receive(peerResponse(request, 404, 'x'));
  t.equal(tx.state, 'completed');
  h.clock.advance(31_999);
  t.same(sentTimes(h, 'INVITE'), [0]);
  t.equal(h.of('timeout').length, 0);
  h.clock.advance(1);
  t.ok(h.idle);
});

t.test('ICT (RFC 6026): 2xx → Accepted, every 2xx passed up, no ACK, timer M', async (t) => {
  const { h, tx, request } = start('INVITE');
  h.receive(peerResponse(request, 200, 'a'));
  t.equal(tx.state, 'accepted');
  h.clock.advance(500);
  h.receive(peerResponse(request, 200, 'a')); // retransmission
  h.receive(peerResponse(request, 200, 'b')); // another fork
  h.receive(peerResponse(request, 486, 'c')); // non-2xx in Accepted: dropped
  t.same(h.of('response').map((e) => `${e.response.status}/${e.response.headers.to.params.get('tag')}`), ['200/a', '200/a', '200/b']);
  t.equal(h.transport.requests('ACK').length, 0, 'the TU ACKs 2xx, not the transaction');
  t.same(sentTimes(h, 'INVITE'), [0], 'A stopped');
  h.clock.advanceTo(T64 - 1);
  t.equal(tx.state, 'accepted');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.ok(h.idle);
  h.receive(peerResponse(request, 200, 'a'));
  t.equal(h.of('stray').length, 1, 'a 2xx after M reaches the TU as stray');
});

t.test('ICT: provisional with no final for too long is cancelled, then given up 64*T1 later', async (t) => {
  const h = new TransactionHarness({ timers: { inviteProvisionalTimeout: 10_000 } });
  const request = ours('INVITE');
  const tx = h.layer.sendRequest(request, PEER_UDP, h) as InviteClientTransaction;
  h.receive(peerResponse(request, 180, 'x'));
  h.clock.advance(9_999);
  t.equal(h.transport.requests('CANCEL').length, 0);
  h.clock.advance(1);
  t.equal(h.transport.requests('CANCEL').length, 1, 'CANCEL at the provisional timeout');
  t.ok(tx.cancelRequested);
  h.clock.advance(T64);
  t.same(h.of('timeout').map((e) => [e.tx.method, e.at]), [['INVITE', 10_000 + T64]], '§9.1 give-up reported once for the INVITE');
  t.ok(h.idle, 'the CANCEL NICT timed out too and nothing is left');
});

t.test('NICT over UDP: timer E doubles to T2, timer F reports the timeout', async (t) => {
  const { h, tx } = start('OPTIONS');
  t.equal(tx.state, 'trying');
  h.clock.advance(T64 - 1);
  t.same(sentTimes(h, 'OPTIONS'), [0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  h.clock.advance(1);
  t.same(h.of('timeout').map((e) => e.at), [T64]);
  t.ok(h.idle);
});

t.test('NICT: in Proceeding timer E fires every T2', async (t) => {
  const { h, tx, request } = start('REGISTER');
  h.clock.advance(600); // E fired at 500, next at 1500
  h.receive(peerResponse(request, 100));
  t.equal(tx.state, 'proceeding');
  h.clock.advance(10_000);
  t.same(sentTimes(h, 'REGISTER'), [0, 500, 1500, 5500, 9500]);
  h.receive(peerResponse(request, 200, 'r'));
  t.equal(tx.state, 'completed');
  t.same(h.of('response').map((e) => e.response.status), [100, 200]);
  // Retransmitted final: absorbed.
  h.receive(peerResponse(request, 200, 'r'));
  t.equal(h.of('response').length, 2);
  // Timer K = T4.
  h.clock.advance(4_999);
  t.equal(tx.state, 'completed');
  h.clock.advance(1);
  t.equal(tx.state, 'terminated');
  t.same(sentTimes(h, 'REGISTER'), [0, 500, 1500, 5500, 9500], 'no retransmission after the final');
  t.ok(h.idle);
});

t.test('NICT over TCP: no E; final terminates at once (K = 0); F on silence', async (t) => {
  const a = start('BYE', PEER_TCP);
  a.h.receive(peerResponse(a.request, 200), PEER_TCP);
  t.equal(a.tx.state, 'terminated');
  t.ok(a.h.idle);
  const b = start('BYE', PEER_TCP);
  b.h.clock.advance(T64);
  t.same(sentTimes(b.h, 'BYE'), [0]);
  t.equal(b.h.of('timeout').length, 1);
  t.ok(b.h.idle);
});

t.test('transport errors end client transactions and tell the TU', async (t) => {
  const h = new TransactionHarness();
  const invite = h.layer.sendRequest(ours('INVITE'), PEER_UDP, h);
  const options = h.layer.sendRequest(ours('OPTIONS'), PEER_TCP, h) as NonInviteClientTransaction;
  const elsewhere = h.layer.sendRequest(ours('OPTIONS'), { ...PEER_UDP, port: 5070 }, h);
  h.layer.sendFailed(PEER_UDP);
  t.equal(invite.state, 'terminated');
  t.equal(options.state, 'trying', 'other transport untouched');
  t.equal(elsewhere.state, 'trying', 'other port untouched');
  h.layer.sendFailed(PEER_TCP);
  t.same(h.of('transport-error').map((e) => e.tx), [invite, options]);
  h.layer.sendFailed({ ...PEER_UDP, port: 5070 });
  t.ok(h.idle);
});

t.test('sendRequest refuses ACK, a missing branch and a reused branch', async (t) => {
  const h = new TransactionHarness();
  t.throws(() => h.layer.sendRequest(ours('ACK'), PEER_UDP, h), /SIP_ERR_ACK/);
  t.throws(() => h.layer.sendRequest(peerRequest({ branch: null }), PEER_UDP, h), /SIP_ERR_NO_BRANCH/);
  const r = ours('OPTIONS');
  h.layer.sendRequest(r, PEER_UDP, h);
  t.throws(() => h.layer.sendRequest(r, PEER_UDP, h), /SIP_ERR_DUPLICATE_BRANCH/);
  h.layer.close();
  t.ok(h.idle, 'close() stops everything');
  h.layer.close();
});

t.test('responses match by branch and CSeq method only (§17.1.3)', async (t) => {
  const { h, request } = start('INVITE');
  const other = peerRequest({ method: 'INVITE', branch: 'z9hG4bKnotours' });
  h.receive(peerResponse(other, 180));
  t.equal(h.of('response').length, 0);
  t.equal(h.of('stray').length, 1);
  // Same branch, CSeq method CANCEL: that is the CANCEL's transaction, not the INVITE's.
  const cancelLike = peerRequest({ method: 'CANCEL', branch: request.headers.via[0]!.branch! });
  h.receive(peerResponse(cancelLike, 200));
  t.equal(h.of('response').length, 0);
  t.equal(h.of('stray').length, 2);
  h.layer.close();
});
