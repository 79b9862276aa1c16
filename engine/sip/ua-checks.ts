/**
 * Request inspection a UAS does before it processes a request (RFC 3261 §8.2.1–§8.2.3): method,
 * Request-URI scheme, Require, Content-Type/Content-Encoding and Accept. A failed check names the
 * status to answer and the headers that must go with it (Allow, Unsupported, Accept...).
 *
 * Pure: it reads the request and the capabilities, and sends nothing.
 */
import type { HeaderField, SipRequest } from './message.ts';

/** What this user agent supports; the answers to failed checks advertise it. */
export interface UaCapabilities {
  /** Methods the UA implements (Allow). Others get 405 if known to SIP, 501 if not. */
  methods: readonly string[];
  /** Option tags understood in Require (Supported): e.g. `timer`, `100rel` not included. */
  extensions: readonly string[];
  /** Body types the UA accepts (Accept). */
  contentTypes: readonly string[];
  /** Request-URI schemes the UA accepts. */
  uriSchemes: readonly string[];
}

/**
 * A UAS for calls: INVITE sessions, registration, OPTIONS pings, in-dialog requests. REFER is not
 * offered (nor RFC 4488 `norefersub`): an in-dialog REFER is declined 603 until transfer by REFER
 * exists, and advertising it in Allow made phones try it (issue 12).
 */
export const defaultCapabilities: UaCapabilities = {
  methods: ['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'INFO', 'UPDATE', 'NOTIFY', 'PRACK', 'MESSAGE'],
  extensions: ['timer', 'replaces'],
  contentTypes: ['application/sdp', 'application/dtmf-relay', 'application/dtmf', 'message/sipfrag', 'text/plain'],
  uriSchemes: ['sip', 'sips', 'tel'],
};

/** Methods defined by SIP and its common extensions: a request for one we do not do is 405, not 501. */
const KNOWN_METHODS = new Set(['INVITE', 'ACK', 'BYE', 'CANCEL', 'OPTIONS', 'REGISTER', 'INFO', 'UPDATE', 'REFER',
  'NOTIFY', 'SUBSCRIBE', 'PRACK', 'MESSAGE', 'PUBLISH']);

export type CheckResult =
  | { ok: true }
  | { ok: false; status: number; reason: string; headers: HeaderField[] };

const OK: CheckResult = { ok: true };

/** Split a comma list of tokens, trimmed, lower-cased, empties dropped. */
function tokens(values: string[]): string[] {
  const out: string[] = [];
  for (const v of values) for (const p of v.split(',')) {
    const s = p.trim().toLowerCase();
    if (s) out.push(s);
  }
  return out;
}

/** The media type of a Content-Type/Accept element, without parameters, lower-case. */
function mediaType(value: string): string {
  const semi = value.indexOf(';');
  return (semi < 0 ? value : value.slice(0, semi)).trim().toLowerCase();
}

/**
 * Inspect a request per RFC 3261 §8.2 in the order the RFC gives. ACK is never answered (§17.2.3),
 * and neither Require nor body checks apply to CANCEL (§8.2.2.3).
 */
export function checkRequest(req: SipRequest, caps: UaCapabilities = defaultCapabilities): CheckResult {
  const method = req.method;
  if (method === 'ACK') return OK;
  const allow: HeaderField = { name: 'Allow', value: caps.methods.join(', ') };

  // §8.2.1 method inspection.
  if (!caps.methods.includes(method)) {
    return KNOWN_METHODS.has(method)
      ? { ok: false, status: 405, reason: 'Method Not Allowed', headers: [allow] }
      : { ok: false, status: 501, reason: 'Not Implemented', headers: [allow] };
  }

  // §8.2.2.1 Request-URI scheme.
  if (!caps.uriSchemes.includes(req.uri.scheme)) {
    return { ok: false, status: 416, reason: 'Unsupported URI Scheme', headers: [] };
  }
  if (method === 'CANCEL') return OK;

  // §8.2.2.3 Require: every option tag must be one we support.
  const required = tokens(req.headers.getAll('Require'));
  if (required.length > 0) {
    const unsupported = required.filter((tag) => !caps.extensions.includes(tag));
    if (unsupported.length > 0) {
      return { ok: false, status: 420, reason: 'Bad Extension', headers: [{ name: 'Unsupported', value: unsupported.join(', ') }] };
    }
  }

  // §8.2.3 content processing: a body we cannot understand is 415 with what we accept.
  const accept: HeaderField = { name: 'Accept', value: caps.contentTypes.join(', ') };
  if (req.body.length > 0) {
    const ct = req.headers.get('Content-Type');
    const type = ct === undefined ? 'application/sdp' : mediaType(ct);
    if (!caps.contentTypes.includes(type) && !type.startsWith('multipart/')) {
      return { ok: false, status: 415, reason: 'Unsupported Media Type', headers: [accept] };
    }
    const encodings = tokens(req.headers.getAll('Content-Encoding')).filter((e) => e !== 'identity');
    if (encodings.length > 0) {
      return { ok: false, status: 415, reason: 'Unsupported Media Type', headers: [{ name: 'Accept-Encoding', value: 'identity' }] };
    }
  }

  // §8.2.3 / §21.4.7: an INVITE whose Accept excludes SDP leaves us no answer body to send (406).
  if (method === 'INVITE' && req.headers.has('Accept')) {
    const acceptable = tokens(req.headers.getAll('Accept')).map(mediaType);
    const ok = acceptable.length === 0 || acceptable.some((a) => a === 'application/sdp' || a === 'application/*' || a === '*/*');
    if (!ok) return { ok: false, status: 406, reason: 'Not Acceptable', headers: [accept] };
  }
  return OK;
}
