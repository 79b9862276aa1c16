/**
 * SIP message model (RFC 3261 §7).
 *
 * A message is a start line, an ordered list of header fields and a body. The hot headers that
 * every transaction and dialog needs (top Via, From, To, Call-ID, CSeq, Content-Length,
 * Max-Forwards, Contact) are parsed eagerly by the parser; every other header is kept as its raw
 * value and parsed on first read (CONVENTIONS.md 4).
 *
 * Header names are stored in their canonical long form ("Via", "Call-ID", ...); compact forms
 * ("v", "i", ...) are expanded by the parser and by {@link Headers}.
 *
 * Header values, reason phrases and display names are byte strings: one char per octet (latin1),
 * so that UTF-8 received on the wire is written back unchanged. Use {@link toByteString} /
 * {@link fromByteString} to convert to and from ordinary (Unicode) text.
 */
import { SipHeaders, canonicalName } from './headers.ts';
import { formatUri, parseUri } from './uri.ts';

/** A URI parameter or header parameter value: `null` for a flag parameter such as `;lr`. */
export type ParamValue = string | null;
/**
 * Ordered parameters; keys are lower-case (parameter names are case-insensitive, RFC 3261 §19.1.4).
 * In a parsed message, URI parameters, URI headers and the parameters of Contact / Route /
 * Record-Route values are `LazyMap`s (uri.ts): Maps filled on first use.
 */
export type Params = Map<string, ParamValue>;

/**
 * A SIP, SIPS or TEL URI (RFC 3261 §19.1, RFC 3966), or an absolute URI of another scheme kept as
 * text (`scheme` plus `opaque`).
 *
 * `host` of an IPv6 reference is kept with its brackets (`[2001:db8::10]`) so that it round-trips.
 */
export interface SipUri {
  /** Lower-case scheme: "sip", "sips", "tel", or any other scheme seen in a header. */
  scheme: string;
  /** User part, still %-escaped as received. Empty string when absent. For tel: the number. */
  user: string;
  /** Password part, or undefined. */
  password: string | undefined;
  /** Host (lower-cased for names; brackets kept for IPv6). Empty for tel and opaque URIs. */
  host: string;
  /** Port, or undefined when not given. */
  port: number | undefined;
  params: Params;
  /** `?h=v&...` headers of the URI, still %-escaped. */
  headers: Map<string, string>;
  /** For schemes other than sip/sips/tel: everything after the colon. */
  opaque: string | undefined;
}

/** A name-addr or addr-spec with header parameters: From, To, Contact, Route, Record-Route... */
export interface NameAddr {
  /** Display name without quotes and with `\"` unescaped, or undefined. */
  displayName: string | undefined;
  uri: SipUri;
  /** Header parameters (after the `>`), e.g. `tag`, `expires`, `q`. */
  params: Params;
}

/** One Via value (RFC 3261 §20.42). */
export interface Via {
  /** "SIP/2.0" */
  protocol: string;
  /** Upper-case transport: "UDP", "TCP", "TLS", "SCTP", "WS", or any token. */
  transport: string;
  /** sent-by host, brackets kept for IPv6. */
  host: string;
  /** sent-by port, or undefined. */
  port: number | undefined;
  /** `branch` parameter, or undefined (RFC 2543 peers). */
  branch: string | undefined;
  params: Params;
}

/** CSeq header (RFC 3261 §20.16). */
export interface CSeq {
  seq: number;
  method: string;
}

/** A digest credential or challenge (Authorization, WWW-Authenticate, ...). */
export interface AuthHeader {
  /** Scheme as received, e.g. "Digest". */
  scheme: string;
  /** Parameters with quotes removed; keys lower-case. */
  params: Map<string, string>;
}

/** Headers parsed eagerly by the parser (present on every valid request). */
export interface HotHeaders {
  /** All Via values, top first. */
  via: Via[];
  from: NameAddr;
  to: NameAddr;
  callId: string;
  cseq: CSeq;
  /** Content-Length as declared; undefined over UDP when absent. */
  contentLength: number | undefined;
  maxForwards: number | undefined;
  /** Contact values (empty when absent; `*` is a Contact with uri.host === '*'). */
  contact: NameAddr[];
}

/** Common shape of requests and responses. */
export interface SipMessageBase {
  /** Ordered header fields. */
  readonly headers: Headers;
  /** Message body (may be empty). A view, not a copy, when parsed from a datagram. */
  body: Buffer;
}

