import t from 'tap';
import type { AuthHeader } from './message.ts';
import {
  DigestChallenger, answerChallenge, computeHa1, digestResponse, parseAlgorithm,
  type DigestAlgorithm, type DigestCredentials, type DigestRequest,
} from './digest.ts';
import { FakeClock } from '../clock/index.ts';
import { parseAuthInto } from './headers.ts';

function auth(value: string): AuthHeader {
  const out: AuthHeader[] = [];
  if (!parseAuthInto(value, out) || !out[0]) throw new Error(`unparsable: ${value}`);
  return out[0];
}

t.test('RFC 2617 §3.5 example (MD5, qop=auth)', async (t) => {
  const response = digestResponse({
    algorithm: 'MD5', username: 'Mufasa', realm: 'testrealm@host.com', secret: { password: 'Circle Of Life' },
    method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: 'auth',
    nc: '00000001', cnonce: '0a4f113b', body: undefined,
  });
  t.equal(response, '6629fae49393a05397450978507c4ef1');
  // The same through the client API, answering the challenge of the RFC.
  const answer = answerChallenge(
    ('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'),
    { username: 'Mufasa', password: 'Circle Of Life', method: 'GET', uri: '/dir/index.html' }, 1, '0a4f113b');
  t.ok(answer.ok);
  if (!answer.ok) return;
  const back = auth(answer.header);
  t.equal(back.params.get('response'), '6629fae49393a05397450978507c4ef1');
  t.equal(back.params.get('nc'), '00000001');
  t.equal(back.params.get('qop'), 'auth');
  t.equal(back.params.get('opaque'), '5ccc069c403ebaf9f0171e9517f40e41');
  t.equal(back.params.get('algorithm'), 'MD5');
});

