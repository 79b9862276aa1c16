/**
 * SIP transports (RFC 3261 §18): UDP, TCP and TLS over IPv4 and IPv6.
 *
 * One `TransportLayer` owns every listening socket and every stream connection. Inbound bytes are
 * parsed here (datagrams whole, streams through a {@link StreamFramer}); a request that cannot be
 * parsed is answered statelessly with the status the parser chose (400, 413, 505) and never reaches
 * the layers above. Malformed responses are dropped (RFC 3261 §18.1.2).
 *
 * Stream connections are reused in both directions: a response goes back on the connection its
 * request came in on (§18.2.2), and a request to an address we already have a connection with uses
 * it (RFC 5923-style reuse, which carriers and phones behind NAT rely on).
 *
 * Nothing a peer sends can throw out of here (issue 11): every socket handler and the delegate
 * call are guarded (a throw drops that one message, `dispatch_error`), and a send to a
 * destination no socket takes is dropped and reported instead of throwing. Inbound stream
 * connections are capped per source address at accept and must complete a first message (TLS:
 * the handshake, then a first message) within `firstMessageTimeoutMs`, so a slowloris peer holds
 * nothing.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import type { Endpoint, Inbound, TransportName, TransportSender } from './contracts.ts';
import type { HeaderField, SipMessage } from './message.ts';
import { reasonPhrase } from './message.ts';
import { parse } from './parser.ts';
import { serialize } from './serializer.ts';
import { StreamFramer } from './framer.ts';
import { LogRateLimit, firstLine, isSendable, sendError, type SipDropReason, type SipLogger } from './errors.ts';

/** Where to listen. Port 0 picks a free port (see the endpoint `listen` resolves to). */
export interface ListenSpec {
  transport: TransportName;
  /** IP literal: `127.0.0.1`, `0.0.0.0`, `::1`, `::`. */
  address: string;
  port: number;
  /** Certificate files for TLS (PEM). */
  tls?: { cert: string; key: string; ca?: string | undefined } | undefined;
}

/** Hard limits on untrusted input (CONVENTIONS.md 5). */
export interface TransportLimits {
  /** Largest message accepted, in bytes (datagram or framed stream message). */
  maxMessageBytes: number;
  /** Largest unframed backlog a stream connection may hold before it is closed. */
  maxConnectionBuffer: number;
  /** Most concurrent stream connections (inbound and outbound together). */
  maxConnections: number;
  /** A stream connection idle this long (ms) is closed. */
  idleTimeoutMs: number;
  /** Most concurrent inbound stream connections from one source address; more are closed at accept. */
  maxConnectionsPerSource: number;
  /**
   * An inbound stream connection that has not completed its first SIP message this long (ms) after
   * it was accepted (TLS: after its handshake, which gets as long) is closed: a slowloris peer
   * trickling bytes never goes idle, so the idle timeout alone would hold it.
   */
  firstMessageTimeoutMs: number;
  /** Most header fields in one message. */
  maxHeaders: number;
}

export const defaultTransportLimits: TransportLimits = {
  maxMessageBytes: 65535,
  maxConnectionBuffer: 256 * 1024,
  maxConnections: 10000,
  idleTimeoutMs: 10 * 60_000,
  maxConnectionsPerSource: 100,
  firstMessageTimeoutMs: 10_000,
  maxHeaders: 100,
};

/** Why the transport closed an inbound stream connection it had accepted (label of `onair_sip_connections_refused_total`). */
export type ConnectionRefusal = 'per_source_limit' | 'first_message_timeout';

/** Every {@link ConnectionRefusal}, for metrics. */
export const CONNECTION_REFUSALS: readonly ConnectionRefusal[] = ['per_source_limit', 'first_message_timeout'];

/** The one consumer of inbound messages (the transaction layer). */
export interface TransportDelegate {
  onMessage(inbound: Inbound): void;
}

/**
 * Takes inbound messages in place of an immediate delivery (engine/sip/inbound-classes.ts: work
 * classes, issue 13) and hands each on later with {@link TransportLayer.dispatch}.
 */
export interface InboundDispatcher {
  post(inbound: Inbound): void;
}

