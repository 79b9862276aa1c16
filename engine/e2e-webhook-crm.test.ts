/**
 * End to end, the webhook CRM adapter through the real engine (config `crm.adapter: webhook`) and
 * a real HTTP receiver on loopback: a caller waits in the queue with no agent available, and the
 * CRM hears of it while it waits (events go into the outbox when they happen, not at the end of
 * the call); then an agent answers and the CRM gets `offered`, `answered`, `ended` and the CDR, in
 * that order, each once after deduplicating by delivery id (one is refused with 500 and redelivered),
 * every request signed.
 */
import t from 'tap';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { requirePeer } from './testing/index.ts';
import {
  SCENARIOS, SippGroup, api, callersFile, demoQueues, freeUdpPort, registerSippAgents, startEngineRig, waitFor, within,
} from './testing/engine-rig.ts';
import { startSipp } from './testing/sipp.ts';
import { DELIVERY_HEADER, verifyWebhook, type CallEvent, type Cdr } from '../crm-adapter/index.ts';
import { demoConfig } from './config/index.ts';

const SECRET = 'e2e-webhook-secret';

/** One request the receiver got: when it arrived, what it said, whether its signature held. */
interface Received {
  arrivedAt: number;
  deliveryHeader: string | undefined;
  verified: boolean;
  verifyCode: string | null;
  body: Record<string, unknown> | null;
  /** The status the receiver answered. */
  status: number;
}

/** The item of a delivery body: the event type, or `cdr`. */
function itemOf(r: Received): string {
  if (r.body?.kind === 'cdr') return 'cdr';
  return (r.body?.event as CallEvent | undefined)?.type ?? String(r.body?.kind);
}

/**
 * A CRM on 127.0.0.1: verifies every request with the adapter's own {@link verifyWebhook},
 * records it, and answers the first delivery of `refuseFirst` (an event type) with 500 so the
 * outbox has to deliver it again.
 */
