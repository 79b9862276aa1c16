/**
 * Telling the proxies in front that this node is the active one now (issue 19, takeover <= 3 s).
 *
 * Kamailio's dispatcher learns who is up only by its OPTIONS probe, at whole seconds
 * (`ds_ping_interval`): a standby that takes the lease just after a probe answered 503 stays out
 * of routing until the next one, up to a second of takeover for nothing. So the node remembers who
 * probed it while it refused (the 503s of {@link standbyGate}), and the moment it becomes active it
 * sends each of them one OPTIONS carrying the header below; deploy/kamailio/kamailio.cfg then marks
 * this node up and every other node of the set down at once (a second active cannot exist: the
 * lease has one holder).
 *
 * ```
 *  OPTIONS sip:PROXY SIP/2.0
 *  X-Onair-Active: epoch=8            the lease epoch this node took (the fencing token)
 * ```
 * The epoch lets the proxy ignore an older node's announcement arriving late. The list is bounded
 * and forgets quiet sources: anyone may send OPTIONS, and a spoofed source costs one OPTIONS per
 * takeover at most.
 */
import type { Endpoint, RequestOptions, SipResponse } from '../sip/index.ts';

/** The announcement header (deploy/kamailio/kamailio.cfg reads it). */
export const ACTIVE_HEADER = 'X-Onair-Active';

/** Options of {@link Probers}. */
export interface ProbersOptions {
  /** Most sources kept (the most recent win). Default 8. */
  max?: number;
  /** A source not heard from for this long is forgotten (ms). Default 30000 (a probe is every second or few). */
  forgetMs?: number;
}

/** The sources of the OPTIONS requests this node refused (the proxies probing it). */
export class Probers {
  readonly #max: number;
  readonly #forgetMs: number;
  /** key `transport address port` → source and when last heard; Map order is the recency order. */
  readonly #seen = new Map<string, { source: Endpoint; at: number }>();

  constructor(o: ProbersOptions = {}) {
    this.#max = o.max ?? 8;
    this.#forgetMs = o.forgetMs ?? 30_000;
  }

  /** An OPTIONS from `source` was refused at `now` (ms). */
  seen(source: Endpoint, now: number): void {
    const key = `${source.transport} ${source.address} ${source.port}`;
    this.#seen.delete(key);
    // Only what a reply needs: not the connection of a TCP request (it may be gone by the takeover).
    this.#seen.set(key, { source: { transport: source.transport, address: source.address, port: source.port }, at: now });
    if (this.#seen.size > this.#max) this.#seen.delete(this.#seen.keys().next().value!);
  }

  /** The sources heard from within `forgetMs` of `now`, oldest first. */
  recent(now: number): Endpoint[] {
    return [...this.#seen.values()].filter((s) => now - s.at <= this.#forgetMs).map((s) => s.source);
  }
}

/** What {@link announceActive} needs of the user agent. */
export interface AnnounceUa {
  request(o: RequestOptions): Promise<SipResponse | 'timeout' | 'transport'>;
}

/** The result of one announcement, per proxy. */
export interface Announced {
  to: Endpoint;
  /** The proxy's final status, or why there is none. */
  result: number | 'timeout' | 'transport' | 'error';
}

/** Send `X-Onair-Active: epoch=EPOCH` in an OPTIONS to every recent prober; resolves when all have answered or timed out. */
export async function announceActive(ua: AnnounceUa, to: readonly Endpoint[], epoch: number): Promise<Announced[]> {
  return Promise.all(to.map(async (destination): Promise<Announced> => {
    const host = destination.address.includes(':') ? `[${destination.address}]` : destination.address;
    try {
      const r = await ua.request({
        method: 'OPTIONS', target: `sip:${host}:${destination.port}`, destination, headers: [{ name: ACTIVE_HEADER, value: `epoch=${epoch}` }],
      });
      return { to: destination, result: typeof r === 'string' ? r : r.status };
    } catch {
      // No listener for that transport (a TCP prober and no TCP now): nothing sent.
      return { to: destination, result: 'error' };
    }
  }));
}