/** Observers for metrics and logs; a throwing observer never breaks the transport. */
export interface TransportObserver {
  received?(message: SipMessage, source: Endpoint): void;
  sent?(message: SipMessage, to: Endpoint): void;
  /** A message that could not be parsed; `answered` is the status sent back, if any. */
  rejected?(code: string, reason: string, source: Endpoint, answered: number | undefined): void;
  /** A send that failed (no route, connection refused, socket closed). */
  sendFailed?(to: Endpoint, error: Error): void;
  /**
   * A message dropped without the normal exchange (see {@link SipDropReason}); `peer` is where it
   * came from (inbound) or was going to (outbound).
   */
  dropped?(reason: SipDropReason, peer: Endpoint): void;
  /** An inbound stream connection closed by a limit (see {@link ConnectionRefusal}). */
  connectionRefused?(reason: ConnectionRefusal, peer: Endpoint): void;
}

interface StreamConn {
  id: number;
  transport: 'TCP' | 'TLS';
  socket: net.Socket;
  framer: StreamFramer;
  remote: Endpoint;
  local: Endpoint;
  key: string;
  /** Bytes queued before an outbound connection is established. */
  pending: Buffer[] | undefined;
  /** Inbound: closes the connection unless its first message completes in time; cleared then. */
  firstMessageTimer: NodeJS.Timeout | undefined;
}

interface UdpListener {
  socket: dgram.Socket;
  local: Endpoint;
  family: 4 | 6;
}

interface StreamListener {
  server: net.Server;
  local: Endpoint;
  family: 4 | 6;
  tlsOptions: tls.TlsOptions | undefined;
}

/** Address family of an IP literal: a colon means IPv6 (cheaper than net.isIPv6's regex on every send). */
const familyOf = (address: string): 4 | 6 => (address.includes(':') ? 6 : 4);
const keyOf = (transport: TransportName, address: string, port: number): string => `${transport}|${address}|${port}`;
/** Node reports IPv4-mapped peers of dual-stack sockets as ::ffff:a.b.c.d; SIP wants a.b.c.d. */
const plainAddress = (a: string | undefined): string => (a && a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a ?? '');

/**
 * All SIP sockets of one process. Implements {@link TransportSender} for the transaction layer.
 */
export class TransportLayer implements TransportSender {
  readonly limits: TransportLimits;
  private readonly udp: UdpListener[] = [];
  private readonly streamListeners: StreamListener[] = [];
  private readonly conns = new Map<number, StreamConn>();
  private readonly connsByKey = new Map<string, StreamConn>();
  /** Open inbound stream sockets per source address (TLS: from TCP accept, before the handshake). */
  private readonly inboundPerSource = new Map<string, number>();
  private nextConnId = 1;
  private closed = false;
  private delegate: TransportDelegate | undefined;
  private dispatcher: InboundDispatcher | undefined;
  private readonly observers: TransportObserver[] = [];
  private tlsClientOptions: tls.ConnectionOptions = {};
  private readonly log: SipLogger | undefined;
  private readonly logLimit: LogRateLimit;

  constructor(opts: { limits?: Partial<TransportLimits>; delegate?: TransportDelegate; logger?: SipLogger } = {}) {
    this.limits = { ...defaultTransportLimits, ...opts.limits };
    this.delegate = opts.delegate;
    this.log = opts.logger;
    this.logLimit = new LogRateLimit(() => performance.now());
  }

  /** Set the one consumer of inbound messages. */
  setDelegate(delegate: TransportDelegate): void {
    this.delegate = delegate;
  }

  /**
   * Queue inbound messages through `dispatcher` instead of handing each to the delegate as it is
   * read (undefined: back to immediate delivery).
   */
  setDispatcher(dispatcher: InboundDispatcher | undefined): void {
    this.dispatcher = dispatcher;
  }

  /** Add an observer (metrics, logs). */
  observe(observer: TransportObserver): void {
    this.observers.push(observer);
  }

  /** Options for outbound TLS connections (CA bundle, SNI, client certificate). */
  setTlsClientOptions(options: tls.ConnectionOptions): void {
    this.tlsClientOptions = options;
  }

