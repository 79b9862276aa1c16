/**
 * The ng client against a fake rtpengine on a loopback socket. The fake speaks through the same
 * bencode module as the client (the rule it fakes is the wire format, which the bencode tests pin
 * to the specification); what it answers is what rtpengine 10.5 answers (docs of the ng protocol).
 */
import t from 'tap';
import type { Test } from 'tap';
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { NgClient, parseReply, parseQuery } from './ng.ts';
import { encode, decode, type BDict, type BValue } from './bencode.ts';

/** What the fake sends back: a value to encode, raw bytes, or nothing (null). */
type Answer = (req: BDict, cookie: string, seen: number) => unknown;

/** A fake rtpengine: `answer` decides each reply (null: stay silent; a Buffer: sent as it is after the cookie). */
async function fakeRtpengine(t: Test, answer: Answer): Promise<{ port: number; received: string[] }> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => s.close());
  const received: string[] = [];
  const seen = new Map<string, number>();
  s.on('message', (msg, rinfo) => {
    const space = msg.indexOf(0x20);
    const cookie = msg.toString('latin1', 0, space);
    const body = decode(msg, space + 1);
    if (!body.ok) throw new Error(`the client sent bad bencode: ${body.reason}`);
    received.push(cookie);
    const n = (seen.get(cookie) ?? 0) + 1;
    seen.set(cookie, n);
    const a = answer(body.value as BDict, cookie, n);
    if (a === null) return;
    const payload = Buffer.isBuffer(a) ? a : encode(a as BValue);
    s.send(Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), payload]), rinfo.port, rinfo.address);
  });
  return { port: (s.address() as AddressInfo).port, received };
}

async function client(t: Test, port: number, timeoutMs = 1000, retransmitMs = 100): Promise<NgClient> {
  const c = await NgClient.open({ address: '127.0.0.1', port, timeoutMs, retransmitMs });
  t.teardown(() => c.close());
  return c;
}

const SDP_OUT = 'v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n';

t.test('ping, offer, answer, delete, query', async (t) => {
  const seenCommands: BDict[] = [];
  const fake = await fakeRtpengine(t, (req) => {
    seenCommands.push(req);
    switch (req['command']) {
      case 'ping': return { result: 'pong' };
      case 'offer': case 'answer': return { result: 'ok', sdp: SDP_OUT };
      case 'delete': return { result: 'ok', created: 1 };
      case 'query': return {
        result: 'ok', created: 1700000000, 'last signal': 1700000001,
        totals: { RTP: { packets: 250, bytes: 43000, errors: 0 }, RTCP: { packets: 0, bytes: 0, errors: 0 } },
        tags: {
          caller: { tag: 'caller', created: 1700000000, medias: [{ index: 1, type: 'audio', streams: [{ 'local port': 30002, stats: { packets: 100, bytes: 17200, errors: 0 } }, { 'local port': 30003, stats: { packets: 0, bytes: 0, errors: 0 } }] }] },
          agent: { tag: 'agent', created: 1700000000, medias: [{ index: 1, type: 'audio', streams: [{ 'local port': 30000, stats: { packets: 150, bytes: 25800, errors: 1 } }] }] },
        },
      };
      default: return { result: 'error', 'error-reason': 'Unrecognized command' };
    }
  });
  const c = await client(t, fake.port);
  t.same(await c.ping(), { ok: true, value: null });
  t.same(await c.offer({ callId: 'c1', fromTag: 'caller', sdp: 'v=0\r\n' }), { ok: true, value: { sdp: SDP_OUT } });
  t.same(await c.answer({ callId: 'c1', fromTag: 'caller', toTag: 'agent', sdp: 'v=0\r\n' }), { ok: true, value: { sdp: SDP_OUT } });
  const q = await c.query({ callId: 'c1' });
  t.ok(q.ok);
  if (q.ok) {
    t.equal(q.value.packets, 250);
    t.same(q.value.tags.get('caller'), { packets: 100, bytes: 17200, errors: 0 });
    t.same(q.value.tags.get('agent'), { packets: 150, bytes: 25800, errors: 1 });
  }
  t.same(await c.delete({ callId: 'c1' }), { ok: true, value: null });
  t.same(seenCommands.map((r) => ({ ...r })), [
    { command: 'ping' },
    { command: 'offer', 'call-id': 'c1', 'from-tag': 'caller', sdp: 'v=0\r\n' },
    { command: 'answer', 'call-id': 'c1', 'from-tag': 'caller', 'to-tag': 'agent', sdp: 'v=0\r\n' },
    { command: 'query', 'call-id': 'c1' },
    { command: 'delete', 'call-id': 'c1' },
  ], 'the fields rtpengine reads, named as the ng protocol names them');
  t.equal(new Set(fake.received).size, 5, 'a new cookie per request');
});

t.test('a refusal carries rtpengine\'s reason', async (t) => {
  const fake = await fakeRtpengine(t, () => ({ result: 'error', 'error-reason': 'Unknown call-id' }));
  const c = await client(t, fake.port);
  t.same(await c.answer({ callId: 'x', fromTag: 'a', toTag: 'b', sdp: 'v=0' }), { ok: false, code: 'RTPENGINE_ERR_REFUSED', reason: 'Unknown call-id' });
});

