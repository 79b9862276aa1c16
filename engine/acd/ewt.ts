/**
 * Estimated wait time (EWT). Position-based, from the queue's recent handle times and the agents
 * staffed for it; see docs/acd.md for the reasoning and its limits.
 */

/**
 * Exponentially weighted moving average: the new sample counts `alpha`, history `1 - alpha`.
 * Recent handle times matter more than those of an hour ago (a new product airs, calls get longer).
 */
export function ewma(previous: number, sample: number, alpha: number): number {
  return previous + alpha * (sample - previous);
}

/**
 * Expected wait of the caller who is `position`-th in line (1 = next).
 *
 * ```
 *   ahead  = position - idle              callers that need an agent to free up first
 *   ewt    = 0                            if ahead <= 0 (an idle agent takes the call)
 *          = (ahead - 0.5) * AHT / staffed  otherwise
 * ```
 * `staffed` agents finish calls at a rate of staffed / AHT, and an agent met at a random moment has on
 * average half a handle time left (mean residual life of a busy agent), hence the `- 0.5`.
 * Infinity when nobody is staffed.
 */
export function estimateWait(position: number, staffed: number, idle: number, handleTimeMs: number): number {
  const ahead = position - idle;
  if (ahead <= 0) return 0;
  if (staffed <= 0) return Number.POSITIVE_INFINITY;
  return Math.round(((ahead - 0.5) * handleTimeMs) / staffed);
}
