/**
 * The user agent core (RFC 3261 §8, §12–§15): the transaction user on top of the transaction
 * layer. It inspects new requests (ua-checks.ts), routes in-dialog requests to their dialog (481
 * when there is none), keeps dialogs and their CSeq spaces, retransmits 2xx until the ACK, sends
 * the ACK for 2xx it receives, answers digest challenges on outbound requests, and accepts RFC 4028
 * session timers from carriers.
 *
 * ```
 *  TransactionLayer ──onRequest──▶ UserAgent ──▶ dialog found? ──▶ DialogDelegate (BYE, re-INVITE, INFO…)
 *                                     │  no To tag
 *                                     ├──▶ checks (405/416/420/415/406) ──▶ UasDelegate.onInvite / onRequest
 *                                     └─ To tag, no dialog ──▶ 481
 * ```
 *
 * The UA knows nothing of calls: the layer above owns what a dialog means.
 */
import type { Clock, Endpoint, Inbound, TimerHandle, TransportName } from './contracts.ts';
import { systemClock } from './contracts.ts';
import type { HeaderField, NameAddr, SipRequest, SipResponse, SipUri } from './message.ts';
import { createRequest, createResponse } from './message.ts';
import { formatNameAddr, formatUri, parseUri } from './uri.ts';
import { newBranch, newCallId, newTag } from './branch.ts';
import { Dialog, dialogKey } from './dialog.ts';
import { checkRequest, defaultCapabilities, type UaCapabilities } from './ua-checks.ts';
import type { TransportLayer } from './transport.ts';
import { TransactionLayer, type OverloadCause, type TransactionLayerOptions, type TransactionUser } from './transaction-layer.ts';
import type { InviteServerTransaction, ServerTransaction, SuccessIdentity } from './transaction-server.ts';
import type { ClientTransaction, ClientTransactionUser, InviteClientTransaction } from './transaction-client.ts';
import { own, type ServerFailure } from './transaction.ts';
import { answerChallenge } from './digest.ts';

/** Smallest session interval we accept (RFC 4028 §4: Min-SE default 90 s). */
const MIN_SE = 90;

/** Options of a {@link UserAgent}. */
export interface UserAgentOptions extends TransactionLayerOptions {
  /** Capabilities advertised in Allow/Supported/Accept and enforced on requests. */
  capabilities?: UaCapabilities;
  /** `User-Agent` / `Server` header value. */
  product?: string;
  /** User part of our Contact. */
  contactUser?: string;
}

/** Options for a response sent by the layer above. */
export interface RespondOptions {
  reason?: string;
  headers?: HeaderField[];
  body?: Buffer;
  contentType?: string;
}

/** A request outside a dialog (OPTIONS, REGISTER, MESSAGE...) waiting for its answer. */
export class IncomingRequest {
  readonly request: SipRequest;
  readonly inbound: Inbound;
  readonly tx: ServerTransaction;
  protected readonly ua: UserAgent;
  /** The To tag of our responses (added to every response but 100). */
  readonly toTag: string;

  constructor(ua: UserAgent, tx: ServerTransaction, request: SipRequest, inbound: Inbound) {
    this.ua = ua;
    this.tx = tx;
    this.request = request;
    this.inbound = inbound;
    this.toTag = request.headers.to.params.get('tag') ?? newTag();
  }

  /** True once a final response has been sent. */
  get answered(): boolean {
    return this.tx.answered;
  }

  /**
   * Send a response (final or provisional). Returns false when the transaction no longer allows it.
   * A 2xx to an INVITE is retransmitted until its ACK (§13.3.1.4), whenever the TU sends it.
   */
  respond(status: number, opts: RespondOptions = {}): boolean {
    const response = this.ua.buildResponse(this.request, status, this.toTag, opts);
    if (!this.tx.respond(response)) return false;
    if (status >= 200) this.finalSent();
    if (this.tx.kind === 'ist' && status >= 200 && status < 300) this.ua.transactions.retransmitSuccess(this.tx, response, this.ua);
    return true;
  }

  /** A final response went out (subclasses let go of their bookkeeping). */
  protected finalSent(): void {}
}

/** Events of one dialog; each has a default so a layer may implement only what it needs. */
export interface DialogDelegate {
  /** The ACK for our 2xx (UAS side), with its body if the offer was in the 2xx. */
  onAck?(dialog: Dialog, ack: SipRequest): void;
  /** The peer hung up; the UA has already answered 200. */
  onBye?(dialog: Dialog, bye: SipRequest): void;
  /** A re-INVITE or UPDATE (hold, unhold, session refresh). Default: 200 with our last SDP. */
  onReinvite?(dialog: Dialog, request: IncomingRequest): void;
  /** INFO, REFER, NOTIFY, MESSAGE, OPTIONS in the dialog. Default: 200 (INFO, OPTIONS), 603 (REFER), 200 (NOTIFY). */
  onRequest?(dialog: Dialog, request: IncomingRequest): void;
  /** The dialog ended for a reason other than a BYE from the peer (no ACK, session expired, transport). */
  onTerminated?(dialog: Dialog, reason: 'no-ack' | 'session-expired' | 'transport' | 'local'): void;
}

