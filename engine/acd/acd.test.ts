import t from 'tap';
import { Acd, AcdError, estimateWait } from './index.ts';
import type { AcdConfig, QueueConfig } from './index.ts';
import { Scenario } from './testkit.ts';

const q = (id: string, extra: Partial<QueueConfig> = {}): QueueConfig => ({ id, ringTimeoutMs: 0, ...extra });

/** Agents a1..aN with the given skills map. */
function agents(n: number, skills: Record<string, number>, prefix = 'a'): { id: string; skills: Record<string, number> }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i + 1}`, skills }));
}

t.test('routing basics', async (t) => {
  t.test('an arriving call goes to an idle agent at once', async (t) => {
    const s = new Scenario({ queues: [q('sales')], agents: agents(1, { sales: 1 }) });
    s.login('a1').call('c1', 'sales');
    t.same(s.offers(), ['c1:a1']);
    t.equal(s.acd.inspectAgent('a1')?.state, 'reserved');
    t.equal(s.acd.inspectCall('c1')?.state, 'offered');
  });

  t.test('with no agent the call waits; an agent logging in takes it', async (t) => {
    const s = new Scenario({ queues: [q('sales')], agents: agents(1, { sales: 1 }) });
    s.call('c1', 'sales');
    t.same(s.offers(), []);
    t.equal(s.acd.snapshot(s.now).queues[0]?.waiting, 1);
    s.at(5).login('a1');
    t.same(s.offers(), ['c1:a1']);
    t.equal(s.acd.snapshot(s.now).queues[0]?.waiting, 0);
  });

  t.test('an agent without the skill is never offered the call', async (t) => {
    const s = new Scenario({ queues: [q('sales'), q('support')], agents: [{ id: 'a1', skills: { support: 5 } }] });
    s.login('a1').call('c1', 'sales');
    t.same(s.offers(), []);
  });

  t.test('minimum level is enforced', async (t) => {
    const s = new Scenario({ queues: [q('sales', { minLevel: 5 })], agents: [{ id: 'lo', skills: { sales: 4 } }, { id: 'hi', skills: { sales: 5 } }] });
    s.login('lo').call('c1', 'sales');
    t.same(s.offers(), []);
    s.login('hi');
    t.same(s.offers(), ['c1:hi']);
  });

  t.test('FIFO within equal priority; higher priority first', async (t) => {
    const s = new Scenario({ queues: [q('sales')], agents: agents(1, { sales: 1 }) });
    s.call('c1', 'sales').at(1).call('c2', 'sales').at(2).call('vip', 'sales', { priority: 5 }).at(3).call('c3', 'sales');
    s.login('a1');
    const order: string[] = [];
    for (let i = 0; i < 4; i++) {
      const o = s.offers()[0]!;
      const callId = o.split(':')[0]!;
      order.push(callId);
      s.serve(callId);
    }
    t.same(order, ['vip', 'c1', 'c2', 'c3']);
  });

  t.test('VIP priority holds across queues for a multi-skilled agent', async (t) => {
    const s = new Scenario({ queues: [q('a'), q('b')], agents: [{ id: 'x', skills: { a: 1, b: 1 } }] });
    s.call('old', 'a').at(100).call('vip', 'b', { priority: 1 }).at(200).login('x');
    t.same(s.offers(), ['vip:x']);
  });
});

t.test('strategies', async (t) => {
  const twoIdle = (strategy: string, extra: Partial<AcdConfig> = {}) =>
    new Scenario({ queues: [q('s', { strategy })], agents: agents(3, { s: 1 }), ...extra });

  t.test('longestIdle picks the agent idle the longest', async (t) => {
    const s = twoIdle('longestIdle');
    s.login('a2').at(10).login('a1').at(20).login('a3').at(30).call('c1', 's');
    t.same(s.offers(), ['c1:a2']);
  });

  t.test('leastCalls picks the agent with fewest calls', async (t) => {
    const s = twoIdle('leastCalls');
    s.login('a1', 'a2', 'a3');
    s.call('c1', 's');
    t.equal(s.agentOf('c1'), 'a1', 'ties by longest idle, then roster order');
    s.at(10).serve('c1').call('c2', 's');
    t.equal(s.agentOf('c2'), 'a2', 'a1 is now the longest... no: it has one call');
    s.at(20).serve('c2').call('c3', 's');
    t.equal(s.agentOf('c3'), 'a3');
    s.at(30).serve('c3').call('c4', 's');
    t.equal(s.agentOf('c4'), 'a1', 'all have one call; a1 idle the longest');
  });

  t.test('leastTalkTime picks the agent with the least talk time', async (t) => {
    const s = twoIdle('leastTalkTime');
    s.login('a1', 'a2', 'a3');
    s.call('c1', 's').answer('c1').at(100).end('c1'); // a1 talked 100
    s.call('c2', 's').answer('c2').at(110).end('c2'); // a2 talked 10
    s.call('c3', 's').answer('c3').at(1110).end('c3'); // a3 talked 1000
    s.call('c4', 's');
    t.same(s.offers(), ['c4:a2']);
  });

  t.test('skillLevel picks the most proficient agent', async (t) => {
    const s = new Scenario({
      queues: [q('s', { strategy: 'skillLevel' })],
      agents: [{ id: 'junior', skills: { s: 2 } }, { id: 'senior', skills: { s: 9 } }, { id: 'mid', skills: { s: 5 } }],
    });
    s.login('junior', 'senior', 'mid').call('c1', 's').call('c2', 's').call('c3', 's');
    t.same(s.log.filter((e) => e.type === 'offer').map((e) => e.type === 'offer' && e.agentId), ['senior', 'mid', 'junior']);
  });

  t.test('roundRobin walks the agents in turn', async (t) => {
    const s = twoIdle('roundRobin');
    s.login('a1', 'a2', 'a3');
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      s.at(i * 10).call(`c${i}`, 's');
      const agent = s.agentOf(`c${i}`)!;
      got.push(agent);
      // a fast agent becomes idle again at once; longest-idle would pick it again, round robin does not
      s.serve(`c${i}`);
    }
    t.same(got, ['a1', 'a2', 'a3', 'a1', 'a2', 'a3']);
  });

  t.test('a plugged strategy is a comparator', async (t) => {
    const s = new Scenario({
      queues: [q('s', { strategy: 'lastIdPlease' })],
      agents: agents(3, { s: 1 }),
      strategies: { lastIdPlease: (a, b) => (a.agent.id < b.agent.id ? 1 : a.agent.id > b.agent.id ? -1 : 0) },
    });
    s.login('a1', 'a2', 'a3').call('c1', 's');
    t.same(s.offers(), ['c1:a3']);
  });

  t.test('preferred agent first, any agent after the fallback timeout', async (t) => {
    const s = new Scenario({ queues: [q('s', { preferredAgentTimeoutMs: 1000 })], agents: agents(2, { s: 1 }) });
    s.login('a1', 'a2').status('a2', 'notReady', 'lunch');
    s.call('c1', 's', { preferredAgentId: 'a2' });
    t.same(s.offers(), [], 'a1 is idle but the call waits for a2');
    t.equal(s.acd.inspectCall('c1')?.preferredOnly, true);
    s.at(999);
    t.same(s.offers(), []);
    s.at(1000);
    t.same(s.offers(), ['c1:a1'], 'fallback at the timeout');
  });

  t.test('preferred agent who becomes available within the timeout gets the call', async (t) => {
    const s = new Scenario({ queues: [q('s', { preferredAgentTimeoutMs: 1000 })], agents: agents(2, { s: 1 }) });
    s.login('a2').status('a2', 'notReady').login('a1').call('x', 's');
    t.same(s.offers(), ['x:a1']);
    s.call('c1', 's', { preferredAgentId: 'a2' });
    t.same(s.offers(), []);
    s.at(500).status('a2', 'available');
    t.same(s.offers(), ['c1:a2']);
  });

  t.test('a logged-out preferred agent is not waited for', async (t) => {
    const s = new Scenario({ queues: [q('s', { preferredAgentTimeoutMs: 1000 })], agents: agents(2, { s: 1 }) });
    s.login('a1').call('c1', 's', { preferredAgentId: 'a2' });
    t.same(s.offers(), ['c1:a1']);
  });

  t.test('a preferred agent without the queue skill is not waited for', async (t) => {
    const s = new Scenario({ queues: [q('s', { preferredAgentTimeoutMs: 1000 })], agents: [{ id: 'a1', skills: { s: 1 } }, { id: 'other', skills: { x: 9 } }] });
    s.login('other', 'a1').call('c1', 's', { preferredAgentId: 'other' });
    t.same(s.offers(), ['c1:a1']);
    t.equal(s.acd.inspectCall('c1')?.preferredOnly, false);
  });

  t.test('the preferred agent logging out releases the call at once', async (t) => {
    const s = new Scenario({ queues: [q('s', { preferredAgentTimeoutMs: 10_000 })], agents: agents(2, { s: 1 }) });
    s.login('a2').status('a2', 'notReady').call('c1', 's', { preferredAgentId: 'a2' }).login('a1');
    t.same(s.offers(), []);
    s.at(10).logout('a2');
    t.same(s.offers(), ['c1:a1']);
  });
});

t.test('expansion / overflow rules', async (t) => {
  t.test('adds a skill group after a wait (which bullseye cannot)', async (t) => {
    const s = new Scenario({
      queues: [q('tv', { expansion: [{ afterMs: 30_000, add: [{ skill: 'backoffice', minLevel: 1 }] }] }), q('backoffice')],
      agents: [{ id: 'b1', skills: { backoffice: 3 } }],
    });
    s.login('b1').call('c1', 'tv');
    t.same(s.offers(), []);
    t.equal(s.acd.nextDeadline(), 30_000);
    s.at(29_999);
    t.same(s.offers(), []);
    s.at(30_000);
    t.same(s.offers(), ['c1:b1']);
  });

  t.test('lowers the required level over time', async (t) => {
    const s = new Scenario({
      queues: [q('fr', { minLevel: 8, expansion: [{ afterMs: 10_000, add: [{ skill: 'fr', minLevel: 3 }] }, { afterMs: 20_000, add: [{ skill: 'fr', minLevel: 1 }] }] })],
      agents: [{ id: 'l2', skills: { fr: 2 } }, { id: 'l5', skills: { fr: 5 } }],
    });
    s.login('l2', 'l5').call('c1', 'fr').call('c2', 'fr');
    t.same(s.offers(), []);
    s.at(10_000);
    t.same(s.offers(), ['c1:l5']);
    t.equal(s.acd.inspectCall('c2')?.step, 1);
    s.at(20_000);
    t.same(s.offers(), ['c2:l2']);
  });

  t.test('a waiting call becomes visible to agents of the added group when they free up', async (t) => {
    const s = new Scenario({
      queues: [q('tv', { expansion: [{ afterMs: 1000, add: [{ skill: 'o', minLevel: 1 }] }] }), q('o')],
      agents: [{ id: 'b1', skills: { o: 1 } }],
    });
    s.login('b1').call('own', 'o');
    t.same(s.offers(), ['own:b1']);
    s.call('c1', 'tv');
    s.at(2000).serve('own');
    t.same(s.offers(), ['c1:b1']);
  });

  t.test('queue-length rule applies to arrivals while the queue is long', async (t) => {
    const s = new Scenario({
      queues: [q('tv', { expansion: [{ queueLengthAtLeast: 2, add: [{ skill: 'o', minLevel: 1 }] }] }), q('o')],
      agents: [{ id: 'b1', skills: { o: 1 } }],
    });
    s.login('b1').status('b1', 'notReady').call('c1', 'tv').call('c2', 'tv').call('c3', 'tv');
    t.same([1, 2, 3].map((i) => s.acd.inspectCall(`c${i}`)?.step), [0, 0, 1]);
    s.status('b1', 'available');
    t.same(s.offers(), ['c3:b1'], 'only the third arrival reached the overflow group');
  });

  t.test('across queues, a call sent back to the head of its queue comes first', async (t) => {
    const s = new Scenario({ queues: [q('a'), q('b', { weight: 5 })], agents: [{ id: 'x', skills: { a: 1 } }, { id: 'y', skills: { a: 1, b: 1 } }] });
    s.call('old', 'b').at(1000).login('x').call('late', 'a');
    t.same(s.offers(), ['late:x']);
    s.noAnswer('late').at(2000).login('y');
    t.same(s.offers(), ['late:y'], 'the returned call beats an older, heavier-weighted call of another queue');
  });

  t.test('multi-skilled agent takes the longest weighted wait across its queues', async (t) => {
    const s = new Scenario({ queues: [q('a', { weight: 1 }), q('b', { weight: 3 })], agents: [{ id: 'x', skills: { a: 1, b: 1 } }] });
    s.call('a1', 'a').at(1000).call('b1', 'b').at(1400).login('x');
    // a1 waited 1400 (x1), b1 waited 400 (x3 = 1200): a1 first
    t.same(s.offers(), ['a1:x']);
    s.serve('a1').call('a2', 'a').at(1600).serve('b1');
    const s2 = new Scenario({ queues: [q('a', { weight: 1 }), q('b', { weight: 3 })], agents: [{ id: 'x', skills: { a: 1, b: 1 } }] });
    s2.call('a1', 'a').at(1000).call('b1', 'b').at(1600).login('x');
    // a1 1600 vs b1 600*3 = 1800: b1 first
    t.same(s2.offers(), ['b1:x']);
  });
});

t.test('life cycle', async (t) => {
  t.test('answer → talk → end → wrap-up for exactly wrapUpMs → idle → next call', async (t) => {
    const s = new Scenario({ queues: [q('s', { wrapUpMs: 5000 })], agents: agents(1, { s: 1 }) });
    s.login('a1').call('c1', 's').call('c2', 's').at(100).answer('c1');
    t.equal(s.acd.inspectAgent('a1')?.state, 'onCall');
    s.at(1000).end('c1');
    t.same(s.effects('ended').map((e) => e.outcome), ['completed']);
    t.equal(s.acd.inspectAgent('a1')?.state, 'wrapUp');
    s.at(5999);
    t.equal(s.acd.inspectAgent('a1')?.state, 'wrapUp', 'wrap-up does not end early');
    t.same(s.offers(), []);
    s.at(6000);
    t.same(s.offers(), ['c2:a1']);
  });

  t.test('ring-no-answer (core timer): agent not ready, call back to the head', async (t) => {
    const s = new Scenario({ queues: [q('s', { ringTimeoutMs: 15_000 })], agents: agents(2, { s: 1 }) });
    s.login('a1').call('c1', 's').ringing('c1').at(1).call('c2', 's').at(2).call('c3', 's');
    t.same(s.offers(), []);
    s.at(15_000);
    t.same(s.effects('cancelOffer').map((e) => `${e.callId}:${e.reason}`), ['c1:ringTimeout']);
    const a1 = s.acd.inspectAgent('a1')!;
    t.equal(a1.status, 'notReady');
    t.equal(a1.reason, 'ringNoAnswer');
    t.equal(s.acd.inspectCall('c1')?.returnedToHead, true);
    s.login('a2');
    t.same(s.offers(), ['c1:a2'], 'c1 is still first');
  });

  t.test('the ring timeout runs from the INVITE sent, not from the decision', async (t) => {
    const s = new Scenario({ queues: [q('s', { ringTimeoutMs: 15_000 })], agents: agents(1, { s: 1 }) });
    s.login('a1').call('c1', 's');
    t.equal(s.acd.offersPendingSend(), 1, 'decided, INVITE not sent: pending');
    s.at(4_000).sent('c1');
    t.equal(s.acd.offersPendingSend(), 0);
    s.ringing('c1').at(15_000);
    t.same(s.effects('cancelOffer'), [], '15 s after the decision, 11 s after the INVITE: still ringing');
    s.at(19_000);
    t.same(s.effects('cancelOffer').map((e) => `${e.callId}:${e.reason}`), ['c1:ringTimeout']);
    t.equal(s.acd.inspectAgent('a1')?.reason, 'ringNoAnswer', 'the phone rang 15 s: the agent did not answer');
  });

  t.test('an offer that timed out before the phone rang is late, not the agent\'s: available, same place', async (t) => {
    const s = new Scenario({ queues: [q('s', { ringTimeoutMs: 15_000 })], agents: agents(2, { s: 1 }) });
    s.login('a1').at(1).login('a2').at(2).call('c1', 's');
    t.same(s.offers(), ['c1:a1']);
    s.call('c2', 's');
    t.same(s.offers(), ['c2:a2']);
    s.at(3).sent('c1').ringing('c2').at(15_003);
    t.same(s.effects('cancelOffer').map((e) => e.callId).sort(), ['c1', 'c2']);
    t.equal(s.acd.inspectAgent('a1')?.status, 'available', 'a1 never rang: it stays available');
    t.equal(s.acd.inspectAgent('a2')?.reason, 'ringNoAnswer', 'a2 rang and did not answer');
    t.same(s.offers(), ['c1:a1'], 'c1 goes back to the head and to the available agent at once');
    t.equal(s.acd.inspectCall('c1')?.returnedToHead, true);
    t.equal(s.acd.inspectCall('c2')?.state, 'waiting');
  });

  t.test('a second unconfirmed offer in a row sets the agent not-ready (unreachable); a ring resets the run', async (t) => {
    const s = new Scenario({ queues: [q('s', { ringTimeoutMs: 1_000 })], agents: agents(1, { s: 1 }) });
    s.login('a1').call('c1', 's').sent('c1').at(1_000);
    t.equal(s.acd.inspectAgent('a1')?.status, 'available');
    t.same(s.offers(), ['c1:a1']);
    s.sent('c1').ringing('c1').answer('c1').at(2_000).serve('c1');
    s.call('c2', 's').undelivered('c2');
    t.equal(s.acd.inspectAgent('a1')?.status, 'available', 'the answered call reset the run: one undelivered offer is ours');
    t.same(s.offers(), ['c2:a1']);
    s.at(3_000);
    t.equal(s.acd.inspectAgent('a1')?.status, 'notReady', 'second in a row');
    t.equal(s.acd.inspectAgent('a1')?.reason, 'unreachable');
    t.equal(s.acd.inspectCall('c2')?.state, 'waiting');
    t.equal(s.acd.offersPendingSend(), 0);
  });

  t.test('a returned call goes ahead of older calls of its priority', async (t) => {
    const s = new Scenario({ queues: [q('s'), q('t')], agents: [{ id: 'x', skills: { s: 1, t: 1 } }, { id: 'y', skills: { t: 1 } }, { id: 'z', skills: { t: 1 } }] });
    s.login('x').call('old', 's');
    t.same(s.offers(), ['old:x']);
    s.at(10).serve('old').call('s1', 's').at(20).call('s2', 's');
    s.noAnswer('s1');
    t.equal(s.acd.inspectAgent('x')?.reason, 'ringNoAnswer');
    s.at(30).call('s0', 's', { arrivalTime: 0 }); // an older caller arrives (transferred from elsewhere)
    s.status('x', 'available');
    t.same(s.offers(), ['s1:x'], 'returned call first despite an older arrival');
  });

  t.test('reject: agent not ready with reason, call back to the head', async (t) => {
    const s = new Scenario({ queues: [q('s')], agents: agents(2, { s: 1 }) });
    s.login('a1').call('c1', 's').reject('c1');
    t.equal(s.acd.inspectAgent('a1')?.reason, 'rejected');
    t.equal(s.acd.inspectAgent('a1')?.status, 'notReady');
    t.equal(s.acd.inspectCall('c1')?.state, 'waiting');
    s.login('a2');
    t.same(s.offers(), ['c1:a2']);
  });

  t.test('abandon while waiting and while ringing', async (t) => {
    const s = new Scenario({ queues: [q('s')], agents: agents(1, { s: 1 }) });
    s.call('w', 's').hangup('w');
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}`), ['w:abandoned']);
    s.login('a1').call('r', 's').call('next', 's').hangup('r');
    t.same(s.effects('cancelOffer').map((e) => e.reason), ['abandoned']);
    t.same(s.offers(), ['next:a1'], 'the agent is not stuck reserved: it gets the next call');
    t.equal(s.acd.snapshot(s.now).queues[0]?.abandoned, 2);
  });

  t.test('transfer of a waiting, a ringing and a talking call', async (t) => {
    const s = new Scenario({ queues: [q('a', { wrapUpMs: 100 }), q('b')], agents: [{ id: 'x', skills: { a: 1 } }, { id: 'y', skills: { b: 1 } }] });
    s.call('w', 'a', { arrivalTime: -50 }).transfer('w', 'b');
    t.equal(s.acd.inspectCall('w')?.queueId, 'b');
    t.equal(s.acd.inspectCall('w')?.arrivalTime, -50, 'arrival time kept');
    s.login('y');
    t.same(s.offers(), ['w:y']);
    s.login('x').call('r', 'a').transfer('r', 'b');
    t.same(s.effects('cancelOffer').map((e) => `${e.callId}:${e.reason}`), ['r:transfer']);
    t.equal(s.acd.inspectAgent('x')?.state, 'idle');
    s.call('talk', 'a').answer('talk').transfer('talk', 'b');
    t.equal(s.acd.inspectAgent('x')?.state, 'wrapUp');
    t.equal(s.acd.inspectCall('talk')?.state, 'waiting');
  });

  t.test('transfer to a named agent: that agent alone if free, else the queue; a failed offer falls back to the head', async (t) => {
    const s = new Scenario({
      queues: [q('a', { wrapUpMs: 100 })],
      agents: [{ id: 'x', skills: { a: 1 } }, { id: 'y', skills: { a: 1 } }, { id: 'z', skills: {} }],
    });
    s.login('x', 'y', 'z').call('c1', 'a', { arrivalTime: -70, priority: 3 });
    t.same(s.offers(), ['c1:x']);
    s.answer('c1').transfer('c1', 'a', 'z');
    t.same(s.offers(), ['c1:z'], 'offered to the named agent alone (no skill of the queue), not to idle y');
    t.equal(s.acd.inspectAgent('x')?.state, 'wrapUp', 'the transferring agent is in wrap-up');
    s.reject('c1');
    t.same(s.offers(), ['c1:y'], 'declined: back in the queue, offered to the next free agent');
    t.match(s.acd.inspectCall('c1'), { arrivalTime: -70, priority: 3, returnedToHead: true }, 'priority and arrival kept');
    s.answer('c1').transfer('c1', 'a', 'x');
    t.same(s.offers(), [], 'x in wrap-up is not waited for: the call waits in the queue');
    t.match(s.acd.inspectCall('c1'), { state: 'waiting', preferredOnly: false });
  });

  t.test('not-ready during a call takes effect after wrap-up', async (t) => {
    const s = new Scenario({ queues: [q('s', { wrapUpMs: 1000 })], agents: agents(1, { s: 1 }) });
    s.login('a1').call('c1', 's').answer('c1').status('a1', 'notReady', 'break');
    t.equal(s.acd.inspectAgent('a1')?.status, 'available');
    t.equal(s.acd.inspectAgent('a1')?.pendingStatus, 'notReady');
    s.call('c2', 's').at(10).end('c1');
    t.equal(s.acd.inspectAgent('a1')?.state, 'wrapUp');
    s.at(1010);
    const a = s.acd.inspectAgent('a1')!;
    t.same([a.state, a.status, a.reason], ['idle', 'notReady', 'break']);
    t.same(s.offers(), [], 'c2 not offered to a not-ready agent');
  });

  t.test('not-ready while ringing withdraws the offer', async (t) => {
    const s = new Scenario({ queues: [q('s')], agents: agents(2, { s: 1 }) });
    s.login('a1').call('c1', 's').status('a1', 'notReady', 'break');
    t.same(s.effects('cancelOffer').map((e) => e.reason), ['agentStatus']);
    s.login('a2');
    t.same(s.offers(), ['c1:a2']);
  });

  t.test('logout during a call is applied after wrap-up', async (t) => {
    const s = new Scenario({ queues: [q('s', { wrapUpMs: 10 })], agents: agents(1, { s: 1 }) });
    s.login('a1').call('c1', 's').answer('c1').logout('a1').end('c1').at(10);
    t.equal(s.acd.inspectAgent('a1')?.status, 'loggedOut');
    t.equal(s.acd.snapshot(s.now).agentsByStatus.loggedOut, 1);
  });
});

