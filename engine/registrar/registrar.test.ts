/**
 * The registrar through the real SIP stack on loopback: REGISTER written as SIP text on a UDP
 * socket (full control of Call-ID, CSeq, Contact, Authorization), answered by a Registrar mounted
 * on a UserAgent. Time is a fake clock, so expiry and nonce ageing are exact.
 */
import t, { type Test } from 'tap';
import { MapBindingStore, RawPhone, contactExpires, startRegistrar, type RegistrarRig } from './testkit.ts';
import type { RegistrarOptions } from './registrar.ts';

async function rig(t: Test, opts: Partial<RegistrarOptions> = {}): Promise<{ r: RegistrarRig; phone: RawPhone }> {
  const r = await startRegistrar(opts);
  const phone = await RawPhone.open(r.udp);
  t.teardown(async () => {
    phone.close();
    await r.close();
  });
  return { r, phone };
}

t.test('challenge, then 200 with the binding; the source endpoint is remembered', async (t) => {
  const { r, phone } = await rig(t);
  const first = await phone.send({ user: '1001', callId: 'c1', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(first.status, 401, 'unauthenticated REGISTER is challenged');
  const challenges = first.headers.auth('WWW-Authenticate');
  t.same(challenges.map((c) => c.params.get('algorithm')), ['MD5'], 'MD5 by default (interop)');
  t.equal(challenges[0]?.params.get('realm'), 'onair');
  t.equal(r.registered.length, 0, 'nothing registered by a challenge');

  t.same(first.headers.auth('WWW-Authenticate').length, 1);
  const ok = await phone.send({ user: '1001', callId: 'c1', cseq: 2, contacts: [phone.contact('1001')], authorization: phone.authorization(first, '1001', 'demo1001') });
  t.equal(ok.status, 200);
  t.same([...contactExpires(ok)], [[`sip:1001@127.0.0.1:${phone.port}`, '3600']], 'default expiry granted and listed');
  t.ok(ok.headers.get('Date'), 'Date header');
  t.equal(r.registered.length, 1, 'onRegistered once');
  t.equal(r.registered[0]?.agentId, 'a1001');
  const b = r.registrar.bindingFor('1001');
  t.ok(b, 'bindingFor finds it');
  t.same(b?.source, { transport: 'UDP', address: '127.0.0.1', port: phone.port }, 'source endpoint is where the REGISTER came from');
  t.equal(b?.uri.port, phone.port);
  t.equal(b?.userAgent, 'raw-phone');
  t.equal(r.registrar.isRegistered('a1001'), true);
  t.equal(r.registrar.isRegistered('a1002'), false);
  t.equal(r.registrar.agentOf('1001'), 'a1001');
});

t.test('wrong password: 401 then 403, nothing bound, failure logged', async (t) => {
  const { r, phone } = await rig(t);
  const res = await phone.register({ user: '1001', callId: 'w1', cseq: 1, contacts: [phone.contact('1001')], password: 'nope' });
  t.equal(res.status, 403);
  t.equal(r.registrar.bindingCount, 0);
  t.equal(r.registered.length, 0);
  t.equal(r.registrar.stats.authFailures, 1);
  t.ok(r.logs.some((l) => l.level === 'warn' && (l.obj as { code?: string }).code === 'SIP_ERR_AUTH_RESPONSE'), 'failure logged with its code');
});

t.test('unknown user is 403; authenticated user registering another AOR is 403', async (t) => {
  const { r, phone } = await rig(t);
  const unknown = await phone.register({ user: '9999', callId: 'u1', cseq: 1, contacts: [phone.contact('9999')], password: 'demo9999' });
  t.equal(unknown.status, 403, 'unknown user');
  // Authenticates as 1002 but asks to bind 1001's AOR.
  const challenge = await phone.send({ user: '1001', callId: 'u2', cseq: 1, contacts: [phone.contact('1001')] });
  const res = await phone.send({ user: '1001', callId: 'u2', cseq: 2, contacts: [phone.contact('1001')], authorization: phone.authorization(challenge, '1002', 'demo1002') });
  t.equal(res.status, 403, 'AOR of another agent');
  t.equal(r.registrar.bindingCount, 0);
});

t.test('stale nonce: 401 stale=true, then the fresh nonce works', async (t) => {
  const { r, phone } = await rig(t, { digest: { nonceTtlMs: 30_000 } });
  const first = await phone.send({ user: '1001', callId: 's1', cseq: 1, contacts: [phone.contact('1001')] });
  const auth = phone.authorization(first, '1001', 'demo1001');
  r.clock.advance(31_000);
  const stale = await phone.send({ user: '1001', callId: 's1', cseq: 2, contacts: [phone.contact('1001')], authorization: auth });
  t.equal(stale.status, 401, 'expired nonce is challenged again');
  t.equal(stale.headers.auth('WWW-Authenticate')[0]?.params.get('stale'), 'true', 'with stale=true');
  t.equal(r.registrar.stats.authFailures, 0, 'a stale nonce is not a failed authentication');
  const ok = await phone.send({ user: '1001', callId: 's1', cseq: 3, contacts: [phone.contact('1001')], authorization: phone.authorization(stale, '1001', 'demo1001') });
  t.equal(ok.status, 200);
});

t.test('423 below Min-Expires; longer than maxExpires is shortened', async (t) => {
  const { r, phone } = await rig(t, { minExpires: 60, maxExpires: 600 });
  const brief = await phone.register({ user: '1001', callId: 'e1', cseq: 1, contacts: [phone.contact('1001', ';expires=30')] });
  t.equal(brief.status, 423);
  t.equal(brief.headers.get('Min-Expires'), '60');
  t.equal(r.registrar.bindingCount, 0);
  const viaHeader = await phone.register({ user: '1001', callId: 'e2', cseq: 1, contacts: [phone.contact('1001')], expires: 59 });
  t.equal(viaHeader.status, 423, 'Expires header below the minimum too');
  const long = await phone.register({ user: '1001', callId: 'e3', cseq: 1, contacts: [phone.contact('1001')], expires: 7200 });
  t.equal(long.status, 200);
  t.same([...contactExpires(long).values()], ['600'], 'granted maxExpires');
  const param = await phone.register({ user: '1001', callId: 'e3', cseq: 3, contacts: [phone.contact('1001', ';expires=120')], expires: 500 });
  t.same([...contactExpires(param).values()], ['120'], 'Contact expires param wins over the Expires header');
});

t.test('expiry on the clock: the binding ends at its time and the agent is unregistered', async (t) => {
  const { r, phone } = await rig(t);
  const ok = await phone.register({ user: '1001', callId: 'x1', cseq: 1, contacts: [phone.contact('1001')], expires: 60 });
  t.equal(ok.status, 200);
  t.equal(r.clock.pending, 1, 'one expiry timer');
  r.clock.advance(59_999);
  t.equal(r.registrar.isRegistered('a1001'), true, 'still registered just before');
  t.same(r.unregistered, []);
  r.clock.advance(1);
  t.same(r.unregistered, [{ agentId: 'a1001', reason: 'expired' }]);
  t.same(r.registrar.lookup('a1001'), []);
  t.equal(r.registrar.bindingFor('1001'), undefined);
  t.equal(r.registrar.stats.expired, 1);
  t.equal(r.clock.pending, 0, 'no timer left');
});

t.test('a refresh extends the binding and is not a new registration', async (t) => {
  const { r, phone } = await rig(t);
  await phone.register({ user: '1001', callId: 'f1', cseq: 1, contacts: [phone.contact('1001')], expires: 60 });
  r.clock.advance(50_000);
  const auth = phone.authorization(await phone.send({ user: '1001', callId: 'f1', cseq: 3, contacts: [phone.contact('1001')], expires: 60 }), '1001', 'demo1001');
  const refresh = await phone.send({ user: '1001', callId: 'f1', cseq: 4, contacts: [phone.contact('1001')], expires: 60, authorization: auth });
  t.equal(refresh.status, 200);
  r.clock.advance(20_000); // 70 s after the first REGISTER, 20 s after the refresh
  t.equal(r.registrar.isRegistered('a1001'), true, 'refreshed binding outlives the first expiry');
  t.equal(r.registered.length, 1, 'onRegistered only for the new binding');
  t.same(r.unregistered, []);
  r.clock.advance(40_000);
  t.same(r.unregistered, [{ agentId: 'a1001', reason: 'expired' }], 'ends 60 s after the refresh');
});

t.test('unregister with expires=0 and with *', async (t) => {
  const { r, phone } = await rig(t);
  await phone.register({ user: '1001', callId: 'r1', cseq: 1, contacts: [phone.contact('1001')] });
  const gone = await phone.register({ user: '1001', callId: 'r1', cseq: 3, contacts: [phone.contact('1001')], expires: 0 });
  t.equal(gone.status, 200);
  t.equal(gone.headers.contact.length, 0, 'no binding listed');
  t.same(r.unregistered, [{ agentId: 'a1001', reason: 'removed' }]);

  const two = await phone.register({ user: '1002', callId: 'r2', cseq: 1, contacts: [phone.contact('1002', ';q=0.5'), '<sip:1002@127.0.0.1:7777>'] });
  t.equal(two.headers.contact.length, 2);
  const badStar = await phone.register({ user: '1002', callId: 'r3', cseq: 1, contacts: ['*'], expires: 60 });
  t.equal(badStar.status, 400, '* needs Expires: 0');
  const starPlus = await phone.register({ user: '1002', callId: 'r3', cseq: 3, contacts: ['*', phone.contact('1002')], expires: 0 });
  t.equal(starPlus.status, 400, '* must be alone');
  t.equal(r.registrar.lookup('a1002').length, 2, 'invalid requests changed nothing');
  const star = await phone.register({ user: '1002', callId: 'r4', cseq: 1, contacts: ['*'], expires: 0 });
  t.equal(star.status, 200);
  t.same(r.registrar.lookup('a1002'), []);
  t.same(r.unregistered[1], { agentId: 'a1002', reason: 'removed' }, 'one event for the agent');
  t.equal(r.unregistered.length, 2);
});

t.test('Call-ID/CSeq ordering (§10.3 step 7)', async (t) => {
  const { r, phone } = await rig(t);
  await phone.register({ user: '1001', callId: 'o1', cseq: 10, contacts: [phone.contact('1001')], expires: 600 });
  const before = r.registrar.lookup('a1001')[0]!;
  t.equal(before.cseq, 11);
  const challenge = await phone.send({ user: '1001', callId: 'o1', cseq: 5, contacts: [phone.contact('1001')], expires: 0 });
  const old = await phone.send({ user: '1001', callId: 'o1', cseq: 6, contacts: [phone.contact('1001')], expires: 0, authorization: phone.authorization(challenge, '1001', 'demo1001') });
  t.equal(old.status, 500, 'same Call-ID, lower CSeq: rejected');
  t.equal(r.registrar.isRegistered('a1001'), true, 'and ignored');
  const challenge2 = await phone.send({ user: '1001', callId: 'o1', cseq: 7, contacts: ['*'], expires: 0 });
  const starOld = await phone.send({ user: '1001', callId: 'o1', cseq: 8, contacts: ['*'], expires: 0, authorization: phone.authorization(challenge2, '1001', 'demo1001') });
  t.equal(starOld.status, 500, '* obeys the order too');
  // A phone that rebooted uses a new Call-ID: any CSeq goes.
  const reboot = await phone.register({ user: '1001', callId: 'o2', cseq: 1, contacts: [phone.contact('1001')], expires: 120 });
  t.equal(reboot.status, 200);
  const after = r.registrar.lookup('a1001');
  t.equal(after.length, 1, 'same contact, one binding');
  t.equal(after[0]?.callId, 'o2');
  t.equal(r.registrar.remaining(after[0]!), 120);
});

t.test('several contacts: ordered by q then recency; the contact limit evicts the oldest', async (t) => {
  const { r, phone } = await rig(t, { maxContactsPerAgent: 3 });
  const res = await phone.register({ user: '1001', callId: 'm1', cseq: 1, contacts: ['<sip:1001@127.0.0.1:6001>;q=0.5', '<sip:1001@127.0.0.1:6002>;q=0.9'] });
  t.equal(res.status, 200);
  t.same(r.registrar.lookup('a1001').map((b) => [b.uri.port, b.q]), [[6002, 0.9], [6001, 0.5]], 'best q first');
  r.clock.advance(1000);
  await phone.register({ user: '1001', callId: 'm2', cseq: 1, contacts: ['<sip:1001@127.0.0.1:6003>;q=0.9'] });
  t.same(r.registrar.lookup('a1001').map((b) => b.uri.port), [6003, 6002, 6001], 'equal q: most recent first');
  t.equal(r.registered.length, 3);

  const tooMany = await phone.register({ user: '1001', callId: 'm3', cseq: 1, contacts: ['<sip:1001@127.0.0.1:7001>', '<sip:1001@127.0.0.1:7002>', '<sip:1001@127.0.0.1:7003>', '<sip:1001@127.0.0.1:7004>'] });
  t.equal(tooMany.status, 403, 'more contacts in one request than allowed');
  t.equal(r.registrar.lookup('a1001').length, 3, 'unchanged');

  r.clock.advance(1000);
  const fourth = await phone.register({ user: '1001', callId: 'm4', cseq: 1, contacts: ['<sip:1001@127.0.0.1:6004>'] });
  t.equal(fourth.status, 200);
  t.same(r.registrar.lookup('a1001').map((b) => b.uri.port).sort(), [6003, 6004, 6002].sort(), 'a binding of the oldest refresh made room');
  t.equal(fourth.headers.contact.length, 3, '200 lists every current binding');
  t.equal(r.unregistered.length, 0, 'the agent never lost presence');
});

t.test('a per-agent contact limit overrides the default', async (t) => {
  const { r, phone } = await rig(t, {
    maxContactsPerAgent: 3,
    agents: [{ id: 'solo', extension: '1001', password: 'demo1001', maxContacts: 1 }, { id: 'many', extension: '1002', password: 'demo1002' }],
  });
  await phone.register({ user: '1001', callId: 'p1', cseq: 1, contacts: ['<sip:1001@127.0.0.1:6001>'] });
  await phone.register({ user: '1001', callId: 'p2', cseq: 1, contacts: ['<sip:1001@127.0.0.1:6002>'] });
  t.same(r.registrar.lookup('solo').map((b) => b.uri.port), [6002], 'the newer phone replaced the older');
  const two = await phone.register({ user: '1001', callId: 'p3', cseq: 1, contacts: ['<sip:1001@127.0.0.1:6003>', '<sip:1001@127.0.0.1:6004>'] });
  t.equal(two.status, 403);
  await phone.register({ user: '1002', callId: 'p4', cseq: 1, contacts: ['<sip:1002@127.0.0.1:6001>', '<sip:1002@127.0.0.1:6002>'] });
  t.equal(r.registrar.lookup('many').length, 2, 'others keep the default');
});

t.test('a REGISTER without Contact is a query', async (t) => {
  const { phone } = await rig(t);
  await phone.register({ user: '1001', callId: 'q1', cseq: 1, contacts: [phone.contact('1001')], expires: 300 });
  const q = await phone.register({ user: '1001', callId: 'q2', cseq: 1 });
  t.equal(q.status, 200);
  t.same([...contactExpires(q).values()], ['300']);
});

t.test('a flood of bad passwords: the source is blocked with 503, without digest work, then released', async (t) => {
  const { r, phone } = await rig(t, { authFailures: { maxFailures: 3, windowMs: 60_000, blockMs: 120_000 } });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) {
    const res = await phone.register({ user: '1001', callId: `b${i}`, cseq: 1, contacts: [phone.contact('1001')], password: `guess${i}` });
    statuses.push(res.status);
    // One refusal a second is answered (see the refusal limit test below).
    r.clock.advance(1000);
  }
  t.same(statuses, [403, 403, 403, 403, 503, 503], 'three tolerated, the fourth blocks, then 503');
  t.equal(r.registrar.stats.authFailures, 4);
  t.equal(r.registrar.stats.refused, 2);
  const blocked = await phone.send({ user: '1001', callId: 'b9', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(blocked.status, 503, 'even the first request of a new attempt');
  t.equal(blocked.headers.get('Retry-After'), '117', 'the rest of the block (3 s of it gone)');
  t.equal(blocked.headers.auth('WWW-Authenticate').length, 0, 'no challenge computed');
  const challengedBefore = r.registrar.stats.challenged;
  r.clock.advance(1000);
  const right = await phone.send({ user: '1001', callId: 'b10', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(right.status, 503);
  t.equal(r.registrar.stats.challenged, challengedBefore, 'no nonce made for a blocked source');
  t.ok(r.logs.some((l) => l.msg.includes('source blocked')), 'the block is logged');
  t.equal(r.logs.filter((l) => l.level === 'warn').length, 5, 'four failures and one block logged; refusals are not');
  r.clock.advance(120_000 - 4000); // the block began 4 s ago
  const again = await phone.register({ user: '1001', callId: 'b11', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(again.status, 200, 'released after the block');
});

t.test('other methods get 405; a throwing delegate does not stop the 200', async (t) => {
  const { r, phone } = await rig(t);
  r.registrar.setDelegate({ onRegistered: () => { throw new Error('consumer bug'); }, onUnregistered: () => {} });
  const res = await phone.register({ user: '1001', callId: 'd1', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(res.status, 200);
  t.ok(r.logs.some((l) => l.level === 'error'), 'the throw is logged');
  const opts = await r.ua.request({ method: 'MESSAGE', target: `sip:1001@127.0.0.1:${r.udp.port}` }).catch(() => 'error');
  t.equal(typeof opts === 'string' ? opts : opts.status, 405);
});

t.test('bad options are programmer errors', async (t) => {
  const { Registrar } = await import('./registrar.ts');
  t.throws(() => new Registrar({ realm: 'r', agents: [{ id: 'a', extension: '1', password: 'p' }, { id: 'b', extension: '1', password: 'p' }] }), /twice/);
  t.throws(() => new Registrar({ realm: 'r', agents: [], minExpires: 100, maxExpires: 50 }), RangeError);
});

// ---- replayed credentials (issue 11) -------------------------------------------------------

/** Register `phone` as 1001 and return the Authorization it used (its nonce, nc 1). */
async function registerCaptured(phone: RawPhone, callId: string, how: { noQop?: boolean } = {}): Promise<string> {
  const first = await phone.send({ user: '1001', callId, cseq: 1, contacts: [phone.contact('1001')] });
  const authorization = phone.authorization(first, '1001', 'demo1001', how);
  const ok = await phone.send({ user: '1001', callId, cseq: 2, contacts: [phone.contact('1001')], authorization });
  if (ok.status !== 200) throw new Error(`registration answered ${ok.status}`);
  return authorization;
}

t.test('a captured REGISTER replayed from other addresses is challenged again; the binding stays', async (t) => {
  // allowNoQop on: the worst case, an RFC 2069 answer has no nonce count to catch a replay.
  const { r, phone } = await rig(t, { digest: { allowNoQop: true } });
  const captured = await registerCaptured(phone, 'cap1', { noQop: true });
  const before = r.registrar.bindingFor('1001');
  t.equal(before?.source.port, phone.port);
  const statuses: (string | number | undefined)[] = [];
  for (let i = 2; i <= 6; i++) {
    const attacker = await RawPhone.open(r.udp, `127.0.0.${i}`);
    t.teardown(() => attacker.close());
    const res = await attacker.send({ user: '1001', callId: 'cap1', cseq: 10 + i, contacts: [attacker.contact('1001')], authorization: captured });
    statuses.push(res.status, res.headers.auth('WWW-Authenticate')[0]?.params.get('stale'));
  }
  t.same(statuses, [401, 'true', 401, 'true', 401, 'true', 401, 'true', 401, 'true'], '5 of 5 replays challenged again (stale=true), none accepted');
  const after = r.registrar.lookup('a1001');
  t.equal(after.length, 1, 'no binding added');
  t.same(after[0]?.source, { transport: 'UDP', address: '127.0.0.1', port: phone.port }, 'the binding still points at the phone');
  t.equal(after[0]?.cseq, 2, 'and was not refreshed');
  t.equal(r.registrar.stats.replays, 5);
  t.equal(r.registrar.stats.authFailures, 0, 'a replay is not a password guess (no lockout of the victim)');
  t.equal(r.registered.length, 1);
});

t.test('qop=auth credentials replayed from another address are challenged again too', async (t) => {
  const { r, phone } = await rig(t);
  const first = await phone.send({ user: '1001', callId: 'cap2', cseq: 1, contacts: [phone.contact('1001')] });
  // A request captured before it reached the registrar: its nc was never used.
  const unused = phone.authorization(first, '1001', 'demo1001', { nc: 1 });
  const attacker = await RawPhone.open(r.udp, '127.0.0.7');
  t.teardown(() => attacker.close());
  const res = await attacker.send({ user: '1001', callId: 'cap2', cseq: 5, contacts: [attacker.contact('1001')], authorization: unused });
  t.equal(res.status, 401);
  t.equal(res.headers.auth('WWW-Authenticate')[0]?.params.get('stale'), 'true');
  t.equal(r.registrar.bindingCount, 0);
  const own = await phone.send({ user: '1001', callId: 'cap2', cseq: 6, contacts: [phone.contact('1001')], authorization: unused });
  t.equal(own.status, 200, 'the phone it was issued to still uses it');
});

t.test('replay from the same address: a reused or lower nc is refused', async (t) => {
  const { r, phone } = await rig(t);
  const first = await phone.send({ user: '1001', callId: 'nc1', cseq: 1, contacts: [phone.contact('1001')] });
  const at = (nc: number) => phone.authorization(first, '1001', 'demo1001', { nc });
  t.equal((await phone.send({ user: '1001', callId: 'nc1', cseq: 2, contacts: [phone.contact('1001')], authorization: at(1) })).status, 200);
  // A refresh on the same nonce with nc 3; nc 2 was captured and held back.
  const held = at(2);
  t.equal((await phone.send({ user: '1001', callId: 'nc1', cseq: 4, contacts: [phone.contact('1001')], expires: 600, authorization: at(3) })).status, 200);
  const late = await phone.send({ user: '1001', callId: 'nc1', cseq: 5, contacts: ['<sip:1001@127.0.0.1:6666>'], authorization: held });
  t.equal(late.status, 401, 'nc below the last accepted one');
  t.equal(late.headers.auth('WWW-Authenticate')[0]?.params.get('stale'), 'true');
  const again = await phone.send({ user: '1001', callId: 'nc1', cseq: 6, contacts: ['<sip:1001@127.0.0.1:6666>'], authorization: at(3) });
  t.equal(again.status, 401, 'the same nc again');
  t.same(r.registrar.lookup('a1001').map((b) => [b.uri.port, b.cseq]), [[phone.port, 4]], 'no binding moved or added');
  t.equal(r.registrar.stats.replays, 2);
});

t.test('RFC 2069 (no qop) is refused by default; allowed, each nonce serves once', async (t) => {
  const { r, phone } = await rig(t);
  const first = await phone.send({ user: '1001', callId: 'nq1', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(first.headers.auth('WWW-Authenticate')[0]?.params.get('qop'), 'auth', 'qop=auth offered');
  const res = await phone.send({ user: '1001', callId: 'nq1', cseq: 2, contacts: [phone.contact('1001')], authorization: phone.authorization(first, '1001', 'demo1001', { noQop: true }) });
  t.equal(res.status, 403, 'an answer without qop is refused');
  t.equal(r.registrar.bindingCount, 0);
  t.ok(r.logs.some((l) => (l.obj as { code?: string }).code === 'SIP_ERR_AUTH_QOP'), 'logged with SIP_ERR_AUTH_QOP');

  const lenient = await rig(t, { digest: { allowNoQop: true } });
  const captured = await registerCaptured(lenient.phone, 'nq2', { noQop: true });
  const replay = await lenient.phone.send({ user: '1001', callId: 'nq2', cseq: 3, contacts: ['<sip:1001@127.0.0.1:6666>'], authorization: captured });
  t.equal(replay.status, 401, 'the same no-qop answer again, same address: challenged');
  t.equal(replay.headers.auth('WWW-Authenticate')[0]?.params.get('stale'), 'true');
  t.same(lenient.r.registrar.lookup('a1001').map((b) => b.uri.port), [lenient.phone.port]);
});

// ---- per-account lockout (issue 11) --------------------------------------------------------

/** Phones on distinct loopback addresses, closed at teardown. */
async function phonesAt(t: Test, r: RegistrarRig, addresses: string[]): Promise<RawPhone[]> {
  const out: RawPhone[] = [];
  for (const a of addresses) {
    const p = await RawPhone.open(r.udp, a);
    t.teardown(() => p.close());
    out.push(p);
  }
  return out;
}

t.test('guesses spread over 4 addresses lock the account: the right password from a fifth is refused', async (t) => {
  // Defaults: 20 failures per source, 10 per account (the 11th locks for 15 min). Every refusal answered here.
  const { r } = await rig(t, { refusalIntervalMs: 0 });
  const guessers = await phonesAt(t, r, ['127.0.0.11', '127.0.0.12', '127.0.0.13', '127.0.0.14']);
  const statuses = new Map<number, number>();
  for (let i = 0; i < 76; i++) {
    const p = guessers[i % 4]!;
    const res = await p.register({ user: '1001', callId: `g${i}`, cseq: 1, contacts: [p.contact('1001')], password: `guess${i}` });
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  }
  t.same([...statuses], [[403, 11], [503, 65]], '19 guesses per source (under its limit); the 11th failure locks the account');
  t.equal(r.registrar.stats.authFailures, 11, 'locked: no digest work for the rest');
  const [fifth] = await phonesAt(t, r, ['127.0.0.15']);
  const right = await fifth!.register({ user: '1001', callId: 'g-right', cseq: 1, contacts: [fifth!.contact('1001')] });
  t.equal(right.status, 503, 'the right password is refused while locked');
  t.equal(right.headers.get('Retry-After'), '900');
  t.equal(r.registrar.bindingCount, 0);
  const other = await fifth!.register({ user: '1002', callId: 'g-other', cseq: 1, contacts: [fifth!.contact('1002')] });
  t.equal(other.status, 200, 'other accounts are not affected');
  t.equal(r.registrar.stats.accountLockouts, 1);
  const lines = r.logs.filter((l) => l.msg.includes('account locked'));
  t.equal(lines.length, 1, 'one log line when the account locks');
  t.match(lines[0]?.obj, { agent: 'a1001', user: '1001', failures: 11, blockMs: 900_000 });
  r.clock.advance(900_000);
  const later = await fifth!.register({ user: '1001', callId: 'g-later', cseq: 1, contacts: [fifth!.contact('1001')] });
  t.equal(later.status, 200, 'unlocked after the lock duration');
});

t.test('account lockout settings; the registered phone keeps refreshing from its own address', async (t) => {
  const { r, phone } = await rig(t, { refusalIntervalMs: 0, accountLockout: { maxFailures: 2, windowMs: 60_000, blockMs: 30_000 } });
  t.equal((await phone.register({ user: '1001', callId: 'h1', cseq: 1, contacts: [phone.contact('1001')], expires: 600 })).status, 200);
  const [guesser] = await phonesAt(t, r, ['127.0.0.21']);
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    seen.push((await guesser!.register({ user: '1001', callId: `h-g${i}`, cseq: 1, contacts: [guesser!.contact('1001')], password: 'x' })).status);
  }
  t.same(seen, [403, 403, 403, 503], 'the third failure locks');
  const fromGuesser = await guesser!.register({ user: '1001', callId: 'h-right', cseq: 1, contacts: [guesser!.contact('1001')] });
  t.equal(fromGuesser.status, 503, 'right password from elsewhere: refused');
  const refresh = await phone.register({ user: '1001', callId: 'h1', cseq: 3, contacts: [phone.contact('1001')], expires: 600 });
  t.equal(refresh.status, 200, 'the phone at its bound address is not locked out by the attack');
  t.same(r.registrar.lookup('a1001').map((b) => b.source.port), [phone.port]);
  r.clock.advance(30_000);
  t.equal((await guesser!.register({ user: '1001', callId: 'h-after', cseq: 1, contacts: [guesser!.contact('1001')] })).status, 200, 'lock over');
});

t.test('refusals are limited: one answered per second per source, the rest dropped unanswered', async (t) => {
  const { r, phone } = await rig(t, { authFailures: { maxFailures: 0, windowMs: 60_000, blockMs: 60_000 } });
  t.equal((await phone.register({ user: '1001', callId: 'l1', cseq: 1, contacts: [phone.contact('1001')], password: 'x' })).status, 403, 'blocks');
  t.equal((await phone.send({ user: '1001', callId: 'l2', cseq: 1 })).status, 503, 'first refusal answered');
  let answered = false;
  const dropped = phone.send({ user: '1001', callId: 'l3', cseq: 1 }).then(() => { answered = true; }, () => {});
  // A request from another source is answered after l3 was read (one socket, in order).
  const [other] = await phonesAt(t, r, ['127.0.0.31']);
  t.equal((await other!.send({ user: '1001', callId: 'l4', cseq: 1 })).status, 401);
  r.clock.advance(1000);
  t.equal((await phone.send({ user: '1001', callId: 'l5', cseq: 1 })).status, 503, 'answered again a second later');
  t.equal(answered, false, 'the refusal in between got no answer');
  t.equal(r.registrar.stats.refused, 3);
  t.equal(r.registrar.stats.dropped, 1);
  await dropped;
});

t.test('isContactSource: true only for the transport, address and port of a live binding (C3)', async (t) => {
  const { r, phone } = await rig(t);
  const udp = { transport: 'UDP' as const, address: '127.0.0.1', port: phone.port };
  t.equal(r.registrar.isContactSource('a1001', udp), false, 'nothing registered yet');
  t.equal((await phone.register({ user: '1001', callId: 'cs1', cseq: 1, contacts: [phone.contact('1001')], expires: 60 })).status, 200);
  t.equal(r.registrar.isContactSource('a1001', udp), true, 'the phone');
  t.equal(r.registrar.isContactSource('a1001', { ...udp, port: phone.port + 1 }), false, 'another port');
  t.equal(r.registrar.isContactSource('a1001', { ...udp, address: '127.0.0.2' }), false, 'another address');
  t.equal(r.registrar.isContactSource('a1001', { ...udp, transport: 'TCP' }), false, 'another transport');
  t.equal(r.registrar.isContactSource('a1002', udp), false, 'another agent');
  t.equal(r.registrar.isContactSource('nobody', udp), false, 'unknown agent');
  // A Contact naming another host does not make that host a source.
  t.equal((await phone.register({ user: '1002', callId: 'cs2', cseq: 1, contacts: ['<sip:1002@127.0.0.9:5060>'] })).status, 200);
  t.equal(r.registrar.isContactSource('a1002', { transport: 'UDP', address: '127.0.0.9', port: 5060 }), false, 'the Contact is not the source');
  t.equal(r.registrar.isContactSource('a1002', udp), true);
  r.clock.advance(60_000);
  t.equal(r.registrar.isContactSource('a1001', udp), false, 'expired');
});

// ---- persisted registrations (contract C4) -------------------------------------------------

t.test('every change is written to the binding store', async (t) => {
  const store = new MapBindingStore();
  const { r, phone } = await rig(t, { bindings: store });
  const instance = '"<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>"';
  await phone.register({ user: '1001', callId: 'p1', cseq: 1, contacts: [phone.contact('1001', `;+sip.instance=${instance}`)], expires: 60 });
  const key = MapBindingStore.key('a1001', `sip:1001@127.0.0.1:${phone.port}`);
  t.same(store.rows.get(key), {
    agentId: 'a1001', contact: `sip:1001@127.0.0.1:${phone.port}`, source: { transport: 'UDP', address: '127.0.0.1', port: phone.port },
    expiresAt: 1_000_000 + 60_000, callId: 'p1', cseq: 2, instanceId: '<urn:uuid:00000000-0000-1000-8000-00a0c91e6bf6>', registeredAt: 1_000_000,
  }, 'a new binding is upserted with its source, Call-ID, CSeq and instance');
  r.clock.advance(10_000);
  await phone.register({ user: '1001', callId: 'p1', cseq: 3, contacts: [phone.contact('1001')], expires: 120 });
  t.match(store.rows.get(key), { cseq: 4, expiresAt: 1_010_000 + 120_000, registeredAt: 1_000_000 }, 'a refresh is upserted');
  await phone.register({ user: '1001', callId: 'p1', cseq: 5, contacts: [phone.contact('1001')], expires: 0 });
  t.equal(store.rows.size, 0, 'an unregistration removes it');
  await phone.register({ user: '1002', callId: 'p2', cseq: 1, contacts: [phone.contact('1002')], expires: 60 });
  t.equal(store.rows.size, 1);
  r.clock.advance(60_000);
  t.equal(store.rows.size, 0, 'an expiry removes it');
  // A refresh may spell an equal URI otherwise (host case): one row, under the new spelling.
  await phone.register({ user: '1002', callId: 'p4', cseq: 1, contacts: ['<sip:1002@Phone.Example:5070>'], expires: 60 });
  await phone.register({ user: '1002', callId: 'p4', cseq: 3, contacts: ['<sip:1002@phone.example:5070>'], expires: 60 });
  t.same([...store.rows.values()].map((p) => p.contact), ['sip:1002@phone.example:5070']);
  await phone.register({ user: '1002', callId: 'p4', cseq: 5, contacts: ['<sip:1002@phone.example:5070>'], expires: 0 });
  await phone.register({ user: '1003', callId: 'p3', cseq: 1, contacts: ['<sip:1003@127.0.0.1:6001>', '<sip:1003@127.0.0.1:6002>'] });
  await phone.register({ user: '1003', callId: 'p3', cseq: 3, contacts: ['*'], expires: 0 });
  t.equal(store.rows.size, 0, '* removes every one');
});

t.test('restore at start: current bindings come back, expired and unknown ones are dropped', async (t) => {
  const store = new MapBindingStore();
  const first = await rig(t, { bindings: store });
  await first.phone.register({ user: '1001', callId: 'rs1', cseq: 1, contacts: [first.phone.contact('1001')], expires: 600 });
  await first.phone.register({ user: '1002', callId: 'rs2', cseq: 1, contacts: [first.phone.contact('1002')], expires: 60 });
  void store.upsert({
    agentId: 'gone', contact: 'sip:9999@127.0.0.1:5060', source: { transport: 'UDP', address: '127.0.0.1', port: 5060 },
    expiresAt: 9_000_000, callId: 'x', cseq: 1, instanceId: null, registeredAt: 1_000_000,
  });
  t.equal(store.rows.size, 3);
  // The engine stops, and starts again 2 minutes later: 1002's binding ended meanwhile.
  const r = await startRegistrar({ bindings: store }, 1_000_000 + 120_000);
  t.teardown(() => r.close());
  t.equal(r.registrar.bindingCount, 0, 'nothing before restore()');
  t.equal(await r.registrar.restore(), 1, 'one binding restored');
  t.same(r.registered.map((e) => e.agentId), ['a1001'], 'onRegistered for the restored agent');
  const b = r.registrar.bindingFor('1001');
  t.same(b?.source, { transport: 'UDP', address: '127.0.0.1', port: first.phone.port });
  t.equal(r.registrar.remaining(b!), 480, 'its remaining time carried over');
  t.equal(r.registrar.isContactSource('a1001', { transport: 'UDP', address: '127.0.0.1', port: first.phone.port }), true);
  t.equal(r.registrar.isRegistered('a1002'), false, 'the expired binding is dropped');
  t.same([...store.rows.values()].map((p) => p.agentId), ['a1001'], 'and removed from the store, with the unknown agent\'s');
  // §10.3 step 7 survives the restart: same Call-ID, old CSeq is refused.
  const phone = await RawPhone.open(r.udp);
  t.teardown(() => phone.close());
  const challenge = await phone.send({ user: '1001', callId: 'rs1', cseq: 1, contacts: [first.phone.contact('1001')] });
  const old = await phone.send({ user: '1001', callId: 'rs1', cseq: 2, contacts: [first.phone.contact('1001')], authorization: phone.authorization(challenge, '1001', 'demo1001') });
  t.equal(old.status, 500, 'CSeq not above the stored one');
  r.clock.advance(480_000);
  t.same(r.unregistered, [{ agentId: 'a1001', reason: 'expired' }], 'the restored binding expires on time');
  t.equal(store.rows.size, 0);
});

t.test('a failing binding store is logged; the registrar keeps working', async (t) => {
  const store = new MapBindingStore();
  store.failing = true;
  const { r, phone } = await rig(t, { bindings: store });
  t.equal(await r.registrar.restore(), 0, 'a failed load starts empty');
  t.ok(r.logs.some((l) => l.level === 'error' && l.msg.includes('loading persisted registrations failed')));
  const ok = await phone.register({ user: '1001', callId: 'fs1', cseq: 1, contacts: [phone.contact('1001')] });
  t.equal(ok.status, 200, 'registration still answered');
  t.equal(r.registrar.isRegistered('a1001'), true);
  await new Promise((resolve) => setImmediate(resolve));
  t.ok(r.logs.some((l) => l.level === 'error' && l.msg === 'persisting a registration failed'), 'the failed write is logged');
  t.equal(store.writes, 1);
});

t.test('isBindingSource follows bindings as they begin, move and end', async (t) => {
  const { r, phone } = await rig(t);
  const src = { transport: 'UDP' as const, address: '127.0.0.1', port: phone.port };
  t.equal(r.registrar.isBindingSource(src), false);
  await phone.register({ user: '1001', callId: 'bs1', cseq: 1, contacts: [phone.contact('1001')], expires: 60 });
  await phone.register({ user: '1002', callId: 'bs2', cseq: 1, contacts: [phone.contact('1002')], expires: 600 });
  t.equal(r.registrar.isBindingSource(src), true);
  t.equal(r.registrar.isBindingSource({ ...src, port: src.port + 1 }), false);
  await phone.register({ user: '1002', callId: 'bs2', cseq: 3, contacts: [phone.contact('1002')], expires: 0 });
  t.equal(r.registrar.isBindingSource(src), true, 'still 1001 from there');
  // 1001 refreshes its binding from another socket: the binding moves there.
  const moved = await RawPhone.open(r.udp);
  t.teardown(() => moved.close());
  await moved.register({ user: '1001', callId: 'bs1', cseq: 3, contacts: [phone.contact('1001')], expires: 60 });
  t.equal(r.registrar.isBindingSource(src), false, 'moved away');
  t.equal(r.registrar.isBindingSource({ ...src, port: moved.port }), true);
  r.clock.advance(60_000);
  t.equal(r.registrar.isBindingSource({ ...src, port: moved.port }), false, 'expired');
});
