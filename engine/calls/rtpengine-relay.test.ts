/**
 * The relay's moves on fakes of its three ports: the media pool (a log of commands), the UA
 * (phones that answer re-INVITEs with SDP built by the real SDP module) and rtpengine (answers
 * built by the real `partySdp`, as rtpengine rewrites a party's SDP with its own address and
 * port). The real thing end to end: engine/e2e-rtpengine.test.ts.
 */
import t from 'tap';
import { pino, type Logger } from 'pino';
import { createOffer, parseSdp, partySdp, type LegId, type LegRemote, type NgResult, type NgSession } from '../../media/index.ts';
import { Dialog, type DialogDelegate, type DialogSnapshot } from '../sip/index.ts';
import { AdoptedRelays, RtpengineRelay, type RelayTalk } from './rtpengine-relay.ts';
import { FakeClock } from '../clock/index.ts';
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
  /** Journal writes made before this re-INVITE went out. */
  journaled: number;
}

type Ng = 'ok' | 'timeout' | 'refused';

function rig(opts: { ng?: Ng; agentAnswers?: number; hold?: boolean } = {}) {
  const commands: string[] = [];
  const ngCalls: string[] = [];
  const reinvites: Sent[] = [];
  // The journal row as the relay writes it: the session of its snapshot, or null (moved back).
  const journal: (string | null)[] = [];
  const snapshot = (id: string) => () => ({ id });
  const callerDialog = { id: 'caller', snapshot: snapshot('caller') } as unknown as Dialog;
  const agentDialog = { id: 'agent', snapshot: snapshot('agent') } as unknown as Dialog;
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
      reinvites.push({ side, to: { address: (m.connection ?? sdp.sdp.connection)!.address, port: m.port }, origin: sdp.sdp.origin, journaled: journal.length });
      if (side === 'agent' && opts.agentAnswers !== undefined) return Promise.resolve({ status: opts.agentAnswers, body: Buffer.alloc(0) });
      const phone = side === 'caller' ? CALLER_PHONE : AGENT_PHONE;
      return Promise.resolve({ status: 200, body: Buffer.from(createOffer({ ...phone, codecs: ['PCMU'], dtmf: true }), 'latin1') });
    },
  };
  const persist = (_callId: string, relay: string | null): void => { journal.push(relay === null ? null : (JSON.parse(relay) as { session: string }).session); };
  const relay = new RtpengineRelay({ ng, media, ua: ua as never, log, persist });
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
  return { relay, commands, ngCalls, reinvites, journal, bridge, settle: () => new Promise((r) => setTimeout(r, 20)) };
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
  t.same(r.reinvites.map((x) => x.journaled), [1, 1], 'both dialogs journaled before the first phone is moved (a node dying mid-move leaves them to the next)');
  t.same(r.journal, ['call-1.1', 'call-1.1'], 'and again once both moved (their CSeqs now)');
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
  t.same(r.journal, ['call-1.1', null], 'journaled for the move, cleared when it failed');
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

// ---- a relayed call adopted by the node that took over ----------------------------------

const dialogOf = (role: 'uac' | 'uas', tag: string): DialogSnapshot => ({
  role, callId: `sip-${tag}`, localTag: `l-${tag}`, remoteTag: `r-${tag}`, local: '<sip:100@127.0.0.2>', remote: `<sip:${tag}@127.0.0.1>`,
  remoteTarget: `sip:${tag}@127.0.0.1:7000`, routeSet: ['<sip:127.0.0.1:5060;lr>'], localSeq: 3, remoteSeq: 1, secure: false, localContact: '<sip:onair@127.0.0.2:5070>',
});

function adoptRig(o: { rtpTimeoutMs?: number; packets?: () => number | 'gone' } = {}) {
  const byes: string[] = [];
  const ngCalls: string[] = [];
  const finished: [string, number, string][] = [];
  const delegates = new Map<string, DialogDelegate>();
  const clock = new FakeClock(1_000);
  const adopted = new AdoptedRelays({
    ua: {
      addDialog: (d, delegate) => { delegates.set(d.remoteTag, delegate); },
      bye: (d) => { byes.push(`${d.remoteTag} cseq ${d.localSeq + 1}`); return Promise.resolve('timeout'); },
    },
    ng: {
      delete: (q) => { ngCalls.push(`delete ${q.callId}`); return Promise.resolve({ ok: true as const, value: null }); },
      query: (q) => {
        ngCalls.push(`query ${q.callId}`);
        const p = o.packets?.() ?? 0;
        return Promise.resolve(p === 'gone' ? { ok: false as const, code: 'RTPENGINE_ERR_REFUSED' as const, reason: 'Unknown call-id' }
          : { ok: true as const, value: { created: 1, tags: new Map(), packets: p } });
      },
    },
    finish: (callId, endedAt, by) => { finished.push([callId, endedAt, by]); return Promise.resolve(); },
    rtpTimeoutMs: o.rtpTimeoutMs ?? 0, log, clock,
  });
  const entry = { callId: 'call-1', relay: JSON.stringify({ v: 1, session: 'call-1.1', caller: dialogOf('uas', 'caller'), agent: dialogOf('uac', 'agent') }) };
  return { adopted, entry, byes, ngCalls, finished, delegates, advance: (ms: number) => clock.advance(ms) };
}

