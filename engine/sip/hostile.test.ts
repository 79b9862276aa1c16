/**
 * Issue 11, "no packet takes onair down": hostile datagrams against a real TransportLayer and
 * UserAgent on loopback. A top Via with port 0 used to make the 200 go to port 0, where
 * `dgram.send` throws ERR_SOCKET_BAD_PORT inside the socket's 'message' handler: uncaught, the
 * process died. A throwing handler above the transport did the same.
 */
import t from 'tap';
import dgram from 'node:dgram';
import {
  TransportLayer, UserAgent, isValidSentBy, parse, type Endpoint, type SipDropReason, type SipResponse,
} from './index.ts';

/** A raw UDP peer on loopback that collects the responses it gets. */
async function rawPeer(t: { teardown(fn: () => unknown): void }) {
  const sock = dgram.createSocket('udp4');
  const replies: SipResponse[] = [];
  sock.on('message', (b) => {
    const r = parse(b);
    if (r.ok && r.message.kind === 'response') replies.push(r.message);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  return {
    port: sock.address().port,
    replies,
    send: (text: string, port: number): void => { sock.send(Buffer.from(text, 'latin1'), port, '127.0.0.1'); },
    /** Wait until a reply with this Call-ID came (or 2 s passed). */
    async reply(callId: string): Promise<SipResponse | undefined> {
      for (let i = 0; i < 200; i++) {
        const r = replies.find((m) => m.headers.callId === callId);
        if (r) return r;
        await new Promise((res) => setTimeout(res, 10));
      }
      return undefined;
    },
  };
}

async function server(t: { teardown(fn: () => unknown): void }) {
  const transport = new TransportLayer();
  const end = await transport.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const ua = new UserAgent(transport);
  const dropped: SipDropReason[] = [];
  const rejected: string[] = [];
  transport.observe({ dropped: (reason) => dropped.push(reason), rejected: (code) => rejected.push(code) });
  t.teardown(async () => { ua.close(); await transport.close(); });
  return { transport, ua, end, dropped, rejected };
}

const options = (via: string, callId: string): string =>
  `OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: ${via}\r\nMax-Forwards: 70\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@x>\r\n` +
  `Call-ID: ${callId}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`;

t.test('a request whose top Via has port 0 and no rport gets a 400 at its source; the engine keeps serving', async (t) => {
  const s = await server(t);
  const peer = await rawPeer(t);
  peer.send(options('SIP/2.0/UDP 127.0.0.1:0;branch=z9hG4bKport0', 'port-0'), s.end.port);
  const r = await peer.reply('port-0');
  t.equal(r?.status, 400, 'answered 400 (RFC 3261 §8.2: a malformed request), at the packet source');
  t.same(s.rejected, ['SIP_ERR_BAD_VIA'], 'counted as a parse reject with its own code');
  t.equal(s.ua.transactions.serverCount, 0, 'no transaction was created for it');
  peer.send(options(`SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKafter`, 'after'), s.end.port);
  t.equal((await peer.reply('after'))?.status, 200, 'the next request is served');
});

t.test('a top Via whose host is no host (bad IPv4, empty label, edge hyphen) gets a 400', async (t) => {
  const s = await server(t);
  const peer = await rawPeer(t);
  const hosts = ['300.1.1.1', 'a..b', '-a.example', '1.2.3', 'a-.b'];
  for (const [i, h] of hosts.entries()) peer.send(options(`SIP/2.0/UDP ${h}:5060;branch=z9hG4bKh${i}`, `host-${i}`), s.end.port);
  for (const [i, h] of hosts.entries()) t.equal((await peer.reply(`host-${i}`))?.status, 400, `${h} → 400`);
});

t.test('a handler above the transport that throws costs one message, not the process', async (t) => {
  const s = await server(t);
  const peer = await rawPeer(t);
  let calls = 0;
  s.ua.setDelegate({
    onRequest: (req) => {
      calls++;
      if (req.request.headers.callId === 'boom') throw new Error('a bug in the layer above');
      req.respond(200);
    },
  });
  peer.send(options(`SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKboom`, 'boom'), s.end.port);
  peer.send(options(`SIP/2.0/UDP 127.0.0.1:${peer.port};branch=z9hG4bKfine`, 'fine'), s.end.port);
  t.equal((await peer.reply('fine'))?.status, 200, 'the next message is served');
  t.equal(calls, 2, 'both reached the delegate');
  t.same(s.dropped, ['dispatch_error'], 'the throwing one is counted as dropped: dispatch_error');
});

t.test('send() to an endpoint no socket can take returns and reports; it never throws', async (t) => {
  const s = await server(t);
  const failed: string[] = [];
  s.transport.observe({ sendFailed: (_to, err) => failed.push(err.message.slice(0, err.message.indexOf(':'))) });
  const bad: Endpoint[] = [
    { transport: 'UDP', address: '127.0.0.1', port: 0 },
    { transport: 'UDP', address: '127.0.0.1', port: 65536 },
    { transport: 'UDP', address: '127.0.0.1', port: 1.5 },
    { transport: 'UDP', address: '', port: 5060 },
    { transport: 'TCP', address: '127.0.0.1', port: 0 },
  ];
  for (const to of bad) t.equal(s.transport.sendBytes(Buffer.from('x'), to), false, `${to.transport} "${to.address}":${to.port} → false`);
  t.same(failed, bad.map(() => 'SIP_ERR_BAD_DESTINATION'), 'each reported to sendFailed with its code');
  t.same(s.dropped, bad.map(() => 'bad_destination'), 'each counted as dropped: bad_destination');
  t.equal(s.transport.connectionCount, 0, 'no connection attempted');
});

t.test('isValidSentBy: ports 1..65535, hostnames, IPv4 and bracketed IPv6', async (t) => {
  for (const [host, port] of [['127.0.0.1', 5060], ['pc33.atlanta.com', undefined], ['a-b.c1.example.', 1], ['[2001:db8::1]', 65535], ['x', 2], ['8x8.example', 5060]] as const) {
    t.ok(isValidSentBy({ host, port }), `${host}:${String(port)} is valid`);
  }
  for (const [host, port] of [['127.0.0.1', 0], ['1.2.3.256', 5060], ['1.2.3.4.5', 5060], ['01.2.3.4', 5060], ['a_b.com', 5060], ['a-.com', 5060], ['', 5060], ['1.2.3', 5060]] as const) {
    t.notOk(isValidSentBy({ host, port }), `${host}:${String(port)} is not`);
  }
});

t.test('on loopback: a response goes to the packet source, never to a Via maddr or a received the client wrote', async (t) => {
  const s = await server(t);
  const peer = await rawPeer(t);
  // Decoys on the addresses the Via names, on the peer's own port: whatever reaches them went where
  // the Via told, not where the packet came from.
  const decoys: string[] = [];
  for (const address of ['127.0.0.4', '127.0.0.5']) {
    const d = dgram.createSocket('udp4');
    d.on('message', (b) => decoys.push(`${address}: ${b.toString('latin1', 0, 20)}`));
    await new Promise<void>((r) => d.bind(peer.port, address, () => r()));
    t.teardown(() => d.close());
  }
  peer.send(options(`SIP/2.0/UDP 127.0.0.1:${peer.port};maddr=127.0.0.4;branch=z9hG4bKmaddr`, 'maddr'), s.end.port);
  peer.send(options(`SIP/2.0/UDP 127.0.0.1:${peer.port};received=127.0.0.5;branch=z9hG4bKrecv`, 'received'), s.end.port);
  t.equal((await peer.reply('maddr'))?.status, 200, 'maddr ignored: the 200 came back to the source');
  const r = await peer.reply('received');
  t.equal(r?.status, 200, 'a received the client wrote is ignored: the 200 came back to the source');
  t.match(r?.headers.get('Via') ?? '', /received=127\.0\.0\.1/, 'and the echoed Via carries the real source');
  await new Promise((res) => setTimeout(res, 50));
  t.same(decoys, [], 'nothing reached the addresses the Via named');
});
