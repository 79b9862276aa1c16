/**
 * The failover bench's reading of sipp traces and rtpengine replies, and its verdict on the audio
 * of the calls bridged at the kill (bench/failover/audio.ts). The trace below is in sipp 3.6's
 * `-trace_msg` format (its `TRACE_MSG` stamp and direction lines; SIP lines end in CRLF).
 */
import t from 'tap';
import {
  answeredNumbers, callerDialogs, fateOf, hangups, keptAudio, listedCalls, mediaTargets, sessionPorts, tracedMessages, type BridgedCall,
} from './index.ts';

const crlf = (lines: string[]): string => lines.map((l) => `${l}\r\n`).join('');
const stamp = (time: string, dir: 'sent' | 'received'): string =>
  `----------------------------------------------- 2026-12-07\t${time}123\n${dir === 'sent' ? 'UDP message sent (512 bytes):' : 'UDP message received [512] bytes :'}\n\n`;
const sdp = (port: number, address = '127.0.0.1'): string[] => ['', 'v=0', `o=x 1 1 IN IP4 ${address}`, 's=-', `c=IN IP4 ${address}`, 't=0 0', `m=audio ${port} RTP/AVP 0 101`];

// A caller (Call-ID c1) answered by node A, moved to rtpengine by a re-INVITE, hanging up; a second
// caller (c2) answered and then hung up by the network (a BYE to it before its own).
const TRACE = [
  stamp('13:00:00.000', 'sent'), crlf(['INVITE sip:800@127.0.0.1:5060 SIP/2.0', 'From: <sip:+4930100000001@127.0.0.1>;tag=1', 'To: <sip:800@127.0.0.1:5060>', 'Call-ID: c1', 'CSeq: 1 INVITE', ...sdp(7000)]),
  stamp('13:00:00.100', 'received'), crlf(['SIP/2.0 200 OK', 'From: <sip:+4930100000001@127.0.0.1>;tag=1', 'Call-ID: c1', 'CSeq: 1 INVITE', 'Contact: <sip:ivr@127.0.0.2:5070>', ...sdp(20000, '127.0.0.2')]),
  stamp('13:00:01.000', 'sent'), crlf(['INVITE sip:800@127.0.0.1:5060 SIP/2.0', 'f: <sip:+4930100000002@127.0.0.1>;tag=2', 'i: c2', 'CSeq: 1 INVITE', ...sdp(7000)]),
  stamp('13:00:01.100', 'received'), crlf(['SIP/2.0 200 OK', 'From: <sip:+4930100000002@127.0.0.1>;tag=2', 'i: c2', 'CSeq: 1 INVITE', 'Contact: <sip:ivr@127.0.0.2:5070>', ...sdp(20002, '127.0.0.2')]),
  // The move of c1 to rtpengine (the 200 the caller sends back is not where it sends to).
  stamp('13:00:05.000', 'received'), crlf(['INVITE sip:+4930100000001@127.0.0.1:5061 SIP/2.0', 'Call-ID: c1', 'CSeq: 1 INVITE', ...sdp(30010)]),
  stamp('13:00:05.001', 'sent'), crlf(['SIP/2.0 200 OK', 'Call-ID: c1', 'CSeq: 1 INVITE', ...sdp(7000)]),
  // After the kill (13:00:10): a 200 to c1's BYE carries no SDP, and nothing after the cut-off counts.
  stamp('13:00:12.000', 'received'), crlf(['BYE sip:+4930100000002@127.0.0.1:5061 SIP/2.0', 'Call-ID: c2', 'CSeq: 2 BYE']),
  stamp('13:00:12.010', 'sent'), crlf(['BYE sip:800@127.0.0.1:5060 SIP/2.0', 'Call-ID: c2', 'CSeq: 2 BYE']),
  stamp('13:00:13.000', 'sent'), crlf(['BYE sip:800@127.0.0.1:5060 SIP/2.0', 'Call-ID: c1', 'CSeq: 2 BYE']),
  stamp('13:00:13.500', 'sent'), crlf(['BYE sip:800@127.0.0.1:5060 SIP/2.0', 'Call-ID: c1', 'CSeq: 2 BYE']),
  stamp('13:00:13.600', 'received'), crlf(['SIP/2.0 200 OK', 'Call-ID: c1', 'CSeq: 2 BYE']),
  stamp('13:00:14.000', 'received'), crlf(['INVITE sip:+4930100000001@127.0.0.1:5061 SIP/2.0', 'Call-ID: c1', 'CSeq: 3 INVITE', ...sdp(30990)]),
].join('');
const at = (time: string): number => Date.parse(`2026-12-07T${time}Z`);
const KILL = at('13:00:10.000');

t.test('a sipp trace: each message with its stamp and direction; answers, dialogs, targets and hang-ups', async (t) => {
  const msgs = tracedMessages(TRACE);
  t.equal(msgs.length, 12, 'every message');
  t.same(msgs.slice(0, 2).map((m) => [m.at, m.sent]), [[at('13:00:00.000'), true], [at('13:00:00.100'), false]], 'stamps (UTC, ms) and directions');
  t.same([...answeredNumbers(msgs)].map(([n, a]) => [n, a.node]), [['+4930100000001', '127.0.0.2'], ['+4930100000002', '127.0.0.2']], 'callers answered 200, by which node');
  t.same([...callerDialogs(msgs)], [['+4930100000001', 'c1'], ['+4930100000002', 'c2']], 'number → Call-ID, compact headers too');
  t.same([...mediaTargets(msgs, KILL)], [['c1', '127.0.0.1:30010'], ['c2', '127.0.0.2:20002']],
    'at the kill: c1 sends to the port of its re-INVITE, c2 to the answer of A; what the phone sent itself is not where it sends');
  t.same(mediaTargets(msgs).get('c1'), '127.0.0.1:30990', 'without a cut-off the last offer counts');
  t.same(mediaTargets(msgs, at('13:00:04.000')).get('c1'), '127.0.0.2:20000', 'before the move: A\'s leg');
  t.same([...mediaTargets(msgs, at('13:00:13.700'))], [], 'a dialog with a BYE, sent or received, sends nowhere');
  t.same([...hangups(msgs)], [['c1', at('13:00:13.000')]], 'the first BYE the caller sent; c2 was hung up by the network, not by its caller');
});

