import t from 'tap';
import fc from 'fast-check';
import { parseSdp, negotiate, createOffer, acceptAnswer } from './index.ts';
import type { LocalMedia } from './index.ts';

const crlf = (lines: string[]): string => lines.join('\r\n') + '\r\n';

/** A carrier-style offer; `extra` lines go into the audio section. */
function offer(o: { formats?: string; extra?: string[]; c?: string; sessionExtra?: string[]; proto?: string; port?: number; more?: string[] } = {}): string {
  return crlf([
    'v=0',
    'o=carrier 123456 654321 IN IP4 192.0.2.10',
    's=-',
    o.c ?? 'c=IN IP4 192.0.2.10',
    't=0 0',
    ...(o.sessionExtra ?? []),
    `m=audio ${o.port ?? 30000} ${o.proto ?? 'RTP/AVP'} ${o.formats ?? '8 0 101'}`,
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    ...(o.extra ?? []),
    ...(o.more ?? []),
  ]);
}

const local: LocalMedia = { address: '198.51.100.7', port: 40000, codecs: ['PCMU', 'PCMA'], dtmf: true, sessionId: '42', sessionVersion: 1 };

t.test('parse', async (t) => {
  const r = parseSdp(offer({ extra: ['a=ptime:30', 'a=maxptime:60', 'a=sendonly', 'b=AS:64', 'a=rtcp:30001'] }));
  if (!r.ok) throw new Error(r.reason);
  const s = r.sdp;
  t.same(s.origin, { username: 'carrier', sessionId: '123456', sessionVersion: '654321', addrType: 'IP4', address: '192.0.2.10' });
  t.same(s.connection, { addrType: 'IP4', address: '192.0.2.10' });
  t.equal(s.media.length, 1);
  const m = s.media[0]!;
  t.equal(m.media, 'audio');
  t.equal(m.port, 30000);
  t.same(m.formats, ['8', '0', '101']);
  t.same(m.rtpmap.get(101), { payloadType: 101, encoding: 'telephone-event', clockRate: 8000, channels: 1 });
  t.equal(m.fmtp.get(101), '0-15');
  t.equal(m.ptime, 30);
  t.equal(m.maxptime, 60);
  t.equal(m.direction, 'sendonly');
  // LF-only line ends, as some softphones send.
  const lf = parseSdp(offer().replace(/\r\n/g, '\n'));
  t.ok(lf.ok);
});

t.test('parse errors are results', async (t) => {
  const cases: [string, string, RegExp][] = [
    ['empty', '', /v=0/],
    ['no v=', 'o=x 1 1 IN IP4 1.2.3.4\r\n', /v=0/],
    ['bad line', 'v=0\r\nhello\r\n', /line 2/],
    ['bad o=', 'v=0\r\no=x 1 IN IP4\r\n', /bad o=/],
    ['no o=', 'v=0\r\ns=-\r\n', /missing o=/],
    ['bad c=', offer({ c: 'c=IN IPX 1.2.3.4' }), /bad c=/],
    ['bad m= port', offer().replace('m=audio 30000', 'm=audio 99999'), /bad m=/],
    ['bad m= short', offer().replace('m=audio 30000 RTP/AVP 8 0 101', 'm=audio 30000'), /bad m=/],
    ['huge', 'v=0\r\n' + 'a=x\r\n'.repeat(5000), /exceeds/],
  ];
  for (const [name, text, re] of cases) {
    const r = parseSdp(text);
    t.equal(r.ok, false, name);
    if (!r.ok) {
      t.equal(r.code, 'SDP_ERR_PARSE');
      t.match(r.reason, re, name);
    }
  }
});

t.test('offerer order wins: PCMA, with telephone-event', async (t) => {
  const r = negotiate(offer(), local);
  if (!r.ok) throw new Error(r.reason);
  t.same(r.remote, {
    address: '192.0.2.10', port: 30000, codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101, ptime: 20,
    direction: 'sendrecv', hold: false,
  });
  t.equal(r.answer, crlf([
    'v=0',
    'o=onair 42 1 IN IP4 198.51.100.7',
    's=onair',
    'c=IN IP4 198.51.100.7',
    't=0 0',
    'm=audio 40000 RTP/AVP 8 101',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=ptime:20',
    'a=sendrecv',
  ]));
  // The answer is itself valid SDP that reads back to the same stream.
  const back = acceptAnswer(r.answer, { ...local, codecs: ['PCMA', 'PCMU'] });
  t.ok(back.ok && back.remote.codec === 'PCMA' && back.remote.port === 40000 && back.remote.dtmfPayloadType === 101);
});