/** A dialog created by a 2xx to our INVITE, its ACK and where the ACK went. */
interface AcceptedDialog {
  dialog: Dialog;
  ack: SipRequest;
  target: Endpoint;
}

/** State the UA keeps per dialog beside the pure {@link Dialog}. */
interface DialogEntry {
  dialog: Dialog;
  delegate: DialogDelegate;
  /** Last SDP we sent, re-offered in a default answer to a re-INVITE. */
  localSdp: Buffer | undefined;
  /** Session-timer refresh or expiry timer. */
  timer: TimerHandle | undefined;
  /** Where our in-dialog requests go. */
  destination: Endpoint;
  /** The 2xx we sent (UAS), for retransmission matching; or the ACK we sent (UAC), resent on 2xx retransmissions. */
  ack: SipRequest | undefined;
  /** Our re-INVITE on this dialog has no final response yet (§14.1: one INVITE transaction at a time). */
  inviteOut?: boolean;
  /** The peer's re-INVITE on this dialog, until we answer it. */
  inviteIn?: IncomingRequest;
}

/** Re-INVITE attempts per `sendInDialog` call: the first and at most two after a glare (§14.1). */
const GLARE_ATTEMPTS = 3;

/**
 * §14.1: after a 491 (or while the peer's own re-INVITE is unanswered) wait 2.1-4 s when we chose
 * the dialog's Call-ID, 0-2 s when the peer did, in 10 ms steps, so the two sides do not collide again.
 */
function glareDelayMs(callIdOwner: boolean): number {
  const steps = Math.floor(Math.random() * (callIdOwner ? 190 : 201));
  return (callIdOwner ? 2100 : 0) + steps * 10;
}

/** An INVITE outside a dialog. Answer with `progress`, `accept` or `reject`. */
export class IncomingInvite extends IncomingRequest {
  /** Called when the caller cancels before we answered, after the UA answered the INVITE 487. */
  onCancel: (() => void) | undefined = undefined;

  declare readonly tx: InviteServerTransaction;

  /**
   * Send a provisional (180 Ringing, 183 Session Progress with early media), with our To tag and
   * Contact. The early dialog it makes on the caller's side (RFC 3261 §12.1.1) needs no object
   * here: the UA takes no request in an early dialog, and `accept` builds the dialog from the same
   * request, tag and Contact, so the 2xx confirms the dialog the provisional began. A caller
   * waiting in early media for an agent (minutes, thousands at a TV peak) holds no Dialog.
   */
  progress(status = 180, opts: RespondOptions = {}): boolean {
    const headers = [...(opts.headers ?? []), { name: 'Contact', value: formatNameAddr(this.ua.contactFor(this.inbound)) }];
    return this.respond(status, { ...opts, headers });
  }

  /**
   * Answer 200 OK (with SDP) and return the confirmed dialog. The UA retransmits the 2xx until the
   * ACK (§13.3.1.4); if none comes, `onTerminated(dialog, 'no-ack')` and a BYE follow.
   */
  accept(opts: RespondOptions & { delegate?: DialogDelegate } = {}): Dialog | undefined {
    if (this.answered) return undefined;
    const contact = this.ua.contactFor(this.inbound);
    const dialog = Dialog.asUas(this.request, this.toTag, contact, false);
    if (!dialog) {
      this.respond(400, { reason: 'Missing Contact' });
      return undefined;
    }
    const headers: HeaderField[] = [{ name: 'Contact', value: formatNameAddr(contact) }, ...this.ua.standardHeaders()];
    const timer = this.ua.negotiateSessionTimer(this.request, dialog);
    if (timer === 'too-small') {
      this.respond(422, { headers: [{ name: 'Min-SE', value: String(MIN_SE) }] });
      return undefined;
    }
    if (timer) headers.push(...timer);
    if (opts.headers) headers.push(...opts.headers);
    const response = this.ua.buildResponse(this.request, 200, this.toTag, { ...opts, headers });
    dialog.state = 'confirmed';
    this.ua.addDialog(dialog, opts.delegate ?? {}, this.inbound, opts.body);
    if (!this.tx.respond(response)) return undefined;
    this.finalSent();
    this.ua.transactions.retransmitSuccess(this.tx, response, this.ua);
    return dialog;
  }

  protected override finalSent(): void {
    this.ua.inviteAnswered(this.tx);
  }

  /** Answer with a failure (486 Busy, 480, 503 with Retry-After, 603 Decline...). */
  reject(status: number, opts: RespondOptions = {}): boolean {
    return this.respond(status, opts);
  }
}

/** Callbacks of an outgoing INVITE. */
export interface OutgoingInviteDelegate {
  /** 1xx; `dialog` is the early dialog when the response carried a To tag and Contact. */
  onProgress?(response: SipResponse, dialog: Dialog | undefined): void;
  /** 2xx: the dialog is confirmed and the ACK has been sent. */
  onAccept(dialog: Dialog, response: SipResponse): void;
  /** 3xx-6xx (after authentication retries, if any). */
  onReject(response: SipResponse): void;
  /** Timer B, or no route/transport failure. */
  onFailure(reason: 'timeout' | 'transport'): void;
}

