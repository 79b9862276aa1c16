/**
 * Supervisor monitoring end to end through the real engine (issue 16, must-show 3): the caller
 * sends 697 Hz, the agent's phone 1209 Hz, the supervisor's phone 941 Hz (raw RTP sockets, the
 * phones register with sipp). The supervisor's registered phone is called from the API and the
 * mode changed on the same leg: listen (the supervisor hears both, nobody hears the supervisor),
 * whisper (the agent hears the supervisor, the caller receives none of the tone: Goertzel on what
 * the caller's socket received), barge (all three hear each other). The CDR lists the three stretches.
 */
import t from 'tap';
import { requirePeer } from './testing/index.ts';
import { api, registerSippAgents, startEngineRig, waitFor, waitForCdrs, within } from './testing/engine-rig.ts';
import { TONE_ABSENT as ABSENT, TONE_PRESENT as PRESENT, goertzel, heardSince as since, rawCaller, toneParties, type ToneParty } from './testing/tones.ts';

const CALLER_HZ = 697;
const AGENT_HZ = 1209;
const SUPERVISOR_HZ = 941;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('listen, whisper and barge: who hears whom', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const rig = await startEngineRig();
  const tones = await toneParties([AGENT_HZ, SUPERVISOR_HZ, CALLER_HZ], 2);
  t.teardown(async () => {
    await tones.close();
    await rig.close();
  });
  const [{ sip: phoneSip, rtp: agent }, { sip: supSip, rtp: sup }, { sip: callerSip, rtp: caller }] = tones.parties as [ToneParty, ToneParty, ToneParty];
  await registerSippAgents(rig, ['1001'], phoneSip.port);
  tones.start();
  const dial = await rawCaller(rig, callerSip, caller, '+4930123457', '100');
  const call = await waitFor('the call bridged to the agent', () => rig.engine.calls.list().find((c) => c.phase === 'talking'), 20_000);
  // The supervisor's phone registers once the caller is with the agent: it is offered nothing.
  await registerSippAgents(rig, ['1002'], supSip.port);

  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'spy', supervisor: '1002' })).status, 400, 'an unknown mode: 400');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'listen', supervisor: '1002', number: '123' })).status, 400, 'phone and number: 400');
  t.equal((await api(rig, 'POST', '/api/v1/calls/c1-1/monitor', { mode: 'listen', supervisor: '1002' })).status, 404, 'no such call: 404');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'listen', supervisor: '1003' })).status, 503, 'a phone not registered: 503');

  // listen
  let marks = [agent.heard.length, caller.heard.length];
  const listen = await api<{ monitorId: string }>(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'listen', supervisor: '1002' });
  t.equal(listen.status, 200, 'monitoring started');
  await waitFor('the supervisor hears the call', () => sup.heard.length >= 8000 * 1.5, 10_000);
  let s = sup.heard.slice(-8000);
  t.ok(goertzel(s, CALLER_HZ) > PRESENT && goertzel(s, AGENT_HZ) > PRESENT, 'listen: the supervisor hears the caller and the agent');
  t.ok(goertzel(since(agent, marks[0]!), SUPERVISOR_HZ) < ABSENT, 'listen: the agent hears no supervisor');
  t.ok(goertzel(since(caller, marks[1]!), SUPERVISOR_HZ) < ABSENT, 'listen: the caller hears no supervisor');
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'barge', supervisor: '1005' })).status, 409, 'a second supervisor: 409');

  // whisper
  marks = [agent.heard.length, caller.heard.length, sup.heard.length];
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'whisper', supervisor: '1002' })).status, 200, 'whisper');
  await sleep(1500);
  const agentHeard = since(agent, marks[0]!);
  const callerHeard = since(caller, marks[1]!);
  t.ok(goertzel(agentHeard, SUPERVISOR_HZ) > PRESENT && goertzel(agentHeard, CALLER_HZ) > PRESENT, 'whisper: the agent hears the supervisor and the caller');
  t.ok(goertzel(callerHeard, AGENT_HZ) > PRESENT, 'whisper: the caller hears the agent');
  t.ok(goertzel(callerHeard, SUPERVISOR_HZ) < ABSENT, `whisper: the caller receives none of the supervisor's tone (${goertzel(callerHeard, SUPERVISOR_HZ).toExponential(1)})`);
  s = since(sup, marks[2]!);
  t.ok(goertzel(s, CALLER_HZ) > PRESENT && goertzel(s, AGENT_HZ) > PRESENT, 'whisper: the supervisor still hears both');

  // barge
  marks = [agent.heard.length, caller.heard.length, sup.heard.length];
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/monitor`, { mode: 'barge', supervisor: '1002' })).status, 200, 'barge');
  await sleep(1500);
  const a = since(agent, marks[0]!);
  const c = since(caller, marks[1]!);
  s = since(sup, marks[2]!);
  t.ok(goertzel(c, SUPERVISOR_HZ) > PRESENT && goertzel(c, AGENT_HZ) > PRESENT, 'barge: the caller hears supervisor and agent');
  t.ok(goertzel(a, SUPERVISOR_HZ) > PRESENT && goertzel(a, CALLER_HZ) > PRESENT, 'barge: the agent hears supervisor and caller');
  t.ok(goertzel(s, CALLER_HZ) > PRESENT && goertzel(s, AGENT_HZ) > PRESENT, 'barge: the supervisor hears caller and agent');
  t.ok(goertzel(c, CALLER_HZ) < ABSENT && goertzel(a, AGENT_HZ) < ABSENT && goertzel(s, SUPERVISOR_HZ) < ABSENT, 'nobody hears their own tone back');

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.same(cdr?.monitoring?.map((m) => [m.supervisor, m.mode]), [['1002', 'listen'], ['1002', 'whisper'], ['1002', 'barge']], 'the CDR lists each stretch');
  t.ok(cdr?.monitoring?.every((m) => m.endedAt >= m.startedAt && m.startedAt >= (cdr.answeredAt ?? Infinity)), 'with its times');
  await waitFor('the supervisor hung up', () => supSip.heard.some((h) => h.text.startsWith('BYE ')), 5000);
});