export interface SipRequest extends SipMessageBase {
  readonly kind: 'request';
  /** Upper-case as received (methods are case-sensitive, RFC 3261 §7.1). */
  method: string;
  /** Request-URI as text, exactly as received. This is what the serializer writes: change it together with `uri`. */
  uriText: string;
  /** Parsed Request-URI. */
  uri: SipUri;
  /** "SIP/2.0" */
  version: string;
}

export interface SipResponse extends SipMessageBase {
  readonly kind: 'response';
  status: number;
  reason: string;
  version: string;
}

export type SipMessage = SipRequest | SipResponse;

/** One header field: canonical name and raw value (folded lines already joined by one space). */
export interface HeaderField {
  name: string;
  value: string;
}

/**
 * Ordered header list with parsed, cached views of the hot headers.
 *
 * Mutating a header through `set`/`append`/`remove` invalidates its cached parsed view.
 */
export interface Headers {
  /** Raw fields in order. */
  readonly fields: readonly HeaderField[];
  /** First raw value of a header (name in any case, long or compact form). */
  get(name: string): string | undefined;
  /**
   * Every raw value of a header; for headers defined as comma lists (Via, Contact, Route,
   * Supported, Require, Accept, Allow...) each field is split into its elements. Others (Date,
   * Subject, credentials, unknown headers) are returned whole.
   */
  getAll(name: string): string[];
  has(name: string): boolean;
  /** Replace every field of that name by one field. */
  set(name: string, value: string): void;
  /** Add a field at the end (or at the top with `{ first: true }`, as for Via). */
  append(name: string, value: string, opts?: { first?: boolean }): void;
  remove(name: string): void;

  // Parsed views (cached; computed on first read for lazily parsed headers).
  readonly via: Via[];
  readonly from: NameAddr;
  readonly to: NameAddr;
  readonly callId: string;
  readonly cseq: CSeq;
  readonly contentLength: number | undefined;
  readonly maxForwards: number | undefined;
  readonly contact: NameAddr[];
  /** Route values in order (empty when absent). */
  readonly route: NameAddr[];
  /** Record-Route values in order (empty when absent). */
  readonly recordRoute: NameAddr[];
  /** Parsed Authorization / Proxy-Authorization / WWW-Authenticate / Proxy-Authenticate. */
  auth(name: 'Authorization' | 'Proxy-Authorization' | 'WWW-Authenticate' | 'Proxy-Authenticate'): AuthHeader[];
}

// ---- builders ------------------------------------------------------------------------------

