/**
 * Contracts between the layers of the SIP stack: where a message came from or goes to, what the
 * transaction layer needs from the transports, and the clock it runs on. Kept apart so that each
 * layer can be tested with a fake of the one below (CONVENTIONS.md 12).
 */
import type { SipMessage } from './message.ts';

/** Transport protocol names as written in Via (upper case). */
export type TransportName = 'UDP' | 'TCP' | 'TLS';

/** A remote (or local) transport address. */
export interface Endpoint {
  transport: TransportName;
  /** IP address literal without brackets (IPv6 as `2001:db8::1`). */
  address: string;
  port: number;
  /**
   * Connection a request arrived on (TCP/TLS); responses go back on it while it is open
   * (RFC 3261 §18.2.2). Undefined for UDP.
   */
  connectionId?: number | undefined;
}

/** A message received by a transport, with where it came from. */
export interface Inbound {
  message: SipMessage;
  source: Endpoint;
  /** The local address and port it was received on. */
  local: Endpoint;
  /**
   * `performance.now()` when the transport parsed it (ms). Work classes may hold a new INVITE for
   * a while before call control sees it; latencies the caller feels start here. Absent in
   * messages built by hand in tests.
   */
  readAt?: number;
}

/** What the transaction layer needs from the transports. */
export interface TransportSender {
  /**
   * Send a message. Never throws: a failed send is reported to the transport's observers. Returns
   * the serialized bytes (for a later {@link sendBytes} retransmission), or undefined when the
   * message could not be serialized.
   */
  send(message: SipMessage, to: Endpoint): Buffer | undefined;
  /** Send bytes already serialized by {@link send} again (a retransmission). */
  sendBytes(bytes: Buffer, to: Endpoint): boolean;
  /** True for TCP/TLS: no retransmission timers A, E, G; timers K, I, J are zero. */
  isReliable(transport: TransportName): boolean;
}

// The engine's one clock (engine/clock): the SIP stack runs on its monotonic instance.
export type { Clock, TimerHandle } from '../clock/index.ts';
export { monotonicClock as systemClock } from '../clock/index.ts';

/** RFC 3261 §17 timer base values (ms), configurable. */
export interface TimerValues {
  /** RTT estimate, default 500 ms. */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses, default 4 s. */
  T2: number;
  /** Maximum duration a message remains in the network, default 5 s. */
  T4: number;
  /** Timer C guard for proxies is not used; INVITE client waits at most this long for a final response after a provisional (default 180 s). */
  inviteProvisionalTimeout?: number;
}

export const defaultTimers: TimerValues = { T1: 500, T2: 4000, T4: 5000 };
