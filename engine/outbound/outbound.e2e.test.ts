/**
 * The dialer against real sipp customers behind outbound trunks on loopback (scenario files in
 * engine/testdata/sipp/, control ports on loopback too): answered with BYE both ways, busy, no
 * answer (sipp sees the CANCEL), 503 failover, a 407 digest challenge, and maxConcurrent. A sipp
 * run passes only when its scenario saw what it checks (X-Onair-Call-ID, SDP, Proxy-Authorization,
 * CANCEL), so each test also asserts sipp's exit code and successful-call count.
 */
import t from 'tap';
import dgram from 'node:dgram';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { UserAgent } from '../sip/index.ts';
import { configSchema, type ConfigInput } from '../config/index.ts';
import { monotonicClock } from '../clock/index.ts';
import { freeUdpPort, requirePeer, startSipp, type SippRun } from '../testing/index.ts';
import { OutboundDialer, type DialFailure } from './index.ts';
import { OFFER, loopbackUa, silent, sleep, until, type Test } from './test-helpers.ts';

const SCENARIOS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'testdata', 'sipp');
const SDP = OFFER;

/** True once something is bound to UDP 127.0.0.1:`port` (our own bind is refused). */
function bound(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => { s.close(); resolve(true); });
    s.bind(port, '127.0.0.1', () => { s.close(() => resolve(false)); });
  });
}

/** A sipp customer on a free loopback port (its control port on loopback too), ready to receive. */
async function sippCustomer(t: Test, scenario: string, calls: number, extra: string[] = []): Promise<{ port: number; run: SippRun }> {
  const port = await freeUdpPort();
  const control = await freeUdpPort();
  const run = startSipp({
    scenario: path.join(SCENARIOS, scenario), localIp: '127.0.0.1', localPort: port, calls, timeoutSec: 30,
    args: ['-cp', String(control), ...extra],
  });
  t.teardown(() => run.kill());
  for (let i = 0; i < 500 && !(await bound(port)); i++) await sleep(10);
  return { port, run };
}

async function engineUa(t: Test): Promise<UserAgent> {
  return (await loopbackUa(t)).ua;
}

function dialerOn(ua: UserAgent, outbound: NonNullable<ConfigInput['outbound']>): OutboundDialer {
  return new OutboundDialer({ ua, config: configSchema.parse({ outbound }).outbound, clock: monotonicClock, log: silent });
}

interface Outcome {
  answered: { sdp: Buffer | null; trunk: string } | undefined;
  failure: DialFailure | undefined;
  ended: string | undefined;
  progress: number[];
}

function dialOnce(d: OutboundDialer, ringTimeoutMs?: number): { o: Outcome; hangup(): void } {
  const o: Outcome = { answered: undefined, failure: undefined, ended: undefined, progress: [] };
  const call = d.dial({ number: '13800138000', callerId: '4008001234', sdp: SDP, callId: 'e2e-1', ...(ringTimeoutMs ? { ringTimeoutMs } : {}) }, {
    onProgress: (s) => { o.progress.push(s); },
    onAnswered: (a) => { o.answered = { sdp: a.sdp, trunk: a.trunk }; },
    onFailed: (f) => { o.failure = f; },
    onEnded: (by) => { o.ended = by; },
  });
  return { o, hangup: () => call.hangup() };
}

const idle = (d: OutboundDialer): boolean => d.utilisation().every((u) => u.active === 0);
const trunk = (id: string, port: number, more: Record<string, unknown> = {}): Record<string, unknown> => ({ id, address: `127.0.0.1:${port}`, callerId: '4008001234', ...more });

t.test('answered: SDP back, dialog up; we hang up the first call, the customer hangs up the second', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const c = await sippCustomer(t, 'customer-answer.xml', 2, ['-d', '200']);
  const ua = await engineUa(t);
  const d = dialerOn(ua, { trunks: [trunk('carrier', c.port)] as never });

  const first = dialOnce(d);
  await until(() => first.o.answered !== undefined || first.o.failure !== undefined, 'first answer');
  t.equal(first.o.answered?.trunk, 'carrier', `answered (${JSON.stringify(first.o.failure)})`);
  t.match(first.o.answered?.sdp?.toString() ?? '', /m=audio 49170 RTP\/AVP 0/, "the customer's SDP");
  t.same(first.o.progress, [180], 'ringing reported');
  t.equal(ua.dialogCount, 1, 'dialog established');
  first.hangup();
  await until(() => first.o.ended !== undefined, 'ended');
  t.equal(first.o.ended, 'local');

  const second = dialOnce(d);
  await until(() => second.o.ended !== undefined || second.o.failure !== undefined, 'customer BYE');
  t.equal(second.o.ended, 'remote', 'the customer hung up (BYE from sipp)');
  const r = await c.run.done;
  t.equal(r.code, 0, `sipp exit (stderr: ${r.stderr.slice(0, 300)})`);
  t.equal(r.successful, 2, 'both calls passed the scenario (X-Onair-Call-ID and SDP offer checked)');
  t.ok(idle(d));
  t.equal(ua.dialogCount, 0);
});

