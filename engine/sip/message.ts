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
 */

/** A URI parameter or header parameter value: `null` for a flag parameter such as `;lr`. */
export type ParamValue = string | null;
/** Ordered parameters; keys are lower-case (parameter names are case-insensitive, RFC 3261 §19.1.4). */
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
  /** Request-URI as text, exactly as received. */
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
  /** Every raw value of a header, comma-separated lists split into their elements. */
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
