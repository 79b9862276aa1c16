/**
 * The registrar against real user agents: the stack's own UAC (which answers digest challenges
 * itself) over UDP and TCP, sipp with an XML scenario using `[authentication]`, and baresip with a
 * generated config directory. Each checks that the registrar reports the phone and that a request
 * sent to the binding's source endpoint reaches the phone.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TransportLayer, UserAgent } from '../sip/index.ts';
import { requirePeer, runSipp } from '../testing/index.ts';
import { startRegistrar, type RegistrarRig } from './testkit.ts';
import type { Binding } from './registrar.ts';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Resolves with the next onRegistered, or rejects after `ms`. */
function nextRegistration(r: RegistrarRig, ms: number): Promise<{ agentId: string; binding: Binding }> {
  const seen = r.registered.length;
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      const got = r.registered[seen];
      if (got) {
        clearInterval(poll);
        resolve(got);
      } else if (Date.now() - started > ms) {
        clearInterval(poll);
        reject(new Error(`no registration within ${ms} ms`));
      }
    }, 20);
  });
}

t.test('the stack as phone: UAC answers the challenge itself (UDP), then unregisters', async (t) => {
  const r = await startRegistrar();
  const phoneTransport = new TransportLayer();
  const local = await phoneTransport.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const phone = new UserAgent(phoneTransport, { contactUser: '1002', product: 'onair-test-phone' });
  t.teardown(async () => {
    phone.close();
    await phoneTransport.close();
    await r.close();
  });
  const common = { method: 'REGISTER', target: `sip:127.0.0.1:${r.udp.port}`, from: '<sip:1002@127.0.0.1>', to: '<sip:1002@127.0.0.1>', credentials: { username: '1002', password: 'demo1002' } };
  const res = await phone.request({ ...common, headers: [{ name: 'Expires', value: '300' }] });
  t.equal(typeof res === 'string' ? res : res.status, 200);
  t.equal(r.registrar.stats.challenged, 1, 'one challenge, answered by the UAC');
  const b = r.registrar.bindingFor('1002');
  t.same(b?.source, { transport: 'UDP', address: '127.0.0.1', port: local.port });
  t.equal(r.registered[0]?.agentId, 'a1002');

  const bye = await phone.request({ ...common, headers: [{ name: 'Expires', value: '0' }] });
  t.equal(typeof bye === 'string' ? bye : bye.status, 200);
  t.same(r.unregistered, [{ agentId: 'a1002', reason: 'removed' }]);
});

t.test('over TCP the binding keeps the connection, and requests to the agent reuse it', async (t) => {
  const r = await startRegistrar();
  const phoneTransport = new TransportLayer();
  await phoneTransport.listen({ transport: 'TCP', address: '127.0.0.1', port: 0 });
  const phone = new UserAgent(phoneTransport, { contactUser: '1003' });
  let optionsSeen = 0;
  phone.setDelegate({
    onRequest: (req) => {
      optionsSeen++;
      req.respond(200);
    },
  });
  t.teardown(async () => {
    phone.close();
    await phoneTransport.close();
    await r.close();
  });
  const res = await phone.request({
    method: 'REGISTER', target: `sip:127.0.0.1:${r.tcp.port};transport=tcp`,
    from: '<sip:1003@127.0.0.1>', to: '<sip:1003@127.0.0.1>', credentials: { username: '1003', password: 'demo1003' },
  });
  t.equal(typeof res === 'string' ? res : res.status, 200);
  const b = r.registrar.bindingFor('1003');
  t.equal(b?.source.transport, 'TCP');
  t.type(b?.source.connectionId, 'number', 'connection id remembered');
  // What the calls layer does for an offer: send to the binding's URI via its source endpoint.
  const ping = await r.ua.request({ method: 'OPTIONS', target: b!.uri, destination: b!.source });
  t.equal(typeof ping === 'string' ? ping : ping.status, 200, 'the phone answers on the registered connection');
  t.equal(optionsSeen, 1);
});

