/**
 * End to end, an agent's phone puts the caller on hold and back (re-INVITEs with a=sendonly, then
 * a=sendrecv, RFC 3264 §8.4) in the middle of a call, with real sipp peers: each re-INVITE is
 * answered 200 with a usable SDP and the call goes on until the caller hangs up.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { SCENARIOS, callersFile, startE2e, startSippAgents, waitForCdrs, within } from './testing/engine-rig.ts';

t.test('a re-INVITE from the agent (hold, resume) is answered with SDP and the call continues', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t);
  const phone = await startSippAgents(rig, ['1001'], 200, 1, { scenario: 'agent-hold.xml', timeoutSec: 30 });
  sipps.add(phone.answer);
  const caller = '+4930760000001';
  // Answered by the agent about 2.6 s in (welcome, queue, ring); hold and resume take 1 s more.
  const r = await sipps.run({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 30, args: ['-s', '100', '-d', '6000', '-inf', callersFile(rig, [caller])],
  });
  t.equal(r.successful, 1, `the caller stayed connected until it hung up (stderr: ${r.stderr.slice(0, 300)})`);
  const agent = await within(phone.answer.done, 10_000, 'the agent phone');
  t.equal(agent.successful, 1,
    `the agent phone: hold and resume answered 200 with SDP on a real port, then the engine's BYE (stderr: ${agent.stderr.slice(0, 400)})`);
  const [cdr] = await waitForCdrs(rig, 1);
  t.match(cdr, { outcome: 'answered', caller, agent: '1001', releasedBy: 'caller' }, 'answered, ended by the caller');
  t.ok(cdr && cdr.talkMs >= 2000, `the conversation went on after the hold (talk ${cdr?.talkMs} ms)`);
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
  t.equal(sipps.running, 0, 'no sipp left running');
});
