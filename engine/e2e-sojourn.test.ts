/**
 * End to end, sojourn admission (issue 13). A lone sipp caller is worked as a full call and gets
 * its 183. Then agent-class work holds the main thread for `HOLD_MS` as soon as new INVITEs wait
 * behind it (what agents' answers and records do at a surge's peak: they go first), while a
 * burst of new INVITEs arrives: every INVITE that waited through the hold is past
 * `scheduler.maxSignallingWaitMs` when its turn comes and gets 503 with Retry-After through its own
 * transaction, and is recorded with a CDR `rejected_capacity` (treatment `refused`) and a callback
 * task; the others are worked and get their 183; no caller is without one of the two. A caller
 * after the burst is worked again. On the code before sojourn admission every INVITE is worked: no
 * 503 at all.
 */
import t from 'tap';
import path from 'node:path';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, callersFile, listCallbacks, listCdrs, startE2e, waitFor, within, type EngineRig, type SippGroup } from './testing/engine-rig.ts';
import { RawUdp, headerOf, rawRequest, statusOf, token } from './testing/attack.ts';
import { inviteFrom } from './testing/agent-burst.ts';
import type { ConfigInput } from './config/index.ts';
import type { WorkHandler } from './sched/index.ts';

const DEADLINE_MS = 100;
/** How long the agent-class work holds the main thread: well past the deadline. */
const HOLD_MS = 400;
const BURST = 100;
const PREFIX = '+4930666';

