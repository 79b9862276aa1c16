/**
 * Trunks through the real SIP stack on loopback: a "carrier" UserAgent sends INVITEs and OPTIONS
 * to an "engine" UserAgent whose delegate asks the TrunkTable. IPv4 (127.0.0.1) and IPv6 (::1).
 * The stale-nonce case hands parsed INVITEs to the table directly, on a fake clock.
 */
import t, { type Test } from 'tap';
import { TransportLayer, UserAgent, answerChallenge, parse, type HeaderField, type IncomingInvite, type SipResponse } from '../sip/index.ts';
import { FakeClock } from '../clock/index.ts';
import { TrunkTable, type Admission, type TrunkOptions, type TrunkTableOptions } from './trunks.ts';

interface Engine {
  trunks: TrunkTable;
  admissions: Admission[];
  port: number;
  logs: { obj: object; msg: string }[];
}

interface Carrier {
  ua: UserAgent;
  /** INVITE to the engine; resolves with the final status the carrier saw. */
  call(o: { ruser?: string; from?: string; to?: string; headers?: HeaderField[]; credentials?: { username: string; password: string } }): Promise<SipResponse | string>;
}

/** The engine side: one UA whose INVITEs and OPTIONS go to a TrunkTable. Admitted calls get 480. */
async function engine(t: Test, address: string, list: TrunkOptions[], opts: Omit<TrunkTableOptions, 'logger'> = {}): Promise<Engine> {
  const logs: Engine['logs'] = [];
  const trunks = new TrunkTable(list, { ...opts, logger: { warn: (obj, msg) => logs.push({ obj, msg }) } });
  const admissions: Admission[] = [];
  const transport = new TransportLayer();
  const local = await transport.listen({ transport: 'UDP', address, port: 0 });
  const ua = new UserAgent(transport);
  ua.setDelegate({
    onInvite: (inv) => {
      const a = trunks.admitInvite(inv);
      admissions.push(a);
      if (a.ok) inv.reject(480); // the calls layer would answer; the test only needs a final answer
    },
    onRequest: (req) => {
      if (req.request.method === 'OPTIONS') trunks.answerOptions(req, { draining: false, isAgentSource: () => false });
      else req.respond(405);
    },
  });
  t.teardown(async () => {
    ua.close();
    await transport.close();
  });
  return { trunks, admissions, port: local.port, logs };
}

async function carrier(t: Test, address: string, target: Engine): Promise<Carrier> {
  const transport = new TransportLayer();
  await transport.listen({ transport: 'UDP', address, port: 0 });
  const ua = new UserAgent(transport, { contactUser: 'gw' });
  t.teardown(async () => {
    ua.close();
    await transport.close();
  });
  const host = address.includes(':') ? `[${address}]` : address;
  return {
    ua,
    call: (o) => new Promise((resolve) => {
      ua.invite({
        target: `sip:${o.ruser === undefined ? '' : `${o.ruser}@`}${host}:${target.port}`,
        ...(o.from !== undefined ? { from: o.from } : {}),
        ...(o.to !== undefined ? { to: o.to } : {}),
        ...(o.headers !== undefined ? { headers: o.headers } : {}),
        ...(o.credentials !== undefined ? { credentials: o.credentials } : {}),
        delegate: {
          onAccept: () => resolve('accepted'),
          onReject: (r) => resolve(r),
          onFailure: (f) => resolve(f),
        },
      });
    }),
  };
}

const status = (r: SipResponse | string): number | string => (typeof r === 'string' ? r : r.status);

const loopTrunk: TrunkOptions = { id: 'loop', name: 'Loopback carrier', allow: ['127.0.0.0/8'], callerFrom: 'pai', dialledFrom: 'ruri' };

