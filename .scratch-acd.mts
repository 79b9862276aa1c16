import { Acd } from './engine/acd/index.ts';
const SKILLS = 50, AGENTS = 2000;
let a = 42 >>> 0;
const rand = () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const STR = ['longestIdle', 'skillLevel', 'leastCalls', 'roundRobin', 'leastTalkTime'];
const queues = Array.from({ length: SKILLS }, (_, i) => ({ id: `q${i}`, skill: `s${i}`, minLevel: 2, strategy: STR[i % 5], wrapUpMs: 0, ringTimeoutMs: 30000, announcePeriodMs: 30000, abandonToCallback: true, callbackShare: 0.1, weight: 1 + (i % 3), preferredAgentTimeoutMs: 10000,
  expansion: [{ afterMs: 20000, add: [{ skill: `s${i}`, minLevel: 1 }] }, { afterMs: 40000, queueLengthAtLeast: 400, add: [{ skill: `s${(i + 1) % SKILLS}`, minLevel: 3 }] }, { afterMs: 90000, add: [{ skill: `s${(i + 7) % SKILLS}`, minLevel: 1 }] }] }));
const agents = Array.from({ length: AGENTS }, (_, k) => { const skills: Record<string, number> = {}; const n = 1 + Math.floor(rand() * 5); while (Object.keys(skills).length < n) skills[`s${Math.floor(rand() * SKILLS)}`] = 1 + Math.floor(rand() * 5); return { id: `agent${k}`, skills }; });
const acd = new Acd({ queues, agents });
let now = 1e6;
for (let k = 0; k < AGENTS; k++) acd.agentLoggedIn(`agent${k}`, now);
const talking: string[] = [];
for (let i = 0; i < 40000; i++) { const id = `c${i}`; for (const e of acd.enqueue({ id, queueId: `q${Math.floor(rand() * SKILLS)}`, callerNumber: `+49${i}` }, now)) if (e.type === 'offer') { acd.offerAnswered(e.callId, now); talking.push(e.callId); } }
now += 100000; acd.tick(now);
console.log('talking', talking.length, 'size', acd.size);
const N = 25000;
let done = 0; const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const id = talking[i % talking.length]!;
  const effects = acd.callEnded(id, now);
  let next: string | undefined;
  for (const e of effects) if (e.type === 'offer') next = e.callId;
  if (next !== undefined) { acd.offerAnswered(next, now); talking[i % talking.length] = next; done++; }
}
console.log('end+free+offer+answer avg ns', ((performance.now() - t0) / N * 1e6).toFixed(0), 'offers', done);
