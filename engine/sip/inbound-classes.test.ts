/**
 * Inbound messages by work class with sojourn admission (issue 13), on the real transaction layer
 * and work scheduler with a fake clock and turns run by hand: a new INVITE that waited past the
 * signalling deadline since its parse is answered 503 + Retry-After through its own server
 * transaction and reported to the TU (cause `late`) instead of reaching it as a call; one under
 * the deadline reaches it; retransmissions are answered before they would queue a second copy.
 */
import t from 'tap';
import { WorkScheduler } from '../sched/index.ts';
import { InboundClasses } from './inbound-classes.ts';
import { TransactionHarness, arrival, peerRequest, type RequestSpec } from './testing/transaction-harness.ts';
import type { Inbound } from './contracts.ts';
import type { TransportLayer } from './transport.ts';

const DEADLINE = 2000;

function rig() {
  const h = new TransactionHarness();
  const turns: (() => void)[] = [];
  const sched = new WorkScheduler({
    deadlines: { signalling: DEADLINE }, lateAfterMs: 100, readAheadPosts: 0, turnBudgetMs: 1000,
    now: () => h.clock.now(), defer: (turn) => turns.push(turn),
  });
  // The transport's part in a turn: hand the message to the transaction layer.
  const transport = { dispatch: (i: Inbound) => h.layer.onMessage(i), dropInbound() {} } as unknown as TransportLayer;
  const classes = new InboundClasses(sched, transport, h.layer, () => false);
  /** A peer's request as the transport parsed it now. */
  const read = (spec: RequestSpec): void => classes.post({ ...arrival(peerRequest(spec)), readAt: h.clock.now() });
  const turn = (): void => { while (turns.length > 0) turns.shift()!(); };
  return { h, sched, classes, read, turn };
}

t.test('a new INVITE that waited past the deadline gets 503 + Retry-After and a record, not a call', async (t) => {
  const r = rig();
  r.read({ callId: 'late@carrier', branch: 'z9hG4bKlate' });
  r.h.clock.advance(DEADLINE);
  r.turn();
  t.equal(r.h.of('request').length, 0, 'the TU never got it as a call');
  t.same(r.h.of('overload-refused').map((e) => [e.request.headers.callId, e.cause]), [['late@carrier', 'late']], 'the TU was told, cause late, to record the caller');
  const refused = r.h.transport.responses(503);
  t.equal(refused.length, 1, 'one 503');
  t.equal(refused[0]!.message.headers.get('retry-after'), '5', 'with Retry-After');
  t.ok(refused[0]!.message.headers.to.params.get('tag'), 'a final response with a To tag (RFC 3261 §8.2.6.2)');
  t.equal(r.h.layer.serverCount, 1, 'through a server transaction of its own');
  // Its retransmission is absorbed by that transaction (the 503 again), never a second call or record.
  const posted = r.sched.stats('signalling').posted;
  r.read({ callId: 'late@carrier', branch: 'z9hG4bKlate' });
  r.turn();
  t.equal(r.sched.stats('signalling').posted, posted, 'the retransmission was not queued');
  t.equal(r.h.transport.responses(503).length, 2, 'the transaction resent its 503');
  t.equal(r.h.of('overload-refused').length, 1, 'no second record');
  t.equal(r.classes.retransmissionsAbsorbed, 1, 'counted as absorbed');
  t.equal(r.sched.stats('signalling').overdue, 1, 'the scheduler counted it overdue');
});

t.test('a new INVITE under the deadline reaches the TU as a call', async (t) => {
  const r = rig();
  r.read({ callId: 'early@carrier', branch: 'z9hG4bKearly' });
  r.h.clock.advance(DEADLINE - 1);
  r.turn();
  t.same(r.h.of('request').map((e) => e.request.headers.callId), ['early@carrier'], 'worked as a full call');
  t.equal(r.h.of('overload-refused').length, 0, 'not refused');
  t.equal(r.h.transport.responses(503).length, 0, 'no 503');
});

t.test('other signalling requests are worked even past the deadline', async (t) => {
  const r = rig();
  r.read({ method: 'OPTIONS', callId: 'probe@carrier', branch: 'z9hG4bKprobe' });
  r.h.clock.advance(DEADLINE * 2);
  r.turn();
  t.same(r.h.of('request').map((e) => e.request.method), ['OPTIONS'], 'an OPTIONS probe is answered by the TU, not refused');
});

t.test('a retransmission of an INVITE still queued is not queued twice: it gets 100 Trying', async (t) => {
  const r = rig();
  r.read({ callId: 'slow@carrier', branch: 'z9hG4bKslow' });
  r.h.clock.advance(500); // the client's timer A: T1
  r.read({ callId: 'slow@carrier', branch: 'z9hG4bKslow' });
  t.equal(r.sched.stats('signalling').posted, 1, 'one copy queued');
  t.equal(r.h.transport.responses(100).length, 1, '100 Trying for the retransmission at once (stops timer A)');
  r.read({ callId: 'other@carrier', branch: 'z9hG4bKother' });
  t.equal(r.sched.stats('signalling').posted, 2, 'another INVITE is queued');
  r.turn();
  t.same(r.h.of('request').map((e) => e.request.headers.callId), ['slow@carrier', 'other@carrier'], 'each call reaches the TU once');
  // Once its transaction exists, a retransmission is absorbed by it before the queue.
  r.read({ callId: 'slow@carrier', branch: 'z9hG4bKslow' });
  t.equal(r.sched.stats('signalling').posted, 2, 'not queued');
  t.equal(r.classes.retransmissionsAbsorbed, 2, 'both retransmissions absorbed');
  r.turn();
  t.equal(r.h.of('request').length, 2, 'still one request per call');
});
