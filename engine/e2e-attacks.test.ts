/**
 * Issue 11, "no packet takes onair down": one test per attack, each against a real engine process
 * (`onair --config FILE`) on loopback, each ending with the engine still alive (the process has
 * not exited, `/healthz` answers and an OPTIONS gets 200). The attacker writes its bytes by hand
 * (engine/testing/attack.ts) from addresses of 127.0.0.0/8: 127.0.0.1 is the demo trunk "local"
 * (and where the sipp agents register from), every other 127.0.0.x is a stranger.
 */
import t, { type Test as TapTest } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { startSippAgents } from './testing/engine-rig.ts';
import { spawnEngine, type EngineProcess, type EngineProcessOptions } from './testing/engine-process.ts';
import {
  RawUdp, dialogHeaders, headerOf, headersOf, probeAlive, rawRequest, sdpOffer, slowConnections, statusOf, token,
} from './testing/attack.ts';
import { digestResponse } from './sip/index.ts';

type Test = TapTest;

/** An engine process of its own for one test, killed and its folder removed however the test ends. */
async function engineFor(t: Test, o: Omit<EngineProcessOptions, 'dir'> = {}): Promise<EngineProcess> {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-attack-'));
  const e = await spawnEngine({ dir, ...o });
  t.teardown(async () => {
    await e.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  return e;
}

/**
 * Give the engine `ms` to act on what it was sent (an answer to port 0 or an exception after a
 * timer has nowhere visible to land), returning early if the process exits.
 */
async function settle(e: EngineProcess, ms = 1500): Promise<void> {
  if (e.child.exitCode !== null || e.child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    e.child.once('exit', () => { clearTimeout(timer); resolve(); });
  });
}

async function assertAlive(t: Test, e: EngineProcess, after: string): Promise<void> {
  const l = await probeAlive(e);
  t.ok(l.alive, `engine alive after ${after} (${l.detail})${l.alive ? '' : `\n--- engine output ---\n${e.output().slice(-3000)}`}`);
}

/** An INVITE from `sock` with an SDP offer; `uri` and `via` as given (the parts under attack). */
function invite(sock: RawUdp, o: { uri: string; fromUser?: string; via?: string; callId?: string; toUri?: string }): Buffer {
  const via = o.via ?? `SIP/2.0/UDP ${sock.address}:${sock.port};rport`;
  return rawRequest({
    method: 'INVITE', uri: o.uri,
    headers: [
      ...dialogHeaders({
        via, fromUser: o.fromUser ?? '+4930555000001', fromHost: sock.address, toUri: o.toUri ?? o.uri,
        method: 'INVITE', ...(o.callId ? { callId: o.callId } : {}),
      }),
      `Contact: <sip:${o.fromUser ?? 'attacker'}@${sock.address}:${sock.port}>`,
      'Content-Type: application/sdp',
    ],
    body: sdpOffer(sock.address),
  });
}

t.test('a request whose top Via has port 0 and no rport (PROTOS c07 case 0000452 style) leaves the engine alive', async (t) => {
  const e = await engineFor(t);
  const sock = await RawUdp.open('127.0.0.1');
  t.teardown(() => sock.close());
  // The Via sent-by is the source address (so no `received` is stamped) with port 0 and no
  // rport: RFC 3261 §18.2.2 sends the answer to the sent-by port, which here is no port at all.
  const via = `SIP/2.0/UDP 127.0.0.1:0;branch=${token()}`;
  await sock.send(invite(sock, { uri: `sip:100@127.0.0.1:${e.sipPort}`, via }), e.sipPort);
  await sock.send(rawRequest({
    method: 'OPTIONS', uri: `sip:127.0.0.1:${e.sipPort}`,
    headers: dialogHeaders({ via: `SIP/2.0/UDP 127.0.0.1:0;branch=${token()}`, fromUser: 'c07', fromHost: '127.0.0.1', toUri: `sip:127.0.0.1:${e.sipPort}`, method: 'OPTIONS' }),
  }), e.sipPort);
  await settle(e);
  await assertAlive(t, e, 'INVITE and OPTIONS with Via port 0');
});

t.test('INVITE sip:%zz@host (a bad %-escape in the Request-URI user) from a stranger and from the trunk leaves the engine alive', async (t) => {
  // One engine per source: a crash from the first must not hide what the second does.
  for (const address of ['127.0.0.6', '127.0.0.1']) {
    const e = await engineFor(t);
    const sock = await RawUdp.open(address);
    t.teardown(() => sock.close());
    const answers: (number | undefined)[] = [];
    for (const user of ['%zz', '%', '%4', '*6%zz3']) {
      const callId = token('c');
      await sock.send(invite(sock, { uri: `sip:${user}@127.0.0.1:${e.sipPort}`, callId }), e.sipPort);
      const h = await Promise.race([sock.finalFor(callId, 3000), settle(e, 3000).then(() => undefined)]);
      answers.push(h ? statusOf(h.text) : undefined);
      if (e.child.exitCode !== null) break;
    }
    await settle(e, 500);
    t.comment(`from ${address}: final answers ${answers.map((a) => a ?? 'none').join(', ')}`);
    await assertAlive(t, e, `bad escapes from ${address}${address === '127.0.0.1' ? ' (trunk)' : ' (no trunk)'}`);
  }
});

t.test('ten forged feature-code INVITEs (From an agent, not from its phone) change no agent status', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await engineFor(t);
  const agents = await startSippAgents({ sipPort: e.sipPort }, ['1001', '1002', '1003'], 0);
  t.teardown(agents.close);
  type AgentView = { id: string; status: string; registered: boolean };
  const statuses = async (): Promise<Record<string, string>> => {
    const page = await e.get<{ items: AgentView[] }>('/api/v1/agents');
    return Object.fromEntries(page.items.map((a) => [a.id, a.status]));
  };
  const before = await statuses();
  t.match(before, { 1001: 'available', 1002: 'available', 1003: 'available' }, 'the registered agents are available');
  // Half from a stranger, half from the trunk's address (where the phones registered from, but not
  // from their registered ports): logout and not-ready of registered agents, login and ready of
  // agents with no phone at all.
  const forged: [string, string, string][] = [
    ['127.0.0.7', '1001', '*63'], ['127.0.0.7', '1002', '*62'], ['127.0.0.7', '1003', '*63'], ['127.0.0.7', '1004', '*61'], ['127.0.0.7', '1005', '*60'],
    ['127.0.0.1', '1003', '*62'], ['127.0.0.1', '1001', '*62'], ['127.0.0.1', '1002', '*63'], ['127.0.0.1', '1006', '*61'], ['127.0.0.1', '1007', '*60'],
  ];
  const socks = new Map<string, RawUdp>();
  for (const address of ['127.0.0.7', '127.0.0.1']) socks.set(address, await RawUdp.open(address));
  t.teardown(async () => { for (const s of socks.values()) await s.close(); });
  const answers: string[] = [];
  for (const [address, ext, code] of forged) {
    const sock = socks.get(address)!;
    const callId = token('c');
    await sock.send(invite(sock, { uri: `sip:${code}@127.0.0.1:${e.sipPort}`, fromUser: ext, callId }), e.sipPort);
    const h = await sock.finalFor(callId, 5000);
    answers.push(`${code} as ${ext} from ${address}: ${h ? statusOf(h.text) : 'no answer'}`);
  }
  t.comment(answers.join('\n'));
  await assertAlive(t, e, 'forged feature codes');
  t.same(await statuses(), before, 'every agent keeps its status');
});

