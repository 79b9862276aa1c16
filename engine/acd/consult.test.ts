/**
 * The consultation reservation (attended transfer, issue 16): a talking call's agent consults a
 * second agent, who is reserved for it (offered no caller) until the consultation ends (free again)
 * or completes (it becomes the call's agent, the first agent goes to wrap-up). None of these inputs
 * exists in the core before issue 16's attended transfer: every test here fails on that core.
 */
import t from 'tap';
import type { QueueConfig } from './index.ts';
import { Scenario } from './testkit.ts';

const q = (id: string, extra: Partial<QueueConfig> = {}): QueueConfig => ({ id, ringTimeoutMs: 0, ...extra });

/** Queue `s` (wrap-up 1 s), agents a (first) and b; caller c1 talking to a, b idle. */
function talking(): Scenario {
  const s = new Scenario({ queues: [q('s', { wrapUpMs: 1000 })], agents: [{ id: 'a', skills: { s: 1 } }, { id: 'b', skills: { s: 1 } }] });
  s.login('a').call('c1', 's').answer('c1').login('b');
  return s;
}

t.test('a consulted agent is reserved: not idle, offered no caller while consulted', async (t) => {
  const s = talking();
  s.at(10).consult('c1', 'b');
  t.same(s.effects('agentStateChanged').map((e) => [e.agentId, e.state, e.status]), [['b', 'reserved', 'available']]);
  t.match(s.acd.inspectAgent('b'), { state: 'reserved', status: 'available', callId: 'c1' }, 'busy with the consulted call');
  t.equal(s.acd.snapshot(s.now).queues[0]?.idle, 0, 'not among the idle');
  s.call('c2', 's');
  t.same(s.offers(), [], 'a new caller waits rather than ring the consulted agent');
  s.consultAnswer('c1');
  t.match(s.acd.inspectAgent('b'), { state: 'onCall', callId: 'c1' });
  s.wait(60_000);
  t.same(s.offers(), [], 'nothing times the consultation out in the core');
  t.equal(s.acd.inspectCall('c2')?.state, 'waiting');
  t.equal(s.agentOf('c1'), 'a', 'the call stays with its agent');
});

t.test('released on cancel or failure: free at once, no wrap-up, takes the waiting caller', async (t) => {
  for (const answered of [false, true]) {
    const s = talking();
    s.consult('c1', 'b');
    if (answered) s.consultAnswer('c1');
    s.call('c2', 's').at(5).consultEnd('c1');
    t.same(s.offers(), ['c2:b'], `${answered ? 'after talking' : 'while ringing'}: the waiting caller goes to b`);
    t.equal(s.acd.inspectAgent('b')?.callId, 'c2');
    t.match(s.acd.inspectAgent('a'), { state: 'onCall', callId: 'c1' }, 'a keeps its caller');
    t.equal(s.acd.inspectAgent('b')?.callsHandled, 0, 'a consultation is no handled call');
  }
});

t.test('a status chosen while consulted waits for the release', async (t) => {
  const s = talking();
  s.consult('c1', 'b').status('b', 'notReady', 'break');
  t.match(s.acd.inspectAgent('b'), { state: 'reserved', status: 'available', pendingStatus: 'notReady' }, 'no offer withdrawn, nothing thrown');
  s.call('c2', 's').consultEnd('c1');
  t.same(s.offers(), []);
  t.match(s.acd.inspectAgent('b'), { state: 'idle', status: 'notReady', reason: 'break' });
});

t.test('completion: the consulted agent becomes the call\'s agent, the first goes to wrap-up', async (t) => {
  const s = talking();
  s.at(1000).consult('c1', 'b').at(2000).consultAnswer('c1').at(3000).consultComplete('c1');
  t.equal(s.agentOf('c1'), 'b');
  t.match(s.acd.inspectCall('c1'), { state: 'talking', queueId: 's' });
  t.match(s.acd.inspectAgent('a'), { state: 'wrapUp', callId: null, callsHandled: 1, talkTimeMs: 3000 });
  t.match(s.acd.inspectAgent('b'), { state: 'onCall', callId: 'c1' });
  t.same(s.effects('agentStateChanged').map((e) => [e.agentId, e.state]), [['b', 'onCall'], ['a', 'wrapUp']]);
  s.call('c2', 's').at(4000);
  t.same(s.offers(), ['c2:a'], 'a takes the next caller after its wrap-up');
  s.at(9000).end('c1');
  t.match(s.acd.inspectAgent('b'), { state: 'wrapUp', callsHandled: 1, talkTimeMs: 6000 }, 'b talked from the completion');
  t.same(s.effects('ended').map((e) => [e.callId, e.outcome]), [['c1', 'completed']]);
});

t.test('the call ending or moving during a consultation frees the consulted agent', async (t) => {
  const ended = talking();
  ended.consult('c1', 'b').consultAnswer('c1').call('c2', 's').end('c1');
  t.same(ended.offers(), ['c2:b'], 'caller gone: b is free and takes the next caller');
  t.equal(ended.acd.inspectAgent('a')?.state, 'wrapUp');

  const moved = new Scenario({ queues: [q('s'), q('t')], agents: [{ id: 'a', skills: { s: 1 } }, { id: 'b', skills: { s: 1 } }] });
  moved.login('a').call('c1', 's').answer('c1').login('b').consult('c1', 'b').transfer('c1', 't');
  t.match(moved.acd.inspectAgent('b'), { state: 'idle', callId: null }, 'blind transfer instead: b is free');
  t.equal(moved.acd.consultCompleted('c1', moved.now)[0]?.type, 'error', 'no consultation left to complete');
});