/** An INVITE we sent; `cancel()` it before the answer. */
export interface OutgoingInvite {
  readonly request: SipRequest;
  cancel(): void;
}

/** Username and password for answering 401/407 challenges. */
export interface Credentials {
  username: string;
  password: string;
}

/** What `invite()` needs. */
export interface InviteOptions {
  /** Request-URI. */
  target: SipUri | string;
  /** Where to send (default: resolved from the target). */
  destination?: Endpoint;
  from?: NameAddr | string;
  to?: NameAddr | string;
  body?: Buffer;
  contentType?: string;
  headers?: HeaderField[];
  credentials?: Credentials;
  delegate: OutgoingInviteDelegate;
  /** Events of the dialog once established. */
  dialogDelegate?: DialogDelegate;
}

/** What `request()` needs for a request outside a dialog. */
export interface RequestOptions {
  method: string;
  target: SipUri | string;
  destination?: Endpoint;
  from?: NameAddr | string;
  to?: NameAddr | string;
  headers?: HeaderField[];
  body?: Buffer;
  contentType?: string;
  credentials?: Credentials;
}

/** What the layer above handles outside dialogs. */
export interface UasDelegate {
  /** A new INVITE. If absent, INVITEs get 480. */
  onInvite?(invite: IncomingInvite): void;
  /** Any other new request outside a dialog. If absent: OPTIONS → 200, others → 405. */
  onRequest?(request: IncomingRequest): void;
  /**
   * A new INVITE the transaction layer already refused with 503 for overload (`cause`: `limit`,
   * its stateless 503 at a limit or a full work class; `late`, it waited past the signalling
   * deadline): nothing to answer; the request and where it came from, to keep a record of it.
   */
  onRefusedInvite?(request: SipRequest, source: Endpoint, cause: OverloadCause): void;
}

/**
 * A SIP user agent: UAS and UAC cores over one transaction layer and one transport layer.
 */
export class UserAgent implements TransactionUser {
  readonly transport: TransportLayer;
  readonly transactions: TransactionLayer;
  readonly clock: Clock;
  readonly capabilities: UaCapabilities;
  private readonly product: string;
  private readonly contactUser: string;
  private readonly dialogs = new Map<string, DialogEntry>();
  private readonly pendingInvites = new Map<InviteServerTransaction, IncomingInvite>();
  /** Call-IDs with a confirmed UAC dialog: a second 2xx for one of them is a fork (§13.2.2.4). */
  private readonly uacCallIds = new Set<string>();
  private delegate: UasDelegate = {};

  constructor(transport: TransportLayer, opts: UserAgentOptions = {}) {
    this.transport = transport;
    this.clock = opts.clock ?? systemClock;
    this.capabilities = opts.capabilities ?? defaultCapabilities;
    this.product = opts.product ?? 'onair';
    this.contactUser = opts.contactUser ?? 'onair';
    this.transactions = new TransactionLayer(transport, this, opts);
    transport.setDelegate(this.transactions);
    transport.observe({ sendFailed: (to) => this.transactions.sendFailed(to) });
  }

  /** Set the handler of requests outside dialogs. */
  setDelegate(delegate: UasDelegate): void {
    this.delegate = delegate;
  }

  /** Dialogs alive (for metrics and leak tests). */
  get dialogCount(): number {
    return this.dialogs.size;
  }

  /** INVITEs outside a dialog not answered yet (for leak checks and metrics). */
  get pendingInviteCount(): number {
    return this.pendingInvites.size;
  }

  /** @internal An INVITE outside a dialog got its final response: a CANCEL can no longer reach it. */
  inviteAnswered(tx: InviteServerTransaction): void {
    this.pendingInvites.delete(tx);
  }

  /** Stop timers and transactions. The transport is closed by its owner. Idempotent. */
  close(): void {
    for (const e of this.dialogs.values()) if (e.timer !== undefined) this.clock.clearTimer(e.timer);
    this.dialogs.clear();
    this.pendingInvites.clear();
    this.transactions.close();
  }

  // ---- TransactionUser -------------------------------------------------------------------

  onRequest(tx: ServerTransaction, request: SipRequest, inbound: Inbound): void {
    const toTag = request.headers.to.params.get('tag');
    if (toTag) {
      this.inDialog(tx, request, inbound, toTag);
      return;
    }
    const check = checkRequest(request, this.capabilities);
    if (!check.ok) {
      tx.respond(this.buildResponse(request, check.status, newTag(), { reason: check.reason, headers: check.headers }));
      return;
    }
    if (tx.kind === 'ist') {
      const invite = new IncomingInvite(this, tx, request, inbound);
      if (!this.delegate.onInvite) {
        invite.reject(480);
        return;
      }
      this.pendingInvites.set(tx, invite);
      this.delegate.onInvite(invite);
      return;
    }
    const incoming = new IncomingRequest(this, tx, request, inbound);
    if (this.delegate.onRequest) this.delegate.onRequest(incoming);
    else if (request.method === 'OPTIONS') incoming.respond(200, { headers: this.standardHeaders() });
    else incoming.respond(405, { headers: this.standardHeaders() });
  }