async function startReceiver(refuseFirst: string): Promise<{ url: string; got: Received[]; close(): Promise<void> }> {
  const got: Received[] = [];
  let refused = false;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const arrivedAt = Date.now();
      const v = verifyWebhook(Buffer.concat(chunks), req.headers, SECRET, arrivedAt);
      const delivery = req.headers[DELIVERY_HEADER];
      const r: Received = {
        arrivedAt, deliveryHeader: typeof delivery === 'string' ? delivery : undefined, verified: v.ok,
        verifyCode: v.ok ? null : v.code, body: v.ok ? v.body : null, status: v.ok ? 204 : 401,
      };
      if (v.ok && !refused && itemOf(r) === refuseFirst) {
        refused = true;
        r.status = 500;
      }
      got.push(r);
      res.writeHead(r.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/onair/events`, got,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

t.test('the webhook CRM hears of a waiting caller while it waits, then gets every event and the CDR once, in order, signed', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const crm = await startReceiver('answered');
  const sipps = new SippGroup();
  let closeRig = async (): Promise<void> => {};
  // One teardown, peers first, then the engine, then the CRM (the engine's drain may still deliver).
  t.teardown(async () => {
    await sipps.close();
    await closeRig();
    await crm.close();
  });
  // The agent logs in not ready (autoReadyOnRegister false): the caller waits until the test
  // makes the agent available through the API. A short wrap-up: the CDR is written when it ends.
  const agents = (demoConfig().agents ?? []).map((a) => ({ ...a, autoReadyOnRegister: false }));
  const rig = await startEngineRig({
    crm: { adapter: 'webhook', url: crm.url, secret: SECRET, timeoutMs: 2000 },
    queues: demoQueues({ wrapUpMs: 500 }),
    agents,
  });
  closeRig = () => rig.close();

  const agentPort = await freeUdpPort();
  const agentPhone = sipps.add(startSipp({
    scenario: path.join(SCENARIOS, 'agent-answer.xml'), transport: 'u1', localPort: agentPort, calls: 1,
    timeoutSec: 90, args: ['-d', '300', '-mp', String(await freeUdpPort())],
  }));
  await registerSippAgents(rig, ['1001'], agentPort);
  t.equal((await api<{ status: string }>(rig, 'GET', '/api/v1/agents/1001')).body.status, 'not_ready', 'the agent is logged in, not ready');

  const number = '+4930760000001';
  // Welcome (2.3 s), the queue (10 s, no agent), ringing, then the talk: the caller hangs up
  // 22 s after the engine answered it, well after the agent (made available at ~12 s) answered.
  const caller = sipps.start({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1,
    timeoutSec: 60, args: ['-s', '100', '-d', '22000', '-inf', callersFile(rig, [number])],
  });
  const sipCallId = `1-${caller.process.pid}@127.0.0.1`;

  await waitFor('the caller queued in the engine', () => rig.engine.calls.list().some((c) => c.phase === 'queued'), 15_000);
  await sleep(10_000);
  // Still waiting: nobody is available, and the call is up.
  t.equal(caller.process.exitCode, null, 'the caller is still on the line');
  t.ok(rig.engine.calls.list().some((c) => c.phase === 'queued'), 'the caller is still queued');
  const queuedBefore = crm.got.filter((r) => r.verified && itemOf(r) === 'queued');
  t.equal(queuedBefore.length, 1, 'the CRM got the queued event while the caller waits (not held until the end of the call)');

  const availableAt = Date.now();
  const ready = await api<{ status: string }>(rig, 'POST', '/api/v1/agents/1001/status', { status: 'available' });
  t.equal(ready.status, 200, 'the agent is made available');

  const result = await within(caller.done, 45_000, 'the caller');
  t.equal(result.successful, 1, `the caller completed (stderr: ${result.stderr.slice(0, 300)})`);
  const callerEndedAt = Date.now();
  await within(agentPhone.done, 15_000, 'the agent phone');
  const cdrReq = await waitFor('the CDR at the CRM', () => crm.got.find((r) => r.status === 204 && itemOf(r) === 'cdr'), 20_000);

  // Every request the engine made is signed with the secret (verifyWebhook: signature, timestamp).
  t.ok(crm.got.length >= 6, `requests received (${crm.got.length})`);
  t.same(crm.got.filter((r) => !r.verified).map((r) => r.verifyCode), [], 'every request has a valid signature and timestamp');
  t.ok(crm.got.every((r) => r.deliveryHeader === r.body?.deliveryId), 'the delivery header equals the body\'s deliveryId');

  // The refused delivery came again with the same delivery id, a higher attempt, and is one item.
  const answeredReqs = crm.got.filter((r) => itemOf(r) === 'answered');
  t.same(answeredReqs.map((r) => r.status), [500, 204], 'answered: refused once with 500, then delivered');
  t.equal(answeredReqs[0]?.body?.deliveryId, answeredReqs[1]?.body?.deliveryId, 'the redelivery carries the same deliveryId');
  t.ok(Number(answeredReqs[1]?.body?.attempt) > Number(answeredReqs[0]?.body?.attempt), 'with a higher attempt');

  // Deduplicated by deliveryId, in arrival order: one item each, in the engine's order.
  const seen = new Set<string>();
  const items: Received[] = [];
  for (const r of crm.got) {
    const id = String(r.body?.deliveryId);
    if (r.status !== 204 || seen.has(id)) continue;
    seen.add(id);
    items.push(r);
  }
  t.same(items.map(itemOf), ['queued', 'offered', 'answered', 'ended', 'cdr'], 'queued, offered, answered, ended, CDR: each once, in order');
  const events = items.filter((r) => r.body?.kind === 'call_event').map((r) => r.body!.event as CallEvent);
  const callId = events[0]?.callId;
  t.ok(typeof callId === 'string' && callId.length > 0, 'a call id');
  t.ok(events.every((e) => e.callId === callId && e.caller === number && e.queue === 'orders'), 'all for this call, caller and queue');

  // The queued event reached the CRM while the caller waited: before the agent was available,
  // before the answer, and long before the call ended.
  const queued = items[0]!;
  const answered = events.find((e) => e.type === 'answered');
  t.ok(queued.arrivedAt < availableAt, 'queued arrived before the agent was made available');
  t.ok(answered !== undefined && queued.arrivedAt < answered.at, 'queued arrived before the answer');
  t.ok(queued.arrivedAt < callerEndedAt - 10_000, 'queued arrived well before the call ended');
  t.ok(items[1]!.arrivedAt >= availableAt, 'offered arrived after the agent was made available');

  const cdr = cdrReq.body!.cdr as Cdr;
  t.match(cdr, { callId, caller: number, dialled: '100', queue: 'orders', agent: '1001', outcome: 'answered', releasedBy: 'caller', offers: 1 });
  t.equal(cdr.sipCallId, sipCallId, 'the CDR carries the caller\'s SIP Call-ID');
  const waitMs = (cdr.answeredAt ?? 0) - cdr.arrivedAt;
  t.ok(waitMs >= 10_000 && waitMs < 40_000, `waitMs ≈ 10 s in the queue plus the welcome (${waitMs} ms)`);
  t.ok(cdr.queuedAt !== null && cdr.answeredAt !== null && cdr.answeredAt - cdr.queuedAt >= 10_000, 'waited at least 10 s in the queue');
  t.ok(cdr.answeredAt !== null && cdr.endedAt > cdr.answeredAt, 'talked');
  // A lower bound only (a timer is never 100 ms early; it may be a millisecond early by Date.now()).
  t.ok(cdr.wrapUpEndAt !== null && cdr.wrapUpEndAt >= cdr.endedAt + 400, `the wrap-up (500 ms) ran before the CDR was written (${cdr.wrapUpMs} ms)`);
  t.ok(cdr.wrapUpEndAt !== null && cdrReq.arrivedAt >= cdr.wrapUpEndAt, 'the CDR reached the CRM after the wrap-up ended');
  // The event's `at` is when it was recorded, a moment after the answer the CDR keeps.
  t.ok(answered !== undefined && cdr.answeredAt !== null && answered.at >= cdr.answeredAt && cdr.answeredAt >= availableAt,
    'answered after the agent was made available; the event recorded at or after the answer');
  t.equal(rig.engine.calls.size, 0, 'no call left in progress');
});