t.test('guards: each input out of order is an error effect that changes nothing', async (t) => {
  const code = (e: ReturnType<Scenario['acd']['consultStart']>): string | undefined => (e.length === 1 && e[0]?.type === 'error' ? e[0].code : undefined);
  const s = talking();
  s.call('c2', 's');
  const before = JSON.stringify([s.acd.snapshot(s.now), s.acd.inspectAgent('a'), s.acd.inspectAgent('b'), s.acd.inspectCall('c1')]);
  const cases: [string, () => ReturnType<Scenario['acd']['consultStart']>, string][] = [
    ['unknown call', () => s.acd.consultStart('ghost', 'b', s.now), 'ACD_ERR_UNKNOWN_CALL'],
    ['unknown agent', () => s.acd.consultStart('c1', 'nobody', s.now), 'ACD_ERR_UNKNOWN_AGENT'],
    ['a waiting call', () => s.acd.consultStart('c2', 'b', s.now), 'ACD_ERR_INVALID_STATE'],
    ['the call\'s own agent', () => s.acd.consultStart('c1', 'a', s.now), 'ACD_ERR_INVALID_STATE'],
    ['answered without a consultation', () => s.acd.consultAnswered('c1', s.now), 'ACD_ERR_INVALID_STATE'],
    ['completed without a consultation', () => s.acd.consultCompleted('c1', s.now), 'ACD_ERR_INVALID_STATE'],
    ['ended without a consultation', () => s.acd.consultEnded('c1', s.now), 'ACD_ERR_INVALID_STATE'],
  ];
  for (const [what, input, expected] of cases) t.equal(code(input()), expected, what);
  t.equal(JSON.stringify([s.acd.snapshot(s.now), s.acd.inspectAgent('a'), s.acd.inspectAgent('b'), s.acd.inspectCall('c1')]), before, 'nothing changed');

  s.status('b', 'notReady');
  t.equal(code(s.acd.consultStart('c1', 'b', s.now)), 'ACD_ERR_INVALID_STATE', 'an agent not available');
  s.status('b', 'available');
  t.same(s.offers(), ['c2:b'], 'b takes c2');
  t.equal(code(s.acd.consultStart('c1', 'b', s.now)), 'ACD_ERR_INVALID_STATE', 'an agent ringing with a caller');

  const r = talking();
  r.consult('c1', 'b');
  t.equal(code(r.acd.consultStart('c1', 'b', r.now)), 'ACD_ERR_INVALID_STATE', 'a second consultation of the call');
  t.equal(code(r.acd.consultCompleted('c1', r.now)), 'ACD_ERR_INVALID_STATE', 'completion before the consulted agent answered');
  r.consultAnswer('c1');
  t.equal(code(r.acd.consultAnswered('c1', r.now)), 'ACD_ERR_INVALID_STATE', 'answered twice');
  t.match(r.acd.inspectAgent('b'), { state: 'onCall' }, 'still consulted');
});

t.test('conference: the consulted agent stays on the call, and to wrap-up whoever leaves (fails before the conference stage)', async (t) => {
  const code = (e: ReturnType<Scenario['acd']['consultStart']>): string | undefined => (e.length === 1 && e[0]?.type === 'error' ? e[0].code : undefined);
  const early = talking();
  early.consult('c1', 'b');
  t.equal(code(early.acd.consultConference('c1', early.now)), 'ACD_ERR_INVALID_STATE', 'no conference before B answered');

  // B leaves the conference: A keeps the caller, B goes to wrap-up (it talked to the caller), then takes c2.
  const bLeaves = talking();
  bLeaves.consult('c1', 'b').consultAnswer('c1').consultConference('c1');
  t.equal(code(bLeaves.acd.consultConference('c1', bLeaves.now)), 'ACD_ERR_INVALID_STATE', 'a second conference');
  t.match(bLeaves.acd.inspectAgent('b'), { state: 'onCall', callId: 'c1' }, 'reserved for the call in conference');
  bLeaves.call('c2', 's');
  t.same(bLeaves.offers(), [], 'offered nothing meanwhile');
  bLeaves.at(100).consultEnd('c1');
  t.match(bLeaves.acd.inspectAgent('b'), { state: 'wrapUp', callId: null });
  t.equal(bLeaves.agentOf('c1'), 'a', 'the call stays with A');
  bLeaves.at(1200);
  t.same(bLeaves.offers(), ['c2:b'], 'after its wrap-up b takes the waiting caller');

  // A leaves: as a completed consultation.
  const aLeaves = talking();
  aLeaves.consult('c1', 'b').consultAnswer('c1').consultConference('c1').at(500).consultComplete('c1');
  t.equal(aLeaves.agentOf('c1'), 'b');
  t.match(aLeaves.acd.inspectAgent('a'), { state: 'wrapUp', callsHandled: 1 });

  // The caller leaves: both agents to wrap-up.
  const callerLeaves = talking();
  callerLeaves.consult('c1', 'b').consultAnswer('c1').consultConference('c1').at(500).end('c1');
  t.match(callerLeaves.acd.inspectAgent('a'), { state: 'wrapUp' });
  t.match(callerLeaves.acd.inspectAgent('b'), { state: 'wrapUp', callId: null });
});