  onAckFor2xx(ack: SipRequest, _inbound: Inbound): void {
    const h = ack.headers;
    const entry = this.dialogs.get(dialogKey(h.callId, h.to.params.get('tag') ?? '', h.from.params.get('tag') ?? ''));
    if (!entry) return; // §13.3.1.4 stray ACK: nothing to do
    entry.delegate.onAck?.(entry.dialog, ack);
  }

  onCancel(invite: InviteServerTransaction): void {
    const pending = this.pendingInvites.get(invite);
    this.pendingInvites.delete(invite);
    if (!pending) {
      // Nobody holds the INVITE: answer it ourselves (§9.2).
      if (invite.request) invite.respond(createResponse(invite.request, 487, undefined, { toTag: newTag() }));
      return;
    }
    // §9.2: the INVITE is answered 487 before the layer above hears of the CANCEL, so its clean-up
    // (which may try to reject the INVITE, e.g. 480 for a caller who left a queue) cannot answer
    // it with anything else.
    if (!pending.answered) pending.respond(487);
    pending.onCancel?.();
  }

  /** TransactionUser: a request of a dialog we hold (confirmed or early on our side). */
  isEstablished(request: SipRequest): boolean {
    const h = request.headers;
    return this.dialogs.has(dialogKey(h.callId, h.to.params.get('tag') ?? '', h.from.params.get('tag') ?? ''));
  }

  onServerFailure(tx: ServerTransaction): void {
    if (tx.kind === 'ist') this.pendingInvites.delete(tx);
  }

  /** §13.3.1.4: our 2xx was never acknowledged; end the dialog with a BYE. */
  onNoAck(success: SuccessIdentity): void {
    const entry = this.dialogs.get(dialogKey(success.callId, success.toTag, success.fromTag));
    if (!entry) return;
    void this.bye(entry.dialog);
    entry.delegate.onTerminated?.(entry.dialog, 'no-ack');
  }

  onOverloadRefused(request: SipRequest, inbound: Inbound, cause: OverloadCause): void {
    this.delegate.onRefusedInvite?.(request, inbound.source, cause);
  }

  onStrayResponse(response: SipResponse): void {
    // A 2xx retransmission after the ICT ended: resend our ACK (§13.2.2.4).
    if (response.headers.cseq.method !== 'INVITE' || response.status < 200 || response.status >= 300) return;
    const h = response.headers;
    const entry = this.dialogs.get(dialogKey(h.callId, h.from.params.get('tag') ?? '', h.to.params.get('tag') ?? ''));
    if (entry?.ack && entry.ack.headers.cseq.seq === h.cseq.seq) this.transport.send(entry.ack, entry.destination);
  }

  // ---- helpers used by IncomingRequest / IncomingInvite ------------------------------------

  /** Response with our To tag (not on 100) and the Server header. @internal */
  buildResponse(request: SipRequest, status: number, toTag: string, opts: RespondOptions): SipResponse {
    const headers = opts.headers ? [...opts.headers] : [];
    headers.push({ name: 'Server', value: this.product });
    return createResponse(request, status, opts.reason, {
      ...(status === 100 ? {} : { toTag }),
      headers,
      ...(opts.body ? { body: opts.body } : {}),
      ...(opts.contentType ? { contentType: opts.contentType } : opts.body && opts.body.length > 0 ? { contentType: 'application/sdp' } : {}),
    });
  }

  /** Allow, Supported and Accept, for 2xx to INVITE and answers to OPTIONS. @internal */
  standardHeaders(): HeaderField[] {
    return [
      { name: 'Allow', value: this.capabilities.methods.join(', ') },
      { name: 'Supported', value: this.capabilities.extensions.join(', ') },
      { name: 'Accept', value: 'application/sdp' },
    ];
  }

  /** Our Contact for a dialog set up over `inbound`'s transport. @internal */
  contactFor(inbound: Pick<Inbound, 'local'>): NameAddr {
    const local = inbound.local;
    const params = new Map<string, string | null>();
    if (local.transport !== 'UDP') params.set('transport', local.transport.toLowerCase());
    return {
      displayName: undefined,
      uri: {
        scheme: local.transport === 'TLS' ? 'sips' : 'sip', user: this.contactUser, password: undefined,
        host: hostLiteral(local.address), port: local.port, params, headers: new Map(), opaque: undefined,
      },
      params: new Map(),
    };
  }

  /**
   * RFC 4028 as UAS: echo the carrier's Session-Expires (raised to Min-SE) and let the UAC refresh
   * unless it asked us to. Returns the headers for the 2xx, `too-small` for 422, or undefined.
   * @internal
   */
  negotiateSessionTimer(request: SipRequest, dialog: Dialog): HeaderField[] | 'too-small' | undefined {
    const se = request.headers.get('Session-Expires');
    if (se === undefined) return undefined;
    const interval = parseInt(se, 10);
    if (!(interval > 0)) return undefined;
    if (interval < MIN_SE) return 'too-small';
    const uacSupports = /(^|[\s,])timer([\s,]|$)/i.test(request.headers.getAll('Supported').join(','));
    const asked = /refresher\s*=\s*(uac|uas)/i.exec(se)?.[1]?.toLowerCase();
    const refresher: 'uac' | 'uas' = asked === 'uas' || !uacSupports ? 'uas' : 'uac';
    dialog.sessionTimer = { interval, refresher };
    const headers: HeaderField[] = [{ name: 'Session-Expires', value: `${interval};refresher=${refresher}` }];
    if (uacSupports) headers.push({ name: 'Require', value: 'timer' });
    return headers;
  }