const resolveAny = (): { transport: 'UDP'; address: string; port: number } => ({ transport: 'UDP', address: '127.0.0.1', port: 5060 });

t.test('snapshot and restore of a dialog: the same requests', async (t) => {
  const d = Dialog.restore(dialogOf('uas', 'caller'))!;
  t.same(d.snapshot(), dialogOf('uas', 'caller'), 'round trip');
  const bye = d.createRequest('BYE');
  t.equal(bye.headers.cseq.seq, 4, 'the next local CSeq');
  t.equal(Dialog.restore({ ...dialogOf('uas', 'x'), remoteTarget: 'not a uri' }), undefined, 'unparsable stored data: no dialog');
});

t.test('adopted: the caller\'s BYE hangs up the agent, deletes the session, writes the CDR at the BYE', async (t) => {
  const r = adoptRig();
  t.ok(r.adopted.adopt(r.entry, resolveAny));
  t.equal(r.adopted.size, 1);
  t.same([...r.delegates.keys()].sort(), ['r-agent', 'r-caller'], 'both dialogs held by the user agent');
  r.advance(5_000);
  r.delegates.get('r-caller')!.onBye!({} as Dialog, {} as never);
  await new Promise((resolve) => setImmediate(resolve));
  t.same(r.byes, ['r-agent cseq 1004'], 'BYE to the agent only, well above the CSeq of the snapshot (A may have sent more after it)');
  t.same(r.ngCalls, ['delete call-1.1']);
  t.same(r.finished, [['call-1', 6_000, 'caller']], 'ended at the BYE, by the caller');
  t.equal(r.adopted.size, 0);
  r.delegates.get('r-agent')!.onBye!({} as Dialog, {} as never);
  await new Promise((resolve) => setImmediate(resolve));
  t.equal(r.finished.length, 1, 'ended once');
});

t.test('adopted: an unreadable snapshot is refused (the caller cuts the call instead)', async (t) => {
  const r = adoptRig();
  t.notOk(r.adopted.adopt({ callId: 'x', relay: '{"v":2}' }, resolveAny));
  t.notOk(r.adopted.adopt({ callId: 'y', relay: 'not json' }, resolveAny));
  t.equal(r.adopted.size, 0);
});

t.test('adopted: no packets at rtpengine for the RTP timeout, or the session gone, ends the call (system)', async (t) => {
  const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  const packets = [10, 10, 10];
  const r = adoptRig({ rtpTimeoutMs: 1000, packets: () => packets.shift() ?? 10 });
  r.adopted.adopt(r.entry, resolveAny);
  r.advance(500);
  await settle();
  t.same(r.ngCalls, ['query call-1.1'], 'rtpengine asked every half timeout');
  r.advance(500);
  await settle();
  t.same(r.finished, [], 'quiet for half the timeout: still up');
  r.advance(500);
  await settle();
  t.same(r.finished, [['call-1', 2_500, 'system']], 'no new packet for the whole timeout: ended');
  t.same(r.byes.sort(), ['r-agent cseq 1004', 'r-caller cseq 1004'], 'both phones get a BYE');

  const moving = adoptRig({ rtpTimeoutMs: 1000, packets: (() => { let n = 0; return () => (n += 5); })() });
  moving.adopted.adopt(moving.entry, resolveAny);
  for (let i = 0; i < 6; i++) {
    moving.advance(500);
    await settle();
  }
  t.same(moving.finished, [], 'packets moving: up for as long as they do');
  await moving.adopted.stop();
  t.same(moving.finished.map((f) => f[2]), ['system'], 'stop() ends it');

  const g = adoptRig({ rtpTimeoutMs: 1000, packets: () => 'gone' });
  g.adopted.adopt(g.entry, resolveAny);
  g.advance(500);
  await settle();
  t.equal(g.finished.length, 1, 'rtpengine forgot the call: ended');
});
