/**
 * Test helpers for the registrar: a registrar mounted on a real UDP/TCP stack on loopback, and a
 * "raw phone" that writes REGISTER requests as SIP text on a UDP socket, so a test controls every
 * Call-ID, CSeq, Contact and Authorization. Not used in production code.
 */
import dgram from 'node:dgram';
import { FakeClock } from '../clock/index.ts';
import {
  TransportLayer, UserAgent, answerChallenge, newBranch, parse, type Endpoint, type SipResponse,
} from '../sip/index.ts';
import {
  Registrar, type Binding, type BindingStore, type PersistedBinding, type RegistrarOptions, type RegistrarLogger, type UnregisterReason,
} from './registrar.ts';

/** Demo agents 1001–1003 with passwords `demo<ext>`. */
export const demoAgents = [
  { id: 'a1001', extension: '1001', password: 'demo1001' },
  { id: 'a1002', extension: '1002', password: 'demo1002' },
  { id: 'a1003', extension: '1003', password: 'demo1003' },
];

/**
 * A {@link BindingStore} in a Map keyed by agent and Contact URI, as the SQLite one keys its rows.
 * `load` returns every row, expired or not, so a test sees the registrar drop what has ended.
 * `failing` makes every call reject (a broken disk).
 */
export class MapBindingStore implements BindingStore {
  readonly rows = new Map<string, PersistedBinding>();
  failing = false;
  writes = 0;

  static key(agentId: string, contact: string): string {
    return `${agentId}\n${contact}`;
  }

  load(): Promise<PersistedBinding[]> {
    if (this.failing) return Promise.reject(new Error('disk gone'));
    return Promise.resolve([...this.rows.values()].map((b) => structuredClone(b)));
  }

  upsert(b: PersistedBinding): Promise<void> {
    this.writes++;
    if (this.failing) return Promise.reject(new Error('disk gone'));
    this.rows.set(MapBindingStore.key(b.agentId, b.contact), structuredClone(b));
    return Promise.resolve();
  }

  remove(agentId: string, contact: string): Promise<void> {
    this.writes++;
    if (this.failing) return Promise.reject(new Error('disk gone'));
    this.rows.delete(MapBindingStore.key(agentId, contact));
    return Promise.resolve();
  }
}

/** A registrar on a loopback stack, with its events and logs recorded. */
export interface RegistrarRig {
  registrar: Registrar;
  clock: FakeClock;
  ua: UserAgent;
  transport: TransportLayer;
  udp: Endpoint;
  tcp: Endpoint;
  registered: { agentId: string; binding: Binding }[];
  unregistered: { agentId: string; reason: UnregisterReason }[];
  logs: { level: string; obj: object; msg: string }[];
  close(): Promise<void>;
}

/** Start a registrar (fake clock at `startAt` ms) on 127.0.0.1 UDP and TCP, free ports. */
export async function startRegistrar(opts: Partial<RegistrarOptions> = {}, startAt = 1_000_000): Promise<RegistrarRig> {
  const clock = new FakeClock(startAt);
  const logs: RegistrarRig['logs'] = [];
  const logger: RegistrarLogger = {
    info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
  };
  // Stored times follow the fake clock too, so expiry across a "restart" is exact.
  const registrar = new Registrar({ realm: 'onair', agents: demoAgents, clock, logger, wallClock: () => clock.now(), ...opts });
  const registered: RegistrarRig['registered'] = [];
  const unregistered: RegistrarRig['unregistered'] = [];
  registrar.setDelegate({
    onRegistered: (agentId, binding) => registered.push({ agentId, binding }),
    onUnregistered: (agentId, reason) => unregistered.push({ agentId, reason }),
  });
  const transport = new TransportLayer();
  const udp = await transport.listen({ transport: 'UDP', address: '127.0.0.1', port: 0 });
  const tcp = await transport.listen({ transport: 'TCP', address: '127.0.0.1', port: 0 });
  const ua = new UserAgent(transport, { product: 'onair-registrar-test' });
  ua.setDelegate({ onRequest: (r) => registrar.handle(r) });
  return {
    registrar, clock, ua, transport, udp, tcp, registered, unregistered, logs,
    close: async () => {
      registrar.close();
      ua.close();
      await transport.close();
    },
  };
}

/** What goes into one REGISTER written by {@link RawPhone}. */
export interface RawRegister {
  /** AOR user (To and From). */
  user: string;
  callId: string;
  cseq: number;
  /** Raw Contact values, one header field each (`<sip:1001@127.0.0.1:5555>;expires=60`, `*`). */
  contacts?: string[];
  /** Expires header. */
  expires?: number;
  /** Authorization header value. */
  authorization?: string;
  /** More header lines as written (`Path: <sip:127.0.0.1:5999;lr>`, `Supported: path`). */
  headers?: string[];
}