t.test('sipp registers with digest ([authentication]) and unregisters', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const r = await startRegistrar();
  t.teardown(() => r.close());
  const res = await runSipp({
    scenario: path.join(here, 'testdata/register-digest.xml'),
    target: `127.0.0.1:${r.udp.port}`, calls: 1, timeoutSec: 15,
    args: ['-s', '1001', '-au', '1001', '-ap', 'demo1001'],
  });
  t.equal(res.code, 0, `sipp exit code (stderr: ${res.stderr.slice(0, 400)})`);
  t.equal(res.successful, 1);
  t.equal(res.failed, 0);
  t.equal(r.registered.length, 1, 'onRegistered');
  t.equal(r.registered[0]?.agentId, 'a1001');
  t.equal(r.registered[0]?.binding.userAgent, 'sipp');
  t.same(r.unregistered, [{ agentId: 'a1001', reason: 'removed' }], 'unregistered by Expires: 0');
  t.equal(r.registrar.stats.challenged, 2);
  t.equal(r.registrar.stats.authFailures, 0);
});

t.test('sipp with a wrong password is refused (403) and never registered', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const r = await startRegistrar();
  t.teardown(() => r.close());
  const res = await runSipp({
    scenario: path.join(here, 'testdata/register-digest.xml'),
    target: `127.0.0.1:${r.udp.port}`, calls: 1, timeoutSec: 10,
    args: ['-s', '1001', '-au', '1001', '-ap', 'wrong'],
  });
  t.equal(res.failed, 1, 'the scenario fails at the expected 200');
  t.equal(r.registered.length, 0);
  t.equal(r.registrar.stats.authFailures, 1);
});

t.test('baresip registers with digest, is reachable at its binding, unregisters on exit', async (t) => {
  if (!requirePeer(t, 'baresip')) return;
  const r = await startRegistrar();
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-baresip-'));
  // No audio device: only the G.711 codec and the accounts loader; SIP on loopback, any port.
  writeFileSync(path.join(dir, 'config'), [
    'poll_method\t\tepoll',
    'sip_listen\t\t127.0.0.1:0',
    'module_path\t\t/usr/lib/baresip/modules',
    'module\t\t\tg711.so',
    'module_app\t\taccount.so',
    'audio_player\t\tnone',
    'audio_source\t\tnone',
    '',
  ].join('\n'));
  writeFileSync(path.join(dir, 'accounts'), `<sip:1001@127.0.0.1:${r.udp.port};transport=udp>;auth_pass=demo1001;regint=60\n`);
  const child = spawn('baresip', ['-f', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { if (output.length < 20_000) output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { if (output.length < 20_000) output += d.toString(); });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
    await r.close();
  });

  const { agentId, binding } = await nextRegistration(r, 10_000).catch((err: Error) => {
    throw new Error(`${err.message}; baresip said:\n${output}`);
  });
  t.equal(agentId, 'a1001');
  t.match(binding.userAgent ?? '', /baresip/);
  t.equal(binding.source.address, '127.0.0.1');
  t.equal(binding.source.port, binding.uri.port, 'baresip contact and source agree on loopback');
  t.equal(r.registrar.remaining(binding), 60, 'regint=60 granted');
  t.equal(r.registrar.stats.authFailures, 0);

  const ping = await r.ua.request({ method: 'OPTIONS', target: binding.uri, destination: binding.source });
  t.equal(typeof ping === 'string' ? ping : ping.status, 200, 'baresip answers at the binding');

  child.kill('SIGTERM');
  await exited;
  // baresip unregisters as it quits; allow the datagram a moment to arrive.
  for (let i = 0; i < 50 && r.unregistered.length === 0; i++) await new Promise((res) => setTimeout(res, 20));
  t.same(r.unregistered, [{ agentId: 'a1001', reason: 'removed' }], 'unregistered on exit');
});
