/**
 * Dialogs (RFC 3261 §12): the peer-to-peer SIP relationship an INVITE creates, identified by
 * Call-ID, local tag and remote tag. A dialog knows its route set, remote target and CSeq spaces,
 * builds in-dialog requests (§12.2.1.1) and checks the CSeq of those it receives (§12.2.2).
 *
 * Pure state: sending and transactions belong to the user agent (`ua.ts`).
 */
import type { HeaderField, NameAddr, SipRequest, SipResponse, SipUri } from './message.ts';
import { createRequest } from './message.ts';
import { formatNameAddr, formatUri, parseNameAddr, parseUri } from './uri.ts';

/** `early` after a 1xx with a To tag, `confirmed` after a 2xx, `terminated` after BYE or failure. */
export type DialogState = 'early' | 'confirmed' | 'terminated';

/** Key of a dialog in a map: Call-ID, local tag, remote tag. */
export function dialogKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}

/** RFC 4028 session timer as agreed for this dialog. */
export interface SessionTimer {
  /** Session interval in seconds. */
  interval: number;
  /** Who refreshes: `uac` or `uas` of the dialog-creating INVITE. */
  refresher: 'uac' | 'uas';
}

/**
 * A confirmed dialog as plain JSON data (URIs and name-addrs as their text): what another process
 * needs to go on with it — answer the peer's requests and send its own (issue 19: a new active
 * node ends the calls rtpengine relays for a node that died). See {@link Dialog.snapshot}.
 */
export interface DialogSnapshot {
  role: 'uac' | 'uas';
  callId: string;
  localTag: string;
  remoteTag: string;
  local: string;
  remote: string;
  remoteTarget: string;
  routeSet: string[];
  localSeq: number;
  remoteSeq: number | null;
  secure: boolean;
  localContact: string;
}

export class Dialog {
  state: DialogState;
  readonly role: 'uac' | 'uas';
  readonly callId: string;
  readonly localTag: string;
  remoteTag: string;
  /** Our URI and display (From for a UAC, To for a UAS) without tag parameters. */
  readonly local: NameAddr;
  readonly remote: NameAddr;
  /** Contact of the peer: where in-dialog requests go when the route set is empty. */
  remoteTarget: SipUri;
  /** Route set, in the order in-dialog requests carry it (§12.1.1 / §12.1.2). */
  readonly routeSet: NameAddr[];
  /** Last CSeq we used; incremented for every new in-dialog request except ACK and CANCEL. */
  localSeq: number;
  /** Highest CSeq received from the peer, or undefined before its first in-dialog request. */
  remoteSeq: number | undefined;
  /** True when the dialog was set up over sips/TLS end to end. */
  readonly secure: boolean;
  /** Our Contact, put in every in-dialog request and target-refresh response. */
  readonly localContact: NameAddr;
  /** Session timer agreed at setup, if any. */
  sessionTimer: SessionTimer | undefined;
  /** Free slot for the layer above (the call this dialog belongs to). */
  owner: unknown;

  private constructor(init: {
    state: DialogState; role: 'uac' | 'uas'; callId: string; localTag: string; remoteTag: string;
    local: NameAddr; remote: NameAddr; remoteTarget: SipUri; routeSet: NameAddr[]; localSeq: number;
    remoteSeq: number | undefined; secure: boolean; localContact: NameAddr;
  }) {
    this.state = init.state;
    this.role = init.role;
    this.callId = init.callId;
    this.localTag = init.localTag;
    this.remoteTag = init.remoteTag;
    this.local = init.local;
    this.remote = init.remote;
    this.remoteTarget = init.remoteTarget;
    this.routeSet = init.routeSet;
    this.localSeq = init.localSeq;
    this.remoteSeq = init.remoteSeq;
    this.secure = init.secure;
    this.localContact = init.localContact;
    this.sessionTimer = undefined;
    this.owner = undefined;
  }

  /** The dialog as data (its state now: CSeqs, target), for {@link Dialog.restore} elsewhere. */
  snapshot(): DialogSnapshot {
    return {
      role: this.role, callId: this.callId, localTag: this.localTag, remoteTag: this.remoteTag,
      local: formatNameAddr(this.local), remote: formatNameAddr(this.remote), remoteTarget: formatUri(this.remoteTarget),
      routeSet: this.routeSet.map(formatNameAddr), localSeq: this.localSeq, remoteSeq: this.remoteSeq ?? null,
      secure: this.secure, localContact: formatNameAddr(this.localContact),
    };
  }

  /** A confirmed dialog from {@link snapshot}; undefined when a URI or name-addr does not parse (stored data is checked like input). */
  static restore(s: DialogSnapshot): Dialog | undefined {
    const local = parseNameAddr(s.local);
    const remote = parseNameAddr(s.remote);
    const remoteTarget = parseUri(s.remoteTarget);
    const localContact = parseNameAddr(s.localContact);
    const routeSet = s.routeSet.map((r) => parseNameAddr(r));
    if (!local || !remote || !remoteTarget || !localContact || routeSet.some((r) => r === undefined)) return undefined;
    return new Dialog({
      state: 'confirmed', role: s.role, callId: s.callId, localTag: s.localTag, remoteTag: s.remoteTag, local, remote, remoteTarget,
      routeSet: routeSet as NameAddr[], localSeq: s.localSeq, remoteSeq: s.remoteSeq ?? undefined, secure: s.secure, localContact,
    });
  }

  /** Map key (see {@link dialogKey}). */
  get key(): string {
    return dialogKey(this.callId, this.localTag, this.remoteTag);
  }

