/**
 * Hold from the agent's phone (issue 16): a re-INVITE whose offer is `a=sendonly` or `a=inactive`
 * (RFC 3264 §8.4), or the old `c=0.0.0.0` form (RFC 2543), puts the caller on hold; `sendrecv`
 * takes it off. While held, onair stops relaying and plays the queue's hold music to the caller;
 * the time held goes to the CDR's `holdMs` (transfer.ts keeps the book).
 *
 * ```
 *  phone re-INVITE a=sendonly ─▶ 200 (recvonly) ─▶ unbridge caller leg + hold music ─▶ holdStarted
 *  phone re-INVITE a=sendrecv ─▶ 200 (sendrecv) ─▶ bridge again (stops the music)  ─▶ holdEnded
 * ```
 */

/** What an SDP offer of a re-INVITE asks for: hold, resume, or nothing said (no SDP). */
export type HoldIntent = 'hold' | 'resume' | 'none';

/** Read the intent of a re-INVITE's offer (not a hot path: one per hold). Lines only, no regex. */
export function holdIntent(sdp: string): HoldIntent {
  if (sdp.length === 0) return 'none';
  let hold = false;
  let start = 0;
  while (start < sdp.length) {
    let end = sdp.indexOf('\n', start);
    if (end < 0) end = sdp.length;
    const line = sdp.slice(start, end).trim();
    start = end + 1;
    if (line === 'a=sendonly' || line === 'a=inactive' || line === 'c=IN IP4 0.0.0.0') hold = true;
  }
  return hold ? 'hold' : 'resume';
}