  /** Register a confirmed dialog. @internal */
  addDialog(dialog: Dialog, delegate: DialogDelegate, inbound: Pick<Inbound, 'source'>, localSdp: Buffer | undefined): void {
    const destination = this.dialogDestination(dialog, inbound.source);
    const entry: DialogEntry = { dialog, delegate, localSdp, timer: undefined, destination, ack: undefined };
    this.dialogs.set(dialog.key, entry);
    this.armSessionTimer(entry);
  }

  /** The dialog's delegate may be replaced by the layer above once it knows what the dialog is for. */
  setDialogDelegate(dialog: Dialog, delegate: DialogDelegate): void {
    const entry = this.dialogs.get(dialog.key);
    if (entry) entry.delegate = delegate;
  }

  // ---- UAC ---------------------------------------------------------------------------------

  /** Send an INVITE outside a dialog. */
  invite(o: InviteOptions): OutgoingInvite {
    const request = this.newRequest({ ...o, method: 'INVITE' });
    const destination = o.destination ?? resolveUri(typeof o.target === 'string' ? parseUri(o.target)! : o.target);
    let current: InviteClientTransaction | undefined;
    let early: Dialog | undefined;
    let cancelled = false;
    let authTries = 0;
    const contact = parseContact(request);
    const send = (req: SipRequest): void => {
      const tx = this.transactions.sendRequest(req, destination, {
        onResponse: (ict, response) => {
          if (response.status < 200) {
            if (!early && response.headers.to.params.get('tag')) early = Dialog.asUac(req, response, contact) ?? undefined;
            o.delegate.onProgress?.(response, early);
            return;
          }
          if (response.status < 300) {
            const first = this.acceptedByPeer(req, response, destination, contact, o);
            // RFC 6026: the transaction lives on 32 s for 2xx retransmissions; from now on it
            // needs only the ACK, not the caller's delegate and everything the call holds.
            if (first) ict.user = this.acceptedUser(req, first, contact, destination);
            return;
          }
          if ((response.status === 401 || response.status === 407) && o.credentials && authTries++ < 2 && !cancelled) {
            const retry = this.authorize(req, response, o.credentials);
            if (retry) {
              send(retry);
              return;
            }
          }
          o.delegate.onReject(response);
        },
        onTimeout: () => o.delegate.onFailure('timeout'),
        onTransportError: () => o.delegate.onFailure('transport'),
      }) as InviteClientTransaction;
      current = tx;
    };
    send(request);
    return {
      request,
      cancel: () => {
        cancelled = true;
        if (current) this.transactions.cancel(current);
      },
    };
  }

  /** Send a request outside a dialog; resolves with the final response (answering one challenge). */
  request(o: RequestOptions): Promise<SipResponse | 'timeout' | 'transport'> {
    const request = this.newRequest(o);
    const destination = o.destination ?? resolveUri(typeof o.target === 'string' ? parseUri(o.target)! : o.target);
    return this.sendNonInvite(request, destination, o.credentials);
  }

  /** Send an in-dialog request (BYE, re-INVITE, UPDATE, INFO, REFER...). */
  sendInDialog(dialog: Dialog, method: string, opts: { headers?: HeaderField[]; body?: Buffer; contentType?: string } = {}): Promise<SipResponse | 'timeout' | 'transport'> {
    const entry = this.dialogs.get(dialog.key);
    const destination = entry?.destination ?? resolveUri(dialog.nextHop());
    if (method === 'INVITE') return this.reinvite(dialog, opts, 1);
    const request = dialog.createRequest(method, opts);
    this.addVia(request, destination);
    return this.sendNonInvite(request, destination, undefined);
  }