/** The digest challenge of a 401 (realm, nonce, qop offered). */
function challengeOf(text: string): { realm: string; nonce: string; qop: boolean } {
  const value = headerOf(text, 'WWW-Authenticate') ?? '';
  const param = (name: string): string => new RegExp(`${name}="?([^",]*)"?`).exec(value)?.[1] ?? '';
  return { realm: param('realm'), nonce: param('nonce'), qop: /qop=/.test(value) };
}

/**
 * REGISTER `ext` from `sock` with digest (qop=auth, or RFC 2069 without qop, which the
 * registrar accepts from old phones): challenge, answer, final answer. `contact` null queries the
 * bindings. Returns the final answer and the Authorization value it carried.
 */
async function register(sock: RawUdp, sipPort: number, ext: string, o: { contact: string | null; qop: boolean }): Promise<{ status: number | undefined; text: string; authorization: string }> {
  const uri = `sip:127.0.0.1:${sipPort}`;
  const callId = token('r');
  const fromTag = token('t');
  const headers = (cseq: number): string[] => [
    `Via: SIP/2.0/UDP ${sock.address}:${sock.port};rport;branch=${token()}`,
    'Max-Forwards: 70',
    `From: <sip:${ext}@127.0.0.1>;tag=${fromTag}`,
    `To: <sip:${ext}@127.0.0.1>`,
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    ...(o.contact === null ? [] : [`Contact: <${o.contact}>`, 'Expires: 600']),
  ];
  await sock.send(rawRequest({ method: 'REGISTER', uri, headers: headers(1) }), sipPort);
  const first = await sock.finalFor(callId, 5000);
  if (statusOf(first?.text ?? '') !== 401) throw new Error(`REGISTER ${ext}: expected 401, got ${first?.text.slice(0, 80)}`);
  const c = challengeOf(first!.text);
  const cnonce = token('cn');
  const response = digestResponse({
    algorithm: 'MD5', username: ext, realm: c.realm, secret: { password: `demo${ext}` }, method: 'REGISTER', uri,
    nonce: c.nonce, qop: o.qop ? 'auth' : undefined, nc: '00000001', cnonce, body: undefined,
  });
  const authorization = `Digest username="${ext}", realm="${c.realm}", nonce="${c.nonce}", uri="${uri}", response="${response}", algorithm=MD5`
    + (o.qop ? `, qop=auth, nc=00000001, cnonce="${cnonce}"` : '');
  sock.heard.length = 0;
  await sock.send(rawRequest({ method: 'REGISTER', uri, headers: [...headers(2), `Authorization: ${authorization}`] }), sipPort);
  const final = await sock.finalFor(callId, 5000);
  return { status: statusOf(final?.text ?? ''), text: final?.text ?? '', authorization };
}

