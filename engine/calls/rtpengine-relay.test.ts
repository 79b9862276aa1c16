/**
 * The relay's moves on fakes of its three ports: the media pool (a log of commands), the UA
 * (phones that answer re-INVITEs with SDP built by the real SDP module) and rtpengine (answers
 * built by the real `partySdp`, as rtpengine rewrites a party's SDP with its own address and
 * port). The real thing end to end: engine/e2e-rtpengine.test.ts.
 */
import t from 'tap';
import { pino, type Logger } from 'pino';
import { createOffer, parseSdp, partySdp, type LegId, type LegRemote, type NgResult, type NgSession } from '../../media/index.ts';
import type { Dialog } from '../sip/index.ts';
import { RtpengineRelay, type RelayTalk } from './rtpengine-relay.ts';
import type { CallMedia } from './types.ts';

const log: Logger = pino({ level: 'silent' });

const CALLER_LEG = 'leg-c' as LegId;
const AGENT_LEG = 'leg-a' as LegId;
const CALLER_PHONE = { address: '192.0.2.10', port: 4000 };
const AGENT_PHONE = { address: '192.0.2.20', port: 5000 };
const ONAIR_CALLER = { address: '127.0.0.1', port: 20000 };
const ONAIR_AGENT = { address: '127.0.0.1', port: 20002 };
/** rtpengine's ports: A for the caller to send to, B for the agent. */
const RTP_A = { address: '127.0.0.1', port: 30000 };
const RTP_B = { address: '127.0.0.1', port: 30002 };

const remote = (p: { address: string; port: number }): LegRemote => ({ ...p, codec: 'PCMU', payloadType: 0, dtmfPayloadType: 101, direction: 'sendrecv', hold: false });
const ours = (p: { address: string; port: number }, sessionId: string): Buffer =>
  Buffer.from(createOffer({ ...p, codecs: ['PCMU'], dtmf: true, sessionId, sessionVersion: 1 }), 'latin1');

interface Sent {
  side: 'caller' | 'agent';
  to: { address: string; port: number };
  origin: { sessionId: string; sessionVersion: string };
}

type Ng = 'ok' | 'timeout' | 'refused';