t.test('callbacks', async (t) => {
  const cfg = (extra: Partial<QueueConfig> = {}): AcdConfig => ({ queues: [q('s', { abandonToCallback: true, ...extra })], agents: agents(2, { s: 1 }) });

  t.test('an abandoned caller becomes a callback with the original arrival time and place', async (t) => {
    const s = new Scenario(cfg());
    s.at(0).call('c1', 's').at(10).call('c2', 's').at(20).hangup('c1');
    const created = s.effects('callbackCreated');
    t.equal(created.length, 1);
    t.equal(created[0]!.arrivalTime, 0);
    t.equal(created[0]!.fromCallId, 'c1');
    const cbId = created[0]!.callId;
    t.equal(s.acd.inspectCall(cbId)?.arrivalTime, 0);
    t.equal(s.acd.inspectCall(cbId)?.kind, 'callback');
    // no live caller left of its priority ahead once c2 is served: the callback is next
    s.login('a1');
    t.same(s.offers(), ['c2:a1'], 'the live caller goes first (share 0)');
    s.serve('c2');
    t.same(s.offers(), [`${cbId}:a1`]);
  });

  t.test('callbacks are deduplicated by caller number and keep the earliest arrival', async (t) => {
    const s = new Scenario(cfg());
    s.at(100).call('c1', 's', { callerNumber: '+33' }).at(150).hangup('c1');
    s.at(200).call('c2', 's', { callerNumber: '+33' }).at(250).hangup('c2');
    t.same(s.effects('callbackCreated'), [], 'no second task for the same number');
    s.callback('web', 's', '+33', 50);
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}`), ['web:merged']);
    t.equal(s.acd.inspectCall('c1:callback')?.arrivalTime, 50, 'earlier arrival adopted');
    t.equal(s.acd.snapshot(s.now).queues[0]?.callbacksWaiting, 1);
  });

  t.test('callback is offered only when no live caller of equal or higher priority waits', async (t) => {
    const s = new Scenario(cfg());
    s.callback('cb', 's', '+1', 0).at(100).call('live', 's').call('vipcb', 's', { priority: 0 });
    s.callback('hi', 's', '+2', 50, 3);
    s.login('a1');
    t.same(s.offers(), ['hi:a1'], 'a higher-priority callback beats a live caller');
    s.serve('hi');
    t.same(s.offers(), ['live:a1'], 'then the live caller, though the callback is older');
  });

  t.test('a callback share lets callbacks through while live callers wait', async (t) => {
    const s = new Scenario(cfg({ callbackShare: 0.5 }));
    s.callback('cb1', 's', '+1', 0).callback('cb2', 's', '+2', 1);
    for (let i = 0; i < 4; i++) s.at(10 + i).call(`l${i}`, 's');
    s.login('a1');
    const order: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = s.offers()[0]!.split(':')[0]!;
      order.push(id);
      s.serve(id);
    }
    t.same(order, ['l0', 'l1', 'cb1', 'l2', 'l3', 'cb2']);
  });

  t.test('a live answer for the same number satisfies the waiting callback', async (t) => {
    const s = new Scenario(cfg());
    s.callback('cb', 's', '+7', 0).call('live', 's', { callerNumber: '+7' }).login('a1');
    t.same(s.offers(), ['live:a1']);
    s.answer('live');
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}`), ['cb:satisfied']);
  });

  t.test('an unreached customer frees the agent at once: no wrap-up, no not-ready, the next call offered', async (t) => {
    const s = new Scenario({ queues: [q('s', { wrapUpMs: 5000, ringTimeoutMs: 10_000 })], agents: agents(1, { s: 1 }) });
    s.callback('cb', 's', '+5', 0).login('a1');
    t.same(s.offers(), ['cb:a1']);
    s.at(100).call('live', 's');
    s.at(200).unreached('cb');
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}`), ['cb:unreached']);
    t.same(s.effects('cancelOffer'), [], 'the runtime ended the ring itself: nothing to cancel');
    t.same(s.offers(), ['live:a1'], 'the agent takes the waiting caller at once');
    t.equal(s.acd.inspectAgent('a1')?.status, 'available', 'status unchanged');
    t.equal(s.acd.inspectCall('cb'), undefined);
    // The ring timer of the callback offer was disarmed: it does not time out the new offer early.
    s.at(10_050);
    t.same(s.effects('cancelOffer'), [], 'the old ring timeout does not fire');
    s.at(10_200);
    t.same(s.effects('cancelOffer').map((e) => `${e.callId}:${e.reason}`), ['live:ringTimeout'], 'the new offer keeps its own');
  });

  t.test('an unreached customer after the agent answered: idle at once, statistics untouched, pending status applied', async (t) => {
    const s = new Scenario({ queues: [q('s', { wrapUpMs: 5000 })], agents: agents(1, { s: 1 }) });
    s.callback('cb', 's', '+5', 0).login('a1').answer('cb');
    t.equal(s.acd.inspectAgent('a1')?.state, 'onCall');
    s.status('a1', 'notReady', 'lunch').at(30_000).unreached('cb');
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}`), ['cb:unreached']);
    const a = s.acd.inspectAgent('a1')!;
    t.equal(a.state, 'idle', 'no wrap-up');
    t.equal(a.status, 'notReady', 'the status the agent asked for applies');
    t.equal(a.reason, 'lunch');
    t.equal(a.callsHandled, 0, 'an unreached customer is no handled call');
    t.equal(a.talkTimeMs, 0);
  });

  t.test('callbackUnreached is refused for a live call, a waiting task or an unknown id', async (t) => {
    const s = new Scenario({ queues: [q('s')], agents: agents(1, { s: 1 }) });
    s.callback('cb', 's', '+5', 0).unreached('cb');
    t.same(s.last.map((e) => e.type === 'error' && e.code), ['ACD_ERR_INVALID_STATE'], 'waiting task');
    s.login('a1').answer('cb').end('cb').call('c1', 's').unreached('c1');
    t.same(s.last.map((e) => e.type === 'error' && e.code), ['ACD_ERR_INVALID_STATE'], 'live call');
    s.unreached('nope');
    t.same(s.last.map((e) => e.type === 'error' && e.code), ['ACD_ERR_UNKNOWN_CALL']);
  });

  t.test('a caller who accepts a callback leaves and keeps the place', async (t) => {
    const s = new Scenario({ queues: [q('s')], agents: agents(1, { s: 1 }) });
    s.at(5).call('c1', 's').acceptCallback('c1');
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}`), ['c1:callback']);
    t.equal(s.effects('callbackCreated')[0]?.arrivalTime, 5);
  });
});

t.test('admission control, limits and announcements', async (t) => {
  t.test('EWT above the threshold offers a callback, or overflows', async (t) => {
    const s = new Scenario({
      queues: [
        q('s', { initialHandleTimeMs: 60_000, admission: { callbackAboveMs: 50_000, overflowAboveMs: 100_000, overflowQueueId: 'o' } }),
        q('o'),
      ],
      agents: agents(1, { s: 1 }),
    });
    s.login('a1').call('c0', 's');
    t.same(s.offers(), ['c0:a1']);
    s.call('c1', 's'); // position 1, 1 busy agent: 0.5 * 60 s = 30 s
    t.same(s.effects('callbackOffer'), []);
    s.call('c2', 's'); // position 2: 90 s
    t.same(s.effects('callbackOffer').map((e) => [e.callId, e.ewtMs]), [['c2', 90_000]]);
    s.call('c3', 's'); // position 3: 150 s → overflow
    t.same(s.effects('overflowed').map((e) => [e.callId, e.toQueueId, e.reason]), [['c3', 'o', 'ewt']]);
    t.equal(s.acd.inspectCall('c3')?.queueId, 'o');
  });

  t.test('a full queue overflows or refuses', async (t) => {
    const s = new Scenario({ queues: [q('s', { maxLength: 1, fullOverflowQueueId: 'o' }), q('o', { maxLength: 1 })] });
    s.call('c1', 's').call('c2', 's').call('c3', 's');
    t.same(s.effects('overflowed', true).map((e) => `${e.callId}>${e.toQueueId}`), ['c2>o', 'c3>o']);
    t.same(s.effects('ended').map((e) => `${e.callId}:${e.outcome}:${e.queueId}`), ['c3:rejected:o']);
  });

  t.test('callback tasks are not refused by a full queue', async (t) => {
    const s = new Scenario({ queues: [q('s', { maxLength: 1 })] });
    s.call('c1', 's').callback('cb', 's', '+9', 0);
    t.same(s.effects('callbackCreated').map((e) => e.callId), ['cb']);
    t.equal(s.acd.snapshot(s.now).queues[0]?.callbacksWaiting, 1);
  });

  t.test('max wait moves the call on or ends it', async (t) => {
    const s = new Scenario({ queues: [q('s', { maxWaitMs: 1000, maxWaitQueueId: 'vm' }), q('vm', { maxWaitMs: 500 })] });
    s.call('c1', 's').at(1000);
    t.same(s.effects('overflowed').map((e) => e.reason), ['maxWait']);
    s.at(1499);
    t.same(s.effects('ended'), []);
    s.at(1500);
    t.same(s.effects('ended').map((e) => e.outcome), ['maxWait']);
  });

  t.test('announcements give position and EWT periodically', async (t) => {
    const s = new Scenario({ queues: [q('s', { announcePeriodMs: 30_000, initialHandleTimeMs: 120_000 })], agents: agents(2, { s: 1 }) });
    s.login('a1', 'a2').call('b1', 's').call('b2', 's');
    s.at(1000).call('c1', 's').at(2000).call('vip', 's', { priority: 9 }).at(3000).call('c2', 's');
    s.at(33_000);
    const ann = s.effects('announce').map((e) => [e.callId, e.position, e.ewtMs]);
    // 2 staffed, none idle, AHT 120 s: ewt(p) = (p - 0.5) * 60 s
    t.same(ann, [['c1', 2, 90_000], ['vip', 1, 30_000], ['c2', 3, 150_000]]);
    s.at(63_000);
    t.equal(s.effects('announce').length, 3, 'again one period later');
  });

  t.test('estimatedWait follows the formula and the handle-time average', async (t) => {
    t.equal(estimateWait(1, 0, 0, 1000), Infinity);
    t.equal(estimateWait(1, 2, 1, 1000), 0);
    t.equal(estimateWait(3, 2, 0, 1000), 1250);
    const s = new Scenario({ queues: [q('s', { initialHandleTimeMs: 100_000, wrapUpMs: 0 })], agents: agents(1, { s: 1 }), handleTimeAlpha: 0.5 });
    t.equal(s.acd.estimatedWait('s', 0), Infinity, 'nobody staffed');
    s.login('a1');
    t.equal(s.acd.estimatedWait('s', 0), 0, 'an idle agent');
    s.call('c1', 's').answer('c1').at(20_000).end('c1').call('c2', 's').answer('c2').call('c3', 's');
    // AHT = 100 + 0.5 * (20 - 100) = 60 s; next caller is 2nd: 1.5 * 60 s
    t.equal(s.acd.snapshot(s.now).queues[0]?.handleTimeMs, 60_000);
    t.equal(s.acd.estimatedWait('s', s.now), 90_000);
  });

  t.test('snapshot: counts, oldest wait, service level', async (t) => {
    const s = new Scenario({ queues: [q('s', { serviceLevelMs: 10_000, abandonToCallback: true })], agents: agents(3, { s: 1 }) });
    s.call('c1', 's').at(5000).call('c2', 's').call('c3', 's').login('a1');
    s.answer('c1').at(20_000).login('a2').answer('c2').hangup('c3');
    const snap = s.acd.snapshot(30_000);
    const qs = snap.queues[0]!;
    t.same([qs.waiting, qs.callbacksWaiting, qs.answered, qs.answeredInServiceLevel, qs.abandoned], [0, 1, 2, 1, 1]);
    t.equal(qs.oldestWaitMs, 25_000, 'the callback kept c3 arrival at 5 s');
    t.equal(qs.serviceLevel, 1 / 3);
    t.same(snap.agentsByState, { idle: 1, reserved: 0, onCall: 2, wrapUp: 0 });
    t.same(snap.agentsByStatus, { loggedOut: 1, available: 2, notReady: 0 });
  });
});

t.test('errors', async (t) => {
  t.test('run-time inputs return error effects with stable codes and change nothing', async (t) => {
    const acd = new Acd({ queues: [q('s')], agents: agents(1, { s: 1 }) });
    const code = (e: ReturnType<Acd['enqueue']>): string | undefined => (e[0]?.type === 'error' ? e[0].code : undefined);
    t.equal(code(acd.enqueue({ id: 'c', queueId: 'nope', callerNumber: '1' }, 0)), 'ACD_ERR_UNKNOWN_QUEUE');
    t.equal(code(acd.agentLoggedIn('nobody', 0)), 'ACD_ERR_UNKNOWN_AGENT');
    t.equal(code(acd.offerAnswered('ghost', 0)), 'ACD_ERR_UNKNOWN_CALL');
    acd.enqueue({ id: 'c', queueId: 's', callerNumber: '1' }, 0);
    t.equal(code(acd.enqueue({ id: 'c', queueId: 's', callerNumber: '1' }, 0)), 'ACD_ERR_DUPLICATE_CALL');
    t.equal(code(acd.offerAnswered('c', 0)), 'ACD_ERR_INVALID_STATE', 'answer of a call not offered');
    t.equal(code(acd.transfer('c', 'nope', 0)), 'ACD_ERR_UNKNOWN_QUEUE');
    t.equal(code(acd.addAgent({ id: 'a1', skills: {} })), 'ACD_ERR_DUPLICATE_AGENT');
    t.equal(acd.inspectCall('c')?.state, 'waiting');
    acd.abandon('c', 1);
    t.equal(code(acd.offerAnswered('c', 2)), 'ACD_ERR_UNKNOWN_CALL', 'answer after hang-up: a race, not a crash');
  });

  t.test('a bad configuration throws AcdError ACD_ERR_INVALID_CONFIG', async (t) => {
    const bad: AcdConfig[] = [
      { queues: [q('s'), q('s')] },
      { queues: [q('s', { strategy: 'nope' })] },
      { queues: [q('s', { fullOverflowQueueId: 'x' })] },
      { queues: [q('s', { wrapUpMs: -1 })] },
      { queues: [q('s', { expansion: [{ add: [] }] })] },
      { queues: [q('s')], agents: [{ id: 'a', skills: {} }, { id: 'a', skills: {} }] },
      { queues: [q('s')], strategies: { longestIdle: () => 0 } },
    ];
    for (const cfg of bad) {
      let caught: unknown = null;
      try {
        new Acd(cfg);
      } catch (e) {
        caught = e;
      }
      t.ok(caught instanceof AcdError && caught.code === 'ACD_ERR_INVALID_CONFIG', String(caught));
    }
  });

  t.test('agents added at run time join the pools they qualify for', async (t) => {
    const acd = new Acd({ queues: [q('s')] });
    acd.enqueue({ id: 'c', queueId: 's', callerNumber: '1' }, 0);
    t.same(acd.addAgent({ id: 'late', skills: { s: 1 } }), []);
    const e = acd.agentLoggedIn('late', 1);
    t.ok(e.some((x) => x.type === 'offer' && x.callId === 'c' && x.agentId === 'late'));
  });
});

t.test('run-time skills (setAgentSkills)', async (t) => {
  const two = (): Scenario => new Scenario({ queues: [q('sales'), q('support', { wrapUpMs: 1000 })], agents: [{ id: 'a1', skills: { support: 5 } }] });

  t.test('an idle available agent moved into a queue takes its waiting call at once', async (t) => {
    const s = two();
    s.login('a1').call('c1', 'sales');
    t.same(s.offers(), []);
    t.equal(s.acd.snapshot(s.now).queues[0]?.staffed, 0);
    s.skills('a1', { sales: 3, support: 5 });
    t.same(s.offers(), ['c1:a1']);
    t.same(s.acd.inspectAgent('a1')?.skills, { sales: 3, support: 5 });
    const [sales, support] = s.acd.snapshot(s.now).queues;
    t.equal(sales?.staffed, 1);
    t.equal(support?.staffed, 1);
  });

  t.test('an idle agent moved out of a queue leaves its idle heap and staffed count', async (t) => {
    const s = two();
    s.login('a1');
    t.equal(s.acd.snapshot(s.now).queues[1]?.idle, 1);
    s.skills('a1', { sales: 1 });
    const [sales, support] = s.acd.snapshot(s.now).queues;
    t.equal(support?.staffed, 0);
    t.equal(support?.idle, 0);
    t.equal(sales?.idle, 1);
    s.call('c1', 'support');
    t.same(s.offers(), [], 'no longer offered support calls');
    s.call('c2', 'sales');
    t.same(s.offers(), ['c2:a1']);
  });

  t.test('a reserved agent keeps its offer; the new skills apply to the next call', async (t) => {
    const s = two();
    s.login('a1').call('c1', 'support');
    t.same(s.offers(), ['c1:a1']);
    s.skills('a1', { sales: 1 });
    t.same(s.last, [], 'no effect: the offer stands');
    t.equal(s.agentOf('c1'), 'a1');
    s.call('c2', 'support').call('c3', 'sales');
    s.answer('c1').end('c1').wait(1000);
    t.same(s.offers(), ['c3:a1'], 'after the call and its wrap-up the agent serves its new queue');
    t.equal(s.acd.inspectCall('c2')?.state, 'waiting');
  });

  t.test('on a call and in wrap-up: applies when the agent is free again', async (t) => {
    const s = two();
    s.login('a1').call('c1', 'support').answer('c1');
    s.call('c2', 'sales');
    s.skills('a1', { sales: 2 });
    t.same(s.offers(), []);
    t.equal(s.acd.snapshot(s.now).queues[0]?.staffed, 1, 'staffed follows at once');
    s.end('c1');
    t.equal(s.acd.inspectAgent('a1')?.state, 'wrapUp');
    s.skills('a1', { sales: 2, support: 1 });
    t.same(s.offers(), []);
    s.wait(1000);
    t.same(s.offers(), ['c2:a1']);
  });

  t.test('a not-ready agent: staffed counts unchanged, no offer', async (t) => {
    const s = two();
    s.status('a1', 'notReady', 'break').call('c1', 'sales');
    s.skills('a1', { sales: 1 });
    t.same(s.offers(), []);
    t.equal(s.acd.snapshot(s.now).queues[0]?.staffed, 0);
    s.login('a1');
    t.same(s.offers(), ['c1:a1']);
  });

  t.test('pool levels are honoured; refused inputs change nothing', async (t) => {
    const s = new Scenario({ queues: [q('sales', { minLevel: 5 })], agents: [{ id: 'a1', skills: {} }] });
    s.login('a1').call('c1', 'sales');
    s.skills('a1', { sales: 4 });
    t.same(s.offers(), []);
    s.skills('nobody', { sales: 9 });
    t.equal(s.effects('error')[0]?.code, 'ACD_ERR_UNKNOWN_AGENT');
    s.skills('a1', { sales: -1 });
    t.equal(s.effects('error')[0]?.code, 'ACD_ERR_INVALID_CONFIG');
    t.same(s.acd.inspectAgent('a1')?.skills, { sales: 4 });
    s.skills('a1', { sales: 5 });
    t.same(s.offers(), ['c1:a1']);
  });
});

t.test('ending wrap-up early', async (t) => {
  const s = new Scenario({ queues: [q('sales', { wrapUpMs: 60_000 })], agents: agents(1, { sales: 1 }) });
  s.login('a1').call('c1', 'sales').answer('c1');
  t.equal(s.acd.endWrapUp('a1', s.now)[0]?.type, 'error', 'on a call: refused');
  s.end('c1').call('c2', 'sales');
  t.equal(s.acd.inspectAgent('a1')?.state, 'wrapUp');
  s.status('a1', 'available');
  const effects = s.acd.endWrapUp('a1', s.now + 5);
  t.same(effects.filter((e) => e.type === 'offer').map((e) => e.type === 'offer' && e.callId), ['c2'], 'the waiting call is offered at once');
  t.equal(s.acd.nextDeadline(), null, 'the wrap-up timer is gone (no ring timeout here)');
  t.equal(s.acd.endWrapUp('nobody', s.now)[0]?.type, 'error');
});
