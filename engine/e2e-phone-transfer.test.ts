/**
 * Attended transfer as a desk phone does it, end to end through the real engine (issue 16;
 * docs/transfer.md, "From the agent's phone"): agent A's sipp phone (1001, registered from the
 * port it then calls from) answers a raw carrier caller sending 697 Hz and presses "transfer":
 *   1. it holds the caller (re-INVITE a=sendonly; agent-phone-hold.xml),
 *   2. sends its OWN INVITE to B's extension sip:1006@engine (agent-phone-consult.xml): the engine
 *      consults B (the ACD reserves 1006, a sipp agent answering with -rtp_echo) and answers A's
 *      INVITE once B answered,
 *   3. REFERs in the caller's dialog, a Replaces naming no dialog first (481), then one naming that
 *      A-B dialog (202, NOTIFY sipfrag 200, the engine's BYE; ../agent-attended-refer.xml), and the
 *      engine's BYE of the A-B dialog reaches it too (agent-phone-bye.xml).
 * The caller then hears its own tone back, which only B can have sent: caller and B exchange audio.
 * One CDR with the legs agent A, consult, agent B; `onair_transfers_total{kind="attended",result="ok"} 1`.
 * Then B is busy (in wrap-up) and A, talking to a second caller, calls B from its phone: 486, no
 * consultation left. Before this, the engine took A's INVITE to 1006 for a carrier call (the
 * loopback trunk): its IVR answered it, and the REFER naming that dialog got 481.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freeUdpPort, requirePeer, runSipp } from './testing/index.ts';
import { SCENARIOS, api, attendedLegs, demoQueues, startE2e, startEchoAgent, waitFor, waitForCdrs, within } from './testing/engine-rig.ts';
import { goertzel, toneCaller, TONE_PRESENT } from './testing/tones.ts';

const CALLER_HZ = 697;
const PHONE = path.join(SCENARIOS, 'sipp');

/** The line `PREFIX|…` a sipp scenario logged, split. */
function logged(file: string, prefix: string): string[] {
  const text = readFileSync(file, 'latin1');
  const at = text.indexOf(`${prefix}|`);
  return at < 0 ? [] : (text.slice(at).split('\n')[0] ?? '').trim().split('|').slice(1);
}

interface CallView {
  agent: string | null;
  consult: null | { agent: string; from: string; state: string };
}

