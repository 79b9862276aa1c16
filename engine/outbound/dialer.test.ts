/**
 * The dialer against customers made of the engine's own SIP stack, over real UDP on loopback:
 * every path of D1 (answer and BYE both ways, busy, ring timeout, hang-up while ringing, failover,
 * digest, limits, refused numbers), the events each path gives (exactly one end, none inside a
 * call of dial/hangup) and the trunk slots (all back at the end of every path).
 */
import t from 'tap';
import { DigestChallenger, type Dialog, type IncomingInvite, type SipRequest, type UserAgent } from '../sip/index.ts';
import { configSchema, type ConfigInput } from '../config/index.ts';
import { monotonicClock } from '../clock/index.ts';
import { OutboundDialer, type DialEvents, type DialFailure, type DialResult } from './index.ts';
import { OFFER, loopbackUa, silent, sleep, until, type Test } from './test-helpers.ts';

const SDP = OFFER;
const ANSWER = Buffer.from('v=0\r\no=customer 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40100 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n');

async function stack(t: Test): Promise<{ ua: UserAgent; port: number }> {
  return loopbackUa(t);
}

/** A customer phone: `behave` answers each INVITE; every INVITE and CANCEL is kept. */
async function customer(t: Test, behave: (inv: IncomingInvite, c: Customer) => void): Promise<Customer> {
  const { ua, port } = await stack(t);
  const c: Customer = { ua, port, invites: [], dialogs: [], cancels: 0, byes: 0 };
  ua.setDelegate({
    onInvite: (inv) => {
      c.invites.push(inv.request);
      inv.onCancel = () => { c.cancels++; };
      behave(inv, c);
    },
  });
  return c;
}
interface Customer {
  ua: UserAgent;
  port: number;
  invites: SipRequest[];
  dialogs: Dialog[];
  cancels: number;
  byes: number;
}

const answer = (inv: IncomingInvite, c: Customer): void => {
  inv.progress(180);
  const dialog = inv.accept({ body: ANSWER, contentType: 'application/sdp', delegate: { onBye: () => { c.byes++; } } });
  if (dialog) c.dialogs.push(dialog);
};

function dialerOn(ua: UserAgent, outbound: NonNullable<ConfigInput['outbound']>, metrics?: { outboundCall(trunk: string, r: DialResult): void }): OutboundDialer {
  const config = configSchema.parse({ outbound }).outbound;
  return new OutboundDialer({ ua, config, clock: monotonicClock, log: silent, ...(metrics ? { metrics } : {}) });
}

/** Events of one call, with the rules every call must keep checked as they come. */
function recorder(t: { fail(msg: string): void }): DialEvents & {
  log: string[]; failure: DialFailure | undefined; answered: { sdp: Buffer | null; trunk: string } | undefined;
  ended: string | undefined; done(): boolean; inCall: boolean;
} {
  const r = {
    log: [] as string[],
    failure: undefined as DialFailure | undefined,
    answered: undefined as { sdp: Buffer | null; trunk: string } | undefined,
    ended: undefined as string | undefined,
    inCall: false,
    done(): boolean { return r.failure !== undefined || r.ended !== undefined; },
    check(kind: string): void {
      if (r.inCall) t.fail(`${kind} fired inside dial()/hangup()`);
      if (r.done()) t.fail(`${kind} after the call ended (${r.log.join(', ')})`);
      r.log.push(kind);
    },
    onProgress(status: number): void { r.check(`progress ${status}`); },
    onAnswered(a: { sdp: Buffer | null; trunk: string }): void {
      r.check('answered');
      if (r.answered) t.fail('answered twice');
      r.answered = a;
    },
    onFailed(f: DialFailure): void {
      r.check(`failed ${f.result}`);
      if (r.answered) t.fail('failed after answered');
      r.failure = f;
    },
    onEnded(by: string): void {
      r.check(`ended ${by}`);
      if (!r.answered) t.fail('ended without an answer');
      r.ended = by;
    },
  };
  return r;
}