  /**
   * A re-INVITE of ours, one INVITE transaction per dialog at a time (§14.1): while the peer's
   * re-INVITE is unanswered, or after the peer answered ours 491 (both sent at once), wait the
   * glare delay and try again; the final response of the last attempt is the answer ('timeout'
   * when the peer's re-INVITE stayed unanswered through every attempt). A dialog that ended
   * meanwhile answers 'transport' (nothing more was sent).
   */
  private reinvite(dialog: Dialog, opts: { headers?: HeaderField[]; body?: Buffer; contentType?: string }, attempt: number): Promise<SipResponse | 'timeout' | 'transport'> {
    const entry = this.dialogs.get(dialog.key);
    const destination = entry?.destination ?? resolveUri(dialog.nextHop());
    const retry = (): Promise<SipResponse | 'timeout' | 'transport'> => new Promise((resolve) => {
      this.clock.setTimer(glareDelayMs(dialog.role === 'uac'), () => {
        resolve(this.dialogs.has(dialog.key) ? this.reinvite(dialog, opts, attempt + 1) : 'transport');
      });
    });
    const busy = entry !== undefined && (entry.inviteOut === true || (entry.inviteIn !== undefined && !entry.inviteIn.answered));
    if (busy) return attempt < GLARE_ATTEMPTS ? retry() : Promise.resolve('timeout');
    if (entry) entry.inviteOut = true;
    const request = dialog.createRequest('INVITE', opts);
    this.addVia(request, destination);
    return new Promise<SipResponse | 'timeout' | 'transport'>((resolve) => {
      this.transactions.sendRequest(request, destination, {
        onResponse: (_tx, response) => {
          if (response.status < 200) return;
          if (entry) entry.inviteOut = false;
          if (response.status < 300) {
            const ack = dialog.createRequest('ACK', { cseq: request.headers.cseq.seq });
            this.addVia(ack, destination);
            this.transport.send(ack, destination);
            if (entry) entry.ack = ack;
            dialog.refreshTarget(response);
          }
          resolve(response.status === 491 && attempt < GLARE_ATTEMPTS && this.dialogs.has(dialog.key) ? retry() : response);
        },
        onTimeout: () => {
          if (entry) entry.inviteOut = false;
          resolve('timeout');
        },
        onTransportError: () => {
          if (entry) entry.inviteOut = false;
          resolve('transport');
        },
      });
    });
  }

  /** Hang up a confirmed dialog: BYE, then forget the dialog whatever the answer. */
  async bye(dialog: Dialog): Promise<SipResponse | 'timeout' | 'transport'> {
    if (dialog.state === 'terminated') return 'transport';
    const result = this.sendInDialog(dialog, 'BYE');
    this.endDialog(dialog);
    return result;
  }

  /** Forget a dialog without sending anything (after a BYE either way). */
  endDialog(dialog: Dialog): void {
    dialog.state = 'terminated';
    const entry = this.dialogs.get(dialog.key);
    if (!entry) return;
    if (entry.timer !== undefined) this.clock.clearTimer(entry.timer);
    this.dialogs.delete(dialog.key);
    if (dialog.role === 'uac') this.uacCallIds.delete(dialog.callId);
  }

  // ---- internals ---------------------------------------------------------------------------

  private sendNonInvite(request: SipRequest, destination: Endpoint, credentials: Credentials | undefined): Promise<SipResponse | 'timeout' | 'transport'> {
    return new Promise((resolve) => {
      let tries = 0;
      const send = (req: SipRequest): void => {
        this.transactions.sendRequest(req, destination, {
          onResponse: (_tx, response) => {
            if (response.status < 200) return;
            if ((response.status === 401 || response.status === 407) && credentials && tries++ < 2) {
              const retry = this.authorize(req, response, credentials);
              if (retry) {
                send(retry);
                return;
              }
            }
            resolve(response);
          },
          onTimeout: () => resolve('timeout'),
          onTransportError: () => resolve('transport'),
        });
      };
      send(request);
    });
  }

  /** A 2xx to our INVITE: confirm the dialog, ACK it (§13.2.2.4); a second 2xx from a fork gets ACK + BYE. */
  /**
   * A 2xx to our INVITE: the first creates the dialog (returned with its ACK), a retransmission is
   * acknowledged again, a 2xx from another fork is acknowledged and hung up (§13.2.2.4).
   */
  private acceptedByPeer(request: SipRequest, response: SipResponse, destination: Endpoint, contact: NameAddr, o: InviteOptions): AcceptedDialog | undefined {
    const h = response.headers;
    const key = dialogKey(h.callId, h.from.params.get('tag') ?? '', h.to.params.get('tag') ?? '');
    const known = this.dialogs.get(key);
    if (known) {
      if (known.ack) this.transport.send(known.ack, known.destination);
      return undefined;
    }
    const acked = this.acknowledge(request, response, contact, destination);
    if (!acked) return undefined;
    const { dialog, ack, target } = acked;
    if (this.uacCallIds.has(dialog.callId)) {
      this.hangUpFork(dialog);
      return undefined;
    }
    this.dialogs.set(key, { dialog, delegate: o.dialogDelegate ?? {}, localSdp: o.body, timer: undefined, destination: target, ack });
    this.uacCallIds.add(dialog.callId);
    o.delegate.onAccept(dialog, response);
    return acked;
  }

  /** Build the dialog of a 2xx and send its ACK (§13.2.2.4). */
  private acknowledge(request: SipRequest, response: SipResponse, contact: NameAddr, destination: Endpoint): AcceptedDialog | undefined {
    const dialog = Dialog.asUac(request, response, contact);
    if (!dialog) return undefined;
    const target = dialog.routeSet[0] ? resolveUri(dialog.nextHop(), destination) : resolveUri(dialog.remoteTarget, destination);
    const ack = dialog.createRequest('ACK', { cseq: request.headers.cseq.seq });
    this.addVia(ack, target);
    this.transport.send(ack, target);
    return { dialog, ack, target };
  }

