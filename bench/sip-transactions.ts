/**
 * `npm run bench -- sip-transactions [batch]`: server transactions created, answered and
 * terminated per second on the fake transport and clock, i.e. the cost of the transaction layer
 * alone (matching, state machines, timers, response building), without parsing or sockets.
 *
 * Each round feeds `batch` INVITEs and `batch` OPTIONS (distinct branches, parsed once up front),
 * the TU answers each inline (200 to INVITE, 200 to OPTIONS), then the clock jumps 64*T1 so that
 * timers L and J end them all. UDP arms the timers; TCP ends the NIST at once (J = 0).
 * Also `branches_per_s`: `newBranch()` from the preallocated random pool.
 */
import { emit, machine, rate, say } from './lib.ts';
import { newBranch } from '../engine/sip/branch.ts';
import { createResponse, type SipRequest } from '../engine/sip/message.ts';
import { parse } from '../engine/sip/parser.ts';
import { TransactionLayer, type TransactionUser } from '../engine/sip/transaction-layer.ts';
import type { Endpoint, Inbound } from '../engine/sip/contracts.ts';
import { FakeClock } from '../engine/clock/index.ts';
import { FakeTransport } from '../engine/sip/testing/fake-transport.ts';

function request(method: string, i: number, transport: string): SipRequest {
  const text =
    `${method} sip:queue@onair.example SIP/2.0\r\n` +
    `Via: SIP/2.0/${transport} 192.0.2.10:5060;branch=z9hG4bKbench${method}${i}\r\n` +
    'Max-Forwards: 70\r\n' +
    `From: "Caller" <sip:+15551234@carrier.example>;tag=f${i}\r\n` +
    'To: <sip:queue@onair.example>\r\n' +
    `Call-ID: bench-${method}-${i}@carrier.example\r\n` +
    `CSeq: 1 ${method}\r\n` +
    'Content-Length: 0\r\n\r\n';
  const r = parse(Buffer.from(text, 'latin1'));
  if (!r.ok) throw new Error(r.reason);
  return r.message as SipRequest;
}

function run(transportName: 'UDP' | 'TCP', batch: number, ms: number): { perSecond: number; rounds: number[] } {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const tu: TransactionUser = {
    onRequest(tx, req) {
      tx.respond(createResponse(req, 200, undefined, { toTag: 'uas' }));
    },
    onAckFor2xx() {},
    onCancel() {},
    onServerFailure() {},
  };
  const layer = new TransactionLayer(transport, tu, { clock, maxServerTransactions: 4 * batch });
  const source: Endpoint = transportName === 'UDP'
    ? { transport: 'UDP', address: '192.0.2.10', port: 5060 }
    : { transport: 'TCP', address: '192.0.2.10', port: 5060, connectionId: 1 };
  const local: Endpoint = { transport: transportName, address: '198.51.100.1', port: 5060 };
  const inbound: Inbound[] = [];
  for (let i = 0; i < batch; i++) {
    inbound.push({ message: request('INVITE', i, transportName), source, local });
    inbound.push({ message: request('OPTIONS', i, transportName), source, local });
  }
  const round = (): void => {
    for (const m of inbound) layer.onMessage(m);
    clock.advance(64 * 500);
    transport.clear();
    if (layer.serverCount !== 0) throw new Error('transactions left after a round');
  };
  for (let w = 0; w < 20; w++) round(); // warm-up
  const rounds: number[] = [];
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const t0 = process.hrtime.bigint();
    round();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    rounds.push(inbound.length / dt);
  }
  const sorted = [...rounds].sort((a, b) => a - b);
  return { perSecond: sorted[Math.floor(sorted.length / 2)]!, rounds };
}

export async function main(args: string[]): Promise<void> {
  const batch = Number(args[0] ?? 1000);
  for (const transport of ['UDP', 'TCP'] as const) {
    const { perSecond, rounds } = run(transport, batch, 1500);
    emit({
      bench: 'sip-transactions', metric: 'transactions_per_s', value: Math.round(perSecond), unit: 'tx/s',
      transport, batch: 2 * batch, rounds: rounds.length, note: 'median of rounds; IST+NIST create, 200, terminate',
    });
    say(`${transport}: ${Math.round(perSecond).toLocaleString('en')} server transactions/s (IST+NIST, median of ${rounds.length} rounds of ${2 * batch}) on ${machine()}`);
  }
  let sink = 0;
  const branches = rate((n) => {
    for (let i = 0; i < n; i++) sink += newBranch().length;
  }, { ms: 500, rounds: 5 });
  if (sink === 0) throw new Error('unreachable');
  emit({ bench: 'sip-transactions', metric: 'branches_per_s', value: Math.round(branches.median), unit: 'ids/s', note: 'median of 5 rounds' });
  say(`newBranch: ${Math.round(branches.median).toLocaleString('en')}/s`);
}