function rig(opts: { ng?: Ng; agentAnswers?: number; hold?: boolean } = {}) {
  const commands: string[] = [];
  const ngCalls: string[] = [];
  const reinvites: Sent[] = [];
  const callerDialog = { id: 'caller' } as unknown as Dialog;
  const agentDialog = { id: 'agent' } as unknown as Dialog;
  const ok = <T>(value: T) => Promise.resolve({ ok: true as const, value });
  const media = {
    delegate: undefined,
    allocate: () => { throw new Error('not used'); },
    setRemote: (leg: LegId, r: LegRemote) => { commands.push(`setRemote ${leg} ${r.address}:${r.port} ${r.direction ?? 'sendrecv'}`); return ok(null); },
    play: () => ok({ playId: 1 }),
    stop: () => ok(null),
    bridge: (a: LegId, b: LegId) => { commands.push(`bridge ${a} ${b}`); return ok({ transcoding: false }); },
    unbridge: (leg: LegId) => { commands.push(`unbridge ${leg}`); return ok(null); },
    release: (leg: LegId) => { commands.push(`release ${leg}`); return ok(null); },
    legStats: () => ok(null),
    recordStart: (leg: LegId) => { commands.push(`recordStart ${leg}`); return ok(null); },
    recordStop: (leg: LegId) => { commands.push(`recordStop ${leg}`); return ok(null); },
    recordPause: () => ok(null),
    recordResume: () => ok(null),
    conference: () => ok(null),
    leaveConference: () => ok(null),
  } as unknown as CallMedia;
  const answerNg = (kind: 'offer' | 'answer', callId: string): Promise<NgResult<NgSession>> => {
    ngCalls.push(`${kind} ${callId}`);
    if (opts.ng === 'timeout') return Promise.resolve({ ok: false, code: 'RTPENGINE_ERR_TIMEOUT', reason: 'silent' });
    if (opts.ng === 'refused') return Promise.resolve({ ok: false, code: 'RTPENGINE_ERR_REFUSED', reason: 'no' });
    const at = kind === 'offer' ? RTP_B : RTP_A;
    return Promise.resolve({ ok: true, value: { sdp: partySdp({ ...at, codec: 'PCMU', dtmfPayloadType: 101 }, '99') } });
  };
  const ng = {
    offer: (o: { callId: string }) => answerNg('offer', o.callId),
    answer: (o: { callId: string }) => answerNg('answer', o.callId),
    delete: (o: { callId: string }) => { ngCalls.push(`delete ${o.callId}`); return Promise.resolve({ ok: true as const, value: null }); },
  };
  const ua = {
    sendInDialog: (dialog: Dialog, method: string, o: { body?: Buffer } = {}) => {
      const side = dialog === callerDialog ? 'caller' : 'agent';
      const sdp = parseSdp(o.body!.toString('latin1'));
      if (!sdp.ok || method !== 'INVITE') throw new Error('the relay sends re-INVITEs with SDP');
      const m = sdp.sdp.media[0]!;
      reinvites.push({ side, to: { address: (m.connection ?? sdp.sdp.connection)!.address, port: m.port }, origin: sdp.sdp.origin });
      if (side === 'agent' && opts.agentAnswers !== undefined) return Promise.resolve({ status: opts.agentAnswers, body: Buffer.alloc(0) });
      const phone = side === 'caller' ? CALLER_PHONE : AGENT_PHONE;
      return Promise.resolve({ status: 200, body: Buffer.from(createOffer({ ...phone, codecs: ['PCMU'], dtmf: true }), 'latin1') });
    },
  };
  const relay = new RtpengineRelay({ ng, media, ua: ua as never, log });
  const talk: RelayTalk = {
    callId: 'call-1', callerLeg: CALLER_LEG, agentLeg: AGENT_LEG, callerDialog, agentDialog,
    callerSdp: ours(ONAIR_CALLER, '111'), agentSdp: ours(ONAIR_AGENT, '222'),
  };
  /** What call control does when the agent answers. */
  const bridge = (): void => {
    relay.talking(talk);
    void relay.media.setRemote(CALLER_LEG, remote(CALLER_PHONE));
    void relay.media.setRemote(AGENT_LEG, { ...remote(AGENT_PHONE), ...(opts.hold ? { hold: true, direction: 'recvonly' as const } : {}) });
    void relay.media.bridge(CALLER_LEG, AGENT_LEG);
  };
  return { relay, commands, ngCalls, reinvites, bridge, settle: () => new Promise((r) => setTimeout(r, 20)) };
}

t.test('bridged: offer and answer, the agent then the caller re-INVITEd to rtpengine, onair\'s legs idle', async (t) => {
  const r = rig();
  r.bridge();
  await r.settle();
  t.same(r.ngCalls, ['offer call-1.1', 'answer call-1.1']);
  t.same(r.reinvites.map((x) => [x.side, x.to]), [['agent', RTP_B], ['caller', RTP_A]], 'the agent to port B, the caller to port A');
  t.same(r.reinvites.map((x) => [x.origin.sessionId, x.origin.sessionVersion]), [['222', '2'], ['111', '2']], 'our own origin line, version + 1');
  t.same(r.commands.slice(-2), [`setRemote ${CALLER_LEG} ${CALLER_PHONE.address}:${CALLER_PHONE.port} inactive`, `setRemote ${AGENT_LEG} ${AGENT_PHONE.address}:${AGENT_PHONE.port} inactive`]);
  t.equal(r.relay.stateOf(CALLER_LEG), 'relayed');
  t.same(r.relay.figures(), { relayed: 1, entered: 1, fallbacks: { unreachable: 0, refused: 0, reinvite: 0 } });
});

t.test('rtpengine silent or refusing: the call stays on onair\'s relay, counted, nobody re-INVITEd', async (t) => {
  for (const [ng, reason] of [['timeout', 'unreachable'], ['refused', 'refused']] as const) {
    const r = rig({ ng });
    r.bridge();
    await r.settle();
    t.same(r.reinvites, [], `${ng}: no re-INVITE`);
    t.notOk(r.commands.some((c) => c.endsWith('inactive')), `${ng}: onair keeps relaying`);
    t.equal(r.relay.stateOf(CALLER_LEG), 'onair');
    t.equal(r.relay.figures().fallbacks[reason], 1, `${ng}: counted as ${reason}`);
  }
});