t.test('IPv4 ACL admits the trunk; caller from PAI, dialled from the Request-URI', async (t) => {
  const e = await engine(t, '127.0.0.1', [loopTrunk, { ...loopTrunk, id: 'other', allow: ['198.51.100.0/24'] }]);
  const c = await carrier(t, '127.0.0.1', e);
  const r = await c.call({
    ruser: '0800-100', from: '"Gateway" <sip:gw@127.0.0.1>', to: '<sip:999@127.0.0.1>',
    headers: [{ name: 'P-Asserted-Identity', value: '"Jane" <sip:+49-30-5550@carrier.example;user=phone>' }],
  });
  t.equal(status(r), 480, 'the admitted call reached the (test) calls layer');
  const a = e.admissions[0];
  t.ok(a?.ok);
  if (!a?.ok) return;
  t.equal(a.trunk.id, 'loop');
  t.equal(a.caller, '+49305550');
  t.equal(a.display, 'Jane');
  t.equal(a.dialled, '0800100');
  t.equal(a.trunk.media, 'answer', 'default media mode');
  t.equal(a.trunk.authenticated, false);
  t.equal(e.trunks.stats.admitted, 1);
});

t.test('callerFrom: from and dialledFrom: to', async (t) => {
  const e = await engine(t, '127.0.0.1', [{ ...loopTrunk, callerFrom: 'from', dialledFrom: 'to', media: 'early', earlyMediaLimitMs: 30_000 }]);
  const c = await carrier(t, '127.0.0.1', e);
  await c.call({
    ruser: 'trunkgroup', from: '<sip:+33-1-234@127.0.0.1>', to: '<sip:200@127.0.0.1>',
    headers: [{ name: 'P-Asserted-Identity', value: '<sip:+49999@carrier.example>' }],
  });
  const a = e.admissions[0];
  t.ok(a?.ok);
  if (!a?.ok) return;
  t.equal(a.caller, '+331234', 'From, PAI ignored');
  t.equal(a.display, undefined);
  t.equal(a.dialled, '200', 'To user, not the Request-URI');
  t.equal(a.trunk.media, 'early');
  t.equal(a.trunk.earlyMediaLimitMs, 30_000);
});

t.test('an unknown source gets 403 and is logged once', async (t) => {
  const e = await engine(t, '127.0.0.1', [{ ...loopTrunk, allow: ['10.0.0.0/8', '2001:db8::/32'] }]);
  const c = await carrier(t, '127.0.0.1', e);
  t.equal(status(await c.call({ ruser: '100' })), 403);
  t.equal(status(await c.call({ ruser: '100' })), 403);
  t.same(e.admissions.map((a) => !a.ok && a.reason), ['unknown-source', 'unknown-source']);
  t.equal(e.logs.length, 1, 'one log line per source, not per packet');
  t.equal(e.trunks.stats.unknownSource, 2);
});

t.test('IPv6: a trunk admitted by ::1/128, another by v4 only', async (t) => {
  const e = await engine(t, '::1', [
    { ...loopTrunk, id: 'v4', allow: ['127.0.0.1'] },
    { ...loopTrunk, id: 'v6', allow: ['::1/128'] },
  ]);
  const c = await carrier(t, '::1', e);
  await c.call({ ruser: '+4930100', from: '<sip:+4930999@[::1]>' });
  const a = e.admissions[0];
  t.ok(a?.ok);
  if (!a?.ok) return;
  t.equal(a.trunk.id, 'v6');
  t.equal(a.dialled, '+4930100');
  t.equal(a.caller, '+4930999', 'no PAI: From');
  t.equal(e.trunks.classify('127.0.0.1')?.id, 'v4');
  t.equal(e.trunks.classify('::ffff:127.0.0.1')?.id, 'v4', 'mapped address classified as v4');
  t.equal(e.trunks.classify('::2'), undefined);
});

t.test('no dialled number: 484', async (t) => {
  const e = await engine(t, '127.0.0.1', [loopTrunk]);
  const c = await carrier(t, '127.0.0.1', e);
  t.equal(status(await c.call({})), 484, 'Request-URI without a user');
  t.equal(status(await c.call({ ruser: 'service' })), 484, 'a user part that is not a number');
  t.equal(e.trunks.stats.noDialledNumber, 2);
});

