/**
 * Transports on real sockets: UDP and TCP over IPv4 and IPv6, TLS with a throw-away certificate,
 * stateless 400 for garbage, CRLF keep-alive pong, the per-connection buffer limit, response routing
 * back over the request's connection, and rport/received.
 */
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { TransportLayer, UserAgent, parse, type SipResponse, type TransportName } from './index.ts';
import { selfSignedCert } from './testing/tls-cert.ts';

async function pair(transport: TransportName, address: string, tls?: { cert: string; key: string }) {
  const server = new TransportLayer();
  const sEnd = await server.listen({ transport, address, port: 0, tls });
  const serverUa = new UserAgent(server);
  const client = new TransportLayer();
  await client.listen({ transport, address, port: 0, tls });
  if (tls) client.setTlsClientOptions({ rejectUnauthorized: false });
  const clientUa = new UserAgent(client);
  return {
    server, client, serverUa, clientUa, sEnd,
    close: async () => {
      serverUa.close(); clientUa.close();
      await server.close(); await client.close();
    },
  };
}

const hostOf = (a: string): string => (a.includes(':') ? `[${a}]` : a);

for (const [transport, address] of [['UDP', '127.0.0.1'], ['UDP', '::1'], ['TCP', '127.0.0.1'], ['TCP', '::1']] as const) {
  t.test(`OPTIONS over ${transport} ${address}`, async (t) => {
    const p = await pair(transport, address);
    t.teardown(p.close);
    const r = await p.clientUa.request({ method: 'OPTIONS', target: `sip:x@${hostOf(address)}:${p.sEnd.port};transport=${transport.toLowerCase()}` });
    t.equal((r as SipResponse).status, 200, 'answered 200');
    t.match((r as SipResponse).headers.get('Allow') ?? '', /INVITE/, 'with Allow');
    if (transport === 'TCP') {
      t.equal(p.client.connectionCount, 1, 'one client connection');
      const again = await p.clientUa.request({ method: 'OPTIONS', target: `sip:x@${hostOf(address)}:${p.sEnd.port};transport=tcp` });
      t.equal((again as SipResponse).status, 200);
      t.equal(p.client.connectionCount, 1, 'the connection is reused');
    }
  });
}

t.test('OPTIONS over TLS with a self-signed certificate', async (t) => {
  const files = selfSignedCert(t);
  if (!files) return;
  const p = await pair('TLS', '127.0.0.1', files);
  t.teardown(p.close);
  const r = await p.clientUa.request({ method: 'OPTIONS', target: `sips:x@127.0.0.1:${p.sEnd.port}` });
  t.equal((r as SipResponse).status, 200, 'answered 200 over TLS');
  t.equal(p.server.connectionCount, 1, 'one TLS connection at the server');
});

t.test('UDP: garbage with a Via gets a stateless 400; a bad response is dropped; rport is honoured', async (t) => {
  const server = new TransportLayer();
  const end = await server.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const ua = new UserAgent(server);
  const rejected: string[] = [];
  server.observe({ rejected: (code) => rejected.push(code) });
  const sock = dgram.createSocket('udp4');
  t.teardown(async () => { sock.close(); ua.close(); await server.close(); });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  const port = (sock.address() as net.AddressInfo).port;
  const replies: SipResponse[] = [];
  sock.on('message', (b) => { const r = parse(b); if (r.ok && r.message.kind === 'response') replies.push(r.message); });
  // Sent-by claims another port; rport asks for the source port: the answer must come back here.
  const bad = `INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKbad1\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: bad-1\r\nCSeq: 1 INVITE\r\nContent-Length: 5\r\n\r\n`;
  sock.send(Buffer.from(bad), end.port, '127.0.0.1');
  sock.send(Buffer.from('SIP/2.0 999999 Nope\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n'), end.port, '127.0.0.1');
  const good = `OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKgood1\r\nMax-Forwards: 70\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\nCall-ID: good-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;
  sock.send(Buffer.from(good), end.port, '127.0.0.1');
  for (let i = 0; i < 100 && replies.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
  const byCallId = new Map(replies.map((r) => [r.headers.callId, r]));
  t.equal(byCallId.get('bad-1')?.status, 400, 'short body over UDP → 400, sent to the rport source');
  t.equal(byCallId.get('good-1')?.status, 200, 'valid OPTIONS → 200 at the source port (rport)');
  t.match(byCallId.get('good-1')?.headers.get('Via') ?? '', new RegExp(`rport=${port}`), 'rport filled in');
  t.ok(rejected.length >= 2, 'both bad messages reported to observers');
});

t.test('TCP: CRLF keep-alive gets a pong; a connection over its buffer limit is closed', async (t) => {
  const server = new TransportLayer({ limits: { maxConnectionBuffer: 4096, maxMessageBytes: 4096 } });
  const end = await server.listen({ transport: 'TCP', address: '127.0.0.1', port: 0 });
  const ua = new UserAgent(server);
  t.teardown(async () => { ua.close(); await server.close(); });
  const c = net.connect(end.port, '127.0.0.1');
  await new Promise((r) => c.once('connect', r));
  const pong = new Promise<string>((resolve) => c.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
  c.write('\r\n\r\n');
  t.equal(await pong, '\r\n', 'double-CRLF ping answered with CRLF pong (RFC 5626)');
  const closed = new Promise<void>((resolve) => c.on('close', () => resolve()));
  c.on('error', () => {});
  c.resume();
  // Headers that never end: the framer's buffer limit must end the connection.
  c.write('OPTIONS sip:a@127.0.0.1 SIP/2.0\r\n');
  for (let i = 0; i < 20; i++) c.write(`X-Filler-${i}: ${'x'.repeat(400)}\r\n`);
  await closed;
  t.pass('the server closed the connection');
  for (let i = 0; i < 50 && server.connectionCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(server.connectionCount, 0, 'no connection left');
});