t.test('local order when asked (avoid transcoding), PCMU only, no DTMF', async (t) => {
  const r = negotiate(offer(), { ...local, preferLocalOrder: true });
  t.ok(r.ok && r.remote.codec === 'PCMU' && r.remote.payloadType === 0);
  const u = negotiate(offer(), { ...local, codecs: ['PCMU'], dtmf: false });
  if (!u.ok) throw new Error(u.reason);
  t.equal(u.remote.codec, 'PCMU');
  t.equal(u.remote.dtmfPayloadType, undefined);
  t.match(u.answer, /m=audio 40000 RTP\/AVP 0\r\n/);
  t.notMatch(u.answer, /telephone-event/);
});

t.test('static payload types without rtpmap, dynamic G.711 and a different telephone-event PT', async (t) => {
  const bare = crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0', 'm=audio 5004 RTP/AVP 0']);
  const r = negotiate(bare, local);
  t.ok(r.ok && r.remote.codec === 'PCMU' && r.remote.dtmfPayloadType === undefined);
  const dyn = crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0',
    'm=audio 5004 RTP/AVP 96 97 18', 'a=rtpmap:96 opus/48000/2', 'a=rtpmap:97 pcma/8000', 'a=rtpmap:18 G729/8000',
    'a=rtpmap:100 telephone-event/8000']);
  const d = negotiate(dyn, local);
  t.ok(d.ok && d.remote.codec === 'PCMA' && d.remote.payloadType === 97, 'lower-case dynamic PCMA');
  t.ok(d.ok && d.remote.dtmfPayloadType === undefined, 'an rtpmap not in the m= list does not count');
  const te = negotiate(offer({ formats: '0 96', extra: ['a=rtpmap:96 telephone-event/8000'] }), local);
  t.ok(te.ok && te.remote.dtmfPayloadType === 96);
  const wide = negotiate(offer({ formats: '0 102', extra: ['a=rtpmap:102 telephone-event/16000'] }), local);
  t.ok(wide.ok && wide.remote.dtmfPayloadType === undefined, 'telephone-event/16000 does not go with G.711');
});

t.test('ptime', async (t) => {
  const r = negotiate(offer({ extra: ['a=ptime:30'] }), { ...local, ptime: 20 });
  t.ok(r.ok && r.remote.ptime === 30, 'the peer asks for 30 ms packets');
  t.ok(r.ok && r.answer.includes('a=ptime:20\r\n'), 'and we ask for 20 ms');
});

t.test('hold and directions (RFC 3264 §6.1, §8.4)', async (t) => {
  const cases: [string[], string, string, boolean][] = [
    [['a=sendonly'], 'recvonly', 'peer holds us: we must not send', true],
    [['a=inactive'], 'inactive', 'peer holds, nothing flows', true],
    [['a=recvonly'], 'sendonly', 'peer only listens', false],
    [['a=sendrecv'], 'sendrecv', 'explicit sendrecv', false],
  ];
  for (const [extra, want, why, hold] of cases) {
    const r = negotiate(offer({ extra }), local);
    if (!r.ok) throw new Error(r.reason);
    t.equal(r.remote.direction, want, why);
    t.equal(r.remote.hold, hold, `${why}: hold`);
    t.ok(r.answer.includes(`a=${want}\r\n`), `${why}: answered a=${want}`);
  }
  const session = negotiate(offer({ sessionExtra: ['a=inactive'] }), local);
  t.ok(session.ok && session.remote.direction === 'inactive', 'session-level direction applies');
  const override = negotiate(offer({ sessionExtra: ['a=inactive'], extra: ['a=sendrecv'] }), local);
  t.ok(override.ok && override.remote.direction === 'sendrecv', 'media level overrides session level');
  const old = negotiate(offer({ c: 'c=IN IP4 0.0.0.0' }), local);
  if (!old.ok) throw new Error(old.reason);
  t.equal(old.remote.address, '0.0.0.0');
  t.equal(old.remote.direction, 'recvonly', 'c=0.0.0.0: do not send');
  t.equal(old.remote.hold, true);
  const weHold = negotiate(offer(), { ...local, direction: 'sendonly' });
  t.ok(weHold.ok && weHold.remote.direction === 'sendonly' && weHold.answer.includes('a=sendonly'), 'we hold them');
  const both = negotiate(offer({ extra: ['a=sendonly'] }), { ...local, direction: 'sendonly' });
  t.ok(both.ok && both.remote.direction === 'inactive', 'both hold');
});