/** How {@link RawPhone.authorization} answers a challenge. */
export interface RawAnswer {
  /** Nonce count (default 1). */
  nc?: number;
  /** Answer the RFC 2069 way (no qop, nc or cnonce), as an old phone does. */
  noQop?: boolean;
}

/** A phone made of a UDP socket and SIP text. */
export class RawPhone {
  readonly port: number;
  /** The loopback address it sends from (127.0.0.1 unless opened elsewhere: 127.0.0.0/8 is all loopback). */
  readonly address: string;
  private readonly socket: dgram.Socket;
  private readonly waiting = new Map<string, (r: SipResponse) => void>();
  private readonly registrar: Endpoint;

  private constructor(socket: dgram.Socket, registrar: Endpoint) {
    this.socket = socket;
    this.registrar = registrar;
    this.port = socket.address().port;
    this.address = socket.address().address;
    socket.on('message', (buf) => {
      const r = parse(buf);
      if (!r.ok || r.message.kind !== 'response' || r.message.status < 200) return;
      const key = `${r.message.headers.callId}|${r.message.headers.cseq.seq}`;
      const resolve = this.waiting.get(key);
      this.waiting.delete(key);
      resolve?.(r.message);
    });
  }

  /** Bind a socket on `address` (a loopback address, default 127.0.0.1; free port) that talks to `registrar`. */
  static async open(registrar: Endpoint, address = '127.0.0.1'): Promise<RawPhone> {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new RawPhone(socket, registrar);
  }

  /** The Request-URI every REGISTER uses. */
  get requestUri(): string {
    return `sip:127.0.0.1:${this.registrar.port}`;
  }

  /** Send one REGISTER and wait for its final response (rejects after 3 s). */
  send(r: RawRegister): Promise<SipResponse> {
    const lines = [
      `REGISTER ${this.requestUri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.address}:${this.port};branch=${newBranch()};rport`,
      'Max-Forwards: 70',
      `From: <sip:${r.user}@127.0.0.1>;tag=raw${r.callId.length}`,
      `To: <sip:${r.user}@127.0.0.1>`,
      `Call-ID: ${r.callId}`,
      `CSeq: ${r.cseq} REGISTER`,
      ...(r.contacts ?? []).map((c) => `Contact: ${c}`),
      ...(r.expires !== undefined ? [`Expires: ${r.expires}`] : []),
      ...(r.authorization !== undefined ? [`Authorization: ${r.authorization}`] : []),
      ...(r.headers ?? []),
      'User-Agent: raw-phone',
      'Content-Length: 0',
    ];
    const text = lines.join('\r\n') + '\r\n\r\n';
    return new Promise((resolve, reject) => {
      const key = `${r.callId}|${r.cseq}`;
      const timer = setTimeout(() => {
        this.waiting.delete(key);
        reject(new Error(`no answer to CSeq ${r.cseq}`));
      }, 3000);
      this.waiting.set(key, (resp) => {
        clearTimeout(timer);
        resolve(resp);
      });
      this.socket.send(text, this.registrar.port, this.registrar.address);
    });
  }

  /** The Authorization value answering the first challenge of a 401. */
  authorization(challenge: SipResponse, username: string, password: string, how: RawAnswer = {}): string {
    let c = challenge.headers.auth('WWW-Authenticate')[0];
    if (c === undefined) throw new Error(`no challenge in ${challenge.status}`);
    if (how.noQop === true) {
      const params = new Map(c.params);
      params.delete('qop');
      c = { scheme: c.scheme, params };
    }
    const a = answerChallenge(c, { username, password, method: 'REGISTER', uri: this.requestUri }, how.nc ?? 1);
    if (!a.ok) throw new Error(a.reason);
    return a.header;
  }

  /**
   * The usual two-step registration: the request without credentials (CSeq n), the 401, then the
   * request with credentials (CSeq n+1). Resolves to the final answer of the second.
   */
  async register(r: RawRegister & { password?: string }): Promise<SipResponse> {
    const first = await this.send({ ...r, authorization: undefined });
    if (first.status !== 401) return first;
    const authorization = this.authorization(first, r.user, r.password ?? `demo${r.user}`);
    return this.send({ ...r, cseq: r.cseq + 1, authorization });
  }

  /** A Contact URI on this phone's address and port. */
  contact(user: string, params = ''): string {
    return `<sip:${user}@${this.address}:${this.port}>${params}`;
  }

  close(): void {
    this.socket.close();
  }
}

/** `expires` of each Contact in a 200, keyed by URI text. */
export function contactExpires(response: SipResponse): Map<string, string | null | undefined> {
  const out = new Map<string, string | null | undefined>();
  for (const c of response.headers.contact) {
    const host = c.uri.port !== undefined ? `${c.uri.host}:${c.uri.port}` : c.uri.host;
    out.set(`${c.uri.scheme}:${c.uri.user}@${host}`, c.params.get('expires'));
  }
  return out;
}