  /**
   * UAS side (§12.1.1): from the dialog-creating request and the 1xx/2xx we send with our To tag.
   * The route set is the request's Record-Route in order; the remote target its Contact.
   */
  static asUas(request: SipRequest, localTag: string, localContact: NameAddr, early: boolean): Dialog | undefined {
    const h = request.headers;
    const contact = h.contact[0];
    if (!contact) return undefined;
    return new Dialog({
      state: early ? 'early' : 'confirmed',
      role: 'uas',
      callId: h.callId,
      localTag,
      remoteTag: h.from.params.get('tag') ?? '',
      local: stripTag(h.to),
      remote: stripTag(h.from),
      remoteTarget: contact.uri,
      routeSet: h.recordRoute.slice(),
      localSeq: 0,
      remoteSeq: h.cseq.seq,
      secure: request.uri.scheme === 'sips',
      localContact,
    });
  }

  /**
   * UAC side (§12.1.2): from our request and a 1xx/2xx with a To tag. The route set is the
   * response's Record-Route in reverse order.
   */
  static asUac(request: SipRequest, response: SipResponse, localContact: NameAddr): Dialog | undefined {
    const rh = response.headers;
    const remoteTag = rh.to.params.get('tag');
    const contact = rh.contact[0];
    if (!remoteTag || !contact) return undefined;
    const h = request.headers;
    return new Dialog({
      state: response.status >= 200 ? 'confirmed' : 'early',
      role: 'uac',
      callId: h.callId,
      localTag: h.from.params.get('tag') ?? '',
      remoteTag,
      local: stripTag(h.from),
      remote: stripTag(rh.to),
      remoteTarget: contact.uri,
      routeSet: rh.recordRoute.slice().reverse(),
      localSeq: h.cseq.seq,
      remoteSeq: undefined,
      secure: request.uri.scheme === 'sips',
      localContact,
    });
  }

  /** An early dialog confirmed by a 2xx: the 2xx may carry a new target and (UAC) route set. */
  confirm(response: SipResponse): void {
    this.state = 'confirmed';
    const contact = response.headers.contact[0];
    if (contact) this.remoteTarget = contact.uri;
    if (this.role === 'uac') {
      this.routeSet.length = 0;
      this.routeSet.push(...response.headers.recordRoute.slice().reverse());
    }
  }

  /**
   * §12.2.2: a request with a CSeq lower than the last one is out of order (answer 500);
   * otherwise remember it. Returns false for an out-of-order request.
   */
  acceptRemoteCSeq(request: SipRequest): boolean {
    const seq = request.headers.cseq.seq;
    if (request.method === 'ACK' || request.method === 'CANCEL') return true;
    if (this.remoteSeq !== undefined && seq < this.remoteSeq) return false;
    // A retransmission of the same CSeq is absorbed by the transaction layer before it gets here.
    this.remoteSeq = seq;
    return true;
  }

  /** A target refresh (re-INVITE, UPDATE) may move the peer: §12.2.2 last paragraph. */
  refreshTarget(message: SipRequest | SipResponse): void {
    const c = message.headers.contact[0];
    if (c) this.remoteTarget = c.uri;
  }

  /**
   * Build an in-dialog request (§12.2.1.1). ACK for a 2xx reuses the INVITE's CSeq number
   * (pass `cseq`); every other method takes the next local CSeq.
   *
   * With a loose-routing first route (`;lr`) the Request-URI is the remote target and the route
   * set goes in Route; with a strict router the first route becomes the Request-URI and the remote
   * target is appended to Route (§12.2.1.1).
   */
  createRequest(method: string, opts: { cseq?: number; headers?: HeaderField[]; body?: Buffer; contentType?: string; branch?: string } = {}): SipRequest {
    const seq = opts.cseq ?? (method === 'ACK' || method === 'CANCEL' ? this.localSeq : ++this.localSeq);
    let requestUri = this.remoteTarget;
    let routes = this.routeSet.map(formatNameAddr);
    const first = this.routeSet[0];
    if (first && !first.uri.params.has('lr')) {
      requestUri = { ...first.uri, params: new Map([...first.uri.params].filter(([k]) => k !== 'method')), headers: new Map() };
      routes = [...this.routeSet.slice(1).map(formatNameAddr), `<${formatUri(this.remoteTarget)}>`];
    }
    const headers: HeaderField[] = [
      { name: 'From', value: `${formatNameAddr(this.local)};tag=${this.localTag}` },
      { name: 'To', value: this.remoteTag ? `${formatNameAddr(this.remote)};tag=${this.remoteTag}` : formatNameAddr(this.remote) },
      { name: 'Call-ID', value: this.callId },
      { name: 'CSeq', value: `${seq} ${method}` },
      { name: 'Max-Forwards', value: '70' },
    ];
    for (const r of routes) headers.push({ name: 'Route', value: r });
    if (method !== 'BYE' && method !== 'CANCEL' && method !== 'ACK') headers.push({ name: 'Contact', value: formatNameAddr(this.localContact) });
    if (opts.headers) headers.push(...opts.headers);
    if (opts.contentType && opts.body && opts.body.length > 0) headers.push({ name: 'Content-Type', value: opts.contentType });
    return createRequest({ method, uri: requestUri, headers, body: opts.body ?? Buffer.alloc(0) });
  }

  /**
   * Where an in-dialog request goes: the first Route if any (loose or strict), else the target.
   * Returned as a URI; resolving it to an address is the transport's job.
   */
  nextHop(): SipUri {
    return this.routeSet[0]?.uri ?? this.remoteTarget;
  }
}

/** A copy of a name-addr without its `tag` parameter (the tags live in the dialog id). */
function stripTag(na: NameAddr): NameAddr {
  const params = new Map(na.params);
  params.delete('tag');
  return { displayName: na.displayName, uri: na.uri, params };
}