t.test('trunk digest: 407 challenge, verified retry, wrong password 403, no credentials 407', async (t) => {
  const auth = { username: 'carrier1', password: 's3cret', realm: 'trunks.onair' };
  const e = await engine(t, '127.0.0.1', [{ ...loopTrunk, auth }]);
  const c = await carrier(t, '127.0.0.1', e);
  t.equal(status(await c.call({ ruser: '100', credentials: { username: 'carrier1', password: 's3cret' } })), 480, 'admitted after the challenge');
  t.same(e.admissions.map((a) => (a.ok ? 'ok' : a.reason)), ['challenged', 'ok']);
  const first = e.admissions[0];
  t.equal(first && !first.ok ? first.status : 0, 407);

  const wrong = await c.call({ ruser: '100', credentials: { username: 'carrier1', password: 'guess' } });
  t.equal(status(wrong), 403, 'wrong password');
  const otherUser = await c.call({ ruser: '100', credentials: { username: 'carrier2', password: 's3cret' } });
  t.equal(status(otherUser), 403, 'another user name');
  t.equal(e.trunks.stats.authFailures, 2);
  t.ok(e.logs.some((l) => (l.obj as { code?: string }).code === 'SIP_ERR_AUTH_RESPONSE'), 'failure logged with its code');

  const none = await c.call({ ruser: '100' });
  t.equal(status(none), 407, 'without credentials the carrier sees the challenge');
  const challenge = typeof none === 'string' ? undefined : none.headers.auth('Proxy-Authenticate')[0];
  t.equal(challenge?.params.get('realm'), 'trunks.onair');
  t.equal(challenge?.params.get('algorithm'), 'MD5');
});

t.test('trunk digest with 401 (WWW-Authenticate)', async (t) => {
  const auth = { username: 'carrier1', password: 's3cret', realm: 'trunks.onair' };
  const e = await engine(t, '127.0.0.1', [{ ...loopTrunk, auth, challengeStatus: 401 }]);
  const c = await carrier(t, '127.0.0.1', e);
  const none = await c.call({ ruser: '100' });
  t.equal(status(none), 401);
  t.equal(typeof none === 'string' ? 0 : none.headers.auth('WWW-Authenticate').length, 1);
  t.equal(status(await c.call({ ruser: '100', credentials: { username: 'carrier1', password: 's3cret' } })), 480);
});

t.test('OPTIONS: 200 with Allow/Accept/Supported from a trunk, 403 from others when the policy rejects', async (t) => {
  const e = await engine(t, '127.0.0.1', [loopTrunk]);
  const c = await carrier(t, '127.0.0.1', e);
  const r = await c.ua.request({ method: 'OPTIONS', target: `sip:127.0.0.1:${e.port}` });
  t.equal(status(r), 200);
  if (typeof r !== 'string') {
    t.match(r.headers.get('Allow') ?? '', /INVITE/);
    t.equal(r.headers.get('Accept'), 'application/sdp');
    t.ok(r.headers.has('Supported'));
  }
  const closed = await engine(t, '127.0.0.1', [{ ...loopTrunk, allow: ['192.0.2.0/24'] }], { unknownOptions: 'reject' });
  const r2 = await c.ua.request({ method: 'OPTIONS', target: `sip:127.0.0.1:${closed.port}` });
  t.equal(status(r2), 403);
  t.equal(closed.trunks.stats.optionsUnknown, 1);
  t.match(closed.logs, [{ msg: 'OPTIONS from a source no trunk admits' }]);
});