// rtpengine 10.5's `query` reply, as the ng client decodes it (strings and integers).
const QUERY = {
  result: 'ok', created: 1765112400, 'last signal': 1765112405,
  totals: { RTP: { packets: 0, bytes: 0, errors: 0 }, RTCP: { packets: 0, bytes: 0, errors: 0 } },
  tags: {
    caller: {
      tag: 'caller', created: 1765112400, 'in dialogue with': 'agent',
      medias: [{ index: 1, type: 'audio', protocol: 'RTP/AVP', streams: [
        { 'local port': 30011, flags: ['RTCP'], endpoint: { family: 'IPv4', address: '127.0.0.1', port: 7001 }, stats: { packets: 0, bytes: 0, errors: 0 } },
        { 'local port': 30010, flags: ['RTP'], endpoint: { family: 'IPv4', address: '127.0.0.1', port: 7000 }, stats: { packets: 0, bytes: 0, errors: 0 } },
      ], flags: ['initialized'] }],
    },
    agent: {
      tag: 'agent', created: 1765112400, 'in dialogue with': 'caller',
      medias: [{ index: 1, type: 'audio', protocol: 'RTP/AVP', streams: [
        { 'local port': 30012, endpoint: { family: 'IPv4', address: '127.0.0.1', port: 7100 } },
        { 'local port': 30013, endpoint: { family: 'IPv4', address: '127.0.0.1', port: 7101 } },
      ] }],
    },
  },
};

t.test('rtpengine replies: the listed calls, and each party\'s RTP port; anything else is no answer', async (t) => {
  t.same(listedCalls({ result: 'ok', calls: ['a.1', 'b.1'] }), ['a.1', 'b.1'], 'list');
  t.equal(listedCalls({ result: 'error', 'error-reason': 'x' }), undefined, 'an error is not a list');
  t.equal(listedCalls({ result: 'ok', calls: [1, 2] }), undefined, 'calls must be strings');
  t.same(sessionPorts(QUERY), { caller: 30010, agent: 30012 }, 'the stream flagged RTP, else the first with a port');
  t.equal(sessionPorts({ ...QUERY, tags: { caller: QUERY.tags.caller } }), undefined, 'a party missing');
  t.equal(sessionPorts({ ...QUERY, tags: { caller: QUERY.tags.caller, agent: { medias: 'x' } } }), undefined, 'a malformed party');
  t.equal(sessionPorts('d6:result2:oke'), undefined, 'not a dictionary');
});

t.test('the verdict: kept only when both phones were on the surviving relay and the echo came back', async (t) => {
  const end = at('13:00:14.000');
  const session = { id: 's.1', forCaller: '127.0.0.1:30010', agentOnSession: true };
  const base: BridgedCall = { callId: 's', caller: '+4930100000001', session, callerTarget: '127.0.0.1:30010', hungUpAt: undefined, heard: 49 };
  t.equal(fateOf(base, end, 50), 'kept', 'moved, still up, 49 of 50 back');
  t.equal(fateOf({ ...base, heard: 24 }, end, 50), 'silent', 'less than half back');
  t.equal(fateOf({ ...base, heard: 0 }, end, 0), 'silent', 'nothing sent is nothing shown');
  t.equal(fateOf({ ...base, hungUpAt: end - 1 }, end, 50), 'ended', 'the caller hung up before the end of the check');
  t.equal(fateOf({ ...base, hungUpAt: end }, end, 50), 'kept', 'a hang-up after the check does not matter');
  // The echo answers whoever sends to the agent's port: an unmoved phone must not pass for a kept call.
  t.equal(fateOf({ ...base, callerTarget: '127.0.0.2:20000' }, end, 50), 'not_on_relay', 'the caller still sent to A');
  t.equal(fateOf({ ...base, session: { ...session, agentOnSession: false } }, end, 50), 'not_on_relay', 'the agent still sent to A, echo or not');
  t.equal(fateOf({ ...base, session: { ...session, forCaller: undefined }, callerTarget: undefined }, end, 50), 'not_on_relay', 'a session without ports');
  const onair: BridgedCall = { callId: 'o', caller: '+4930100000002', callerTarget: '127.0.0.2:20002', hungUpAt: undefined, heard: 0 };
  t.equal(fateOf(onair, end, 50), 'silent', 'onair\'s relay: sent to A\'s leg, nothing back');
  t.equal(fateOf({ ...onair, heard: 50 }, end, 50), 'kept', 'measured, not assumed: an answer from there would count');

  const r = keptAudio([base, { ...base, heard: 0 }, { ...base, hungUpAt: end - 5000 }, { ...base, callerTarget: undefined }], end, 50);
  t.same(r, { bridged: 4, checked: 3, kept: 1, byFate: { ended: 1, kept: 1, not_on_relay: 1, silent: 1 }, ratio: 0.333 }, 'ratio over the calls still up');
  t.ok(Number.isNaN(keptAudio([{ ...base, hungUpAt: 0 }], end, 50).ratio), 'no call left to check: NaN, not 0 or 1');
  t.ok(Number.isNaN(keptAudio([], end, 50).ratio), 'no bridged call: NaN');
});