  /** Open a listening socket; resolves to the bound endpoint (with the real port when 0 was asked). */
  async listen(spec: ListenSpec): Promise<Endpoint> {
    const family = familyOf(spec.address);
    if (spec.transport === 'UDP') {
      const socket = dgram.createSocket({ type: family === 6 ? 'udp6' : 'udp4', ipv6Only: family === 6 });
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(spec.port, spec.address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      const local: Endpoint = { transport: 'UDP', address: spec.address, port: socket.address().port };
      // Large kernel buffers absorb the bursts of a surge while the event loop is busy.
      try {
        socket.setRecvBufferSize(4 * 1024 * 1024);
        socket.setSendBufferSize(4 * 1024 * 1024);
      } catch {
        // Not permitted on every system; the defaults still work.
      }
      socket.on('message', (buf, rinfo) => {
        // The last guard between a socket and the process (issue 11): whatever a datagram does
        // to the code above, it costs that datagram only.
        try {
          this.onDatagram(buf, rinfo, local);
        } catch (err) {
          this.drop('dispatch_error', { transport: 'UDP', address: plainAddress(rinfo.address), port: rinfo.port }, undefined, err);
        }
      });
      socket.on('error', () => {
        // UDP send errors surface per send; a socket-level error here must not crash the process.
      });
      this.udp.push({ socket, local, family });
      return local;
    }
    let tlsOptions: tls.TlsOptions | undefined;
    if (spec.transport === 'TLS') {
      if (!spec.tls) throw new Error('SIP_ERR_CONFIG: TLS listener needs tls.cert and tls.key');
      tlsOptions = {
        cert: readFileSync(spec.tls.cert),
        key: readFileSync(spec.tls.key),
        ...(spec.tls.ca ? { ca: readFileSync(spec.tls.ca) } : {}),
        // A handshake that never finishes holds a socket like a message that never does.
        handshakeTimeout: this.limits.firstMessageTimeoutMs,
      };
    }
    const server = tlsOptions
      ? tls.createServer(tlsOptions, (s) => this.adopt(s, 'TLS', local))
      : net.createServer();
    if (tlsOptions) {
      // Node emits a failed or timed-out handshake here and leaves the socket open (measured: a
      // silent client stays connected past handshakeTimeout): close it.
      server.on('tlsClientError', (err: Error & { code?: string }, s: tls.TLSSocket) => {
        s.destroy();
        if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
          this.refuse('first_message_timeout', { transport: 'TLS', address: plainAddress(s.remoteAddress), port: s.remotePort ?? 0 });
        }
      });
    }
    // Every accepted TCP socket (under TLS: before its handshake) counts against its source.
    server.on('connection', (raw: net.Socket) => {
      if (this.acceptFrom(raw, spec.transport as 'TCP' | 'TLS') && !tlsOptions) this.adopt(raw, 'TCP', local);
    });
    server.maxConnections = this.limits.maxConnections;
    const local: Endpoint = { transport: spec.transport, address: spec.address, port: 0 };
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port: spec.port, host: spec.address, ipv6Only: family === 6 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    local.port = (server.address() as net.AddressInfo).port;
    server.on('error', () => {
      // Accept errors (EMFILE) must not crash the process; the server keeps listening.
    });
    this.streamListeners.push({ server, local, family, tlsOptions });
    return local;
  }

  /** The bound endpoints, in the order they were opened. */
  endpoints(): Endpoint[] {
    return [...this.udp.map((u) => u.local), ...this.streamListeners.map((l) => l.local)];
  }

  /**
   * The local endpoint to put in Via/Contact for messages sent over `transport` to `address`
   * (same IP family). Undefined when there is no such listener.
   */
  localFor(transport: TransportName, address?: string): Endpoint | undefined {
    const family = address ? familyOf(address) : 4;
    const list: { local: Endpoint; family: 4 | 6 }[] = transport === 'UDP'
      ? this.udp
      : this.streamListeners.filter((l) => l.local.transport === transport);
    return (list.find((l) => l.family === family) ?? list[0])?.local;
  }

  isReliable(transport: TransportName): boolean {
    return transport !== 'UDP';
  }

  /** Number of open stream connections (for metrics and leak tests). */
  get connectionCount(): number {
    return this.conns.size;
  }

  send(message: SipMessage, to: Endpoint): Buffer | undefined {
    if (this.closed) return undefined;
    let bytes: Buffer;
    try {
      bytes = serialize(message);
    } catch (err) {
      this.report((o) => o.sendFailed?.(to, err as Error));
      return undefined;
    }
    if (this.sendBytes(bytes, to)) this.report((o) => o.sent?.(message, to));
    return bytes;
  }

