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

/** Opaque timer handle. */
export type TimerHandle = unknown;

/** Time source and timers, injected so tests run on a fake clock. */
export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
}

/** The real clock: `performance.now()` and Node timers, unref'd so they never keep a process alive. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (ms, fn) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout),
};

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
