/**
 * Three-way conference end to end through the real engine (issue 16, "three-way consultation and
 * conference"; docs/transfer.md, "Conference"): a raw carrier caller sends 697 Hz, agent A's phone
 * (1001) 1209 Hz, agent B's phone (1006) 941 Hz (raw RTP sockets; the phones register with sipp).
 * A consults B by the API, then joins the caller in: each of the three receives the other two
 * tones and not its own (Goertzel on what its socket received: the media worker mixes each party's
 * "all minus own"). A leaves by the API: caller and B still hear each other and nobody hears A;
 * one CDR with the legs agent A, consult, conference, agent B. Before the conference existed the
 * route answered 404.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { requirePeer } from './testing/index.ts';
import { api, registerSippAgents, startEngineRig, waitFor, waitForCdrs, within } from './testing/engine-rig.ts';
import { TONE_ABSENT as ABSENT, TONE_PRESENT as PRESENT, goertzel, heardSince as since, rawCaller, toneParties, type ToneParty } from './testing/tones.ts';

const CALLER_HZ = 697;
const A_HZ = 1209;
const B_HZ = 941;
/**
 * A party's own tone in what it receives: µ-law quantisation noise of a two-tone mix (twice the
 * amplitude of one tone) measured 2e9-1.1e10 over these 1.2 s windows, a tone heard about 1e15;
 * a mix that kept the party's own signal would put it near 1e15 too.
 */
const OWN_ABSENT = 1e11;

t.test('conference: caller, A and B each hear the other two and not themselves; A leaves, caller and B go on; one CDR', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const rig = await startEngineRig();
  const tones = await toneParties([A_HZ, B_HZ, CALLER_HZ], 2);
  t.teardown(async () => {
    await tones.close();
    await rig.close();
  });
  const engine = rig.engine;
  const [{ sip: aSip, rtp: a }, { sip: bSip, rtp: b }, { sip: callerSip, rtp: caller }] = tones.parties as [ToneParty, ToneParty, ToneParty];
  await registerSippAgents(rig, ['1001'], aSip.port);
  tones.start();
  const dial = await rawCaller(rig, callerSip, caller, '+4930123458', '100');
  const call = await waitFor('the call with agent 1001', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 20_000);
  // B's phone registers once the caller is with A: it is offered nothing before the consultation.
  await registerSippAgents(rig, ['1006'], bSip.port);
  await waitFor('agent 1006 idle', () => engine.acd.inspectAgent('1006')?.state === 'idle', 5000);

  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/consult/conference`)).status, 409, 'no consultation yet: 409');
  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/consult`, { agent: '1006' }), { status: 200, body: { state: 'ringing' } });
  await waitFor('B answered the consultation', async () => (await api<{ consult: { state: string } | null }>(rig, 'GET', `/api/v1/calls/${call.id}`)).body.consult?.state === 'talking', 10_000);

  let marks = [caller.heard.length, a.heard.length, b.heard.length];
  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/consult/conference`), { status: 200, body: { agent: '1006', state: 'conference' } });
  t.match(await api(rig, 'GET', `/api/v1/calls/${call.id}`), { body: { agent: '1001', consult: { agent: '1006', state: 'conference' } } });
  t.equal((await api(rig, 'POST', `/api/v1/calls/${call.id}/consult/conference`)).status, 409, 'in conference already: 409');
  t.match(engine.acd.inspectAgent('1006'), { state: 'onCall', callId: call.id }, 'B is on the call');
  await sleep(1500);
  let c = since(caller, marks[0]!);
  const ha = since(a, marks[1]!);
  let hb = since(b, marks[2]!);
  const power = (s: number[], hz: number): string => goertzel(s, hz).toExponential(1);
  t.ok(goertzel(c, A_HZ) > PRESENT && goertzel(c, B_HZ) > PRESENT, `the caller hears A and B (${power(c, A_HZ)}, ${power(c, B_HZ)})`);
  t.ok(goertzel(ha, CALLER_HZ) > PRESENT && goertzel(ha, B_HZ) > PRESENT, `A hears the caller and B (${power(ha, CALLER_HZ)}, ${power(ha, B_HZ)})`);
  t.ok(goertzel(hb, CALLER_HZ) > PRESENT && goertzel(hb, A_HZ) > PRESENT, `B hears the caller and A (${power(hb, CALLER_HZ)}, ${power(hb, A_HZ)})`);
  t.ok(goertzel(c, CALLER_HZ) < OWN_ABSENT && goertzel(ha, A_HZ) < OWN_ABSENT && goertzel(hb, B_HZ) < OWN_ABSENT,
    `nobody hears their own tone (${power(c, CALLER_HZ)}, ${power(ha, A_HZ)}, ${power(hb, B_HZ)})`);

  // A leaves: the caller and B stay together as B's call.
  t.match(await api(rig, 'POST', `/api/v1/calls/${call.id}/conference/leave`), { status: 200, body: { agent: '1006', state: 'completed' } });
  await waitFor('A\'s phone hung up', () => aSip.heard.some((h) => h.text.startsWith('BYE ')), 5000);
  t.match(engine.calls.list().find((x) => x.id === call.id), { phase: 'talking', agentId: '1006' });
  t.match(engine.acd.inspectAgent('1001'), { state: 'wrapUp' }, 'A to wrap-up');
  marks = [caller.heard.length, a.heard.length, b.heard.length];
  await sleep(1500);
  c = since(caller, marks[0]!);
  hb = since(b, marks[2]!);
  t.ok(goertzel(c, B_HZ) > PRESENT && goertzel(hb, CALLER_HZ) > PRESENT, 'caller and B still hear each other');
  t.ok(goertzel(c, A_HZ) < ABSENT && goertzel(hb, A_HZ) < ABSENT, 'and nobody hears A');

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, { callId: call.id, outcome: 'answered', agent: '1006', transfers: 1, releasedBy: 'caller' });
  t.match(cdr?.legs, [
    { kind: 'agent', agent: '1001', endedBy: 'transfer' }, { kind: 'consult', agent: '1006', endedBy: 'transfer' },
    { kind: 'conference', agent: '1006', endedBy: 'transfer' }, { kind: 'agent', agent: '1006', endedBy: 'hangup' },
  ], 'one CDR: agent A, the consultation, the conference, agent B');
  t.equal(cdr?.legs?.length, 4);
  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, /onair_transfers_total\{kind="conference",result="ok"\} 1/, 'counted conference/ok');
  t.match(metrics, /onair_transfers_total\{kind="attended",result="ok"\} 1/, 'A leaving completed the attended transfer');
});