t.test('IPv6', async (t) => {
  const r = negotiate(offer({ c: 'c=IN IP6 2001:db8::10' }), { ...local, address: '2001:db8::7' });
  if (!r.ok) throw new Error(r.reason);
  t.equal(r.remote.address, '2001:db8::10');
  t.match(r.answer, /^o=onair 42 1 IN IP6 2001:db8::7\r$/m);
  t.match(r.answer, /^c=IN IP6 2001:db8::7\r$/m);
  const mediaLevel = offer({ c: 'c=IN IP4 192.0.2.10', extra: ['c=IN IP6 2001:db8::99'] });
  const m = negotiate(mediaLevel, local);
  t.ok(m.ok && m.remote.address === '2001:db8::99', 'media-level c= wins');
});

t.test('other streams are rejected with port 0, keeping the m= lines', async (t) => {
  const text = crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0',
    'm=video 6000 RTP/AVP 96', 'a=rtpmap:96 H264/90000',
    'm=audio 0 RTP/AVP 0',
    'm=audio 5004 RTP/AVP 0',
    'm=audio 5006 RTP/AVP 8']);
  const r = negotiate(text, local);
  if (!r.ok) throw new Error(r.reason);
  t.equal(r.remote.port, 5004, 'the first active audio stream');
  const mLines = r.answer.split('\r\n').filter((l) => l.startsWith('m='));
  t.same(mLines, ['m=video 0 RTP/AVP 96', 'm=audio 0 RTP/AVP 0', 'm=audio 40000 RTP/AVP 0', 'm=audio 0 RTP/AVP 8']);
});

t.test('unsupported offers give a 488 result', async (t) => {
  const cases: [string, string, string][] = [
    [offer({ formats: '18 9', extra: ['a=rtpmap:18 G729/8000', 'a=rtpmap:9 G722/8000'] }), 'SDP_ERR_NO_COMMON_CODEC', 'G729, G722'],
    [offer({ proto: 'RTP/SAVP' }), 'SDP_ERR_NO_COMMON_CODEC', 'RTP/SAVP'],
    [offer({ port: 0 }), 'SDP_ERR_NO_AUDIO', 'no active audio'],
    [crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 't=0 0', 'm=video 6000 RTP/AVP 96']), 'SDP_ERR_NO_AUDIO', 'no active audio'],
    [crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 't=0 0', 'm=audio 6000 RTP/AVP 0']), 'SDP_ERR_NO_ADDRESS', 'c= address'],
    ['garbage', 'SDP_ERR_PARSE', 'v=0'],
  ];
  for (const [text, code, mention] of cases) {
    const r = negotiate(text, local);
    t.equal(r.ok, false, code);
    if (!r.ok) {
      t.equal(r.status, 488);
      t.equal(r.code, code);
      t.match(r.reason, mention);
    }
  }
  const r = negotiate(offer({ formats: '8' }), { ...local, codecs: ['PCMU'] });
  t.ok(!r.ok && r.code === 'SDP_ERR_NO_COMMON_CODEC' && r.reason.includes('offered PCMA, supported PCMU'));
});

