/**
 * The cluster simulation on small centers (pure CPU, no timing): deterministic for a seed, no
 * double offer under either coordinated design while the uncoordinated baseline makes some (so the
 * check can fail), and with one node and an instantaneous database it takes exactly the decisions
 * of one ACD core driven on its own.
 */
import t from 'tap';
import { Acd } from '../../engine/acd/index.ts';
import type { AcdEffect } from '../../engine/acd/index.ts';
import { EventQueue, prepare, simulate, type AgentEvent, type SimOptions } from './index.ts';

const small: SimOptions = { design: 'db', nodes: 3, agents: 240, rate: 40, seconds: 30, warmupSeconds: 5, seed: 11, queues: 24, crossShare: 0.3 };

t.test('the same seed gives the same run; another seed another', async (t) => {
  const a = simulate({ ...small, recordTimeline: true });
  const b = simulate({ ...small, recordTimeline: true });
  const c = simulate({ ...small, seed: 12, recordTimeline: true });
  const strip = (r: typeof a): unknown => ({ ...r, wallSeconds: 0 });
  t.ok(a.timeline.length > 1000, `enough offers to compare (${a.timeline.length} timeline entries)`);
  t.same(strip(b), strip(a), 'every figure and every offer equal');
  t.not(JSON.stringify(c.timeline), JSON.stringify(a.timeline), 'seed 12 differs');
});

t.test('no double offer under owner and db; lost offers happen under db; none makes double offers', async (t) => {
  const owner = simulate({ ...small, design: 'owner' });
  const db = simulate({ ...small, design: 'db' });
  const none = simulate({ ...small, design: 'none' });
  t.ok(db.cutShare > 0.3, `the hashed partition cuts agents (${db.cutShare.toFixed(2)})`);
  t.ok(owner.cutShare < db.cutShare, `placing queues by family cuts fewer (${owner.cutShare.toFixed(2)} < ${db.cutShare.toFixed(2)})`);
  t.equal(owner.doubleOffers, 0, 'owner: no double offer');
  t.equal(db.doubleOffers, 0, 'db: no double offer');
  t.ok(db.offersLost > 0, `db: reserves lost to other nodes (${db.offersLost} of ${db.offersAttempted})`);
  t.ok(none.doubleOffers > 0, `none: the invariant check catches double offers (${none.doubleOffers})`);
  for (const r of [owner, db]) t.ok(r.utilisation > 0.6, `${r.design}: agents busy ${r.utilisation.toFixed(2)}`);
});

/** One ACD core driven alone on the same callers, as a single engine would: the reference. */
function singleNode(o: SimOptions): AgentEvent[] {
  const { center, work } = prepare(o);
  const end = ((o.warmupSeconds ?? 0) + o.seconds) * 1000;
  const acd = new Acd(center.nodeConfigs[0]!);
  const q = new EventQueue();
  const talk: number[] = [];
  const answer: number[] = [];
  const out: AgentEvent[] = [];
  const busy = new Map<string, string>();
  let tickAt = Infinity;
  const apply = (effects: AcdEffect[], now: number): void => {
    for (const e of effects) {
      if (e.type === 'offer') {
        out.push({ at: now, kind: 'offer', agentId: e.agentId, callId: e.callId, node: 0 });
        busy.set(e.agentId, e.callId);
        acd.offerSent(e.callId, now);
        q.push(now + answer[Number(e.callId.slice(1))]!, 'answer', 0, Number(e.callId.slice(1)));
      } else if (e.type === 'agentStateChanged' && e.state === 'idle' && busy.has(e.agentId)) {
        out.push({ at: now, kind: 'free', agentId: e.agentId, callId: busy.get(e.agentId)!, node: 0 });
        busy.delete(e.agentId);
      }
    }
    const d = acd.nextDeadline();
    if (d !== null && d < tickAt) q.push((tickAt = Math.max(d, now)), 'tick');
  };
  for (const a of center.nodeConfigs[0]!.agents ?? []) apply(acd.agentLoggedIn(a.id, 0), 0);
  let next = work.next();
  q.push(next.at, 'arrival', 0);
  for (let e = q.pop(); e !== undefined && e.t < end + 10_000; e = q.pop()) {
    const now = e.t;
    if (e.kind === 'arrival') {
      talk[e.a] = next.talkMs;
      answer[e.a] = next.answerMs;
      apply(acd.enqueue({ id: `c${e.a}`, queueId: `q${next.queue}`, callerNumber: `+86${e.a}` }, now), now);
      q.push(now + next.patienceMs, 'patience', 0, e.a);
      next = work.next();
      if (next.at < end) q.push(next.at, 'arrival', e.a + 1);
    } else if (e.kind === 'patience') {
      if (acd.inspectCall(`c${e.b}`)?.state === 'waiting') apply(acd.abandon(`c${e.b}`, now), now);
    } else if (e.kind === 'answer') {
      apply(acd.offerAnswered(`c${e.b}`, now), now);
      q.push(now + talk[e.b]!, 'end', 0, e.b);
    } else if (e.kind === 'end') {
      apply(acd.callEnded(`c${e.b}`, now), now);
    } else if (e.kind === 'tick' && e.t === tickAt) {
      tickAt = Infinity;
      apply(acd.tick(now), now);
    }
  }
  return out;
}

t.test('one node, database latency 0: the decisions of one ACD core alone, under both designs', async (t) => {
  const o: SimOptions = { ...small, nodes: 1, dbScale: 0, recordTimeline: true, rate: 45 };
  const reference = singleNode(o);
  t.ok(reference.length > 2000, `the reference made ${reference.length} offers and frees`);
  for (const design of ['db', 'owner'] as const) {
    const r = simulate({ ...o, design });
    t.equal(r.offersLost, 0, `${design}: nothing lost on one node`);
    t.same(r.timeline, reference, `${design}: the same offers to the same agents at the same times`);
  }
});

t.test('a slower database lengthens routing under db, never the owner design\'s uncut agents', async (t) => {
  const fast = simulate({ ...small, dbScale: 1 });
  const slow = simulate({ ...small, dbScale: 20 });
  t.ok(slow.routingP50Ms > fast.routingP50Ms, `routing p50 ${fast.routingP50Ms.toFixed(3)} → ${slow.routingP50Ms.toFixed(3)} ms`);
  t.ok(slow.lostOfferRate >= fast.lostOfferRate, `lost-offer rate ${fast.lostOfferRate.toFixed(4)} → ${slow.lostOfferRate.toFixed(4)}`);
  const owner = simulate({ ...small, design: 'owner', crossShare: 0, dbScale: 20 });
  t.equal(owner.cutAgents, 0, 'no cross-training: no agent spans nodes');
  t.equal(owner.routingP99Ms, 0, 'owner, nothing cut: every offer leaves at the decision');
});
