/**
 * `npm run bench -- sip-tx-memory [count] [--phases nist,ist,ist-2xx]`: what one answered server transaction keeps alive while
 * it waits out its RFC 3261 §17.2 timers (issue 11, issue 13 "Memory at the peak").
 *
 * A real {@link TransactionLayer} on a real {@link TransportLayer} listening on 127.0.0.1 (UDP),
 * fed by a plain client socket on loopback. Three phases, `count` requests each (default 20,000):
 *
 * 1. `nist`: OPTIONS answered 200 at once: non-INVITE server transactions in Completed (timer J,
 *    32 s);
 * 2. `ist`: INVITEs (with an SDP body) answered 486 at once, never ACKed: INVITE server
 *    transactions in Completed (timer G resending the 486, timer H 32 s);
 * 3. `ist-2xx`: INVITEs answered 200 at once: INVITE server transactions in Accepted (timer L,
 *    32 s, RFC 6026), as every answered call leaves one (the 2xx retransmission until the ACK is
 *    the UA core's, not measured here).
 *
 * After each phase, once every request has its transaction and every transaction its final
 * response (well inside the 32 s), a full GC; `bytes_per_completed_tx` = growth of V8 heap used
 * plus array buffers (the kept response bytes live outside the heap) / `count`. The client reads
 * and drops the answers, so no ICMP error ends a transaction early.
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { emit, gcFunction, machine, say } from './lib.ts';
import { createResponse } from '../engine/sip/message.ts';
import { TransactionLayer, type TransactionUser } from '../engine/sip/transaction-layer.ts';
import { TransportLayer } from '../engine/sip/transport.ts';

/** Heap used plus array buffers (the transport's and the transactions' Buffers), in bytes. */
function used(): { heap: number; buffers: number } {
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

const SDP =
  'v=0\r\no=- 4711 4711 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n' +
  'm=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\n' +
  'a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n';

/** The phases: what is sent, and the status the TU answers with (by the Request-URI user). */
const PHASES = [
  { kind: 'nist', method: 'OPTIONS', status: 200, note: 'OPTIONS answered 200, Completed (timer J)' },
  { kind: 'ist', method: 'INVITE', status: 486, note: 'INVITE answered 486, Completed awaiting ACK (timers G, H)' },
  { kind: 'ist-2xx', method: 'INVITE', status: 200, note: 'INVITE answered 200, Accepted (timer L)' },
] as const;

/** A request as a carrier or a phone writes it (about 450 bytes of headers). */
function request(method: 'OPTIONS' | 'INVITE', status: number, i: number, port: number): Buffer {
  const body = method === 'INVITE' ? SDP : '';
  const text =
    `${method} sip:${status}@127.0.0.1 SIP/2.0\r\n` +
    `Via: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=z9hG4bKmem${method}${status}x${i}x7f3a\r\n` +
    'Max-Forwards: 70\r\n' +
    `From: "Caller ${i}" <sip:+861380000${i}@127.0.0.1>;tag=f${i}a9c2\r\n` +
    'To: <sip:300@127.0.0.1>\r\n' +
    `Call-ID: ${i}-mem-${method.toLowerCase()}-${status}@127.0.0.1\r\n` +
    `CSeq: 1 ${method}\r\n` +
    `Contact: <sip:+861380000${i}@127.0.0.1:${port}>\r\n` +
    'User-Agent: onair-bench\r\n' +
    'Allow: INVITE, ACK, CANCEL, BYE, OPTIONS\r\n' +
    (body ? 'Content-Type: application/sdp\r\n' : '') +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  return Buffer.from(text, 'latin1');
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function main(args: string[]): Promise<void> {
  const count = Number(args[0] !== undefined && !args[0].startsWith('--') ? args[0] : 20_000);
  const p = args.indexOf('--phases');
  const wanted = p >= 0 ? (args[p + 1] ?? '').split(',') : PHASES.map((x) => x.kind);
  const phases = PHASES.filter((x) => wanted.includes(x.kind));
  if (!Number.isInteger(count) || count <= 0 || phases.length === 0) throw new Error('usage: npm run bench -- sip-tx-memory [count] [--phases nist,ist,ist-2xx]');
  const gc = gcFunction();
  const transport = new TransportLayer();
  const tu: TransactionUser = {
    onRequest(tx, req) {
      tx.respond(createResponse(req, req.uri.user === '486' ? 486 : 200, undefined, { toTag: 'uas7c1e' }));
      // The UA core takes a 2xx's bytes at once for its retransmitter (not measured here).
      if (tx.kind === 'ist') tx.takeSuccessBytes();
    },
    onAckFor2xx() {},
    onCancel() {},
    onServerFailure() {},
  };
  const limit = 4 * count;
  const layer = new TransactionLayer(transport, tu, { maxServerTransactions: limit, maxServerTransactionsPerSource: limit, maxRetainedNonInvite: limit });
  transport.setDelegate(layer);
  transport.observe({ sendFailed: (to) => layer.sendFailed(to) });
  const server = await transport.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const client = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => client.bind(0, '127.0.0.1', resolve));
  client.setRecvBufferSize(8 * 1024 * 1024);
  let answers = 0;
  client.on('message', () => {
    answers++;
  });
  const port = client.address().port;
  const load = os.loadavg().map((x) => x.toFixed(2)).join(' ');

  const results: Record<string, number> = {};
  for (const { kind, method, status, note } of phases) {
    // The datagrams are built before the baseline: they are the peer's memory, not ours.
    const datagrams: Buffer[] = [];
    for (let i = 0; i < count; i++) datagrams.push(request(method, status, i, port));
    gc();
    const before = used();
    const base = layer.serverCount;
    const t0 = performance.now();
    for (let i = 0; i < count; i += 200) {
      for (const d of datagrams.slice(i, i + 200)) client.send(d, server.port, server.address);
      // Pace: let the engine side keep up, so its 4 MiB receive buffer never overflows.
      const sent = Math.min(i + 200, count);
      while (layer.serverCount < base + sent - 50 && performance.now() - t0 < 20_000) await sleep(1);
    }
    const target = base + count;
    while ((layer.serverCount < target || layer.activeServerCount > 0) && performance.now() - t0 < 25_000) await sleep(5);
    const elapsed = performance.now() - t0;
    if (layer.serverCount !== target || layer.activeServerCount !== 0) {
      throw new Error(`${kind}: ${layer.serverCount} transactions alive (${layer.activeServerCount} unanswered) after ${Math.round(elapsed)} ms, want ${target} answered`);
    }
    gc();
    const after = used();
    datagrams.length = 0; // kept alive until here, so that freeing them is not counted
    const heap = (after.heap - before.heap) / count;
    const buffers = (after.buffers - before.buffers) / count;
    results[kind] = heap + buffers;
    emit({
      bench: 'sip-tx-memory', metric: 'bytes_per_completed_tx', value: Math.round(heap + buffers), unit: 'B',
      kind, count, heap_bytes_per_tx: Math.round(heap), buffer_bytes_per_tx: Math.round(buffers),
      fill_ms: Math.round(elapsed), loadavg: load, note,
    });
    say(`${kind}: ${Math.round(heap + buffers)} B per completed transaction (heap ${Math.round(heap)}, buffers ${Math.round(buffers)}), ${count} in ${Math.round(elapsed)} ms`);
  }
  const measured = Object.values(results);
  emit({
    bench: 'sip-tx-memory', metric: 'bytes_per_completed_tx', value: Math.round(measured.reduce((x, y) => x + y, 0) / measured.length), unit: 'B',
    kind: 'mean', phases: Object.keys(results).join(','), count: measured.length * count, loadavg: load, machine: machine(), answers_received: answers,
  });
  layer.close();
  client.close();
  await transport.close();
}