/** One sipp caller `number` that waits for its 183, then CANCELs: true when it got the 183. */
async function caller(rig: EngineRig, sipps: SippGroup, number: string): Promise<{ ok: boolean; stderr: string }> {
  const r = await within(sipps.run({
    scenario: path.join(SCENARIOS, 'caller-cancel.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 15,
    args: ['-s', '100', '-d', '300', '-mp', String(await freeUdpPort()), '-inf', callersFile(rig, [number], `${number}.csv`)],
  }), 20_000, `the caller ${number}`);
  return { ok: r.successful === 1, stderr: r.stderr.slice(0, 300) };
}

t.test('past scheduler.maxSignallingWaitMs a new INVITE gets 503 + a callback task; the callers worked in time get a 183', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  // A random block of 1,000 RTP ports (one leg each for the callers worked), away from the rig's own.
  const portMin = 41000 + 1000 * Math.floor(Math.random() * 7);
  const { rig, sipps } = await startE2e(t, {
    scheduler: { maxSignallingWaitMs: DEADLINE_MS },
    sip: { maxCalls: 5000, retryAfterSeconds: 9 },
    trunks: [{ id: 'local', allow: ['127.0.0.1/32'], earlyMedia: true, answerAfterSeconds: 120 }],
    media: { bindAddress: '127.0.0.1', workers: 1, rtpPortMin: portMin, rtpPortMax: portMin + 999, rtpTimeoutSeconds: 0 },
  } as Partial<ConfigInput>);
  const work = rig.engine.work!;

  const before = await caller(rig, sipps, '+4930777000001');
  t.ok(before.ok, `a lone caller got its 183 (then CANCELled): worked as a full call (stderr: ${before.stderr})`);

  // Agent-class work that looks every turn whether new INVITEs wait, and then holds the thread.
  let heldBehind = -1;
  const hold: WorkHandler<null> = {
    run: () => {
      if (work.queued('signalling') === 0) {
        setImmediate(() => work.post('agent', hold, null));
        return;
      }
      heldBehind = work.queued('signalling');
      const end = performance.now() + HOLD_MS;
      while (performance.now() < end) { /* the main thread busy with higher-class work */ }
    },
    shed() {},
  };
  work.post('agent', hold, null);

  // The burst, from one socket that hears every answer.
  const carrier = await RawUdp.open();
  t.teardown(() => carrier.close());
  carrier.socket.setRecvBufferSize(4 * 1024 * 1024);
  const callIds = new Map<string, string>();
  for (let i = 0; i < BURST; i++) {
    const number = `${PREFIX}${String(i).padStart(4, '0')}`;
    const callId = token('s');
    callIds.set(callId, number);
    void carrier.send(inviteFrom(carrier, rig, '100', number, callId), rig.sipPort);
  }
  // Each burst caller's answers (183, 503), read from what the socket heard, once each.
  const answers = new Map<string, Set<number>>();
  let scanned = 0;
  const everyoneAnswered = (): boolean => {
    for (; scanned < carrier.heard.length; scanned++) {
      const text = carrier.heard[scanned]!.text;
      const status = statusOf(text);
      if (status !== 503 && status !== 183) continue;
      const callId = headerOf(text, 'Call-ID') ?? '';
      if (!callIds.has(callId)) continue;
      const got = answers.get(callId) ?? new Set<number>();
      got.add(status);
      answers.set(callId, got);
    }
    return answers.size === BURST;
  };
  await waitFor('a 183 or a 503 for every burst caller', everyoneAnswered, 20_000);
  const refused = [...callIds].filter(([id]) => answers.get(id)!.has(503)).map(([, n]) => n);
  const worked = [...callIds].filter(([id]) => answers.get(id)!.has(183)).map(([, n]) => n);
  t.ok(heldBehind > 0, `${heldBehind} new INVITEs waited behind the ${HOLD_MS} ms of agent work`);
  t.ok(refused.length >= heldBehind, `each of them was past the ${DEADLINE_MS} ms deadline and refused (${refused.length} of ${BURST} refused)`);
  t.equal(refused.length + worked.length, BURST, `every caller got a 503 or a 183, none both (${worked.length} worked)`);

  // Each 503 came through the caller's own transaction with Retry-After; its ACK closes it.
  const acked = new Set<string>();
  for (const h of carrier.heard.filter((x) => statusOf(x.text) === 503)) {
    const callId = headerOf(h.text, 'Call-ID')!;
    if (acked.has(callId)) continue; // a retransmission of the 503 (timer G)
    acked.add(callId);
    t.equal(headerOf(h.text, 'Retry-After'), '9', `503 for ${callIds.get(callId)} says Retry-After: sip.retryAfterSeconds`);
    t.match(headerOf(h.text, 'To'), /;tag=/, 'a To tag: the final response of a transaction');
    void carrier.send(rawRequest({
      method: 'ACK', uri: `sip:100@127.0.0.1:${rig.sipPort}`,
      headers: [`Via: ${headerOf(h.text, 'Via')}`, 'Max-Forwards: 70', `From: ${headerOf(h.text, 'From')}`, `To: ${headerOf(h.text, 'To')}`, `Call-ID: ${callId}`, 'CSeq: 1 ACK'],
    }), rig.sipPort);
  }

  // No caller without a record: every refused one has its CDR and its callback task.
  const cdrs = await waitFor(`the CDRs of the ${refused.length} refused callers`, async () => {
    const list = (await listCdrs(rig)).filter((c) => c.caller.startsWith(PREFIX) && c.outcome === 'rejected_capacity');
    return list.length >= refused.length ? list : undefined;
  }, 15_000);
  t.same(cdrs.map((c) => c.caller).sort(), [...refused].sort(), 'one CDR rejected_capacity per refused caller, none for a worked one');
  t.ok(cdrs.every((c) => c.treatment === 'refused'), 'treatment refused in each');
  const tasks = await waitFor('their callback tasks', async () => {
    const list = (await listCallbacks(rig)).filter((c) => c.caller.startsWith(PREFIX));
    return list.length >= refused.length ? list : undefined;
  }, 15_000);
  t.same(tasks.map((c) => c.caller).sort(), [...refused].sort(), 'a callback task per refused caller');
  t.ok(tasks.every((c) => c.reason === 'rejected_capacity'), 'captured as capacity refusals');
  // The worked ones are calls in progress (waiting in the queue, no agent logged in).
  const live = new Set(rig.engine.calls.list().map((c) => c.caller));
  t.ok(worked.every((n) => live.has(n)), 'every caller given a 183 is a call in progress');

  const after = await caller(rig, sipps, '+4930777000002');
  t.ok(after.ok, `a caller after the burst is worked again and gets its 183 (stderr: ${after.stderr})`);

  const metrics = await (await fetch(`http://127.0.0.1:${rig.httpPort}/metrics`)).text();
  t.match(metrics, new RegExp(`onair_work_overdue_total\\{class="signalling"\\} ${refused.length}\\b`), 'the overdue counter says how many');
  t.match(metrics, /onair_work_sojourn_seconds_count\{class="signalling"\} [1-9]/, 'the signalling sojourn histogram has the waits');
});
