/**
 * What a node that is not active answers (the SIP side of fencing): every new INVITE and every
 * request outside a dialog — REGISTER, OPTIONS, the rest — gets 503 Service Unavailable with
 * Retry-After (RFC 3261 §21.5.4), and nothing else happens (no CDR, no callback task: the caller
 * is not lost, the proxy in front retries on the active node).
 *
 * OPTIONS too, on purpose: Kamailio's dispatcher probes both nodes with OPTIONS and routes only to
 * destinations that answer 200 (deploy/kamailio/kamailio.cfg), so the standby failing the probe
 * is what makes the proxy send everything to the active, and a fenced node drops out of routing
 * by itself. In-dialog requests (BYE, ACK, re-INVITE) are not gated: they belong to calls the
 * node already has, which are its own to end.
 *
 * The sources of the OPTIONS refused are kept in `probers` (when given): those proxies are told
 * at once when this node becomes active (engine/ha/announce.ts), rather than at their next probe.
 */
import type { Endpoint, IncomingInvite, IncomingRequest, OverloadCause, SipRequest, UasDelegate } from '../sip/index.ts';
import type { Probers } from './announce.ts';

/** What the gate needs of the node. */
export interface Accepting {
  accepting(): boolean;
}

/** `inner` while `node` accepts, 503 + Retry-After (seconds) otherwise. */
export function standbyGate(
  inner: UasDelegate, node: Accepting, retryAfterSeconds: number, standardHeaders: () => { name: string; value: string }[] = () => [],
  probers?: { list: Probers; now: () => number },
): UasDelegate {
  const retry = { name: 'Retry-After', value: String(retryAfterSeconds) };
  return {
    onInvite: (invite: IncomingInvite) => {
      if (node.accepting()) inner.onInvite?.(invite);
      else invite.reject(503, { headers: [retry] });
    },
    onRequest: (req: IncomingRequest) => {
      if (node.accepting()) {
        inner.onRequest?.(req);
        return;
      }
      if (probers !== undefined && req.request.method === 'OPTIONS') probers.list.seen(req.inbound.source, probers.now());
      req.respond(503, { headers: [...standardHeaders(), retry] });
    },
    // The transaction layer's own overload 503: a standby keeps no record of a call that is not its own.
    onRefusedInvite: (request: SipRequest, source: Endpoint, cause: OverloadCause) => {
      if (node.accepting()) inner.onRefusedInvite?.(request, source, cause);
    },
  };
}
