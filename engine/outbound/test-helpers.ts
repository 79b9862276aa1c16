/**
 * Shared by the outbound tests only (not exported from index.ts): a user agent on a free loopback
 * UDP port, a bounded wait, a silent logger and our SDP offer.
 */
export { loopbackUa } from '../sip/testing/loopback-ua.ts';

/** tap's teardown, the only part used. */
export type { TeardownTest as Test } from '../sip/testing/loopback-ua.ts';

export const OFFER = Buffer.from('v=0\r\no=onair 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n');

export const silent = { debug: (): void => {}, warn: (): void => {}, error: (): void => {} };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Wait until `cond` holds (not a timed assertion: the bound only stops a hung test). */
export async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await sleep(10);
  }
  throw new Error(`never happened: ${what}`);
}

