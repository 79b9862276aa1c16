/**
 * End to end, the IVR menu of the demo number 200 with real sipp peers: callers press RFC 4733
 * digits (sipp plays the Debian pcaps of telephone-events) while the menu prompt plays. 1 goes to
 * orders, 2 to service (each answered by an agent of that queue only), 3 asks for a callback.
 */
import t from 'tap';
import { requirePeer } from './testing/index.ts';
import {
  callersFile, dtmfCallerScenario, listCallbacks, startE2e, startSippAgents, waitForCdrs, within,
} from './testing/engine-rig.ts';

t.test('DTMF menu choices route to the right queue or to a callback', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  // 1001 serves orders only (service 30 < minLevel 50), 1006 service only: the agent who answers
  // tells which queue the call went to. Exactly two calls reach agents.
  const agents = await startSippAgents(rig, ['1001', '1006'], 200, 2, { timeoutSec: 40 });
  sipps.add(agents.answer);

  const callers = { 1: '+4930740000001', 2: '+4930740000002', 3: '+4930740000003' } as const;
  const runs = (['1', '2', '3'] as const).map((digit) => sipps.run({
    scenario: dtmfCallerScenario(rig, digit), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    // The menu listens from the start of its prompt, which follows the 2.3 s welcome.
    args: ['-s', '200', '-d', '3200', '-inf', callersFile(rig, [callers[digit]], `digit-${digit}.csv`)],
  }));
  const results = await within(Promise.all(runs), 40_000, 'the menu callers');
  results.forEach((r, i) => t.equal(r.successful, 1, `caller pressing ${i + 1} completed (stderr: ${r.stderr.slice(0, 300)})`));
  const phones = await within(agents.answer.done, 15_000, 'the agent phones');
  t.equal(phones.successful, 2, 'two calls reached agents');

  const cdrs = await waitForCdrs(rig, 3);
  const byCaller = (n: string) => cdrs.find((c) => c.caller === n);
  t.match(byCaller(callers[1]), { outcome: 'answered', queue: 'orders', agent: '1001', dialled: '200' }, '1 → orders, answered by an orders agent');
  t.match(byCaller(callers[2]), { outcome: 'answered', queue: 'service', agent: '1006', dialled: '200' }, '2 → service, answered by a service agent');
  t.match(byCaller(callers[3]), { outcome: 'callback_requested', queue: 'orders', agent: null, offers: 0 }, '3 → callback requested, never offered');
  for (const c of cdrs) t.ok(c.ivrExitAt !== null && c.ivrExitAt - c.arrivedAt >= 2000, `${c.caller} left the IVR after the welcome prompt`);
  const callbacks = await listCallbacks(rig);
  t.match(callbacks, [{ caller: callers[3], queue: 'orders', reason: 'requested', status: 'open', abandons: 1 }], 'one callback task, requested');
  t.equal(callbacks.length, 1, 'the answered callers left no callback task');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
  t.equal(sipps.running, 0, 'no sipp left running');
});

t.test('a digit pressed during the greeting is kept and answers the menu (type-ahead)', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const caller = '+4930740000009';
  // Pressed 0.8 s in, while the 2.3 s welcome still plays; no agent is registered, so the caller
  // waits in the chosen queue until it hangs up (9 s) and the CDR tells which queue that was.
  const r = await within(sipps.run({
    scenario: dtmfCallerScenario(rig, '2'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '200', '-d', '800', '-inf', callersFile(rig, [caller], 'typeahead.csv')],
  }), 40_000, 'the type-ahead caller');
  t.equal(r.successful, 1, `caller completed (stderr: ${r.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1);
  t.match(cdr, { caller, queue: 'service', outcome: 'abandoned_queue' }, 'the early 2 chose service');
  t.ok(cdr!.ivrExitAt !== null && cdr!.ivrExitAt - cdr!.arrivedAt < 3500, 'without waiting for the menu prompt');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
});
