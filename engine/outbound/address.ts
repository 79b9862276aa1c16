/**
 * `address` of an outbound trunk: `host:port` with an IP literal host (the SIP stack resolves no
 * DNS), IPv6 in brackets. `127.0.0.1:5070`, `[2001:db8::1]:5060`, `192.0.2.7` (default port).
 * Shared by the configuration schema and the dialer, so what the configuration accepts is what
 * the dialer can reach.
 */
import { isIP } from 'node:net';

/** A trunk address taken apart. */
export interface TrunkAddress {
  /** The host as written in a URI (`[::1]` for IPv6). */
  host: string;
  /** The IP literal a socket sends to (`::1`). */
  address: string;
  /** undefined: the transport's default port (5060, 5061 for TLS). */
  port: number | undefined;
}

/** The parts of `text`, or undefined when it is not `ip[:port]` / `[ipv6][:port]`. */
export function parseTrunkAddress(text: string): TrunkAddress | undefined {
  let address: string;
  let host: string;
  let rest: string;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return undefined;
    address = text.slice(1, end);
    if (isIP(address) !== 6) return undefined;
    host = `[${address}]`;
    rest = text.slice(end + 1);
  } else {
    const colon = text.indexOf(':');
    address = colon < 0 ? text : text.slice(0, colon);
    if (isIP(address) !== 4) return undefined;
    host = address;
    rest = colon < 0 ? '' : text.slice(colon);
  }
  if (rest === '') return { host, address, port: undefined };
  if (rest.charCodeAt(0) !== 0x3a || rest.length < 2 || rest.length > 6) return undefined;
  let port = 0;
  for (let i = 1; i < rest.length; i++) {
    const d = rest.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return undefined;
    port = port * 10 + d;
  }
  return port >= 1 && port <= 65535 ? { host, address, port } : undefined;
}