  /** §13.2.2.4: a 2xx from a fork other than the one we kept; acknowledged, then hung up. */
  private hangUpFork(dialog: Dialog): void {
    void this.sendInDialog(dialog, 'BYE');
    dialog.state = 'terminated';
  }

  /**
   * What an INVITE transaction in Accepted needs once its dialog exists: resend the same ACK for
   * retransmissions of that 2xx — also after the call ended, when the dialog is gone, so that a
   * late retransmission never looks like a new answer — and acknowledge and hang up other forks.
   */
  private acceptedUser(request: SipRequest, first: AcceptedDialog, contact: NameAddr, destination: Endpoint): ClientTransactionUser {
    // Kept for 32 s (timer M): not a slice of the 2xx's To header.
    const firstTag = own(first.dialog.remoteTag);
    const { ack, target } = first;
    return {
      onResponse: (_tx, response) => {
        if (response.status < 200 || response.status >= 300) return;
        if ((response.headers.to.params.get('tag') ?? '') === firstTag) {
          this.transport.send(ack, target);
          return;
        }
        const fork = this.acknowledge(request, response, contact, destination);
        if (fork) this.hangUpFork(fork.dialog);
      },
      onTimeout: () => {},
      onTransportError: () => {},
    };
  }

  /** Build the Authorization for a 401/407 and a new request with the next CSeq and a new branch. */
  private authorize(request: SipRequest, response: SipResponse, credentials: Credentials): SipRequest | undefined {
    const proxy = response.status === 407;
    const challenges = response.headers.auth(proxy ? 'Proxy-Authenticate' : 'WWW-Authenticate');
    const challenge = challenges.find((c) => c.scheme.toLowerCase() === 'digest');
    if (!challenge) return undefined;
    const answer = answerChallenge(challenge, { ...credentials, method: request.method, uri: request.uriText, body: request.body }, 1);
    if (!answer.ok) return undefined;
    const fields: HeaderField[] = [];
    for (const f of request.headers.fields) {
      if (f.name === 'Via' || f.name === 'Content-Length' || f.name === 'Authorization' || f.name === 'Proxy-Authorization') continue;
      if (f.name === 'CSeq') fields.push({ name: 'CSeq', value: `${request.headers.cseq.seq + 1} ${request.method}` });
      else fields.push(f);
    }
    fields.push({ name: proxy ? 'Proxy-Authorization' : 'Authorization', value: answer.header });
    const retry = createRequest({ method: request.method, uri: request.uri, headers: fields, body: request.body });
    const top = request.headers.via[0];
    retry.headers.append('Via', `SIP/2.0/${top?.transport ?? 'UDP'} ${top?.host ?? '127.0.0.1'}${top?.port ? `:${top.port}` : ''};branch=${newBranch()};rport`, { first: true });
    return retry;
  }

  /** A new request outside a dialog with From tag, Call-ID, CSeq 1, Via, Contact and Max-Forwards. */
  private newRequest(o: RequestOptions): SipRequest {
    const target = typeof o.target === 'string' ? parseUri(o.target) : o.target;
    if (!target) throw new TypeError(`SIP_ERR_BAD_TARGET: ${String(o.target)}`);
    const destination = o.destination ?? resolveUri(target);
    const local = this.transport.localFor(destination.transport, destination.address);
    if (!local) throw new TypeError(`SIP_ERR_NO_TRANSPORT: no ${destination.transport} listener`);
    const contact = this.contactFor({ local });
    const from = typeof o.from === 'string' ? o.from : o.from ? formatNameAddr(o.from) : `<sip:${this.contactUser}@${hostLiteral(local.address)}>`;
    const to = typeof o.to === 'string' ? o.to : o.to ? formatNameAddr(o.to) : `<${formatUri(target)}>`;
    const headers: HeaderField[] = [
      { name: 'Max-Forwards', value: '70' },
      { name: 'From', value: `${from};tag=${newTag()}` },
      { name: 'To', value: to },
      { name: 'Call-ID', value: newCallId() },
      { name: 'CSeq', value: `1 ${o.method}` },
      { name: 'Contact', value: formatNameAddr(contact) },
      { name: 'User-Agent', value: this.product },
    ];
    if (o.method === 'INVITE') headers.push(...this.standardHeaders());
    if (o.headers) headers.push(...o.headers);
    const request = createRequest({ method: o.method, uri: target, headers, ...(o.body ? { body: o.body } : {}), ...(o.contentType ? { contentType: o.contentType } : o.body?.length ? { contentType: 'application/sdp' } : {}) });
    this.addVia(request, destination);
    return request;
  }

  /** Put our Via (new branch, rport) on top of a request going to `destination`. */
  private addVia(request: SipRequest, destination: Endpoint): void {
    const local = this.transport.localFor(destination.transport, destination.address);
    const host = local ? `${hostLiteral(local.address)}:${local.port}` : '0.0.0.0';
    request.headers.append('Via', `SIP/2.0/${destination.transport} ${host};branch=${newBranch()};rport`, { first: true });
  }