t.test('a replayed REGISTER (the same Authorization from another address) is refused and the binding is unchanged', async (t) => {
  const e = await engineFor(t);
  for (const [ext, qop] of [['1004', false], ['1005', true]] as const) {
    const phone = await RawUdp.open('127.0.0.1');
    const thief = await RawUdp.open('127.0.0.2');
    t.teardown(async () => { await phone.close(); await thief.close(); });
    const label = `${ext} (${qop ? 'qop=auth' : 'RFC 2069, no qop'})`;
    const legit = await register(phone, e.sipPort, ext, { contact: `sip:${ext}@127.0.0.1:${phone.port}`, qop });
    if (!qop && legit.status !== 200) {
      // A registrar that refuses RFC 2069 answers outright leaves nothing to replay in this form.
      t.comment(`${label}: the registrar refuses it (${legit.text.split('\r\n')[0]}): nothing to replay`);
      continue;
    }
    t.equal(legit.status, 200, `${label}: the phone registers`);
    // The captured Authorization, replayed from another address with the thief's Contact.
    const callId = token('replay');
    await thief.send(rawRequest({
      method: 'REGISTER', uri: `sip:127.0.0.1:${e.sipPort}`,
      headers: [
        `Via: SIP/2.0/UDP 127.0.0.2:${thief.port};rport;branch=${token()}`, 'Max-Forwards: 70',
        `From: <sip:${ext}@127.0.0.1>;tag=${token('t')}`, `To: <sip:${ext}@127.0.0.1>`, `Call-ID: ${callId}`, 'CSeq: 2 REGISTER',
        `Contact: <sip:${ext}@127.0.0.2:${thief.port}>`, 'Expires: 600', `Authorization: ${legit.authorization}`,
      ],
    }), e.sipPort);
    const replay = await thief.finalFor(callId, 5000);
    t.not(statusOf(replay?.text ?? ''), 200, `${label}: the replay is refused (${replay?.text.split('\r\n')[0] ?? 'no answer'})`);
    const query = await register(phone, e.sipPort, ext, { contact: null, qop: true });
    t.equal(query.status, 200, `${label}: the phone can still query its bindings`);
    const contacts = headersOf(query.text, 'Contact').join(', ');
    t.match(contacts, `127.0.0.1:${phone.port}`, `${label}: the phone's binding is there`);
    t.notMatch(contacts, '127.0.0.2', `${label}: no binding to the replaying address (${contacts})`);
  }
  await assertAlive(t, e, 'replayed REGISTERs');
});

t.test('the answer to a request with maddr= or a self-written received= in its Via goes to the real source', async (t) => {
  const e = await engineFor(t);
  const real = await RawUdp.open('127.0.0.1');
  t.teardown(() => real.close());
  for (const [param, decoyAddress] of [['maddr', '127.0.0.8'], ['received', '127.0.0.9']] as const) {
    // The decoy listens on the port the Via names, at the address the Via points to.
    const decoy = await RawUdp.open(decoyAddress, real.port);
    t.teardown(() => decoy.close());
    const callId = token('c');
    await real.send(rawRequest({
      method: 'OPTIONS', uri: `sip:127.0.0.1:${e.sipPort}`,
      headers: dialogHeaders({
        via: `SIP/2.0/UDP 127.0.0.1:${real.port};${param}=${decoyAddress};branch=${token()}`, fromUser: 'reflect', fromHost: '127.0.0.1',
        toUri: `sip:127.0.0.1:${e.sipPort}`, method: 'OPTIONS', callId,
      }),
    }), e.sipPort);
    // Whichever hears the answer first: it goes to one place only.
    const first = await Promise.race([real.finalFor(callId, 5000), decoy.finalFor(callId, 5000).then((h) => h && { ...h, decoy: true })]);
    t.ok(first, `${param}: the request is answered somewhere`);
    t.notOk(first && 'decoy' in first, `${param}: the answer did not go to ${decoyAddress}`);
    t.ok(real.heard.some((h) => headerOf(h.text, 'Call-ID') === callId), `${param}: the real source got the answer`);
  }
  await assertAlive(t, e, 'maddr/received requests');
});

