/**
 * End to end, outbound campaigns through the real engine (issue 14 must-show 5): a campaign of
 * 1,000 contacts is created and imported by CSV through the API, worked by sipp agents of its
 * queue in progressive mode and in preview mode (the test's "desktop" answers every preview on
 * the event stream) against sipp customers behind the outbound trunk (1 in 10 answers, the others
 * are busy; one attempt each), and every contact ends with its `campaign_result` in the CRM
 * through the outbox: the agents' dispositions for those reached, the policy's end for the others.
 */
import t from 'tap';
import type { Test } from 'tap';
import path from 'node:path';
import { openDatabase } from './db/index.ts';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, api, demoQueues, startE2e, startSippAgents, waitFor, within } from './testing/engine-rig.ts';
import { connectEvents } from './api/testkit.ts';
import type { CampaignResultEvent } from '../crm-adapter/index.ts';

type E2e = Awaited<ReturnType<typeof startE2e>>;

/** The agents of the orders queue (demo skills). */
const ORDERS_AGENTS = ['1001', '1002', '1003', '1004', '1005', '1009', '1010'];
const CONTACTS = 1000;

/** A contact list: header, 1,000 contacts with two custom fields, and three lines to refuse. */
function contactList(prefix: string): string {
  const lines = ['number,name,product'];
  for (let i = 0; i < CONTACTS; i++) lines.push(`${prefix}${String(i).padStart(4, '0')},Customer ${i},"Rice cooker, 3 l"`);
  lines.push('not-a-number,Nobody,x', `${prefix}0001,Twice,x`, `${prefix}9999,Short`);
  return lines.join('\n') + '\n';
}

async function campaignRig(t: Test, mode: 'progressive' | 'preview', prefix: string): Promise<E2e & { id: string }> {
  const customerPort = await freeUdpPort();
  const e2e = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', maxConcurrent: 60, callsPerSecond: 500 }] },
    // All day: a skipped preview's next attempt is placed inside the dialing policy's calling hours
    // (default 09:00-21:00 in the center's zone), so after 21:00 Shanghai the three skipped contacts
    // would wait for the morning and the test would depend on the hour it runs at.
    callbacks: { dialing: { pollSeconds: 1, maxAttempts: 1, retryDelaySeconds: { skipped: 0 }, callingHours: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }] } },
    queues: demoQueues({ wrapUpMs: 50 }),
  } as never);
  const { rig, sipps } = e2e;
  sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-mixed.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 100_000, timeoutSec: 200,
    args: ['-cp', String(await freeUdpPort()), '-mp', String(await freeUdpPort())],
  });
  sipps.add((await startSippAgents(rig, ORDERS_AGENTS, 0, 100_000, { timeoutSec: 200 })).answer);
  const id = `spring-${mode}`;
  const created = await api(rig, 'POST', '/api/v1/campaigns', {
    id, name: `Spring re-sale (${mode})`, type: 'resale', mode, queue: 'orders',
    schedule: [{ from: '00:00', to: '24:00' }], script: 'Hello {{name}}, about your {{product}} ({{number}})...', resultCodes: ['sold', 'not_interested'],
  });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const res = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/campaigns/${id}/contacts/import`, {
    method: 'POST', headers: { 'content-type': 'text/csv' }, body: contactList(prefix),
  });
  const report = await res.json() as { lines: number; added: number; refused: number; errors: { line: number; reason: string }[]; columns: string[] };
  t.equal(res.status, 200);
  t.match(report, { lines: CONTACTS + 3, added: CONTACTS, refused: 3, columns: ['name', 'product'] }, 'the import counts');
  t.match(report.errors, [
    { line: CONTACTS + 2, reason: /not a phone number/ }, { line: CONTACTS + 3, reason: /in the file already/ }, { line: CONTACTS + 4, reason: /2 fields, the header has 3/ },
  ], 'each refused line with its number and why');
  return { ...e2e, id };
}

interface Stats { contacts: number; byStatus: Record<string, number>; attemptsByResult: Record<string, number>; dispositions: Record<string, number> }

async function stats(e: E2e & { id: string }): Promise<Stats> {
  return (await api<{ stats: Stats }>(e.rig, 'GET', `/api/v1/campaigns/${e.id}`)).body.stats;
}

/** Run the campaign to its end, record a disposition for each reached contact, and check the CRM. */
async function workAndCheck(t: Test, e: E2e & { id: string }): Promise<void> {
  const started = await api(e.rig, 'POST', `/api/v1/campaigns/${e.id}/start`);
  t.match(started.body, { state: 'running' });
  const end = await waitFor('every contact closed', async () => {
    const s = await stats(e);
    return (s.byStatus['done'] ?? 0) + (s.byStatus['exhausted'] ?? 0) === CONTACTS ? s : undefined;
  }, 150_000);
  const reached = end.byStatus['done'] ?? 0;
  t.ok(reached > 0 && reached < CONTACTS, `some customers answered (${reached}), the others were busy`);
  t.equal((end.attemptsByResult['answered'] ?? 0) + (end.attemptsByResult['busy'] ?? 0), CONTACTS, `one attempt each, answered or busy: ${JSON.stringify(end.attemptsByResult)}`);
  // The agents record the dispositions of those they talked to.
  const db = openDatabase({ path: e.rig.dbPath, busyTimeoutMs: 2000 });
  t.teardown(() => db.close());
  // A second connection sees the engine's last group commit a moment later (WAL): wait for it.
  const done = await waitFor('the reached contacts in the database', () => {
    const rows = db.prepare<{ id: number }>("SELECT id FROM campaign_contacts WHERE campaign_id = ? AND status = 'done' ORDER BY id").all(e.id);
    return rows.length === reached ? rows : undefined;
  }, 30_000);
  const one = await api<{ contact: { fields: Record<string, string> }; script: string }>(e.rig, 'GET', `/api/v1/campaigns/${e.id}/contacts/${done[0]!.id}`);
  t.match(one.body.script, /^Hello Customer \d+, about your Rice cooker, 3 l \(\+86/, 'the script with the contact\'s fields');
  const wrong = await api(e.rig, 'POST', `/api/v1/campaigns/${e.id}/contacts/${done[0]!.id}/disposition`, { code: 'maybe' });
  t.equal(wrong.status, 400, 'a code the campaign does not have');
  for (const [i, c] of done.entries()) {
    const r = await api(e.rig, 'POST', `/api/v1/campaigns/${e.id}/contacts/${c.id}/disposition`, { code: i % 3 === 0 ? 'sold' : 'not_interested', note: `call ${i}` });
    if (r.status !== 200) t.fail(`disposition of ${c.id}: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const after = await stats(e);
  t.same(after.dispositions, { sold: Math.ceil(reached / 3), not_interested: reached - Math.ceil(reached / 3) }, 'per-campaign statistics count the dispositions');
  // Every contact's result reached the CRM (the built-in SQLite adapter keeps the events).
  const results = await waitFor('every campaign_result in the CRM', () => {
    const rows = db.prepare<{ payload: string }>("SELECT payload FROM crm_call_events WHERE type = 'campaign_result'").all()
      .map((r) => JSON.parse(r.payload) as CampaignResultEvent).filter((x) => x.campaignId === e.id);
    return rows.length >= CONTACTS ? rows : undefined;
  }, 120_000);
  t.equal(new Set(results.map((r) => r.contactId)).size, CONTACTS, 'one result per contact');
  const withCode = results.filter((r) => r.disposition !== null);
  t.equal(withCode.length, reached, 'each reached contact has its disposition in the CRM');
  t.ok(withCode.every((r) => r.status === 'done' && r.agent !== null && ORDERS_AGENTS.includes(r.agent) && r.fields['product'] === 'Rice cooker, 3 l'),
    'with the agent who talked and the contact\'s fields');
  t.ok(results.filter((r) => r.disposition === null).every((r) => r.status === 'exhausted' && r.lastResult === 'busy'), 'the others: exhausted, busy');
  const cdrs = db.prepare<{ n: number }>("SELECT count(*) AS n FROM crm_cdrs WHERE json_extract(payload, '$.campaignId') = ?").get(e.id);
  const attempts = Object.values((await stats(e)).attemptsByResult).reduce((x, y) => x + y, 0);
  const metrics = await (await fetch(`http://127.0.0.1:${e.rig.httpPort}/metrics`)).text();
  t.ok(metrics.includes(`onair_campaign_contacts{campaign="${e.id}",status="done"} ${reached}`), 'the contacts gauge per campaign and status');
  t.match(metrics, /onair_campaign_attempts_total\{result="busy"\} \d+/, 'attempts by result');
  t.match(metrics, /onair_outbound_utilisation_ratio\{trunk="carrier-a"\} 0/, 'trunk utilisation (idle at the end)');
  t.equal(cdrs?.n, attempts, `an outbound CDR per attempt (${attempts}), with the campaign id`);
}

