import { Acd } from './engine/acd/index.ts';
const SKILLS = 50, AGENTS = 2000;
let a = 42 >>> 0;
const rand = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const STR = ['longestIdle', 'skillLevel', 'leastCalls', 'roundRobin', 'leastTalkTime'];
const cb = process.argv[2] === 'cb';
const queues = Array.from({ length: SKILLS }, (_, i) => ({ id: `q${i}`, skill: `s${i}`, minLevel: 2, strategy: STR[i % 5], wrapUpMs: 5000, ringTimeoutMs: 30000, announcePeriodMs: 30000, abandonToCallback: cb, callbackShare: 0.1, weight: 1 + (i % 3), preferredAgentTimeoutMs: 10000,
  expansion: [{ afterMs: 20000, add: [{ skill: `s${i}`, minLevel: 1 }] }, { afterMs: 40000, queueLengthAtLeast: 400, add: [{ skill: `s${(i + 1) % SKILLS}`, minLevel: 3 }] }, { afterMs: 90000, add: [{ skill: `s${(i + 7) % SKILLS}`, minLevel: 1 }] }] }));
const agents = Array.from({ length: AGENTS }, (_, k) => { const skills: Record<string, number> = {}; const n = 1 + Math.floor(rand() * 5); while (Object.keys(skills).length < n) skills[`s${Math.floor(rand() * SKILLS)}`] = 1 + Math.floor(rand() * 5); return { id: `agent${k}`, skills }; });
const best: Record<string, number> = {};
for (let rep = 0; rep < 5; rep++) {
  const acd = new Acd({ queues, agents });
  let now = 1e6;
  for (let k = 0; k < AGENTS; k++) acd.agentLoggedIn(`agent${k}`, now);
  const ids: string[] = [];
  for (let i = 0; i < 16000; i++) { const id = `r${rep}c${i}`; for (const e of acd.enqueue({ id, queueId: `q${Math.floor(rand() * SKILLS)}`, callerNumber: `+49${i}` }, now)) if (e.type === 'offer') acd.offerAnswered(e.callId, now); ids.push(id); }
  const waiting = ids.filter((id) => acd.inspectCall(id)?.state === 'waiting');
  now += 45000; acd.tick(now);
  const N = 4000;
  const time = (name: string, f: (i: number) => void) => { const t0 = performance.now(); for (let i = 0; i < N; i++) f(i); const d = (performance.now() - t0) / N * 1e6; best[name] = Math.min(best[name] ?? Infinity, d); };
  time('transfer', (i) => acd.transfer(waiting[i]!, `q${i % SKILLS}`, now));
  time('abandon', (i) => acd.abandon(waiting[i]!, now));
  time('enqueue', (i) => acd.enqueue({ id: `r${rep}n${i}`, queueId: `q${i % SKILLS}`, callerNumber: `+1${i}` }, now));
  const talking = ids.filter((id) => acd.inspectCall(id)?.state === 'talking');
  time('end', (i) => acd.callEnded(talking[i]!, now));
  now += 5000;
  let n = 0; const t0 = performance.now(); let k = 0;
  while (n < N) { now += 1; if ((acd.nextDeadline() ?? Infinity) <= now) { acd.tick(now); n++; } if (++k > 1e7) break; }
  best['tick(wrapup+ann)'] = Math.min(best['tick(wrapup+ann)'] ?? Infinity, (performance.now() - t0) / n * 1e6);
}
console.log(cb ? 'with callbacks' : 'no callbacks', Object.entries(best).map(([k, v]) => `${k} ${v.toFixed(0)}ns`).join(', '));
