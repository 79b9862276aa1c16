/**
 * Test support for the message layer (not exported by the package): the SIP torture corpora
 * (engine/sip/testdata/corpus) and plain-data snapshots of messages, so that two messages can be
 * compared structurally with `t.same`.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { SipMessage } from './message.ts';

/** The project root (two levels above this file). */
export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The RFC 4475 and RFC 5118 torture corpora, fixtures of this repository (testdata/corpus/README.md). */
export const corpusDir = path.resolve(projectRoot, 'engine/sip/testdata/corpus');

/** One corpus message. */
export interface CorpusFile {
  set: 'rfc4475' | 'rfc5118';
  /** File name without `.dat`. */
  name: string;
  bytes: Buffer;
}

/** Every `.dat` file of RFC 4475 and RFC 5118, sorted by set and name. */
export function corpusFiles(): CorpusFile[] {
  const out: CorpusFile[] = [];
  for (const set of ['rfc4475', 'rfc5118'] as const) {
    const dir = path.join(corpusDir, set);
    for (const f of readdirSync(dir).sort()) {
      if (f.endsWith('.dat')) out.push({ set, name: f.slice(0, -4), bytes: readFileSync(path.join(dir, f)) });
    }
  }
  return out;
}

/** Maps become arrays of entries, Buffers hex strings, recursively: data `t.same` compares exactly. */
export function plain(x: unknown): unknown {
  if (x instanceof Map) return [...x.entries()].map(([k, v]) => [plain(k), plain(v)]);
  if (Buffer.isBuffer(x)) return x.toString('hex');
  if (Array.isArray(x)) return x.map(plain);
  if (x !== null && typeof x === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = plain(v);
    return o;
  }
  return x;
}

/** Everything observable of a message (start line, fields, body, hot views) as plain data. */
export function snapshot(m: SipMessage): unknown {
  const h = m.headers;
  return plain({
    start: m.kind === 'request' ? { method: m.method, uriText: m.uriText, uri: m.uri, version: m.version }
      : { status: m.status, reason: m.reason, version: m.version },
    fields: h.fields,
    body: m.body,
    via: h.via,
    from: h.from,
    to: h.to,
    callId: h.callId,
    cseq: h.cseq,
    contentLength: h.contentLength,
    maxForwards: h.maxForwards,
    contact: h.contact,
    route: h.route,
    recordRoute: h.recordRoute,
  });
}