/** dial() with the recorder told that anything it hears now is inside the call. */
function dial(d: OutboundDialer, r: ReturnType<typeof recorder>, number = '13800138000', extra: { callerId?: string | null; ringTimeoutMs?: number } = {}): { hangup(): void } {
  r.inCall = true;
  const call = d.dial({ number, callerId: extra.callerId ?? null, sdp: SDP, callId: 'c-1', ...(extra.ringTimeoutMs ? { ringTimeoutMs: extra.ringTimeoutMs } : {}) }, r);
  r.inCall = false;
  return {
    hangup: () => {
      r.inCall = true;
      call.hangup();
      r.inCall = false;
    },
  };
}

const idle = (d: OutboundDialer): boolean => d.utilisation().every((u) => u.active === 0);

t.test('answered: our SDP out, theirs back, the INVITE as D1 says; the customer hangs up', async (t) => {
  const c = await customer(t, answer);
  const { ua } = await stack(t);
  const counted: string[] = [];
  const d = dialerOn(ua, { trunks: [{ id: 'carrier', address: `127.0.0.1:${c.port}`, callerId: '4008001234', domain: 'carrier.example' }] },
    { outboundCall: (trunk, r) => counted.push(`${trunk} ${r}`) });
  const r = recorder(t);
  dial(d, r, '+86 138-0013-8000', { callerId: '4008009999' });
  await until(() => r.answered !== undefined, 'answer');
  t.same(r.log, ['progress 180', 'answered']);
  t.equal(r.answered!.trunk, 'carrier');
  t.equal(r.answered!.sdp!.toString(), ANSWER.toString(), 'the customer SDP comes back');
  t.same(d.utilisation(), [{ trunk: 'carrier', active: 1, maxConcurrent: 30 }], 'a talking call holds its slot');
  const inv = c.invites[0]!;
  t.equal(inv.uriText, 'sip:013800138000@carrier.example', 'Request-URI: the national number at the domain');
  t.equal(inv.headers.from.uri.user, '4008009999', 'From: the callerId of the request');
  t.equal(inv.headers.get('X-Onair-Call-ID'), 'c-1');
  t.equal(inv.body.toString(), SDP.toString(), 'our SDP offer');
  t.equal(inv.headers.get('Content-Type'), 'application/sdp');
  t.equal(ua.dialogCount, 1, 'dialog established');

  t.equal(c.dialogs.length, 1, 'the customer holds the dialog');
  // The customer hangs up.
  await c.ua.bye(c.dialogs[0]!);
  await until(() => r.ended !== undefined, 'ended');
  t.equal(r.ended, 'remote');
  t.ok(idle(d), 'slot back after the BYE');
  t.equal(ua.dialogCount, 0);
  t.same(counted, ['carrier answered']);
});

t.test('answered, then we hang up: BYE reaches the customer, onEnded local, hangup idempotent', async (t) => {
  const c = await customer(t, answer);
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [{ id: 'carrier', address: `127.0.0.1:${c.port}`, callerId: '4008001234' }] });
  const r = recorder(t);
  const call = dial(d, r);
  await until(() => r.answered !== undefined, 'answer');
  t.equal(c.invites[0]!.headers.from.uri.user, '4008001234', 'From: the trunk callerId when the request has none');
  t.equal(c.invites[0]!.uriText, `sip:013800138000@127.0.0.1`, 'domain defaults to the address host');
  call.hangup();
  call.hangup();
  t.ok(idle(d), 'slot back at once');
  await until(() => c.byes === 1 && r.ended !== undefined, 'BYE at the customer');
  t.equal(r.ended, 'local');
  call.hangup();
  await sleep(20);
  t.same(r.log, ['progress 180', 'answered', 'ended local'], 'nothing more after a second and third hangup');
});

t.test('busy: 486 → busy, no second trunk tried', async (t) => {
  const c = await customer(t, (inv) => inv.reject(486));
  const other = await customer(t, answer);
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [
    { id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1' },
    { id: 'b', address: `127.0.0.1:${other.port}`, callerId: '1' },
  ] });
  const r = recorder(t);
  dial(d, r);
  await until(() => r.done(), 'failure');
  t.same(r.failure, { result: 'busy', status: 486, trunk: 'a' });
  t.equal(other.invites.length, 0, 'busy is the customer, not the trunk: no failover');
  t.ok(idle(d));
});