t.test('a lost request is sent again with the same cookie; silence ends in a timeout', async (t) => {
  const fake = await fakeRtpengine(t, (req, _cookie, seen) => (req['command'] === 'ping' && seen >= 2 ? { result: 'pong' } : null));
  const c = await client(t, fake.port, 2000, 50);
  t.same(await c.ping(), { ok: true, value: null }, 'answered on the retransmission');
  t.equal(fake.received.length, 2);
  t.equal(fake.received[0], fake.received[1], 'the same cookie, so rtpengine answers from its cache');
  t.ok(c.retransmissions >= 1);
  const silent = await client(t, (await fakeRtpengine(t, () => null)).port, 300, 100);
  const r = await silent.offer({ callId: 'c', fromTag: 'f', sdp: 'v=0' });
  t.equal(r.ok ? 'ok' : r.code, 'RTPENGINE_ERR_TIMEOUT');
  t.ok(silent.retransmissions >= 1, 'retransmitted before giving up');
});

t.test('hostile replies: broken bodies are errors of that request, stray datagrams are ignored', async (t) => {
  let mode: 'garbage' | 'not-dict' | 'no-result' | 'offer-no-sdp' | 'offer-sdp-int' = 'garbage';
  const fake = await fakeRtpengine(t, () => {
    switch (mode) {
      case 'garbage': return Buffer.from('d6:result');
      case 'not-dict': return ['ok'];
      case 'no-result': return { sdp: 'v=0' };
      case 'offer-no-sdp': return { result: 'ok' };
      case 'offer-sdp-int': return { result: 'ok', sdp: 5 };
    }
  });
  const c = await client(t, fake.port);
  for (const m of ['garbage', 'not-dict', 'no-result', 'offer-no-sdp', 'offer-sdp-int'] as const) {
    mode = m;
    const r = await c.offer({ callId: 'c', fromTag: 'f', sdp: 'v=0' });
    t.equal(r.ok ? 'ok' : r.code, 'RTPENGINE_ERR_REPLY', m);
  }
  mode = 'no-result';
  t.same(await c.ping(), { ok: false, code: 'RTPENGINE_ERR_REPLY', reason: 'reply without a result' }, 'a ping answered without a result');
  mode = 'offer-no-sdp';
  t.same(await c.ping(), { ok: false, code: 'RTPENGINE_ERR_REPLY', reason: 'ping answered without "pong"' }, 'a ping answered ok, not pong');

  // Datagrams with no pending cookie (or none at all) from anywhere: counted, the request waits on.
  const stray = dgram.createSocket('udp4');
  t.teardown(() => stray.close());
  const ours = (c as unknown as { socket: dgram.Socket }).socket.address() as AddressInfo;
  for (const junk of ['', 'nocookie', 'unknown d6:result4:ponge', '\x00\x01\x02 i1e']) {
    await new Promise<void>((r) => stray.send(Buffer.from(junk, 'latin1'), ours.port, '127.0.0.1', () => r()));
  }
  mode = 'not-dict';
  await c.ping();
  t.ok(c.ignored >= 3, `stray datagrams ignored (${c.ignored})`);
});

t.test('property: any reply bytes after a cookie give a result, never an exception', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    const r = parseReply(Buffer.concat([Buffer.from('k1 '), Buffer.from(bytes)]));
    if (!r.ok) throw new Error('a reply with a cookie must be that request\'s');
    if (r.cookie !== 'k1') throw new Error('wrong cookie');
  }), { numRuns: 3000 });
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
    parseReply(Buffer.from(bytes));
  }), { numRuns: 3000 });
  // Query replies with parts of the wrong type are bad replies, not crashes.
  const shapes: BDict[] = [
    { result: 'ok', created: 1, tags: { a: 'x' } },
    { result: 'ok', created: 1, tags: { a: { medias: 'x' } } },
    { result: 'ok', created: 1, tags: { a: { medias: [{ streams: 3 }] } } },
    { result: 'ok', created: 1, tags: { a: { medias: [{ streams: [{ stats: [] }] }] } } },
    { result: 'ok', tags: {} },
  ];
  for (const s of shapes) {
    const q = parseQuery(s);
    t.equal(q.ok ? 'ok' : q.code, 'RTPENGINE_ERR_REPLY', JSON.stringify(s));
  }
  const negative = parseQuery({ result: 'ok', created: 1, tags: { a: { medias: [{ streams: [{ stats: { packets: -5, bytes: 'x' } }] }] } } });
  t.same(negative.ok && negative.value.tags.get('a'), { packets: 0, bytes: 0, errors: 0 }, 'nonsense counters count as zero');
});

t.test('close() ends requests in flight and is idempotent', async (t) => {
  const fake = await fakeRtpengine(t, () => null);
  const c = await NgClient.open({ address: '127.0.0.1', port: fake.port, timeoutMs: 5000 });
  const pending = c.ping();
  c.close();
  c.close();
  const r = await pending;
  t.equal(r.ok ? 'ok' : r.code, 'RTPENGINE_ERR_SEND');
  const after = await c.query({ callId: 'x' });
  t.equal(after.ok ? 'ok' : after.code, 'RTPENGINE_ERR_SEND');
});

t.test('a request that cannot be encoded is a result, not an exception', async (t) => {
  const fake = await fakeRtpengine(t, () => ({ result: 'ok', sdp: SDP_OUT }));
  const c = await client(t, fake.port);
  const r = await c.offer({ callId: '呼叫', fromTag: 'f', sdp: 'v=0' });
  t.equal(r.ok ? 'ok' : r.code, 'RTPENGINE_ERR_REQUEST');
});