t.test('slowloris: 2,000 TCP connections from one source that never finish a message are not all held', async (t) => {
  const e = await engineFor(t, { tcp: true });
  const count = 2000;
  const prefix = Buffer.from(`INVITE sip:100@127.0.0.1:${e.sipTcpPort} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.11;branch=${token()}\r\nMax-Forwards: 70\r\n`, 'latin1');
  const conns = await slowConnections({ port: e.sipTcpPort!, count, localAddress: '127.0.0.11', prefix });
  t.teardown(conns.close);
  const bound = 45_000;
  const gone = (): number => conns.closedByPeer() + conns.refused();
  const end = Date.now() + bound;
  while (gone() < count * 0.9 && Date.now() < end) await new Promise((r) => setTimeout(r, 250));
  t.comment(`accepted ${conns.accepted()}, closed by the engine ${conns.closedByPeer()}, refused ${conns.refused()}`);
  t.ok(gone() >= count * 0.9, `at least 90% of ${count} half-open connections are closed or refused within ${bound / 1000} s (closed ${conns.closedByPeer()}, refused ${conns.refused()}, accepted ${conns.accepted()})`);
  await assertAlive(t, e, 'slowloris');
});

t.test('an INVITE flood from a source no trunk admits creates no callback task, CDR or outbox item', async (t) => {
  const e = await engineFor(t);
  const totals = async (): Promise<{ callbacks: number; cdrs: number; outbox: number }> => {
    const callbacks = await e.get<{ items: unknown[] }>('/api/v1/callbacks?limit=1000');
    const cdrs = await e.get<{ items: unknown[] }>('/api/v1/cdrs?limit=1000');
    const metrics = await e.get<string>('/metrics');
    let outbox = 0;
    for (const line of metrics.split('\n')) if (line.startsWith('onair_outbox_items{')) outbox += Number(line.slice(line.lastIndexOf(' ') + 1));
    return { callbacks: callbacks.items.length, cdrs: cdrs.items.length, outbox };
  };
  const before = await totals();
  const sock = await RawUdp.open('127.0.0.12');
  t.teardown(() => sock.close());
  const count = 2000;
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const callId = token('flood');
    ids.push(callId);
    const caller = `+49301${String(i).padStart(7, '0')}`;
    const bytes = invite(sock, { uri: `sip:${i % 2 ? '100' : '200'}@127.0.0.1:${e.sipPort}`, fromUser: caller, callId });
    await sock.send(bytes, e.sipPort);
    // Every other caller gives up at once: an abandoned caller is what becomes a callback task.
    if (i % 2 === 0) {
      await sock.send(rawRequest({
        method: 'CANCEL', uri: `sip:200@127.0.0.1:${e.sipPort}`,
        headers: [
          headerOf(bytes.toString('latin1'), 'Via')!.replace(/^/, 'Via: '), 'Max-Forwards: 70',
          `From: ${headerOf(bytes.toString('latin1'), 'From')!}`, `To: <sip:200@127.0.0.1:${e.sipPort}>`,
          `Call-ID: ${callId}`, 'CSeq: 1 CANCEL',
        ],
      }), e.sipPort);
    }
    // Paced in bursts of 100 so that the kernel's socket buffer, not the engine, is not what drops them.
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
  }
  // Wait for the engine to have answered (most of) the flood before counting.
  const end = Date.now() + 20_000;
  const answered = (): number => new Set(sock.heard.filter((h) => (statusOf(h.text) ?? 0) >= 200 && headerOf(h.text, 'CSeq')?.endsWith('INVITE')).map((h) => headerOf(h.text, 'Call-ID'))).size;
  while (answered() < count * 0.9 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  t.comment(`${answered()} of ${count} INVITEs got a final answer`);
  await settle(e, 1000);
  await assertAlive(t, e, 'the INVITE flood');
  t.same(await totals(), before, 'no callback task, CDR or outbox item from the flood');
});