/** Ordinary text to a byte string (its UTF-8 octets, one char each) for a header value. */
export function toByteString(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** A byte string (header value, reason phrase) read as UTF-8 text. */
export function fromByteString(bytes: string): string {
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** What {@link createRequest} needs. */
export interface RequestInit {
  method: string;
  /** Request-URI, parsed or as text. */
  uri: SipUri | string;
  /** Header fields in order (From, To, Call-ID, CSeq, Max-Forwards, Via...). Names are canonicalised. */
  headers?: HeaderField[];
  body?: Buffer;
  /** Adds a Content-Type field when there is none. */
  contentType?: string;
}

const EMPTY_BODY = Buffer.alloc(0);

/** Copy fields with canonical names, dropping Content-Length (the builder writes the right one). */
function canonicalFields(fields: readonly HeaderField[] | undefined, into: HeaderField[]): void {
  if (fields === undefined) return;
  for (const f of fields) {
    const name = canonicalName(f.name);
    if (name !== 'Content-Length') into.push({ name, value: f.value });
  }
}

function finishFields(fields: HeaderField[], body: Buffer, contentType: string | undefined): void {
  if (contentType !== undefined && body.length > 0 && !fields.some((f) => f.name === 'Content-Type')) {
    fields.push({ name: 'Content-Type', value: contentType });
  }
  fields.push({ name: 'Content-Length', value: String(body.length) });
}

/**
 * Build a request. The fields are taken in order with canonical names; Content-Length is set to
 * the body length. Throws TypeError when `uri` is text that is not a URI (a programming error).
 */
export function createRequest(init: RequestInit): SipRequest {
  let uri: SipUri;
  let uriText: string;
  if (typeof init.uri === 'string') {
    const u = parseUri(init.uri);
    if (u === undefined) throw new TypeError(`not a URI: ${init.uri}`);
    uri = u;
    uriText = init.uri;
  } else {
    uri = init.uri;
    uriText = formatUri(init.uri);
  }
  const body = init.body ?? EMPTY_BODY;
  const fields: HeaderField[] = [];
  canonicalFields(init.headers, fields);
  finishFields(fields, body, init.contentType);
  return { headers: new SipHeaders(fields), body, kind: 'request', method: init.method, uriText, uri, version: 'SIP/2.0' };
}

/** Options of {@link createResponse}. */
export interface ResponseOptions {
  /** To tag to add when the request's To has none (the UAS's dialog tag, RFC 3261 §8.2.6.2). */
  toTag?: string;
  /** Extra fields after the copied ones (Contact, Allow, Supported...). */
  headers?: HeaderField[];
  body?: Buffer;
  /** Content-Type of `body`. */
  contentType?: string;
}

/**
 * Build a response to `request` per RFC 3261 §8.2.6: every Via in order, From, To (with `toTag`
 * added when given and the To has no tag yet), Call-ID and CSeq copied; Timestamp copied into a
 * 100 (§8.2.6.1); then `opts.headers`, Content-Type and Content-Length.
 */
export function createResponse(request: SipRequest, status: number, reason?: string, opts?: ResponseOptions): SipResponse {
  const fields: HeaderField[] = [];
  let hasTag = true;
  for (const f of request.headers.fields) {
    switch (f.name) {
      case 'Via': case 'From': case 'Call-ID': case 'CSeq':
        fields.push({ name: f.name, value: f.value });
        break;
      case 'To':
        if (opts?.toTag !== undefined) {
          hasTag = request.headers.to.params.has('tag');
          fields.push({ name: 'To', value: hasTag ? f.value : f.value + ';tag=' + opts.toTag });
        } else {
          fields.push({ name: 'To', value: f.value });
        }
        break;
      case 'Timestamp':
        if (status === 100) fields.push({ name: f.name, value: f.value });
        break;
      default:
        break;
    }
  }
  const body = opts?.body ?? EMPTY_BODY;
  canonicalFields(opts?.headers, fields);
  finishFields(fields, body, opts?.contentType);
  return { headers: new SipHeaders(fields), body, kind: 'response', status, reason: reason ?? reasonPhrase(status), version: 'SIP/2.0' };
}

/** Reason phrases of RFC 3261 §21 and the extensions in common use. */
const PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying', 180: 'Ringing', 181: 'Call Is Being Forwarded', 182: 'Queued', 183: 'Session Progress',
  199: 'Early Dialog Terminated',
  200: 'OK', 202: 'Accepted', 204: 'No Notification',
  300: 'Multiple Choices', 301: 'Moved Permanently', 302: 'Moved Temporarily', 305: 'Use Proxy', 380: 'Alternative Service',
  400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
  405: 'Method Not Allowed', 406: 'Not Acceptable', 407: 'Proxy Authentication Required', 408: 'Request Timeout',
  410: 'Gone', 412: 'Conditional Request Failed', 413: 'Request Entity Too Large', 414: 'Request-URI Too Long',
  415: 'Unsupported Media Type', 416: 'Unsupported URI Scheme', 417: 'Unknown Resource-Priority', 420: 'Bad Extension',
  421: 'Extension Required', 422: 'Session Interval Too Small', 423: 'Interval Too Brief',
  428: 'Use Identity Header', 429: 'Provide Referrer Identity', 430: 'Flow Failed', 433: 'Anonymity Disallowed',
  436: 'Bad Identity Info', 437: 'Unsupported Credential', 438: 'Invalid Identity Header',
  439: 'First Hop Lacks Outbound Support', 440: 'Max-Breadth Exceeded', 469: 'Bad Info Package',
  470: 'Consent Needed', 480: 'Temporarily Unavailable', 481: 'Call/Transaction Does Not Exist', 482: 'Loop Detected',
  483: 'Too Many Hops', 484: 'Address Incomplete', 485: 'Ambiguous', 486: 'Busy Here', 487: 'Request Terminated',
  488: 'Not Acceptable Here', 489: 'Bad Event', 491: 'Request Pending', 493: 'Undecipherable',
  494: 'Security Agreement Required',
  500: 'Server Internal Error', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable',
  504: 'Server Time-out', 505: 'Version Not Supported', 513: 'Message Too Large', 555: 'Push Notification Service Not Supported',
  580: 'Precondition Failure',
  600: 'Busy Everywhere', 603: 'Decline', 604: 'Does Not Exist Anywhere', 606: 'Not Acceptable',
  607: 'Unwanted', 608: 'Rejected',
};

/** The standard reason phrase of a status code; for an unknown code, that of its class (`x00`). */
export function reasonPhrase(status: number): string {
  return PHRASES[status] ?? PHRASES[Math.floor(status / 100) * 100] ?? 'Unknown';
}