  private inDialog(tx: ServerTransaction, request: SipRequest, inbound: Inbound, toTag: string): void {
    const h = request.headers;
    const entry = this.dialogs.get(dialogKey(h.callId, toTag, h.from.params.get('tag') ?? ''));
    const incoming = new IncomingRequest(this, tx, request, inbound);
    if (!entry) {
      // §12.2.2: a request for a dialog we do not know.
      incoming.respond(481);
      return;
    }
    const { dialog, delegate } = entry;
    if (!dialog.acceptRemoteCSeq(request)) {
      incoming.respond(500, { reason: 'CSeq Out of Order' });
      return;
    }
    switch (request.method) {
      case 'BYE':
        incoming.respond(200);
        this.endDialog(dialog);
        delegate.onBye?.(dialog, request);
        return;
      case 'INVITE':
      case 'UPDATE':
        if (request.method === 'INVITE' && !this.admitReinvite(entry, incoming)) return;
        dialog.refreshTarget(request);
        this.armSessionTimer(entry);
        if (delegate.onReinvite) delegate.onReinvite(dialog, incoming);
        else this.answerRefresh(entry, incoming);
        return;
      default:
        if (delegate.onRequest) delegate.onRequest(dialog, incoming);
        else incoming.respond(request.method === 'REFER' ? 603 : 200);
    }
  }

  /**
   * §14.2: a re-INVITE while ours is in progress crossed it (glare): 491, the peer retries after its
   * delay; one while the peer's previous re-INVITE is still unanswered: 500 with a Retry-After of
   * 0-10 s. Otherwise it is the dialog's INVITE in progress until answered.
   */
  private admitReinvite(entry: DialogEntry, incoming: IncomingRequest): boolean {
    if (entry.inviteOut) {
      incoming.respond(491);
      return false;
    }
    if (entry.inviteIn !== undefined && !entry.inviteIn.answered) {
      incoming.respond(500, { headers: [{ name: 'Retry-After', value: String(Math.floor(Math.random() * 11)) }] });
      return false;
    }
    entry.inviteIn = incoming;
    return true;
  }

  /** Default answer to a re-INVITE/UPDATE: accept with our last SDP (a session refresh or hold). */
  private answerRefresh(entry: DialogEntry, incoming: IncomingRequest): void {
    const headers: HeaderField[] = [{ name: 'Contact', value: formatNameAddr(entry.dialog.localContact) }];
    const st = entry.dialog.sessionTimer;
    if (st) headers.push({ name: 'Session-Expires', value: `${st.interval};refresher=${st.refresher}` });
    const withSdp = incoming.request.method === 'INVITE' || incoming.request.body.length > 0;
    incoming.respond(200, { headers, ...(withSdp && entry.localSdp ? { body: entry.localSdp, contentType: 'application/sdp' } : {}) });
  }

  /**
   * RFC 4028 §10: when the peer refreshes, expect a refresh before the interval ends, else BYE;
   * when we refresh, send UPDATE at half the interval.
   */
  private armSessionTimer(entry: DialogEntry): void {
    const st = entry.dialog.sessionTimer;
    if (!st) return;
    if (entry.timer !== undefined) this.clock.clearTimer(entry.timer);
    const weRefresh = (st.refresher === 'uas') === (entry.dialog.role === 'uas');
    if (weRefresh) {
      entry.timer = this.clock.setTimer((st.interval * 1000) / 2, () => {
        void this.sendInDialog(entry.dialog, 'UPDATE', { headers: [{ name: 'Session-Expires', value: `${st.interval};refresher=${st.refresher}` }] })
          .then(() => this.armSessionTimer(entry));
      });
    } else {
      const guard = Math.min(32, st.interval / 3);
      entry.timer = this.clock.setTimer((st.interval - guard) * 1000, () => {
        entry.timer = undefined;
        void this.bye(entry.dialog);
        entry.delegate.onTerminated?.(entry.dialog, 'session-expired');
      });
    }
  }

  /** Where in-dialog requests of a UAS dialog go: the first route, else the Contact, else the source. */
  private dialogDestination(dialog: Dialog, source: Endpoint): Endpoint {
    return resolveUri(dialog.nextHop(), source);
  }
}

/** Host as written in a URI: IPv6 in brackets. */
function hostLiteral(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** The Contact of a request we built. */
function parseContact(request: SipRequest): NameAddr {
  return request.headers.contact[0]!;
}

/**
 * Resolve a SIP URI to a transport address without DNS (hosts must be IP literals or
 * `localhost`). With `via` given (the address a dialog's requests came from), its connection is
 * reused when the URI points at the same host over a stream transport.
 */
export function resolveUri(uri: SipUri, via?: Endpoint): Endpoint {
  const tp = uri.params.get('transport');
  const transport: TransportName = uri.scheme === 'sips' ? 'TLS' : tp ? (tp.toUpperCase() as TransportName) : (via?.transport ?? 'UDP');
  let host = uri.host.startsWith('[') ? uri.host.slice(1, -1) : uri.host;
  if (host === 'localhost') host = '127.0.0.1';
  const port = uri.port ?? (transport === 'TLS' ? 5061 : 5060);
  if (via && via.transport === transport && transport !== 'UDP' && via.address === host) {
    return { ...via };
  }
  return { transport, address: host, port };
}
