/**
 * The callback port (contract D3): call control owns inbound calls only and hands the ACD effects
 * of callback entries to the dialer's port, while every input, the dialer's too, goes through its
 * one effect loop (`decide`).
 */
import t from 'tap';
import { CallRig } from './testing.ts';
import type { AcdEffect } from '../acd/index.ts';
import type { CallbackOffers } from './types.ts';

/** A port that records what reaches it. */
function recorder(): CallbackOffers & { seen: string[]; answered: string[]; free: string[] } {
  const seen: string[] = [];
  const answered: string[] = [];
  const free: string[] = [];
  const line = (e: AcdEffect): string => (e.type === 'offer' ? `offer ${e.callId}>${e.agentId}` : e.type === 'ended' ? `ended ${e.callId}:${e.outcome}` : `${e.type} ${'callId' in e ? e.callId : ''}`);
  return {
    seen, answered, free,
    offer: (e) => seen.push(line(e)),
    cancelOffer: (e) => seen.push(`${line(e)}:${e.reason}`),
    ended: (e) => seen.push(line(e)),
    agentFree: (id) => free.push(id),
    inboundAnswered: (e) => answered.push(`${e.callId}:${e.caller}`),
  };
}

t.test('offers, cancels and ends of callback entries go to the port; the controller rings nobody for them', async (t) => {
  const port = recorder();
  const r = new CallRig({ logLevel: 'silent', queues: [{ id: 'orders', ringTimeoutMs: 10_000 }], callbacks: () => port });
  t.teardown(() => r.close());
  r.agent('a1', '2001', 5070);
  t.ok(port.free.includes('a1'), 'an available agent going idle is told to the port');
  r.calls.decide(() => r.acd.addCallback({ id: 'cb:1', queueId: 'orders', callerNumber: '13800000001', arrivalTime: r.clock.now() }, r.clock.now()));
  await r.settle();
  t.same(port.seen, ['offer cb:1>a1']);
  t.same(r.agentInvites(), [], 'no INVITE from call control for a callback entry');
  // The port rang the agent's phone, and it rings: a timeout now is the agent's ring-no-answer.
  r.calls.decide(() => r.acd.offerSent('cb:1', r.clock.now()));
  r.calls.decide(() => r.acd.offerRinging('cb:1', r.clock.now()));
  await r.advance(10_000);
  t.same(port.seen, ['offer cb:1>a1', 'cancelOffer cb:1:ringTimeout'], 'the ring timeout of the entry is the port\'s');
  r.agent('a2', '2002', 5072);
  t.same(port.seen.at(-1), 'offer cb:1>a2', 'back at the head: the next agent gets it');
  r.calls.decide(() => r.acd.callbackUnreached('cb:1', r.clock.now()));
  t.same(port.seen.at(-1), 'ended cb:1:unreached');
  t.equal(r.acd.inspectAgent('a2')?.state, 'idle');
});

t.test('the dialer\'s input through decide() runs the same loop: the freed agent is offered a waiting caller', async (t) => {
  const port = recorder();
  const r = new CallRig({ logLevel: 'silent', callbacks: () => port });
  t.teardown(() => r.close());
  const phone = r.agent('a1', '2001', 5070);
  r.calls.decide(() => r.acd.addCallback({ id: 'cb:7', queueId: 'orders', callerNumber: '13800000007', arrivalTime: r.clock.now() }, r.clock.now()));
  r.invite({ from: '13900000009' });
  await r.settle();
  r.media.done(r.callerLeg(0));
  await r.settle();
  t.same(r.agentInvites(), [], 'the caller waits: the agent is reserved for the callback');
  r.calls.decide(() => r.acd.callbackUnreached('cb:7', r.clock.now()));
  await r.settle();
  const invites = r.agentInvites();
  t.equal(invites.length, 1, 'the agent freed by the dialer is rung for the caller at once');
  r.phoneAnswers(invites[0]!, phone);
  await r.settle();
  const callId = r.of('call.arrived')[0]!.callId;
  t.same(port.answered, [`${callId}:13900000009`], 'a live answer is told to the port with the caller number');
});

t.test('without a port, a callback entry offered is declined rather than left ringing', async (t) => {
  const r = new CallRig({ logLevel: 'silent' });
  t.teardown(() => r.close());
  r.agent('a1', '2001', 5070);
  r.calls.decide(() => r.acd.addCallback({ id: 'cb:1', queueId: 'orders', callerNumber: '1', arrivalTime: r.clock.now() }, r.clock.now()));
  t.equal(r.acd.inspectCall('cb:1')?.state, 'waiting', 'back in the queue');
  t.equal(r.acd.inspectAgent('a1')?.status, 'notReady');
});