t.test('identifyUnanswered: an address-trusted trunk\'s caller and dialled number, answering nothing; digest trunks and strangers none', async (t) => {
  const auth = { username: 'carrier1', password: 's3cret', realm: 'trunks.onair' };
  const table = new TrunkTable([
    { ...loopTrunk, allow: ['10.1.0.0/16'] },
    { ...loopTrunk, id: 'digest', allow: ['10.2.0.0/16'], auth },
  ]);
  const from = (address: string) => ({ transport: 'UDP' as const, address, port: 5060 });
  const invite = (ruri: string) => {
    const r = parse(Buffer.from([
      `INVITE ${ruri} SIP/2.0`, 'Via: SIP/2.0/UDP 10.1.2.3:5060;branch=z9hG4bKid1', 'Max-Forwards: 70',
      'From: <sip:+8613800138000@carrier>;tag=f1', 'To: <sip:100@onair>', 'Call-ID: id-1', 'CSeq: 1 INVITE',
      'P-Asserted-Identity: <sip:+8613800138000@carrier>', 'Content-Length: 0', '', '',
    ].join('\r\n')));
    if (!r.ok || r.message.kind !== 'request') throw new Error('bad test request');
    return r.message;
  };
  t.match(table.identifyUnanswered(invite('sip:100@onair'), from('10.1.2.3')), { trunk: { id: 'loop' }, caller: '+8613800138000', dialled: '100' });
  t.equal(table.identifyUnanswered(invite('sip:100@onair'), from('10.2.2.3')), undefined, 'a digest trunk: never challenged, so not identified');
  t.equal(table.identifyUnanswered(invite('sip:100@onair'), from('198.51.100.9')), undefined, 'no trunk holds the source');
  t.equal(table.identifyUnanswered(invite('sip:onair'), from('10.1.2.3')), undefined, 'no dialled number');
  t.equal(table.stats.admitted, 0, 'nothing counted as admitted: nothing was answered');
});

t.test('decideOptions: trunk 200 (503 draining), agent phone 200, unknown dropped by default', async (t) => {
  const table = new TrunkTable([{ ...loopTrunk, allow: ['10.1.0.0/16'] }]);
  const trunk = { transport: 'UDP' as const, address: '10.1.2.3', port: 5060 };
  const phone = { transport: 'UDP' as const, address: '192.0.2.50', port: 5062 };
  const stranger = { transport: 'UDP' as const, address: '198.51.100.9', port: 5060 };
  const ctx = { draining: false, isAgentSource: (s: typeof phone) => s.address === phone.address && s.port === phone.port };
  t.match(table.decideOptions(trunk, ctx), { action: 'answer', status: 200, trunk: { id: 'loop' } });
  t.match(table.decideOptions(trunk, { ...ctx, draining: true }), { action: 'answer', status: 503 }, 'draining: carriers route elsewhere');
  t.same(table.decideOptions(phone, ctx), { action: 'answer', status: 200, trunk: undefined }, 'a registered phone\'s keep-alive');
  t.same(table.decideOptions({ ...phone, port: 5999 }, ctx), { action: 'drop' }, 'same host, another port: not the phone');
  t.same(table.decideOptions(stranger, ctx), { action: 'drop' }, 'unknown: no answer by default');
  t.equal(table.unknownOptions, 'drop');
  t.same(new TrunkTable([], { unknownOptions: 'reject' }).decideOptions(stranger, ctx), { action: 'reject', status: 403 });
  // Dropped means nothing is sent.
  let sent = 0;
  const req = { inbound: { source: stranger }, respond: () => { sent++; return true; } } as unknown as Parameters<TrunkTable['answerOptions']>[0];
  t.same(table.answerOptions(req, ctx), { action: 'drop' });
  t.equal(sent, 0, 'no response at all');
  t.equal(table.stats.optionsUnknown, 1);
});

t.test('configuration errors', async (t) => {
  t.throws(() => new TrunkTable([{ ...loopTrunk, allow: ['10.0.0.0/40'] }]), { code: 'TRUNK_ERR_CIDR' });
  t.throws(() => new TrunkTable([loopTrunk, loopTrunk]), /twice/);
  const table = new TrunkTable([loopTrunk, { ...loopTrunk, id: 'b', name: 'B', allow: [] }]);
  t.same(table.trunks.map((x) => x.id), ['loop', 'b']);
  t.equal(table.get('b')?.name, 'B');
  t.equal(table.classify('127.0.0.2')?.id, 'loop');
});