t.test('createOffer and acceptAnswer (onair calls an agent)', async (t) => {
  const mine: LocalMedia = { ...local, codecs: ['PCMA', 'PCMU'], sessionVersion: 3 };
  const text = createOffer(mine);
  t.equal(text, crlf([
    'v=0', 'o=onair 42 3 IN IP4 198.51.100.7', 's=onair', 'c=IN IP4 198.51.100.7', 't=0 0',
    'm=audio 40000 RTP/AVP 8 0 101', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000', 'a=fmtp:101 0-16', 'a=ptime:20', 'a=sendrecv',
  ]));
  // The agent's phone answers our offer with negotiate() semantics: a round trip.
  const phone = negotiate(text, { address: '10.0.0.20', port: 7078, codecs: ['PCMU', 'PCMA'], dtmf: true, sessionId: '9' });
  if (!phone.ok) throw new Error(phone.reason);
  const r = acceptAnswer(phone.answer, mine);
  if (!r.ok) throw new Error(r.reason);
  t.same(r.remote, { address: '10.0.0.20', port: 7078, codec: 'PCMA', payloadType: 8, dtmfPayloadType: 101, ptime: 20, direction: 'sendrecv', hold: false });
  const held = createOffer({ ...mine, direction: 'sendonly', dtmf: false });
  t.match(held, /m=audio 40000 RTP\/AVP 8 0\r\n/);
  t.match(held, /a=sendonly/);
  const rejected = acceptAnswer(crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0', 'm=audio 0 RTP/AVP 8']), mine);
  t.ok(!rejected.ok && rejected.code === 'SDP_ERR_NO_AUDIO');
  const wrongCodec = acceptAnswer(crlf(['v=0', 'o=- 1 1 IN IP4 10.1.1.1', 's=-', 'c=IN IP4 10.1.1.1', 't=0 0', 'm=audio 5000 RTP/AVP 0']), { ...mine, codecs: ['PCMA'] });
  t.ok(!wrongCodec.ok && wrongCodec.code === 'SDP_ERR_NO_COMMON_CODEC');
});

t.test('parsed input works too, and defaults', async (t) => {
  const p = parseSdp(offer());
  if (!p.ok) throw new Error(p.reason);
  const r = negotiate(p.sdp, { address: '127.0.0.1', port: 4000, codecs: ['PCMU'], dtmf: true });
  t.ok(r.ok);
  if (r.ok) t.match(r.answer, /^o=onair \d+ 1 IN IP4 127\.0\.0\.1\r$/m);
});

t.test('property: offer → answer → accept agree on codec, payload types and direction', async (t) => {
  const codecs = fc.uniqueArray(fc.constantFrom<'PCMU' | 'PCMA'>('PCMU', 'PCMA'), { minLength: 1, maxLength: 2 });
  const direction = fc.constantFrom<'sendrecv' | 'sendonly' | 'recvonly' | 'inactive'>('sendrecv', 'sendonly', 'recvonly', 'inactive');
  const side = fc.record({ codecs, dtmf: fc.boolean(), direction, ptime: fc.constantFrom(10, 20, 30, 40), preferLocalOrder: fc.boolean() });
  fc.assert(
    fc.property(side, side, fc.integer({ min: 96, max: 127 }), (a, b, dtmfPt) => {
      const offerer: LocalMedia = { ...a, address: '192.0.2.1', port: 10000, dtmfPayloadType: dtmfPt, sessionId: '1' };
      const answerer: LocalMedia = { ...b, address: '2001:db8::2', port: 20000, sessionId: '2' };
      const r = negotiate(createOffer(offerer), answerer);
      const common = a.codecs.filter((c) => b.codecs.includes(c));
      if (common.length === 0) return !r.ok && r.code === 'SDP_ERR_NO_COMMON_CODEC';
      if (!r.ok) return false;
      const back = acceptAnswer(r.answer, offerer);
      if (!back.ok) return false;
      const mirror = { sendrecv: 'sendrecv', sendonly: 'recvonly', recvonly: 'sendonly', inactive: 'inactive' } as const;
      return common.includes(r.remote.codec) &&
        back.remote.codec === r.remote.codec &&
        r.remote.port === 10000 && back.remote.port === 20000 && back.remote.address === '2001:db8::2' &&
        r.remote.ptime === a.ptime && back.remote.ptime === b.ptime &&
        (r.remote.dtmfPayloadType === (a.dtmf && b.dtmf ? dtmfPt : undefined)) &&
        back.remote.dtmfPayloadType === r.remote.dtmfPayloadType &&
        back.remote.direction === mirror[r.remote.direction] &&
        (r.remote.direction === 'sendrecv') === (a.direction === 'sendrecv' && b.direction === 'sendrecv');
    }),
    { numRuns: 500, seed: 3264 },
  );
  t.pass('500 offer/answer exchanges');
});

t.test('property: parseSdp never throws', async (t) => {
  const line = fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.constantFrom('v=0', 'o=- 1 1 IN IP4 1.2.3.4', 'c=IN IP4 1.2.3.4', 'c=IN IP6 ::1', 'm=audio 1 RTP/AVP 0',
      'a=rtpmap:', 'a=rtpmap:x y', 'a=fmtp:101', 'a=ptime:abc', 'a=sendonly', 'm=audio x RTP/AVP', 'c=IN IP4 '),
  );
  fc.assert(
    fc.property(fc.array(line, { maxLength: 20 }), (lines) => {
      const r = parseSdp(['v=0', ...lines].join('\r\n'));
      const n = negotiate(['v=0', ...lines].join('\r\n'), local);
      return typeof r.ok === 'boolean' && typeof n.ok === 'boolean';
    }),
    { numRuns: 2000, seed: 8866 },
  );
  t.pass('2000 random bodies');
});
