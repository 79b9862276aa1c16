/**
 * A client of rtpengine's ng control protocol: bencoded dictionaries over UDP, each message
 * prefixed by a cookie that the reply repeats.
 *
 * ```
 *  request  "<cookie> d7:command4:pinge"
 *  reply    "<cookie> d6:result4:ponge"
 *           "<cookie> d6:result5:error12:error-reason...e"
 * ```
 *
 * A request is sent again every `retransmitMs` with the same cookie until a reply or `timeoutMs`:
 * rtpengine keeps the reply of each cookie for a while and answers a repeated cookie with it,
 * so a retransmitted offer never allocates a second set of ports. Every reply is hostile input:
 * parsed from the datagram, checked field by field; no method throws or rejects.
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import { decode, encode, type BDict, type BValue } from './bencode.ts';

/** Why a request got no usable answer (the `RTPENGINE_ERR_` registry). */
export type NgErrorCode =
  /** No reply within the timeout (rtpengine down, or the reply lost every time). */
  | 'RTPENGINE_ERR_TIMEOUT'
  /** rtpengine answered `result: error` (its `error-reason` is the reason). */
  | 'RTPENGINE_ERR_REFUSED'
  /** A reply for this request that is not a bencoded dictionary with the fields the command needs. */
  | 'RTPENGINE_ERR_REPLY'
  /** The request could not be sent (socket error), or the client is closed. */
  | 'RTPENGINE_ERR_SEND'
  /** The request itself is not encodable (a non-byte string in a field: our bug, reported not thrown). */
  | 'RTPENGINE_ERR_REQUEST';

/** An answer: the command's value, or why there is none. */
export type NgResult<T> = { ok: true; value: T } | { ok: false; code: NgErrorCode; reason: string };

/** Where rtpengine listens and how long to wait. */
export interface NgClientOptions {
  /** rtpengine's `--listen-ng` address (IP literal). */
  address: string;
  port: number;
  /** Give up on a request after this long (ms). Default 1000. */
  timeoutMs?: number;
  /** Send the request again after this long without a reply (ms). Default 250. */
  retransmitMs?: number;
}

/** What an offer or answer sends with the SDP. */
export interface NgSdpRequest {
  callId: string;
  fromTag: string;
  /** The SDP of the side the request is for (offer: from-tag's, answer: to-tag's). */
  sdp: string;
  /** ng flags (e.g. `asymmetric`), passed as they are. */
  flags?: string[];
}

/** A media endpoint: what rtpengine wrote in the SDP it returned. */
export interface NgSession {
  /** The rewritten SDP, to give the other side. */
  sdp: string;
}

/** Counters of one party (tag) of a call, from `query`. */
export interface NgTagStats {
  /** RTP packets received from this party. */
  packets: number;
  bytes: number;
  errors: number;
}

/** The answer of `query`. */
export interface NgQuery {
  /** Unix seconds the call was created. */
  created: number;
  /** Per party (from-tag / to-tag). */
  tags: Map<string, NgTagStats>;
  /** RTP packets rtpengine received for the whole call (its `totals`). */
  packets: number;
}

/** Longest datagram accepted as a reply; rtpengine's are well below. */
const MAX_REPLY = 65_507;

interface Pending {
  resolve: (r: NgResult<BDict>) => void;
  packet: Buffer;
  retransmit: NodeJS.Timeout;
  deadline: NodeJS.Timeout;
}

/** One UDP socket to one rtpengine. `close()` is idempotent; pending requests end `RTPENGINE_ERR_SEND`. */
export class NgClient {
  private readonly socket: dgram.Socket;
  private readonly pending = new Map<string, Pending>();
  private readonly timeoutMs: number;
  private readonly retransmitMs: number;
  private readonly address: string;
  private readonly port: number;
  private closed = false;
  private seq = 0;
  private readonly prefix: string;
  /** Requests sent again for want of a reply (a count for metrics and tests). */
  retransmissions = 0;
  /** Datagrams that matched no request or were not a reply at all. */
  ignored = 0;
  /** Errors the socket raised (a send error is also its request's result). */
  socketErrors = 0;

  private constructor(socket: dgram.Socket, o: NgClientOptions) {
    this.socket = socket;
    this.address = o.address;
    this.port = o.port;
    this.timeoutMs = o.timeoutMs ?? 1000;
    this.retransmitMs = o.retransmitMs ?? 250;
    // Cookies unique across restarts of this process too: rtpengine caches replies by cookie.
    this.prefix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
    socket.on('message', (msg) => this.onMessage(msg));
    // A send error is reported by the send callback too; this keeps it from being an uncaught 'error'.
    socket.on('error', () => { this.socketErrors++; });
  }

