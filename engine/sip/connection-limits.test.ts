/**
 * Stream connection limits with real sockets (issue 11): a per-source cap at accept, and a deadline
 * for the first complete message (and the TLS handshake), so that a slowloris peer — thousands of
 * connections, a byte now and then, never a whole message — cannot hold the engine's sockets.
 */
import t from 'tap';
import net from 'node:net';
import { TransportLayer, UserAgent, type ConnectionRefusal } from './index.ts';
import { selfSignedCert } from './testing/tls-cert.ts';

const OPTIONS = (port: number, callId: string): string =>
  `OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${port};branch=z9hG4bK${callId}\r\nMax-Forwards: 70\r\n` +
  `From: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;

async function server(t: { teardown(fn: () => unknown): void }, transport: 'TCP' | 'TLS', limits: ConstructorParameters<typeof TransportLayer>[0], tlsFiles?: { cert: string; key: string }) {
  const layer = new TransportLayer(limits);
  const end = await layer.listen({ transport, address: '127.0.0.1', port: 0, tls: tlsFiles });
  const ua = new UserAgent(layer);
  const refused: ConnectionRefusal[] = [];
  layer.observe({ connectionRefused: (reason) => refused.push(reason) });
  t.teardown(async () => { ua.close(); await layer.close(); });
  return { layer, end, refused };
}

function connect(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}


/** Wait for `cond`, at most ~10 s (a guard so that a broken limit fails instead of hanging). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
}

t.test('2,000 connections from one source: at most maxConnectionsPerSource are held; another source is served', async (t) => {
  const s = await server(t, 'TCP', {});
  const sockets: net.Socket[] = [];
  t.teardown(() => { for (const c of sockets) c.destroy(); });
  let closedByServer = 0;
  for (let i = 0; i < 2000; i++) {
    const c = await connect(s.end.port, '127.0.0.2');
    c.on('error', () => {});
    c.on('close', () => { closedByServer++; });
    sockets.push(c);
  }
  await until(() => closedByServer >= 1900);
  t.equal(s.layer.connectionCount, 100, 'the default cap of 100 held, the rest closed at accept');
  t.equal(s.refused.length, 1900, 'each refusal reported');
  t.ok(s.refused.every((r) => r === 'per_source_limit'));
  const other = await connect(s.end.port, '127.0.0.3');
  t.teardown(() => other.destroy());
  const answer = new Promise<string>((r) => other.once('data', (d: Buffer) => r(d.toString('latin1'))));
  other.write(OPTIONS(other.localPort!, 'other'));
  t.match(await answer, /^SIP\/2\.0 200/, 'a connection from another source is served');
  for (const c of sockets) c.destroy();
  await until(() => s.layer.connectionCount <= 1);
  const again = await connect(s.end.port, '127.0.0.2');
  t.teardown(() => again.destroy());
  const reply = new Promise<string>((r) => again.once('data', (d: Buffer) => r(d.toString('latin1'))));
  again.write(OPTIONS(again.localPort!, 'again'));
  t.match(await reply, /^SIP\/2\.0 200/, 'once its connections closed, the source is served again');
});

t.test('slowloris: a connection trickling a message that never completes is closed; one that completed stays', async (t) => {
  const s = await server(t, 'TCP', { limits: { firstMessageTimeoutMs: 300 } });
  const done = await connect(s.end.port, '127.0.0.1');
  t.teardown(() => done.destroy());
  const answer = new Promise<string>((r) => done.once('data', (d: Buffer) => r(d.toString('latin1'))));
  done.write(OPTIONS(done.localPort!, 'complete'));
  t.match(await answer, /^SIP\/2\.0 200/);
  const slow = await connect(s.end.port, '127.0.0.1');
  slow.on('error', () => {});
  const text = OPTIONS(slow.localPort!, 'never');
  let i = 0;
  // A byte every 20 ms: the socket is never idle, the message never complete.
  const trickle = setInterval(() => { if (!slow.destroyed && i < text.length - 4) slow.write(text[i++]!); }, 20);
  t.teardown(() => { clearInterval(trickle); slow.destroy(); });
  await until(() => slow.destroyed);
  clearInterval(trickle);
  t.ok(slow.destroyed, 'the trickling connection was closed by the server');
  t.same(s.refused, ['first_message_timeout']);
  t.notOk(done.destroyed, 'the connection that completed its first message is still open');
  await until(() => s.layer.connectionCount <= 1);
  t.equal(s.layer.connectionCount, 1, 'the server holds only that one');
});

t.test('TLS: a connection that never completes its handshake is closed', async (t) => {
  const files = selfSignedCert(t);
  if (!files) return;
  const s = await server(t, 'TLS', { limits: { firstMessageTimeoutMs: 300, maxConnectionsPerSource: 2 } }, files);
  const raw = [await connect(s.end.port, '127.0.0.1'), await connect(s.end.port, '127.0.0.1'), await connect(s.end.port, '127.0.0.1')];
  for (const c of raw) c.on('error', () => {});
  t.teardown(() => { for (const c of raw) c.destroy(); });
  await until(() => raw.every((c) => c.destroyed));
  t.ok(raw.every((c) => c.destroyed), 'all three closed: one at accept (limit 2, counted before the handshake), two by the handshake deadline');
  t.same(s.refused.sort(), ['first_message_timeout', 'first_message_timeout', 'per_source_limit'],
    'the third refused by the per-source cap, two by the handshake deadline');
});
