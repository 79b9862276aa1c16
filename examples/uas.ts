/**
 * Example UAS on the onair SIP stack: answers INVITE with 200 OK and an SDP answer, takes ACK and
 * BYE, answers CANCEL (487 to the INVITE), OPTIONS (200) and anything else per RFC 3261 (405, 501,
 * 481, 416, 420, 415...). It does no media: the SDP points at a port nobody reads.
 *
 * Run: `node dist/examples/uas.js [--host 127.0.0.1] [--port 5060] [--ring-ms 0]`
 */
import { TransportLayer, UserAgent, type IncomingInvite, type Endpoint } from '../engine/sip/index.ts';

/** Options of {@link startExampleUas}. */
export interface ExampleUasOptions {
  host?: string;
  /** Port for UDP and TCP (0: any free port, the same number is not guaranteed for both). */
  port?: number;
  /** Ring this long (180 Ringing) before answering; CANCEL works in that window. */
  ringMs?: number;
}

/** A running example UAS. */
export interface ExampleUas {
  ua: UserAgent;
  transport: TransportLayer;
  udp: Endpoint;
  tcp: Endpoint;
  /** Counters, for tests. */
  stats: { invites: number; answered: number; acks: number; byes: number; cancelled: number };
  close(): Promise<void>;
}

/** SDP answer for a G.711 call (no media is actually sent or received). */
function sdpAnswer(address: string, offer: Buffer): Buffer {
  const ip6 = address.includes(':');
  // Answer PCMA only if the offer has it and not PCMU; everything else gets PCMU.
  const m = /m=audio \d+ RTP\/AVP ([\d ]+)/.exec(offer.toString('latin1'));
  const pts = m?.[1]?.split(' ') ?? ['0'];
  const pt = pts.includes('0') ? '0' : pts.includes('8') ? '8' : '0';
  const codec = pt === '8' ? 'PCMA' : 'PCMU';
  return Buffer.from(
    'v=0\r\n' +
    `o=onair 1 1 IN ${ip6 ? 'IP6' : 'IP4'} ${address}\r\n` +
    's=onair\r\n' +
    `c=IN ${ip6 ? 'IP6' : 'IP4'} ${address}\r\n` +
    't=0 0\r\n' +
    `m=audio 40000 RTP/AVP ${pt} 101\r\n` +
    `a=rtpmap:${pt} ${codec}/8000\r\n` +
    'a=rtpmap:101 telephone-event/8000\r\n' +
    'a=fmtp:101 0-16\r\n' +
    'a=ptime:20\r\n' +
    'a=sendrecv\r\n',
    'latin1',
  );
}

/** Start the example UAS on UDP and TCP. */
export async function startExampleUas(opts: ExampleUasOptions = {}): Promise<ExampleUas> {
  const host = opts.host ?? '127.0.0.1';
  const transport = new TransportLayer();
  const udp = await transport.listen({ transport: 'UDP', address: host, port: opts.port ?? 5060 });
  const tcp = await transport.listen({ transport: 'TCP', address: host, port: opts.port === 0 ? 0 : udp.port });
  const ua = new UserAgent(transport, { product: 'onair-example-uas' });
  const stats = { invites: 0, answered: 0, acks: 0, byes: 0, cancelled: 0 };
  const ringMs = opts.ringMs ?? 0;
  const dialogDelegate = {
    onAck: () => { stats.acks++; },
    onBye: () => { stats.byes++; },
  };
  const answer = (invite: IncomingInvite): void => {
    const body = sdpAnswer(host, invite.request.body);
    if (invite.accept({ body, contentType: 'application/sdp', delegate: dialogDelegate })) stats.answered++;
  };
  ua.setDelegate({
    onInvite: (invite) => {
      stats.invites++;
      if (ringMs <= 0) {
        answer(invite);
        return;
      }
      invite.progress(180);
      const timer = setTimeout(() => answer(invite), ringMs);
      invite.onCancel = () => {
        clearTimeout(timer);
        stats.cancelled++;
      };
    },
  });
  return {
    ua, transport, udp, tcp, stats,
    close: async () => {
      ua.close();
      await transport.close();
    },
  };
}

/** Command-line entry: `node dist/examples/uas.js --port 5060`. */
async function main(argv: string[]): Promise<void> {
  const arg = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const uas = await startExampleUas({
    host: arg('--host') ?? '127.0.0.1',
    port: Number(arg('--port') ?? 5060),
    ringMs: Number(arg('--ring-ms') ?? 0),
  });
  process.stderr.write(`onair example UAS listening on ${uas.udp.address}:${uas.udp.port} (UDP) and ${uas.tcp.port} (TCP)\n`);
  const stop = (): void => {
    void uas.close().then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '\u0000');
if (invokedDirectly) void main(process.argv.slice(2));