  /**
   * Send raw bytes (retransmissions, stateless answers, keep-alives). Returns false if no route.
   * Never throws (contracts.ts): a destination no socket can take (port 0, a port above 65535, no
   * address) is dropped and reported as `SIP_ERR_BAD_DESTINATION`, a socket that refuses the send
   * as `SIP_ERR_SEND`.
   */
  sendBytes(bytes: Buffer, to: Endpoint): boolean {
    if (this.closed) return false;
    if (!isSendable(to)) {
      this.drop('bad_destination', to, undefined, undefined);
      this.report((o) => o.sendFailed?.(to, sendError('SIP_ERR_BAD_DESTINATION', `${to.transport} ${to.address}:${to.port}`)));
      return false;
    }
    try {
      return this.sendChecked(bytes, to);
    } catch (err) {
      this.drop('send_error', to, undefined, err);
      this.report((o) => o.sendFailed?.(to, sendError('SIP_ERR_SEND', (err as Error).message)));
      return false;
    }
  }

  private sendChecked(bytes: Buffer, to: Endpoint): boolean {
    if (to.transport === 'UDP') {
      const family = familyOf(to.address);
      const l = this.udp.find((u) => u.family === family);
      if (!l) {
        this.report((o) => o.sendFailed?.(to, sendError('SIP_ERR_NO_ROUTE', `no UDP IPv${family} listener`)));
        return false;
      }
      l.socket.send(bytes, to.port, to.address, (err) => {
        if (err) this.report((o) => o.sendFailed?.(to, err));
      });
      return true;
    }
    let conn = to.connectionId !== undefined ? this.conns.get(to.connectionId) : undefined;
    conn ??= this.connsByKey.get(keyOf(to.transport, to.address, to.port));
    conn ??= this.connect(to);
    if (!conn) return false;
    if (conn.pending) conn.pending.push(bytes);
    else conn.socket.write(bytes);
    return true;
  }

  /** Close every socket and connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.conns.values()) c.socket.destroy();
    this.conns.clear();
    this.connsByKey.clear();
    await Promise.all([
      ...this.udp.map((u) => new Promise<void>((r) => u.socket.close(() => r()))),
      ...this.streamListeners.map((l) => new Promise<void>((r) => l.server.close(() => r()))),
    ]);
  }

  private report(fn: (o: TransportObserver) => void): void {
    for (const o of this.observers) {
      try {
        fn(o);
      } catch {
        // An observer's bug must not break SIP (CONVENTIONS.md 10).
      }
    }
  }

  private onDatagram(buf: Buffer, rinfo: dgram.RemoteInfo, local: Endpoint): void {
    const source: Endpoint = { transport: 'UDP', address: plainAddress(rinfo.address), port: rinfo.port };
    // RFC 5626 §4.4.1 keep-alive (CRLF) over UDP: nothing to parse.
    if (buf.length <= 4 && (buf[0] === 0x0d || buf[0] === 0x0a)) return;
    if (buf.length > this.limits.maxMessageBytes) {
      this.rejectUnparsed('SIP_ERR_TOO_LARGE', `datagram of ${buf.length} bytes`, undefined, [], source);
      return;
    }
    const r = parse(buf, { maxMessageBytes: this.limits.maxMessageBytes, maxHeaders: this.limits.maxHeaders });
    if (r.ok) this.deliver(r.message, source, local);
    else this.rejectUnparsed(r.code, r.reason, r.isRequest ? r.status : undefined, r.fields, source);
  }

  private deliver(message: SipMessage, source: Endpoint, local: Endpoint): void {
    this.report((o) => o.received?.(message, source));
    const inbound: Inbound = { message, source, local, readAt: performance.now() };
    if (this.dispatcher === undefined) {
      this.dispatch(inbound);
      return;
    }
    try {
      this.dispatcher.post(inbound);
    } catch (err) {
      this.drop('dispatch_error', source, message, err);
    }
  }

  /**
   * Hand one parsed inbound message to the delegate now (the dispatcher calls this when the
   * message's turn comes; without one, every message comes here as it is read).
   */
  dispatch(inbound: Inbound): void {
    if (this.closed) return;
    try {
      this.delegate?.onMessage(inbound);
    } catch (err) {
      // transport → transaction layer → UA → delegate run in this one call: an exception anywhere
      // in it is a bug, and it costs this message, not the process (issue 11).
      this.drop('dispatch_error', inbound.source, inbound.message, err);
    }
  }