  /** Bind a socket for `o.address` (no request is sent). */
  static async open(o: NgClientOptions): Promise<NgClient> {
    const family = isIP(o.address);
    if (family === 0) throw new TypeError(`rtpengine address ${o.address} is not an IP literal`);
    const socket = dgram.createSocket(family === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, family === 6 ? '::' : '0.0.0.0', () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new NgClient(socket, o);
  }

  /** `ping`: resolves ok when rtpengine answers `pong`. */
  async ping(): Promise<NgResult<null>> {
    const r = await this.request({ command: 'ping' });
    if (!r.ok) return r;
    return r.value['result'] === 'pong' ? { ok: true, value: null } : replyError('ping answered without "pong"');
  }

  /** `offer`: the offerer's (from-tag's) SDP in, the SDP for the answerer out. */
  offer(o: NgSdpRequest): Promise<NgResult<NgSession>> {
    return this.sdpCommand({ command: 'offer', 'call-id': o.callId, 'from-tag': o.fromTag, sdp: o.sdp, ...(o.flags ? { flags: o.flags } : {}) });
  }

  /** `answer`: the answerer's (to-tag's) SDP in, the SDP for the offerer out. */
  answer(o: NgSdpRequest & { toTag: string }): Promise<NgResult<NgSession>> {
    return this.sdpCommand({
      command: 'answer', 'call-id': o.callId, 'from-tag': o.fromTag, 'to-tag': o.toTag, sdp: o.sdp, ...(o.flags ? { flags: o.flags } : {}),
    });
  }

  /** `delete`: the whole call (or one party with `fromTag`). */
  async delete(o: { callId: string; fromTag?: string }): Promise<NgResult<null>> {
    const r = await this.request({ command: 'delete', 'call-id': o.callId, ...(o.fromTag !== undefined ? { 'from-tag': o.fromTag } : {}) });
    if (!r.ok) return r;
    return r.value['result'] === 'ok' ? { ok: true, value: null } : replyError('delete answered without "ok"');
  }

  /** `query`: a call's counters, per party and in total. */
  async query(o: { callId: string }): Promise<NgResult<NgQuery>> {
    const r = await this.request({ command: 'query', 'call-id': o.callId });
    if (!r.ok) return r;
    return parseQuery(r.value);
  }

  /** Close the socket; requests in flight end with `RTPENGINE_ERR_SEND`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const [cookie, p] of this.pending) this.settle(cookie, p, { ok: false, code: 'RTPENGINE_ERR_SEND', reason: 'client closed' });
    this.socket.close();
  }

  private async sdpCommand(req: BDict): Promise<NgResult<NgSession>> {
    const r = await this.request(req);
    if (!r.ok) return r;
    const sdp = r.value['sdp'];
    if (r.value['result'] !== 'ok' || typeof sdp !== 'string' || sdp.length === 0) return replyError(`${String(req['command'])} answered without an SDP`);
    return { ok: true, value: { sdp } };
  }

  /** Send one command; the reply's `result: error` becomes `RTPENGINE_ERR_REFUSED`. */
  request(req: BDict): Promise<NgResult<BDict>> {
    if (this.closed) return Promise.resolve({ ok: false, code: 'RTPENGINE_ERR_SEND', reason: 'client closed' });
    const cookie = `${this.prefix}_${(this.seq++).toString(36)}`;
    let body: Buffer;
    try {
      body = encode(req);
    } catch (err) {
      return Promise.resolve({ ok: false, code: 'RTPENGINE_ERR_REQUEST', reason: (err as Error).message });
    }
    const packet = Buffer.concat([Buffer.from(`${cookie} `, 'latin1'), body]);
    return new Promise((resolve) => {
      const p: Pending = {
        resolve, packet,
        retransmit: setInterval(() => {
          this.retransmissions++;
          this.send(cookie, p);
        }, this.retransmitMs),
        deadline: setTimeout(() => this.settle(cookie, p, {
          ok: false, code: 'RTPENGINE_ERR_TIMEOUT', reason: `no reply from ${this.address}:${this.port} within ${this.timeoutMs} ms`,
        }), this.timeoutMs),
      };
      this.pending.set(cookie, p);
      this.send(cookie, p);
    });
  }

  private send(cookie: string, p: Pending): void {
    this.socket.send(p.packet, this.port, this.address, (err) => {
      if (err) this.settle(cookie, p, { ok: false, code: 'RTPENGINE_ERR_SEND', reason: err.message });
    });
  }

  private settle(cookie: string, p: Pending, r: NgResult<BDict>): void {
    if (this.pending.get(cookie) !== p) return;
    this.pending.delete(cookie);
    clearInterval(p.retransmit);
    clearTimeout(p.deadline);
    p.resolve(r);
  }

  private onMessage(msg: Buffer): void {
    const r = parseReply(msg);
    const p = r.ok ? this.pending.get(r.cookie) : undefined;
    if (!r.ok || p === undefined) {
      // Not ours (a late reply after the timeout, a stray datagram): the request keeps waiting.
      this.ignored++;
      return;
    }
    this.settle(r.cookie, p, r.result);
  }
}

/** A datagram from rtpengine: its cookie and the outcome it carries, or why it is no reply. */
export type ParsedReply = { ok: true; cookie: string; result: NgResult<BDict> } | { ok: false; reason: string };

/**
 * Parse one reply datagram: `<cookie> <bencoded dictionary>`. A reply with a known cookie but a
 * broken body is still that request's reply (`RTPENGINE_ERR_REPLY`): waiting longer would not mend it.
 */
export function parseReply(msg: Buffer): ParsedReply {
  if (msg.length > MAX_REPLY) return { ok: false, reason: 'datagram too long' };
  const space = msg.indexOf(0x20);
  if (space <= 0 || space > 128) return { ok: false, reason: 'no cookie' };
  const cookie = msg.toString('latin1', 0, space);
  const body = decode(msg, space + 1);
  if (!body.ok) return { ok: true, cookie, result: replyError(`bad bencode at ${body.offset}: ${body.reason}`) };
  const v = body.value;
  if (!isDict(v)) return { ok: true, cookie, result: replyError('reply is not a dictionary') };
  const result = v['result'];
  if (typeof result !== 'string') return { ok: true, cookie, result: replyError('reply without a result') };
  if (result === 'error') {
    const why = v['error-reason'];
    return { ok: true, cookie, result: { ok: false, code: 'RTPENGINE_ERR_REFUSED', reason: typeof why === 'string' ? why.slice(0, 200) : 'error without a reason' } };
  }
  return { ok: true, cookie, result: { ok: true, value: v } };
}

/**
 * The counters of a `query` reply. rtpengine's shape (10.x):
 * `{ created, totals: { RTP: { packets, bytes, errors } }, tags: { <tag>: { medias: [ { streams: [ { stats: {...} } ] } ] } } }`.
 * Missing parts count as zero; a part of the wrong type is a bad reply.
 */
export function parseQuery(v: BDict): NgResult<NgQuery> {
  if (v['result'] !== 'ok') return replyError('query answered without "ok"');
  const created = v['created'];
  const tagsV = v['tags'];
  if (typeof created !== 'number' || !isDict(tagsV)) return replyError('query reply without created or tags');
  const tags = new Map<string, NgTagStats>();
  for (const [tag, t] of Object.entries(tagsV)) {
    if (!isDict(t)) return replyError(`query: tag ${tag.slice(0, 40)} is not a dictionary`);
    const s: NgTagStats = { packets: 0, bytes: 0, errors: 0 };
    const medias = t['medias'] ?? [];
    if (!Array.isArray(medias)) return replyError('query: medias is not a list');
    for (const m of medias) {
      const streams = isDict(m) ? (m['streams'] ?? []) : undefined;
      if (!Array.isArray(streams)) return replyError('query: streams is not a list');
      for (const st of streams) {
        const stats = isDict(st) ? st['stats'] : undefined;
        if (stats === undefined) continue;
        if (!isDict(stats)) return replyError('query: stats is not a dictionary');
        s.packets += count(stats['packets']);
        s.bytes += count(stats['bytes']);
        s.errors += count(stats['errors']);
      }
    }
    tags.set(tag, s);
  }
  const totals = v['totals'];
  const rtp = isDict(totals) ? totals['RTP'] : undefined;
  const packets = isDict(rtp) ? count(rtp['packets']) : [...tags.values()].reduce((n, s) => n + s.packets, 0);
  return { ok: true, value: { created, tags, packets } };
}

function count(v: BValue | undefined): number {
  return typeof v === 'number' && v >= 0 ? v : 0;
}

function isDict(v: BValue | undefined): v is BDict {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function replyError(reason: string): { ok: false; code: 'RTPENGINE_ERR_REPLY'; reason: string } {
  return { ok: false, code: 'RTPENGINE_ERR_REPLY', reason };
}