t.test('a desk phone\'s attended transfer: hold, its own INVITE to B, REFER with Replaces naming that dialog; then B busy: 486', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig, sipps } = await startE2e(t, { queues: demoQueues({ wrapUpMs: 120_000 }) });
  const engine = rig.engine;
  const [portA, mediaA] = [await freeUdpPort(), await freeUdpPort()];
  // A registers from the port its phone then sends from: the engine knows A's INVITE by that source.
  const reg = await runSipp({
    scenario: path.join(SCENARIOS, 'agent-register.xml'), target: `127.0.0.1:${rig.sipPort}`, localPort: portA, calls: 1, timeoutSec: 10,
    args: ['-s', '1001', '-au', '1001', '-ap', 'demo1001', '-key', 'agent_port', String(portA)],
  });
  t.equal(reg.successful, 1, `A registered (${reg.stderr.slice(0, 200)})`);
  const dialogLog = path.join(rig.dir, 'a-dialog.log');
  const hold = sipps.start({
    scenario: path.join(PHONE, 'agent-phone-hold.xml'), localPort: portA, calls: 1, timeoutSec: 20,
    args: ['-d', '200', '-mp', String(mediaA), '-cp', String(await freeUdpPort()), '-trace_logs', '-log_file', dialogLog],
  });
  const b = await startEchoAgent(rig, sipps, '1006');
  const { rtp, dial } = await toneCaller(t, rig, CALLER_HZ, '+4930760000051');
  const call = await waitFor('agent 1001 talking', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 15_000);

  const h = await within(hold.done, 15_000, 'A answers and holds');
  t.equal(h.successful, 1, `A answered and held the caller (stderr: ${h.stderr.slice(0, 300)})`);
  const [aCallId, engineContact, engineParty, agentParty, agentTag] = logged(dialogLog, 'DIALOG');
  t.ok(aCallId && engineContact && engineParty && agentParty && agentTag, 'A\'s dialog with the caller logged');

  // A's own INVITE to B's extension, from A's registered port.
  const consultLog = path.join(rig.dir, 'a-consult.log');
  const consult = await sipps.run({
    scenario: path.join(PHONE, 'agent-phone-consult.xml'), target: `127.0.0.1:${rig.sipPort}`, localPort: portA, calls: 1, timeoutSec: 15,
    args: ['-s', '1006', '-key', 'agent_ext', '1001', '-mp', String(mediaA), '-cp', String(await freeUdpPort()), '-trace_logs', '-log_file', consultLog],
  });
  t.equal(consult.successful, 1, `the engine answered A's INVITE to 1006 once B answered (stderr: ${consult.stderr.slice(0, 300)})`);
  const [abCallId, aTag, engineTag] = logged(consultLog, 'CONSULT');
  t.ok(abCallId && aTag && engineTag, 'the A-B dialog logged');
  t.match(await api<CallView>(rig, 'GET', `/api/v1/calls/${call.id}`), { body: { agent: '1001', consult: { agent: '1006', from: '1001', state: 'talking' } } });
  t.match(engine.acd.inspectAgent('1006'), { state: 'onCall', callId: call.id }, 'B is busy with the consultation');

  const mark = rtp.heard.length;
  const replaces = (id: string): string => `<sip:1006@127.0.0.1?Replaces=${encodeURIComponent(`${id};to-tag=${engineTag};from-tag=${aTag}`)}>`;
  const refer = await sipps.run({
    scenario: path.join(SCENARIOS, 'agent-attended-refer.xml'), target: `127.0.0.1:${rig.sipPort}`, localPort: portA, calls: 1, timeoutSec: 15,
    args: [
      '-cid_str', aCallId!, '-cp', String(await freeUdpPort()),
      '-key', 'engine_contact', engineContact!, '-key', 'engine_party', engineParty!, '-key', 'agent_party', agentParty!, '-key', 'agent_tag', agentTag!,
      '-key', 'refer_to', replaces(abCallId!), '-key', 'foreign_to', replaces(`${abCallId}x`),
    ],
  });
  t.equal(refer.successful, 1, `A's REFERs got 481 then 202, the final NOTIFY and the engine's BYE (stderr: ${refer.stderr.slice(0, 500)})`);
  const bye = await sipps.run({ scenario: path.join(PHONE, 'agent-phone-bye.xml'), localPort: portA, calls: 1, timeoutSec: 10, args: ['-cp', String(await freeUdpPort())] });
  t.equal(bye.successful, 1, `the engine ended the A-B dialog too (stderr: ${bye.stderr.slice(0, 300)})`);
  await waitFor('the caller hears its own tone back from B (rtp_echo)', () => {
    const s = rtp.heard.slice(mark);
    return s.length >= 8000 && goertzel(s.slice(-4000), CALLER_HZ) > TONE_PRESENT;
  }, 10_000);
  t.pass('the caller\'s RTP reaches B and comes back');
  t.match(engine.calls.list().find((c) => c.id === call.id), { phase: 'talking', agentId: '1006', queue: 'orders' }, 'B is the call\'s agent');
  t.match(engine.acd.inspectAgent('1001'), { state: 'wrapUp', callId: null }, 'A is in wrap-up');

  t.equal(await within(dial.bye(), 5000, 'BYE answered'), 200, 'the caller hangs up');
  const br = await within(b.done, 10_000, 'agent B');
  t.equal(br.successful, 1, `B's sipp got the engine's BYE (stderr: ${br.stderr.slice(0, 300)})`);
  t.equal(engine.acd.inspectAgent('1006')?.state, 'wrapUp', 'B in wrap-up: busy');

  // B busy: A, talking to a second caller, calls B from its phone.
  t.match(engine.desk.endWrapUp('1001'), { ok: true });
  const answer = sipps.start({
    scenario: path.join(SCENARIOS, 'agent-attended-answer.xml'), localPort: portA, calls: 1, timeoutSec: 15,
    args: ['-d', '100', '-mp', String(mediaA), '-cp', String(await freeUdpPort())],
  });
  const second = await toneCaller(t, rig, CALLER_HZ, '+4930760000052');
  const call2 = await waitFor('agent 1001 talking again', () => engine.calls.list().find((c) => c.phase === 'talking' && c.agentId === '1001'), 15_000);
  t.equal((await within(answer.done, 10_000, 'A answers')).successful, 1);
  const busy = await sipps.run({
    scenario: path.join(PHONE, 'agent-phone-consult-busy.xml'), target: `127.0.0.1:${rig.sipPort}`, localPort: portA, calls: 1, timeoutSec: 10,
    args: ['-s', '1006', '-key', 'agent_ext', '1001', '-mp', String(mediaA), '-cp', String(await freeUdpPort())],
  });
  t.equal(busy.successful, 1, `B busy: 486 (stderr: ${busy.stderr.slice(0, 300)})`);
  t.match(await api<CallView>(rig, 'GET', `/api/v1/calls/${call2.id}`), { body: { agent: '1001', consult: null } }, 'no consultation left');
  t.match(engine.acd.inspectAgent('1001'), { state: 'onCall', callId: call2.id }, 'A keeps its call');
  const end = sipps.start({ scenario: path.join(PHONE, 'agent-phone-bye.xml'), localPort: portA, calls: 1, timeoutSec: 10, args: ['-cp', String(await freeUdpPort())] });
  t.equal(await within(second.dial.bye(), 5000, 'BYE answered'), 200, 'the second caller hangs up');
  t.equal((await within(end.done, 10_000, 'A hung up')).successful, 1);

  t.match(engine.desk.endWrapUp('1006'), { ok: true }, 'B ends its wrap-up: the first CDR goes');
  const [cdr] = await waitForCdrs(rig, 1, 10_000);
  t.match(cdr, { callId: call.id, outcome: 'answered', agent: '1006', queue: 'orders', transfers: 1, releasedBy: 'caller' });
  t.match(cdr?.legs, attendedLegs('1001', '1006'), 'one CDR: agent A, the consultation, agent B');
  t.equal(cdr?.legs?.length, 3);
  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, /onair_transfers_total\{kind="attended",result="ok"\} 1/, 'counted attended/ok');
});
