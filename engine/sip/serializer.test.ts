// Serializer and builders: Content-Length always right, RFC 3261 §8.2.6 response construction.
import t from 'tap';
import { serialize } from './serializer.ts';
import { parse } from './parser.ts';
import { createRequest, createResponse, fromByteString, reasonPhrase, toByteString } from './message.ts';
import type { SipRequest } from './message.ts';

function invite(extra: { name: string; value: string }[] = []): SipRequest {
  return createRequest({
    method: 'INVITE',
    uri: 'sip:bob@biloxi.example.com',
    headers: [
      { name: 'v', value: 'SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1' },
      { name: 'Via', value: 'SIP/2.0/UDP pc33.example.com;branch=z9hG4bKa1;received=192.0.2.1' },
      { name: 'max-forwards', value: '69' },
      { name: 'To', value: 'Bob <sip:bob@biloxi.example.com>' },
      { name: 'From', value: 'Alice <sip:alice@atlanta.example.com>;tag=1928301774' },
      { name: 'call-id', value: 'a84b4c76e66710' },
      { name: 'CSeq', value: '314159 INVITE' },
      { name: 'Timestamp', value: '54' },
      { name: 'Content-Length', value: '999' },
      ...extra,
    ],
    body: Buffer.from('v=0\r\n'),
    contentType: 'application/sdp',
  });
}

t.test('createRequest canonicalises names and sets Content-Length', (t) => {
  const r = invite();
  t.same(r.headers.fields.map((f) => f.name), ['Via', 'Via', 'Max-Forwards', 'To', 'From', 'Call-ID', 'CSeq', 'Timestamp', 'Content-Type', 'Content-Length']);
  t.equal(r.headers.get('Content-Length'), '5', 'the given Content-Length is replaced');
  t.equal(r.uri.host, 'biloxi.example.com');
  t.throws(() => createRequest({ method: 'X', uri: 'not a uri' }), TypeError);
  t.end();
});

t.test('serialize writes what parse reads, with the right Content-Length', (t) => {
  const r = invite();
  r.headers.set('Content-Length', '1234');
  const wire = serialize(r).toString('latin1');
  t.ok(wire.startsWith('INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1\r\n'));
  t.match(wire, /\r\nContent-Length: 5\r\n\r\nv=0\r\n$/, 'Content-Length follows the body, not the field');
  t.equal(wire.split('Content-Length').length, 2, 'exactly one Content-Length');
  const back = parse(Buffer.from(wire, 'latin1'));
  t.equal(back.ok, true);
  if (back.ok) t.same(back.message.headers.fields.map((f) => f.name), r.headers.fields.map((f) => f.name));
  r.headers.remove('Content-Length');
  t.match(serialize(r).toString('latin1'), /\r\nContent-Length: 5\r\n\r\nv=0\r\n$/, 'written even when the field is absent');
  t.end();
});

t.test('createResponse per RFC 3261 §8.2.6', (t) => {
  const req = invite([{ name: 'Record-Route', value: '<sip:p.example.com;lr>' }]);
  const ringing = createResponse(req, 180, undefined, { toTag: 'as83kd9' });
  t.equal(ringing.reason, 'Ringing');
  t.same(ringing.headers.fields.map((f) => f.name), ['Via', 'Via', 'To', 'From', 'Call-ID', 'CSeq', 'Content-Length'], 'Vias in order; no Record-Route or Timestamp');
  t.equal(ringing.headers.to.params.get('tag'), 'as83kd9');
  t.equal(ringing.headers.via[1]!.params.get('received'), '192.0.2.1');
  const trying = createResponse(req, 100);
  t.equal(trying.headers.get('Timestamp'), '54', 'Timestamp copied into 100');
  t.notOk(trying.headers.to.params.has('tag'), 'no tag unless given');
  req.headers.set('To', 'Bob <sip:bob@biloxi.example.com>;tag=existing');
  const ok = createResponse(req, 200, 'Fine', {
    toTag: 'ignored', headers: [{ name: 'm', value: '<sip:bob@192.0.2.4>' }], body: Buffer.from('v=0\r\n'), contentType: 'application/sdp',
  });
  t.equal(ok.headers.to.params.get('tag'), 'existing', 'an existing To tag is kept');
  t.equal(ok.reason, 'Fine');
  t.same(ok.headers.fields.slice(-3).map((f) => [f.name, f.value]), [['Contact', '<sip:bob@192.0.2.4>'], ['Content-Type', 'application/sdp'], ['Content-Length', '5']]);
  const parsed = parse(serialize(ok), { endpoint: false });
  t.equal(parsed.ok, true);
  if (parsed.ok && parsed.message.kind === 'response') t.same([parsed.message.status, parsed.message.body.toString()], [200, 'v=0\r\n']);
  t.end();
});

t.test('CR and LF in values never reach the wire', (t) => {
  const r = invite();
  r.headers.set('Subject', 'hi\r\nVia: SIP/2.0/UDP evil;branch=z9hG4bKx');
  const back = parse(serialize(r));
  if (!back.ok) throw new Error(back.reason);
  t.equal(back.message.headers.via.length, 2, 'no injected Via');
  t.equal(back.message.headers.get('Subject'), 'hi  Via: SIP/2.0/UDP evil;branch=z9hG4bKx');
  t.end();
});

t.test('reason phrases', (t) => {
  t.equal(reasonPhrase(200), 'OK');
  t.equal(reasonPhrase(481), 'Call/Transaction Does Not Exist');
  t.equal(reasonPhrase(505), 'Version Not Supported');
  t.equal(reasonPhrase(513), 'Message Too Large');
  t.equal(reasonPhrase(499), 'Bad Request', 'unknown code: its class');
  t.end();
});

t.test('byte strings round-trip UTF-8', (t) => {
  const req = invite();
  const res = createResponse(req, 486, toByteString('Besetzt – später'), { headers: [{ name: 'Subject', value: toByteString('Grüße 👋') }] });
  const back = parse(serialize(res), { endpoint: false });
  if (!back.ok || back.message.kind !== 'response') throw new Error('parse');
  t.equal(fromByteString(back.message.reason), 'Besetzt – später');
  t.equal(fromByteString(back.message.headers.get('Subject')!), 'Grüße 👋');
  t.end();
});