t.test('trunk digest: an expired nonce is challenged again with stale=true, not counted as a failure', async (t) => {
  const clock = new FakeClock(5_000);
  const auth = { username: 'carrier1', password: 's3cret', realm: 'trunks.onair' };
  const table = new TrunkTable([{ ...loopTrunk, auth }], { clock, nonceTtlMs: 10_000 });
  const answers: { status: number; headers: HeaderField[] }[] = [];
  const invite = (authorization?: string): IncomingInvite => {
    const text = [
      'INVITE sip:100@127.0.0.1 SIP/2.0', 'Via: SIP/2.0/UDP 127.0.0.1:5080;branch=z9hG4bK-st', 'Max-Forwards: 70',
      'From: <sip:+4930555@127.0.0.1>;tag=c', 'To: <sip:100@127.0.0.1>', 'Call-ID: stale-1', 'CSeq: 1 INVITE',
      'Contact: <sip:gw@127.0.0.1:5080>', ...(authorization ? [`Proxy-Authorization: ${authorization}`] : []), 'Content-Length: 0', '', '',
    ].join('\r\n');
    const parsed = parse(Buffer.from(text, 'latin1'));
    if (!parsed.ok || parsed.message.kind !== 'request') throw new Error('bad fixture');
    const request = parsed.message;
    return {
      request,
      inbound: { message: request, source: { transport: 'UDP', address: '127.0.0.1', port: 5080 }, local: { transport: 'UDP', address: '127.0.0.1', port: 5060 } },
      reject: (status: number, opts: { headers?: HeaderField[] } = {}) => {
        answers.push({ status, headers: opts.headers ?? [] });
        return true;
      },
    } as unknown as IncomingInvite;
  };
  t.equal(table.admitInvite(invite()).ok, false);
  const challenge = answers[0]?.headers[0]?.value ?? '';
  const answer = answerChallenge(challenge, { username: 'carrier1', password: 's3cret', method: 'INVITE', uri: 'sip:100@127.0.0.1' }, 1);
  if (!answer.ok) throw new Error(answer.reason);
  clock.advance(10_001);
  const stale = table.admitInvite(invite(answer.header));
  t.same(stale.ok ? 'ok' : [stale.status, stale.reason], [407, 'challenged']);
  t.match(answers[1]?.headers[0]?.value ?? '', /stale=true/);
  t.equal(table.stats.authFailures, 0);
  const fresh = answerChallenge(answers[1]?.headers[0]?.value ?? '', { username: 'carrier1', password: 's3cret', method: 'INVITE', uri: 'sip:100@127.0.0.1' }, 1);
  if (!fresh.ok) throw new Error(fresh.reason);
  const ok = table.admitInvite(invite(fresh.header));
  t.equal(ok.ok, true, 'the fresh nonce is accepted');
});

t.test('ceilingFor: the contracted cps of the longest-prefix trunk (C6)', async (t) => {
  const table = new TrunkTable([
    { ...loopTrunk, id: 'wide', name: 'Wide', allow: ['10.0.0.0/8', '2001:db8::/32'], maxCallsPerSecond: 100 },
    { ...loopTrunk, id: 'narrow', name: 'Narrow', allow: ['10.1.0.0/16'], maxCallsPerSecond: 5 },
    { ...loopTrunk, id: 'free', name: 'No ceiling', allow: ['10.2.0.0/16', '2001:db8:1::/48'] },
  ]);
  t.same(table.ceilingFor('10.1.2.3'), { invitesPerSecond: 5 }, 'the more specific trunk wins');
  t.same(table.ceilingFor('10.9.9.9'), { invitesPerSecond: 100 });
  t.equal(table.ceilingFor('10.2.0.1'), undefined, 'a more specific trunk without a ceiling does not inherit the wider one');
  t.same(table.ceilingFor('2001:db8:2::1'), { invitesPerSecond: 100 }, 'IPv6');
  t.equal(table.ceilingFor('2001:db8:1::1'), undefined);
  t.same(table.ceilingFor('::ffff:10.1.0.1'), { invitesPerSecond: 5 }, 'IPv4-mapped');
  t.equal(table.ceilingFor('192.0.2.1'), undefined, 'no trunk');
  t.equal(table.ceilingFor('not an address'), undefined);
  t.equal(table.ceilingFor('10.1.2.3'), table.ceilingFor('10.1.200.3'), 'one frozen object per trunk, nothing allocated per call');
  t.equal(table.get('narrow')?.maxCallsPerSecond, 5);
  t.equal(table.get('free')?.maxCallsPerSecond, null);
  t.throws(() => new TrunkTable([{ ...loopTrunk, maxCallsPerSecond: 0 }]), RangeError);
});