t.test('486 busy', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const c = await sippCustomer(t, 'customer-busy.xml', 1);
  const ua = await engineUa(t);
  const d = dialerOn(ua, { trunks: [trunk('carrier', c.port)] as never });
  const call = dialOnce(d);
  await until(() => call.o.failure !== undefined, 'failure');
  t.same(call.o.failure, { result: 'busy', status: 486, trunk: 'carrier' });
  const r = await c.run.done;
  t.equal(r.successful, 1, `sipp saw the ACK (stderr: ${r.stderr.slice(0, 300)})`);
  t.ok(idle(d));
});

t.test('no answer: the ring timeout sends CANCEL, sipp sees it, no_answer', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const c = await sippCustomer(t, 'customer-noanswer.xml', 1);
  const ua = await engineUa(t);
  const d = dialerOn(ua, { trunks: [trunk('carrier', c.port)] as never });
  const call = dialOnce(d, 500);
  await until(() => call.o.failure !== undefined, 'failure');
  t.same(call.o.failure, { result: 'no_answer', status: 487, trunk: 'carrier' });
  const r = await c.run.done;
  t.equal(r.code, 0, `sipp exit (stderr: ${r.stderr.slice(0, 300)})`);
  t.equal(r.successful, 1, 'sipp received the CANCEL and the ACK of its 487');
  t.ok(idle(d));
});

t.test('503 from the first trunk: failover to the second, which answers', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const a = await sippCustomer(t, 'customer-503.xml', 1);
  const b = await sippCustomer(t, 'customer-answer.xml', 1);
  const ua = await engineUa(t);
  const d = dialerOn(ua, { trunks: [trunk('a', a.port), trunk('b', b.port)] as never });
  const call = dialOnce(d);
  await until(() => call.o.answered !== undefined || call.o.failure !== undefined, 'answer');
  t.equal(call.o.answered?.trunk, 'b', `answered on b (${JSON.stringify(call.o.failure)})`);
  call.hangup();
  const [ra, rb] = await Promise.all([a.run.done, b.run.done]);
  t.equal(ra.successful, 1, 'trunk a answered 503 and got its ACK');
  t.equal(rb.successful, 1, `trunk b's customer talked and got our BYE (stderr: ${rb.stderr.slice(0, 300)})`);
  t.ok(idle(d));
});

t.test('digest: 407, then the INVITE with Proxy-Authorization is accepted', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const c = await sippCustomer(t, 'customer-auth.xml', 1);
  const ua = await engineUa(t);
  const d = dialerOn(ua, { trunks: [trunk('carrier', c.port, { username: 'onair', password: 'secret' })] as never });
  const call = dialOnce(d);
  await until(() => call.o.answered !== undefined || call.o.failure !== undefined, 'answer');
  t.ok(call.o.answered, `answered after the challenge (${JSON.stringify(call.o.failure)})`);
  call.hangup();
  const r = await c.run.done;
  t.equal(r.code, 0, `sipp exit (stderr: ${r.stderr.slice(0, 300)})`);
  t.equal(r.successful, 1, 'sipp found Proxy-Authorization with user, realm, nonce and response');
  t.ok(idle(d));
});

t.test('maxConcurrent: a second call while one rings is refused at once; the slot comes back', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const c = await sippCustomer(t, 'customer-noanswer.xml', 1);
  const ua = await engineUa(t);
  const d = dialerOn(ua, { trunks: [trunk('carrier', c.port, { maxConcurrent: 1 })] as never });
  const first = dialOnce(d);
  await until(() => first.o.progress.includes(180), 'ringing');
  const second = dialOnce(d);
  await until(() => second.o.failure !== undefined, 'refusal');
  t.same(second.o.failure, { result: 'trunk_error', status: null, trunk: null });
  t.same(d.utilisation(), [{ trunk: 'carrier', active: 1, maxConcurrent: 1 }]);
  first.hangup();
  await until(() => first.o.failure !== undefined, 'cancelled');
  t.same(first.o.failure, { result: 'cancelled', status: null, trunk: 'carrier' });
  const r = await c.run.done;
  t.equal(r.successful, 1, 'sipp saw our CANCEL');
  await until(() => idle(d), 'slot back');
  t.pass('slot back');
});