t.test('a phone that refuses the move: the other is not moved, the session is deleted', async (t) => {
  const r = rig({ agentAnswers: 488 });
  r.bridge();
  await r.settle();
  t.same(r.reinvites.map((x) => x.side), ['agent'], 'only the agent was asked');
  t.same(r.ngCalls, ['offer call-1.1', 'answer call-1.1', 'delete call-1.1']);
  t.equal(r.relay.stateOf(CALLER_LEG), 'onair');
  t.equal(r.relay.figures().fallbacks.reinvite, 1);
});

t.test('unbridge (hold, transfer): onair\'s legs first, then both phones back on onair\'s legs, then delete', async (t) => {
  const r = rig();
  r.bridge();
  await r.settle();
  r.commands.length = 0;
  r.reinvites.length = 0;
  void r.relay.media.unbridge(CALLER_LEG);
  t.same(r.commands, [
    `setRemote ${CALLER_LEG} ${CALLER_PHONE.address}:${CALLER_PHONE.port} sendrecv`, `setRemote ${AGENT_LEG} ${AGENT_PHONE.address}:${AGENT_PHONE.port} sendrecv`, `unbridge ${CALLER_LEG}`,
  ], 'the legs send again before the unbridge (the worker keeps a leg\'s order)');
  await r.settle();
  t.same(r.reinvites.map((x) => [x.side, x.to, x.origin.sessionVersion]), [['caller', ONAIR_CALLER, '3'], ['agent', ONAIR_AGENT, '3']]);
  t.same(r.ngCalls.slice(-1), ['delete call-1.1']);
  t.equal(r.relay.stateOf(CALLER_LEG), 'onair');
  t.equal(r.relay.figures().relayed, 0);

  // Bridged again (resume): a new session.
  void r.relay.media.bridge(CALLER_LEG, AGENT_LEG);
  await r.settle();
  t.equal(r.relay.stateOf(CALLER_LEG), 'relayed');
  t.same(r.ngCalls.slice(-2), ['offer call-1.2', 'answer call-1.2']);
});

t.test('a re-INVITE from the agent: only the caller is moved back (the agent is answered by call control)', async (t) => {
  const r = rig();
  r.bridge();
  await r.settle();
  r.reinvites.length = 0;
  r.relay.reinvited(AGENT_LEG);
  await r.settle();
  t.same(r.reinvites.map((x) => [x.side, x.to]), [['caller', ONAIR_CALLER]]);
  t.equal(r.relay.stateOf(AGENT_LEG), 'onair');
});

t.test('recording starts while rtpengine is asked: nobody moves, the session is deleted, no re-entry while recording', async (t) => {
  const r = rig();
  r.bridge();
  void r.relay.media.recordStart(CALLER_LEG, '/tmp/x.wav');
  await r.settle();
  t.same(r.reinvites, [], 'no phone moved');
  t.same(r.ngCalls, ['offer call-1.1', 'delete call-1.1']);
  void r.relay.media.bridge(CALLER_LEG, AGENT_LEG);
  await r.settle();
  t.equal(r.relay.stateOf(CALLER_LEG), 'onair', 'a recorded call stays on onair\'s legs');
});

t.test('the call ends while relayed: delete, no re-INVITE', async (t) => {
  const r = rig();
  r.bridge();
  await r.settle();
  r.reinvites.length = 0;
  void r.relay.media.release(CALLER_LEG);
  void r.relay.media.release(AGENT_LEG);
  await r.settle();
  t.same(r.reinvites, []);
  t.same(r.ngCalls.slice(-1), ['delete call-1.1']);
  t.equal(r.relay.stateOf(CALLER_LEG), undefined);
  t.equal(r.relay.figures().relayed, 0);
});

t.test('a pair that cannot be forwarded as it is (a phone on hold) is not offered to rtpengine', async (t) => {
  const r = rig({ hold: true });
  r.bridge();
  await r.settle();
  t.same(r.ngCalls, []);
});
