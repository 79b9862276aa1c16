/**
 * Staffing forecast (issue 18), pure: Erlang C and Erlang A (Palm: M/M/n+M, exponential patience)
 * service level for n agents, and the fewest agents meeting a service-level target.
 *
 * Erlang A is computed on its birth-death chain (state k = callers in the system, birth λ, death
 * min(k, n)·μ + max(k − n, 0)·θ), truncated where the tail is negligible. The service level is
 * P(an arrival is answered within t) = Σ_k π_k · P(served within t | arriving at state k): an
 * arrival at k < n is answered at once; at k ≥ n it is at position j = k − n + 1 and moves up at
 * rate nμ + (m − 1)θ from position m (those ahead are served or give up) while it may itself give
 * up at rate θ; that transient chain is solved by uniformization. θ = 0 gives Erlang C exactly.
 */

/** Erlang C: the probability that an arrival waits (offered load a = λ/μ Erlangs, n agents). */
export function erlangC(n: number, a: number): number {
  if (a >= n) return 1;
  let b = 1;
  for (let k = 1; k <= n; k++) b = (a * b) / (k + a * b);
  return b / (1 - (a / n) * (1 - b));
}

/** Erlang C service level: P(wait ≤ t) = 1 − C · e^{−(nμ − λ)t}. Rates per ms, t in ms. */
export function erlangCServiceLevel(n: number, lambda: number, mu: number, t: number): number {
  if (lambda >= n * mu) return 0;
  return 1 - erlangC(n, lambda / mu) * Math.exp(-(n * mu - lambda) * t);
}

/** Erlang A service level: P(answered within t) for n agents (rates per ms; theta = 1/mean patience). */
export function erlangAServiceLevel(n: number, lambda: number, mu: number, theta: number, t: number): number {
  // Stationary distribution of the chain, truncated once the terms are negligible.
  const pi: number[] = [1];
  let sum = 1;
  for (let k = 1; k < 100_000; k++) {
    const death = Math.min(k, n) * mu + Math.max(k - n, 0) * theta;
    if (death <= 0) return 0;
    const p = (pi[k - 1]! * lambda) / death;
    pi.push(p);
    sum += p;
    if (k > n && p < sum * 1e-13) break;
    if (theta === 0 && lambda >= n * mu) return 0;
  }
  let sl = 0;
  for (let k = 0; k < Math.min(n, pi.length); k++) sl += pi[k]! / sum;
  const maxJ = pi.length - n;
  if (maxJ <= 0) return sl;
  // Uniformization of the position chain: from position m, up (served next or moved) at
  // u_m = nμ + (m − 1)θ, gives up at θ. Λ bounds every exit rate.
  const rate = (m: number): number => n * mu + (m - 1) * theta;
  const big = rate(maxJ) + theta;
  const lt = big * t;
  // Poisson weights of the number of uniformized steps, up to where they vanish.
  const steps = Math.ceil(lt + 10 * Math.sqrt(lt) + 20);
  const poisson: number[] = [];
  let w = Math.exp(-lt);
  if (w === 0) return sl; // too many steps to count: treat as beyond the horizon (not reached for SL times)
  for (let s = 0; s <= steps; s++) { poisson.push(w); w = (w * lt) / (s + 1); }
  // served[j] after s steps: probability that a caller at position j has been answered within s steps.
  let prob = new Float64Array(maxJ + 2); // prob[m] = P(at position m now), m = 1..maxJ; index 0 = answered
  for (let j = 1; j <= maxJ; j++) {
    const weight = pi[n + j - 1]! / sum;
    if (weight < 1e-15) continue;
    prob.fill(0);
    prob[j] = 1;
    let answered = 0;
    for (let s = 0; s <= steps; s++) {
      answered += poisson[s]! * prob[0]!;
      const next = new Float64Array(maxJ + 2);
      next[0] = prob[0]!;
      for (let m = 1; m <= j; m++) {
        const p = prob[m]!;
        if (p === 0) continue;
        const up = rate(m) / big;
        next[m - 1]! += p * up;
        next[m]! += p * (1 - up - theta / big);
      }
      prob = next;
    }
    // Answered within t: the first step to position 0 happened at or before t.
    sl += weight * answered;
  }
  return sl;
}

/** Fewest agents whose service level (answered within t) reaches `target`; Erlang A with theta > 0, else C. */
export function agentsNeeded(lambda: number, mu: number, theta: number, t: number, target: number, max = 10_000): number | null {
  for (let n = Math.max(1, Math.floor(lambda / mu)); n <= max; n++) {
    const sl = theta > 0 ? erlangAServiceLevel(n, lambda, mu, theta, t) : erlangCServiceLevel(n, lambda, mu, t);
    if (sl >= target) return n;
  }
  return null;
}