t.test('ring timeout: CANCEL reaches the customer, 487 → no_answer', async (t) => {
  const c = await customer(t, (inv) => { inv.progress(180); });
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1' }] });
  const r = recorder(t);
  dial(d, r, '13800138000', { ringTimeoutMs: 150 });
  await until(() => r.done(), 'failure');
  t.same(r.failure, { result: 'no_answer', status: 487, trunk: 'a' });
  t.equal(c.cancels, 1, 'the customer saw our CANCEL');
  t.ok(idle(d));
});

t.test('hang-up while ringing: cancelled, CANCEL sent, slot back once the INVITE ends', async (t) => {
  const c = await customer(t, (inv) => { inv.progress(180); });
  const { ua } = await stack(t);
  const counted: string[] = [];
  const d = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1' }] }, { outboundCall: (tr, res) => counted.push(`${tr} ${res}`) });
  const r = recorder(t);
  const call = dial(d, r);
  await until(() => r.log.includes('progress 180'), 'ringing');
  call.hangup();
  call.hangup();
  await until(() => r.done(), 'cancelled');
  t.same(r.failure, { result: 'cancelled', status: null, trunk: 'a' });
  await until(() => c.cancels === 1 && idle(d), 'CANCEL at the customer and the slot back');
  t.same(counted, ['a cancelled']);
});

t.test('hang-up before any provisional, customer answers anyway: hung up, never reported answered', async (t) => {
  // The CANCEL waits for a provisional (RFC 3261 §9.1) that never comes: the customer answers at
  // once, the 200 reaches a dial we hung up, and the dialer must BYE it.
  const c = await customer(t, (inv, cust) => {
    const dialog = inv.accept({ body: ANSWER, contentType: 'application/sdp', delegate: { onBye: () => { cust.byes++; } } });
    if (dialog) cust.dialogs.push(dialog);
  });
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1' }] });
  const r = recorder(t);
  const call = dial(d, r);
  call.hangup();
  await until(() => c.byes === 1, 'BYE for the unwanted answer');
  t.same(r.log, ['failed cancelled']);
  await until(() => idle(d), 'slot back');
  t.equal(ua.dialogCount, 0);
});

t.test('failover: 503 on the first trunk, the second answers', async (t) => {
  const a = await customer(t, (inv) => inv.reject(503));
  const b = await customer(t, answer);
  const { ua } = await stack(t);
  const counted: string[] = [];
  const d = dialerOn(ua, { trunks: [
    { id: 'a', address: `127.0.0.1:${a.port}`, callerId: '1' },
    { id: 'b', address: `127.0.0.1:${b.port}`, callerId: '1' },
  ] }, { outboundCall: (tr, res) => counted.push(`${tr} ${res}`) });
  const r = recorder(t);
  const call = dial(d, r);
  await until(() => r.answered !== undefined, 'answer on b');
  t.equal(r.answered!.trunk, 'b');
  t.equal(a.invites.length, 1);
  t.equal(b.invites.length, 1);
  t.same(counted, ['a trunk_error', 'b answered']);
  call.hangup();
  t.ok(idle(d));
});

t.test('failover exhausted: every trunk 5xx → trunk_error with the last status and trunk', async (t) => {
  const a = await customer(t, (inv) => inv.reject(503));
  const b = await customer(t, (inv) => inv.reject(502));
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [
    { id: 'a', address: `127.0.0.1:${a.port}`, callerId: '1' },
    { id: 'b', address: `127.0.0.1:${b.port}`, callerId: '1' },
  ] });
  const r = recorder(t);
  dial(d, r);
  await until(() => r.done(), 'failure');
  t.same(r.failure, { result: 'trunk_error', status: 502, trunk: 'b' });
  t.ok(idle(d));
});