  /** Count and log an inbound message a layer above dropped without an answer (see {@link SipDropReason}). */
  dropInbound(reason: SipDropReason, inbound: Inbound): void {
    this.drop(reason, inbound.source, inbound.message, undefined);
  }

  /** Count a dropped message and log it (rate-limited; the first line only, never the body). */
  private drop(reason: SipDropReason, peer: Endpoint, message: SipMessage | undefined, err: unknown): void {
    this.report((o) => o.dropped?.(reason, peer));
    if (this.log === undefined) return;
    const held = this.logLimit.take();
    if (held === undefined) return;
    const fields = {
      reason, peer: `${peer.transport.toLowerCase()}:${peer.address}:${peer.port}`,
      ...(message ? { firstLine: firstLine(message) } : {}),
      ...(err !== undefined ? { err } : {}),
      ...(held > 0 ? { suppressed: held } : {}),
    };
    if (reason === 'dispatch_error') this.log.error(fields, 'SIP message dropped: handling it threw; the engine keeps running');
    else this.log.warn(fields, 'SIP message dropped');
  }

  /**
   * Answer an unparseable request statelessly (RFC 3261 §8.2: a response needs Via, From, To,
   * Call-ID and CSeq; without a Via there is nowhere to send it, so nothing is sent).
   */
  private rejectUnparsed(code: string, reason: string, status: number | undefined, fields: HeaderField[], source: Endpoint): void {
    let answered: number | undefined;
    if (status !== undefined && !isSendable(source)) {
      // RFC 3261 §18.2.2 leaves nowhere to answer: the source port is 0 (a forged datagram).
      this.drop('unanswerable', source, undefined, undefined);
    } else if (status !== undefined && fields.some((f) => f.name === 'Via')) {
      const lines = [`SIP/2.0 ${status} ${reasonPhrase(status)}`];
      for (const f of fields) {
        if (f.name === 'Via' || f.name === 'From' || f.name === 'To' || f.name === 'Call-ID' || f.name === 'CSeq') {
          lines.push(`${f.name}: ${f.value.replace(/[\r\n]/g, ' ')}`);
        }
      }
      lines.push('Warning: 399 onair "' + reason.replace(/["\\\r\n]/g, "'").slice(0, 200) + '"');
      lines.push('Content-Length: 0', '', '');
      if (this.sendBytes(Buffer.from(lines.join('\r\n'), 'latin1'), source)) answered = status;
    }
    this.report((o) => o.rejected?.(code, reason, source, answered));
  }

  /**
   * Count an accepted socket against its source address; false (and the socket destroyed) above
   * `maxConnectionsPerSource`, so one peer cannot hold thousands of sockets (slowloris).
   */
  private acceptFrom(raw: net.Socket, transport: 'TCP' | 'TLS'): boolean {
    const address = plainAddress(raw.remoteAddress);
    const n = this.inboundPerSource.get(address) ?? 0;
    if (n >= this.limits.maxConnectionsPerSource) {
      raw.destroy();
      this.refuse('per_source_limit', { transport, address, port: raw.remotePort ?? 0 });
      return false;
    }
    this.inboundPerSource.set(address, n + 1);
    raw.once('close', () => {
      const left = (this.inboundPerSource.get(address) ?? 1) - 1;
      if (left <= 0) this.inboundPerSource.delete(address);
      else this.inboundPerSource.set(address, left);
    });
    return true;
  }

  private refuse(reason: ConnectionRefusal, peer: Endpoint): void {
    this.report((o) => o.connectionRefused?.(reason, peer));
    if (this.log === undefined) return;
    const held = this.logLimit.take();
    if (held === undefined) return;
    this.log.warn({ reason, peer: `${peer.transport.toLowerCase()}:${peer.address}:${peer.port}`, ...(held > 0 ? { suppressed: held } : {}) },
      'SIP connection closed by a limit');
  }

  private adopt(socket: net.Socket, transport: 'TCP' | 'TLS', local: Endpoint): StreamConn | undefined {
    if (this.closed || this.conns.size >= this.limits.maxConnections) {
      socket.destroy();
      return undefined;
    }
    const remote: Endpoint = {
      transport,
      address: plainAddress(socket.remoteAddress),
      port: socket.remotePort ?? 0,
      connectionId: this.nextConnId++,
    };
    const conn = this.register(socket, transport, remote, local, undefined);
    // One timer per connection (not per source), cleared by the first complete message.
    conn.firstMessageTimer = setTimeout(() => {
      conn.firstMessageTimer = undefined;
      socket.destroy();
      this.refuse('first_message_timeout', remote);
    }, this.limits.firstMessageTimeoutMs);
    conn.firstMessageTimer.unref();
    return conn;
  }

  private register(socket: net.Socket, transport: 'TCP' | 'TLS', remote: Endpoint, local: Endpoint, pending: Buffer[] | undefined): StreamConn {
    const conn: StreamConn = {
      id: remote.connectionId!,
      transport,
      socket,
      framer: new StreamFramer({
        maxBuffer: this.limits.maxConnectionBuffer,
        maxMessageBytes: this.limits.maxMessageBytes,
        maxHeaders: this.limits.maxHeaders,
      }),
      remote,
      local,
      key: keyOf(transport, remote.address, remote.port),
      pending,
      firstMessageTimer: undefined,
    };
    this.conns.set(conn.id, conn);
    this.connsByKey.set(conn.key, conn);
    socket.setNoDelay(true);
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      try {
        this.onStreamData(conn, chunk);
      } catch (err) {
        this.drop('dispatch_error', conn.remote, undefined, err);
      }
    });
    socket.on('error', (err) => {
      if (conn.pending) this.report((o) => o.sendFailed?.(conn.remote, err));
    });
    socket.on('close', () => this.forget(conn));
    return conn;
  }

  private forget(conn: StreamConn): void {
    if (conn.firstMessageTimer !== undefined) {
      clearTimeout(conn.firstMessageTimer);
      conn.firstMessageTimer = undefined;
    }
    this.conns.delete(conn.id);
    if (this.connsByKey.get(conn.key) === conn) this.connsByKey.delete(conn.key);
  }

  private connect(to: Endpoint): StreamConn | undefined {
    if (this.conns.size >= this.limits.maxConnections) {
      this.report((o) => o.sendFailed?.(to, new Error('SIP_ERR_TOO_MANY_CONNECTIONS')));
      return undefined;
    }
    const transport = to.transport as 'TCP' | 'TLS';
    const local = this.localFor(transport, to.address) ?? { transport, address: '0.0.0.0', port: 0 };
    const socket = transport === 'TLS'
      ? tls.connect({ ...this.tlsClientOptions, host: to.address, port: to.port, servername: net.isIP(to.address) ? undefined : to.address })
      : net.connect({ host: to.address, port: to.port });
    const remote: Endpoint = { transport, address: to.address, port: to.port, connectionId: this.nextConnId++ };
    const conn = this.register(socket, transport, remote, local, []);
    socket.once(transport === 'TLS' ? 'secureConnect' : 'connect', () => {
      const queued = conn.pending ?? [];
      conn.pending = undefined;
      for (const b of queued) socket.write(b);
    });
    return conn;
  }

  private onStreamData(conn: StreamConn, chunk: Buffer): void {
    const events = conn.framer.push(chunk);
    for (const ev of events) {
      if (ev.type === 'keepalive') {
        // RFC 5626 §3.5.1: answer a double-CRLF ping with a single CRLF pong.
        conn.socket.write('\r\n');
      } else if (ev.type === 'message') {
        if (conn.firstMessageTimer !== undefined) {
          clearTimeout(conn.firstMessageTimer);
          conn.firstMessageTimer = undefined;
        }
        const r = ev.result;
        if (r.ok) this.deliver(r.message, conn.remote, conn.local);
        else this.rejectUnparsed(r.code, r.reason, r.isRequest ? r.status : undefined, r.fields, conn.remote);
      } else {
        // Framing lost (buffer limit, no Content-Length): the stream cannot be resynchronised.
        this.rejectUnparsed(ev.code, ev.reason, ev.status, ev.fields ?? [], conn.remote);
        conn.socket.end();
        conn.socket.destroySoon?.();
        this.forget(conn);
        return;
      }
    }
  }
}