t.test('RFC 7616 §3.9.1 examples (SHA-256 and MD5)', async (t) => {
  const common = {
    username: 'Mufasa', realm: 'http-auth@example.org', secret: { password: 'Circle of Life' }, method: 'GET',
    uri: '/dir/index.html', nonce: '7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v', qop: 'auth' as const,
    nc: '00000001', cnonce: 'f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ', body: undefined,
  };
  t.equal(digestResponse({ ...common, algorithm: 'SHA-256' }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
  t.equal(digestResponse({ ...common, algorithm: 'MD5' }), '8ca523f5e9506fed4657c9700eebdbec');
  // A stored HA1 gives the same answer as the password.
  const ha1 = computeHa1('SHA-256', 'Mufasa', 'http-auth@example.org', 'Circle of Life');
  t.equal(digestResponse({ ...common, algorithm: 'SHA-256', secret: { ha1 } }), '753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1');
});

t.test('RFC 2069 (no qop) response', async (t) => {
  // H(HA1:nonce:HA2) with the RFC 2617 inputs, computed independently.
  const { createHash } = await import('node:crypto');
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const ha1 = md5('Mufasa:testrealm@host.com:Circle Of Life');
  const ha2 = md5('GET:/dir/index.html');
  t.equal(digestResponse({
    algorithm: 'MD5', username: 'Mufasa', realm: 'testrealm@host.com', secret: { password: 'Circle Of Life' },
    method: 'GET', uri: '/dir/index.html', nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', qop: undefined,
    nc: '', cnonce: '', body: undefined,
  }), md5(`${ha1}:dcd98b7102dd2f0e8b11d0f600bfb0c093:${ha2}`));
});

t.test('parseAlgorithm', async (t) => {
  t.equal(parseAlgorithm(undefined), 'MD5');
  t.equal(parseAlgorithm('sha-256'), 'SHA-256');
  t.equal(parseAlgorithm('md5-SESS'), 'MD5-sess');
  t.equal(parseAlgorithm('SHA-512-256'), undefined);
});

const REQ: DigestRequest = { method: 'REGISTER', uriText: 'sip:onair.example', body: Buffer.alloc(0) };

function setup(opts: Partial<ConstructorParameters<typeof DigestChallenger>[0]> = {}) {
  const clock = new FakeClock(1_700_000_000_000);
  const challenger = new DigestChallenger({ realm: 'onair.example', clock, nonceTtlMs: 60_000, ...opts });
  return { clock, challenger };
}

function login(challenge: string, nc: number, user = { username: 'alice', password: 'secret' }, req = REQ): DigestCredentials {
  const answer = answerChallenge(auth(challenge), { ...user, method: req.method, uri: req.uriText, body: req.body }, nc);
  if (!answer.ok) throw new Error(answer.reason);
  return new DigestChallenger({ realm: auth(challenge).params.get('realm')! }).select([auth(answer.header)])!;
}

t.test('challenger round trip for every algorithm', async (t) => {
  const algorithms: DigestAlgorithm[] = ['SHA-256', 'MD5', 'SHA-256-sess', 'MD5-sess'];
  const { challenger } = setup({ algorithms });
  const values = challenger.challenges();
  t.equal(values.length, 4, 'one challenge per algorithm');
  for (const [i, value] of values.entries()) {
    const parsed = auth(value);
    t.equal(parsed.params.get('algorithm'), algorithms[i]);
    t.equal(parsed.params.get('qop'), 'auth');
    t.equal(parsed.params.get('stale'), undefined);
    // Every value carries the same nonce, so nc keeps counting across them.
    const creds = login(value, 2 * i + 1);
    t.equal(creds.algorithm, algorithms[i]);
    t.same(challenger.verify(REQ, creds, { password: 'secret' }), { ok: true, username: 'alice' });
    // With a stored HA1 of the base hash instead of the password.
    const base = algorithms[i]!.startsWith('MD5') ? 'MD5' : 'SHA-256';
    const creds2 = login(value, 2 * i + 2);
    t.same(challenger.verify(REQ, creds2, { ha1: computeHa1(base, 'alice', 'onair.example', 'secret') }), { ok: true, username: 'alice' });
  }
});

t.test('wrong password, forged nonce, other realm, wrong uri', async (t) => {
  const { challenger } = setup();
  const [value] = challenger.challenges();
  const creds = login(value!, 1);
  const bad = challenger.verify(REQ, creds, { password: 'nope' });
  t.match(bad, { ok: false, code: 'SIP_ERR_AUTH_RESPONSE', stale: false });

  const other = new DigestChallenger({ realm: 'onair.example' }); // different secret
  const forged = login(other.challenges()[0]!, 1);
  t.match(challenger.verify(REQ, forged, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_NONCE', stale: false });

  // A changed issue time: the mark no longer matches, so the nonce is not ours at all.
  const tampered = { ...creds, nonce: (creds.nonce.startsWith('A') ? 'B' : 'A') + creds.nonce.slice(1) };
  t.match(challenger.verify(REQ, tampered, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_NONCE' });

  t.match(challenger.verify({ ...REQ, uriText: 'sip:elsewhere' }, creds, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_URI' });
  t.equal(challenger.select([{ scheme: 'Digest', params: new Map([['realm', 'other']]) }]), undefined);
});

t.test('expired nonce with a correct response is stale; wrong response is not', async (t) => {
  const { clock, challenger } = setup();
  const [value] = challenger.challenges();
  clock.advance(60_001);
  const creds = login(value!, 1);
  t.match(challenger.verify(REQ, creds, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_STALE', stale: true });
  t.match(challenger.verify(REQ, creds, { password: 'wrong' }), { ok: false, code: 'SIP_ERR_AUTH_RESPONSE', stale: false });
  const again = challenger.challenges(true);
  t.equal(auth(again[0]!).params.get('stale'), 'true');
  t.ok(challenger.verify(REQ, login(again[0]!, 1), { password: 'secret' }).ok, 'fresh nonce works');
});

t.test('nc must rise on every use of a nonce', async (t) => {
  const { challenger } = setup();
  const [value] = challenger.challenges();
  const at = (nc: number) => challenger.verify(REQ, login(value!, nc), { password: 'secret' });
  t.ok(at(1).ok);
  t.match(at(1), { ok: false, code: 'SIP_ERR_AUTH_REPLAY', stale: true }, 'same nc twice');
  t.ok(at(5).ok, 'a gap is fine');
  t.match(at(3), { ok: false, code: 'SIP_ERR_AUTH_REPLAY', stale: true }, 'below the last one: refused');
  t.notOk(at(5).ok, 'equal to the last one: refused');
  t.ok(at(6).ok);
  t.notOk(at(0).ok, 'nc 0 is never valid');
  t.equal(challenger.trackedNonces, 1);
});

t.test('the nc table is bounded, and forgetting a nonce never reopens it', async (t) => {
  const { challenger, clock } = setup({ replayWindowNonces: 3 });
  const values: string[] = [];
  for (let i = 0; i < 5; i++) {
    values.push(challenger.challenges()[0]!);
    clock.advance(1);
  }
  const late = challenger.challenges()[0]!;
  for (const v of values) t.ok(challenger.verify(REQ, login(v, 1), { password: 'secret' }).ok);
  t.equal(challenger.trackedNonces, 3);
  t.match(challenger.verify(REQ, login(values[0]!, 1), { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_REPLAY', stale: true },
    'a forgotten nonce replayed with its old nc is still refused');
  t.ok(challenger.verify(REQ, login(late, 1), { password: 'secret' }).ok, 'a nonce issued after every forgotten one is first use');
});

t.test('nonces bound to a source: another source is stale, never accepted', async (t) => {
  const { challenger } = setup();
  const [value] = challenger.challenges(false, '192.0.2.10');
  const creds = login(value!, 1);
  t.match(challenger.verify(REQ, creds, { password: 'secret' }, '192.0.2.99'), { ok: false, code: 'SIP_ERR_AUTH_NONCE_SOURCE', stale: true },
    'correct response from another source: stale, so a fresh challenge');
  t.match(challenger.verify(REQ, creds, { password: 'nope' }, '192.0.2.99'), { ok: false, code: 'SIP_ERR_AUTH_RESPONSE', stale: false },
    'a wrong password stays a wrong password');
  t.match(challenger.verify(REQ, creds, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_NONCE_SOURCE' }, 'unbound check of a bound nonce fails too');
  t.same(challenger.verify(REQ, creds, { password: 'secret' }, '192.0.2.10'), { ok: true, username: 'alice' }, 'the source it was issued to');
  t.equal(challenger.trackedNonces, 1, 'refusals leave no record');
});

t.test('RFC 2069 clients and qop policy', async (t) => {
  const { challenger } = setup();
  const nonce = auth(challenger.challenges()[0]!).params.get('nonce')!;
  // A challenge without qop makes the client answer the RFC 2069 way.
  const legacy = `Digest realm="onair.example", nonce="${nonce}", algorithm=SHA-256`;
  const creds = login(legacy, 1);
  t.equal(creds.qop, undefined);
  t.equal(creds.nc, undefined);
  t.match(challenger.verify(REQ, creds, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_QOP' }, 'refused by default');
  const lenient = new DigestChallenger({ realm: 'onair.example', allowNoQop: true });
  const lenientNonce = auth(lenient.challenges()[0]!).params.get('nonce')!;
  const old = login(`Digest realm="onair.example", nonce="${lenientNonce}", algorithm=SHA-256`, 1);
  t.ok(lenient.verify(REQ, old, { password: 'secret' }).ok, 'allowed when configured');
  t.match(lenient.verify(REQ, old, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_REPLAY', stale: true }, 'but once per nonce');
  t.notOk(lenient.verify(REQ, login(`Digest realm="onair.example", nonce="${lenientNonce}", algorithm=SHA-256, qop="auth"`, 9), { password: 'secret' }).ok,
    'nor with qop after it');
  // qop=auth-int when only that is offered, over the body.
  const intChallenger = new DigestChallenger({ realm: 'onair.example', qop: ['auth-int'] });
  const req = { method: 'MESSAGE', uriText: 'sip:bob@onair.example', body: Buffer.from('hello') };
  const intCreds = login(intChallenger.challenges()[0]!, 1, undefined, req);
  t.equal(intCreds.qop, 'auth-int');
  t.ok(intChallenger.verify(req, intCreds, { password: 'secret' }).ok);
  t.match(intChallenger.verify({ ...req, body: Buffer.from('hellO') }, login(intChallenger.challenges()[0]!, 1, undefined, req), { password: 'secret' }),
    { ok: false, code: 'SIP_ERR_AUTH_RESPONSE' }, 'auth-int covers the body');
  // qop=auth credentials against an auth-int-only server.
  t.match(intChallenger.verify(REQ, login(challenger.challenges()[0]!, 1), { password: 'secret' }), { ok: false });
});

t.test('algorithm not offered and unknown algorithm', async (t) => {
  const { challenger } = setup({ algorithms: ['SHA-256'] });
  const nonce = auth(challenger.challenges()[0]!).params.get('nonce')!;
  const md5 = login(`Digest realm="onair.example", nonce="${nonce}", algorithm=MD5, qop="auth"`, 1);
  t.match(challenger.verify(REQ, md5, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_ALGORITHM' });
  const unknown = answerChallenge(auth(`Digest realm="x", nonce="n", algorithm=SHA-999`), { username: 'a', password: 'b', method: 'INVITE', uri: 'sip:x' }, 1);
  t.match(unknown, { ok: false, code: 'SIP_ERR_AUTH_ALGORITHM' });
  t.match(answerChallenge(auth('Basic realm="x"'), { username: 'a', password: 'b', method: 'INVITE', uri: 'sip:x' }, 1),
    { ok: false, code: 'SIP_ERR_AUTH_MALFORMED' });
});

t.test('authenticate(): unknown scheme counts as no credentials (RFC 4475 regaut01)', async (t) => {
  const { challenger } = setup();
  const lookup = (u: string) => (u === 'alice' ? { password: 'secret' } : undefined);
  const newauth = auth('NewAuth realm="onair.example", nonce="abc", username="alice", uri="sip:onair.example", response="x"');
  t.match(challenger.authenticate(REQ, [newauth], lookup), { ok: false, code: 'SIP_ERR_AUTH_NO_CREDENTIALS', stale: false });
  t.match(challenger.authenticate(REQ, [], lookup), { ok: false, code: 'SIP_ERR_AUTH_NO_CREDENTIALS' });
  const [value] = challenger.challenges();
  const good = answerChallenge(auth(value!), { username: 'alice', password: 'secret', method: 'REGISTER', uri: 'sip:onair.example' }, 1);
  const bob = answerChallenge(auth(value!), { username: 'bob', password: 'secret', method: 'REGISTER', uri: 'sip:onair.example' }, 1);
  if (!good.ok || !bob.ok) throw new Error('answer failed');
  t.same(challenger.authenticate(REQ, [newauth, auth(good.header)], lookup), { ok: true, username: 'alice' }, 'Digest found after an unknown scheme');
  t.match(challenger.authenticate(REQ, [auth(bob.header)], lookup), { ok: false, code: 'SIP_ERR_AUTH_UNKNOWN_USER' });
  const missing = challenger.select([auth('Digest realm="onair.example", username="alice"')]);
  t.match(challenger.verify(REQ, missing!, { password: 'secret' }), { ok: false, code: 'SIP_ERR_AUTH_MALFORMED' });
});

t.test('quoted values are escaped', async (t) => {
  const answer = answerChallenge(auth('Digest realm="a\\"b", nonce="n"'), { username: 'we"ird\\', password: 'p', method: 'INVITE', uri: 'sip:x' }, 1);
  t.ok(answer.ok);
  if (!answer.ok) return;
  t.match(answer.header, 'username="we\\"ird\\\\"');
  t.equal(auth(answer.header).params.get('username'), 'we"ird\\');
  t.equal(auth(answer.header).params.get('realm'), 'a"b');
});