t.test('digest: a 407 is answered with the trunk credentials, checked by a real challenger', async (t) => {
  const auth = new DigestChallenger({ realm: 'carrier' });
  let verdicts = 0;
  const c = await customer(t, (inv, cust) => {
    const creds = auth.select(inv.request.headers.auth('Proxy-Authorization'));
    if (!creds) {
      inv.reject(407, { headers: auth.challenges().map((v) => ({ name: 'Proxy-Authenticate', value: v })) });
      return;
    }
    if (!auth.verify(inv.request, creds, { password: 'pw-1' }).ok || creds.username !== 'onair') {
      // A carrier challenges again when the answer is wrong.
      inv.reject(407, { headers: auth.challenges().map((v) => ({ name: 'Proxy-Authenticate', value: v })) });
      return;
    }
    verdicts++;
    answer(inv, cust);
  });
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1', username: 'onair', password: 'pw-1' }] });
  const r = recorder(t);
  const call = dial(d, r);
  await until(() => r.done() || r.answered !== undefined, 'answer');
  t.ok(r.answered, `answered after the challenge (${r.log.join(', ')})`);
  t.equal(c.invites.length, 2, 'the INVITE, then the authenticated INVITE');
  t.equal(verdicts, 1, 'the credentials verified');
  call.hangup();

  // Wrong password: the challenge cannot be met; that is the trunk's fault (trunk_error), not the customer's.
  const bad = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1', username: 'onair', password: 'wrong' }] });
  const r2 = recorder(t);
  const before = c.invites.length;
  dial(bad, r2);
  await until(() => r2.done(), 'failure');
  t.same(r2.failure, { result: 'trunk_error', status: 407, trunk: 'a' }, 'credentials the carrier keeps refusing: a trunk error');
  t.equal(c.invites.length - before, 3, 'the INVITE and two authenticated retries, then the UA gives up');
  t.ok(idle(bad));
});

t.test('limits: maxConcurrent refuses at once with trunk_error; the slot is reusable after the call', async (t) => {
  const c = await customer(t, (inv) => { inv.progress(180); });
  const { ua } = await stack(t);
  const counted: string[] = [];
  const d = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1', maxConcurrent: 1 }] }, { outboundCall: (tr, res) => counted.push(`${tr} ${res}`) });
  const first = recorder(t);
  const call = dial(d, first);
  const second = recorder(t);
  dial(d, second);
  await until(() => second.done(), 'refusal');
  t.same(second.failure, { result: 'trunk_error', status: null, trunk: null });
  t.equal(c.invites.length <= 1, true, 'no INVITE for the refused call');
  call.hangup();
  await until(() => idle(d), 'slot back');
  const third = recorder(t);
  const again = dial(d, third);
  await until(() => c.invites.length === 2, 'the third call goes out');
  again.hangup();
  await until(() => third.done() && idle(d), 'done');
  t.same(counted.slice(0, 2), [' trunk_error', 'a cancelled']);
});

t.test('refused numbers and no trunks: failed at once, never inside dial(), nothing sent', async (t) => {
  const c = await customer(t, answer);
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [{ id: 'a', address: `127.0.0.1:${c.port}`, callerId: '1' }] });
  for (const number of ['anonymous', '', '*100#', '12', '138\r\nX: y']) {
    const r = recorder(t);
    dial(d, r, number);
    await until(() => r.done(), `refusal of ${JSON.stringify(number)}`);
    t.same(r.failure, { result: 'invalid_number', status: null, trunk: null }, JSON.stringify(number));
  }
  t.equal(c.invites.length, 0);
  const none = dialerOn(ua, { trunks: [] });
  const r = recorder(t);
  dial(none, r);
  await until(() => r.done(), 'no trunk');
  t.same(r.failure, { result: 'trunk_error', status: null, trunk: null });
});

t.test('a trunk whose transport has no socket fails over to the next; handlers that throw do not break the dialer', async (t) => {
  const b = await customer(t, answer);
  const { ua } = await stack(t);
  const d = dialerOn(ua, { trunks: [
    { id: 'tcp', address: '127.0.0.1:9', transport: 'tcp', callerId: '1' },
    { id: 'b', address: `127.0.0.1:${b.port}`, callerId: '1' },
  ] });
  let answered = 0;
  const call = d.dial({ number: '13800138000', callerId: null, sdp: SDP, callId: 'c-2' }, {
    onProgress: () => { throw new Error('handler bug'); },
    onAnswered: () => { answered++; throw new Error('handler bug'); },
    onFailed: () => { t.fail('not failed'); },
  });
  await until(() => answered === 1, 'answered on b');
  call.hangup();
  t.ok(idle(d));
});