t.test('a 1,000-contact campaign in progressive mode: agent first, then the customer', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await campaignRig(t, 'progressive', '+86138001');
  await workAndCheck(t, e);
});

t.test('a 1,000-contact campaign in preview mode: each contact offered on the desktop first', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const e = await campaignRig(t, 'preview', '+86138002');
  const events = await connectEvents(`ws://127.0.0.1:${e.rig.httpPort}/api/v1/events`);
  t.teardown(() => events.close());
  // The "desktop": skips the first three previews (back to the queue at once: skipped delay 0), accepts the others.
  let seen = 0;
  let skipped = 0;
  let answering = true;
  const answers = (async () => {
    while (answering) {
      const batch = events.messages.slice(seen);
      seen += batch.length;
      for (const m of batch) {
        if (m.type !== 'callback.preview' || m['state'] !== 'offered' || m['campaignId'] !== e.id) continue;
        const action = skipped < 3 ? 'skip' : 'accept';
        if (action === 'skip') skipped++;
        await api(e.rig, 'POST', `/api/v1/campaigns/${e.id}/contacts/${String(m['callbackId'])}/preview`, { agent: m['agentId'], action });
      }
      if (batch.length === 0) await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.teardown(() => { answering = false; });
  await workAndCheck(t, e);
  answering = false;
  await within(answers, 5000, 'the desktop loop');
  t.equal(skipped, 3, 'three previews skipped');
  const s = await stats(e);
  t.equal(s.attemptsByResult['skipped'], 3, 'recorded as skipped attempts, then called');
  t.ok(events.messages.filter((m) => m.type === 'callback.preview' && m['state'] === 'accepted').length >= CONTACTS, 'every contact was accepted on the desktop');
});
