/**
 * Fan-out of CTI events to WebSocket clients (agent desktops, wallboards).
 *
 * ```
 *  engine ──publish(CtiEvent)──▶ EventHub ──JSON once──▶ client (no filter)
 *                                   │      └──────────▶ client ?agent=1001 (its own events only)
 *  every queueUpdateMs ─ queue views ┘ changed queues ─▶ every client
 * ```
 *
 * The engine is never blocked by a client: `publish` is synchronous and only queues bytes on each
 * socket. A client whose unsent bytes exceed `maxBufferedBytes` is reading too slowly; it is cut
 * (`terminate`, no close handshake: that would wait behind the same unsent bytes) and counted in
 * `onair_api_event_clients_dropped_total`. Clients that stop answering pings are cut the same way.
 */
import type { Metrics } from './metrics.ts';
import type { CtiEvent, QueueView } from './types.ts';
import { maskedEvent } from './masking.ts';
import { eventAgent, wireEvent, type HelloMessage } from './views.ts';

/** The part of a `ws` WebSocket the hub uses (so tests and other servers can plug in). */
export interface EventSocket {
  /** 1 = OPEN. */
  readonly readyState: number;
  /** Bytes queued and not yet handed to the kernel. */
  readonly bufferedAmount: number;
  send(data: string): void;
  ping(): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'close' | 'pong', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** Options of {@link EventHub}. */
export interface EventHubOptions {
  /** Unsent bytes above which a client is dropped. Default 1 MiB. */
  maxBufferedBytes?: number;
  /** Period of queue updates while clients are connected; 0 = none. Default 1000 ms. */
  queueUpdateMs?: number;
  /** Ping period; a client that did not answer the previous ping is dropped. 0 = none. Default 30 000 ms. */
  pingIntervalMs?: number;
  /** Most connected clients; the server refuses more (each may hold `maxBufferedBytes`). Default 500. */
  maxClients?: number;
  /** Wall clock for `at` fields (epoch ms). Default `Date.now`. */
  now?: () => number;
  /** An agent's team, for clients limited to teams (a supervisor's). Default: no agent has one. */
  teamOf?: (agentId: string) => string | null;
}

const OPEN = 1;
/** Close code 1001: the server is going away. */
const GOING_AWAY = 1001;

interface Client {
  socket: EventSocket;
  agent: string | null;
  /** Teams whose agents' events alone this client receives (a supervisor's), or null for all. */
  teams: ReadonlySet<string> | null;
  /** Callers' numbers masked for this client (its user's role). */
  masked: boolean;
  alive: boolean;
}

/** Fan-out of events to connected clients with per-client back-pressure limits. */
export class EventHub {
  private readonly teamOf: (agentId: string) => string | null;
  private readonly clients = new Set<Client>();
  private readonly maxBufferedBytes: number;
  private readonly queueUpdateMs: number;
  private readonly pingIntervalMs: number;
  private readonly maxClients: number;
  private readonly now: () => number;
  /** Last JSON sent per queue id, to send only what changed. */
  private readonly lastQueueJson = new Map<string, string>();
  private queueTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly queues: () => QueueView[],
    private readonly metrics: Metrics,
    options: EventHubOptions = {},
  ) {
    this.maxBufferedBytes = options.maxBufferedBytes ?? 1 << 20;
    this.queueUpdateMs = options.queueUpdateMs ?? 1000;
    this.pingIntervalMs = options.pingIntervalMs ?? 30_000;
    this.maxClients = options.maxClients ?? 500;
    this.now = options.now ?? Date.now;
    this.teamOf = options.teamOf ?? (() => null);
  }

  /** Connected clients. */
  get size(): number {
    return this.clients.size;
  }

  /** True when no more clients are taken (checked before the WebSocket upgrade). */
  get full(): boolean {
    return this.clients.size >= this.maxClients;
  }

