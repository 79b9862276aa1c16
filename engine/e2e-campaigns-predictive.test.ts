/**
 * End to end, a predictive campaign through the real engine (issue 14: campaigns "mode (preview /
 * progressive / predictive)"): every agent on auto-answer, the campaign in mode `predictive`, one
 * sipp agent that answers at once, sipp customers who all answer. The campaign's dialer paces with
 * the callback dialer's pacer (engine/callbacks pacing.ts, the abandon ceiling set high so that it
 * dials ahead): every attempt starts without an agent (customer first), a customer is put through
 * to the agent, and every contact ends with its `campaign_result` in the CRM.
 */
import t from 'tap';
import path from 'node:path';
import { openDatabase } from './db/index.ts';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, api, listCdrs, startE2e, startSippAgents, waitFor } from './testing/engine-rig.ts';
import { demoConfig } from './config/index.ts';
import type { CampaignResultEvent } from '../crm-adapter/index.ts';

// All day: the default calling hours (09:00-21:00 Asia/Shanghai) would stop the test after 13:00 UTC.
const ALL_DAY = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];
const NUMBERS = ['+8613700000031', '+8613700000032', '+8613700000033'];

t.test('a predictive campaign: customers dialled first by the pacer, put through to the auto-answer agent', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    agents: demoConfig().agents!.map((a) => ({ ...a, autoAnswer: true })),
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', callsPerSecond: 100 }] },
    callbacks: { dialing: { pollSeconds: 1, callingHours: ALL_DAY, maxAttempts: 1, maxAbandonRatio: 0.5 } },
  } as never);
  sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-answer.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 3, timeoutSec: 60,
    args: ['-cp', String(await freeUdpPort()), '-d', '300'],
  });
  sipps.add((await startSippAgents(rig, ['1001'], 0, 100, { timeoutSec: 60 })).answer);
  const created = await api(rig, 'POST', '/api/v1/campaigns', {
    id: 'reorder', name: 'Re-order', type: 'resale', mode: 'predictive', queue: 'orders', schedule: ALL_DAY, timeZone: 'UTC',
    resultCodes: ['sold', 'not_interested'],
  });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const csv = ['number', ...NUMBERS].join('\n') + '\n';
  const imported = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/campaigns/reorder/contacts/import`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
  t.match(await imported.json(), { added: 3 });
  await api(rig, 'POST', '/api/v1/campaigns/reorder/start');

  const db = openDatabase({ path: rig.dbPath, busyTimeoutMs: 2000 });
  t.teardown(() => db.close());
  const closed = await waitFor('every contact closed', () => {
    const rows = db.prepare<{ id: number; status: string }>("SELECT id, status FROM campaign_contacts WHERE campaign_id = 'reorder'").all();
    return rows.length === 3 && rows.every((r) => r.status !== 'open' && r.status !== 'claimed') ? rows : undefined;
  }, 60_000);
  const attempts = db.prepare<{ agent_id: string | null; result: string }>(
    "SELECT a.agent_id, a.result FROM campaign_attempts a JOIN campaign_contacts c ON c.id = a.task_id WHERE c.campaign_id = 'reorder'").all();
  t.ok(attempts.length >= 3, `every contact dialled (${attempts.length} attempts)`);
  t.ok(attempts.every((a) => a.agent_id === null), 'each attempt began without an agent (customer first)');
  const done = closed.filter((r) => r.status === 'done');
  t.ok(done.length >= 1, `a customer was put through to the agent (${done.length} done)`);
  const talked = await waitFor('an outbound CDR with the agent', async () =>
    (await listCdrs(rig)).find((c) => c.direction === 'outbound' && c.campaignId === 'reorder' && c.agent === '1001'), 20_000);
  t.match(talked, { dialResult: 'answered', agent: '1001' });
  // The agent's desktop records the disposition of the reached contacts (with its agent id: the
  // attempt began without one); every contact's result reaches the CRM.
  for (const c of done) await api(rig, 'POST', `/api/v1/campaigns/reorder/contacts/${c.id}/disposition`, { code: 'sold', agent: '1001' });
  const results = await waitFor('every campaign_result in the CRM', () => {
    const rows = db.prepare<{ payload: string }>("SELECT payload FROM crm_call_events WHERE type = 'campaign_result'").all()
      .map((r) => JSON.parse(r.payload) as CampaignResultEvent).filter((x) => x.campaignId === 'reorder');
    return rows.length >= 3 ? rows : undefined;
  }, 30_000);
  t.equal(new Set(results.map((r) => r.contactId)).size, 3, 'one result per contact');
  t.ok(results.filter((r) => r.status === 'done').every((r) => r.disposition?.code === 'sold' && r.agent === '1001'), 'the reached ones with the agent\'s disposition');
});