  /**
   * Take a new connection: send `hello` and the current figures of every queue, then events as
   * they come. `agent` restricts the connection to that agent's events (plus queue updates);
   * `masked` masks callers' numbers in what it receives.
   */
  add(socket: EventSocket, agent: string | null, masked = false, teams: ReadonlySet<string> | null = null): void {
    if (this.closed) {
      socket.close(GOING_AWAY, 'shutting down');
      return;
    }
    const first = this.clients.size === 0;
    const client: Client = { socket, agent, teams, masked, alive: true };
    this.clients.add(client);
    socket.on('close', () => this.remove(client));
    // Without a listener a socket error would be thrown; the close that follows removes the client.
    socket.on('error', () => {});
    socket.on('pong', () => { client.alive = true; });
    const hello: HelloMessage = { type: 'hello', at: this.now(), agent };
    if (!this.send(client, JSON.stringify(hello))) return;
    if (this.queueUpdateMs > 0) {
      const at = this.now();
      for (const q of this.queues()) {
        const json = JSON.stringify(q);
        // The only client has now seen this; with others, the diff stays theirs.
        if (first) this.lastQueueJson.set(q.id, json);
        if (!this.send(client, queueUpdate(at, json))) return;
      }
    }
    this.startTimers();
  }

  /** Send an engine event to every client it concerns. Never throws, never waits. */
  publish(event: CtiEvent): void {
    if (this.clients.size === 0) return;
    const agent = eventAgent(event);
    let data: string | null = null;
    let masked: string | null = null;
    let team: string | null | undefined;
    for (const c of this.clients) {
      if (c.agent !== null && c.agent !== agent) continue;
      if (c.teams !== null && agent !== null && !c.teams.has((team ??= this.teamOf(agent)) ?? '')) continue;
      // Each form serialized once per event, whatever the number of clients.
      if (c.masked) this.send(c, masked ??= JSON.stringify(maskedEvent(wireEvent(event))));
      else this.send(c, data ??= JSON.stringify(wireEvent(event)));
    }
  }

  /** Send `queue.update` for every queue whose view changed since the last round. */
  pushQueueUpdates(): void {
    if (this.clients.size === 0) return;
    const at = this.now();
    for (const q of this.queues()) {
      const json = JSON.stringify(q);
      if (this.lastQueueJson.get(q.id) === json) continue;
      this.lastQueueJson.set(q.id, json);
      const data = queueUpdate(at, json);
      for (const c of this.clients) this.send(c, data);
    }
  }

  /** Close every connection (1001) and stop the timers. Idempotent. */
  close(): void {
    this.closed = true;
    this.stopTimers();
    for (const c of this.clients) c.socket.close(GOING_AWAY, 'shutting down');
    this.clients.clear();
  }

  /**
   * Queue `data` on the client's socket, or drop the client when it is too far behind. String
   * length stands in for bytes: the JSON is ASCII but for names, and the limit is a bound, not a quota.
   */
  private send(c: Client, data: string): boolean {
    if (c.socket.readyState !== OPEN) return false;
    if (c.socket.bufferedAmount + data.length > this.maxBufferedBytes) {
      this.drop(c);
      this.metrics.eventClientDropped();
      return false;
    }
    c.socket.send(data);
    return true;
  }

  private drop(c: Client): void {
    this.remove(c);
    c.socket.terminate();
  }

  private remove(c: Client): void {
    if (!this.clients.delete(c)) return;
    if (this.clients.size === 0) {
      this.stopTimers();
      // A client that connects later gets the full picture anyway; start the diff afresh.
      this.lastQueueJson.clear();
    }
  }

  private ping(): void {
    for (const c of this.clients) {
      if (!c.alive) {
        this.drop(c);
        continue;
      }
      c.alive = false;
      c.socket.ping();
    }
  }

  private startTimers(): void {
    if (this.queueUpdateMs > 0 && this.queueTimer === null) {
      this.queueTimer = setInterval(() => this.pushQueueUpdates(), this.queueUpdateMs).unref();
    }
    if (this.pingIntervalMs > 0 && this.pingTimer === null) {
      this.pingTimer = setInterval(() => this.ping(), this.pingIntervalMs).unref();
    }
  }

  private stopTimers(): void {
    if (this.queueTimer !== null) clearInterval(this.queueTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.queueTimer = null;
    this.pingTimer = null;
  }
}

/** A `queue.update` message around an already serialized queue view. */
function queueUpdate(at: number, queueJson: string): string {
  return `{"type":"queue.update","at":${at},"queue":${queueJson}}`;
}
