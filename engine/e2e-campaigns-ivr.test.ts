/**
 * End to end, IVR survey campaigns through the real engine (issue 14: "IVR surveys run without
 * agents: prompts + DTMF answers recorded per contact", must-show 5 "survey answers land in the
 * CRM through the outbox"): a campaign of type survey in mode `ivr` over a configured survey (a
 * greeting, two one-digit questions, goodbye), no agent logged in. sipp customers behind the
 * outbound trunk answer and key 2 then 4 (RFC 4733, sipp's pcaps); one number never answers (480).
 * Each answered contact ends `done` with its answers stored on the contact and in its
 * `campaign_result` in the CRM; the one that never answers is retried per the policy and closed
 * exhausted; every attempt has its outbound CDR with the campaign id.
 */
import t from 'tap';
import path from 'node:path';
import { openDatabase } from './db/index.ts';
import { freeUdpPort, requirePeer } from './testing/index.ts';
import { SCENARIOS, api, listCdrs, startE2e, waitFor } from './testing/engine-rig.ts';
import type { CampaignResultEvent } from '../crm-adapter/index.ts';

// All day: the dialing policy's default calling hours (09:00-21:00 Asia/Shanghai) would put the
// retry of the unanswered contact into the next morning when the test runs after 13:00 UTC.
const ALL_DAY = [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }];
const ANSWERING = ['+8613900000001', '+8613900000002', '+8613900000003'];
const NEVER = '+8613900000099';

const question = (into: string) => ({
  collect: { into, prompt: 'menu', minDigits: 1, maxDigits: 1, terminator: null, firstDigitTimeoutSeconds: 5, retries: 1 },
});

t.test('an IVR survey campaign: customers key their answers, no agent; the answers reach the CRM; a contact that never answers is retried then closed', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const customerPort = await freeUdpPort();
  const { rig, sipps } = await startE2e(t, {
    outbound: { trunks: [{ id: 'carrier-a', address: `127.0.0.1:${customerPort}`, callerId: '4008001234', callsPerSecond: 100 }] },
    callbacks: { dialing: { pollSeconds: 1, maxAttempts: 2, retryDelaySeconds: { no_answer: 1 }, callingHours: ALL_DAY } },
    surveys: { satisfaction: [{ play: 'welcome' }, question('rating'), question('recommend'), { hangup: { prompt: 'goodbye' } }] },
  } as never);
  sipps.start({
    scenario: path.join(SCENARIOS, 'sipp', 'customer-survey.xml'), localIp: '127.0.0.1', localPort: customerPort, calls: 100, timeoutSec: 120,
    args: ['-cp', String(await freeUdpPort()), '-mp', String(await freeUdpPort())],
  });

  const refused = await api(rig, 'POST', '/api/v1/campaigns', {
    id: 'bad', name: 'No such survey', type: 'survey', mode: 'ivr', queue: 'orders', survey: 'nps', resultCodes: ['done'],
  });
  t.equal(refused.status, 400, `a survey that is not configured is refused (${JSON.stringify(refused.body)})`);
  const created = await api(rig, 'POST', '/api/v1/campaigns', {
    id: 'csat', name: 'After-sale satisfaction', type: 'survey', mode: 'ivr', queue: 'orders', survey: 'satisfaction', resultCodes: ['done'],
    schedule: ALL_DAY, timeZone: 'UTC', maxConcurrent: 2, callsPerSecond: 5,
  });
  t.equal(created.status, 201, JSON.stringify(created.body));
  const csv = ['number,name', ...ANSWERING.map((n, i) => `${n},Customer ${i}`), `${NEVER},Nobody home`].join('\n') + '\n';
  const imported = await fetch(`http://127.0.0.1:${rig.httpPort}/api/v1/campaigns/csat/contacts/import`, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: csv });
  t.match(await imported.json(), { added: 4, refused: 0 });
  t.match((await api(rig, 'POST', '/api/v1/campaigns/csat/start')).body, { state: 'running' });

  interface Stats { byStatus: Record<string, number>; attemptsByResult: Record<string, number> }
  const end = await waitFor('every contact closed', async () => {
    const s = (await api<{ stats: Stats }>(rig, 'GET', '/api/v1/campaigns/csat')).body.stats;
    return (s.byStatus['done'] ?? 0) + (s.byStatus['exhausted'] ?? 0) === 4 ? s : undefined;
  }, 90_000);
  t.same(end.byStatus, { done: 3, exhausted: 1 }, 'the three who answered are done, the one who never answers exhausted');
  t.same(end.attemptsByResult, { answered: 3, no_answer: 2 }, 'one attempt each for those who answered; the other retried once (maxAttempts 2)');

  const db = openDatabase({ path: rig.dbPath, busyTimeoutMs: 2000 });
  t.teardown(() => db.close());
  const results = await waitFor('every campaign_result in the CRM', () => {
    const rows = db.prepare<{ payload: string }>("SELECT payload FROM crm_call_events WHERE type = 'campaign_result'").all()
      .map((r) => JSON.parse(r.payload) as CampaignResultEvent).filter((x) => x.campaignId === 'csat');
    return rows.length >= 4 ? rows : undefined;
  }, 30_000);
  t.equal(results.length, 4, 'one result per contact');
  const byCaller = new Map(results.map((r) => [r.caller, r]));
  for (const n of ANSWERING) {
    t.match(byCaller.get(n), { status: 'done', agent: null, disposition: null, lastResult: 'answered', answers: { rating: '2', recommend: '4' } },
      `${n}: the answers it keyed, no agent`);
  }
  t.match(byCaller.get(NEVER), { status: 'exhausted', attempts: 2, lastResult: 'no_answer', answers: null }, 'the unanswered contact: retried, then closed');

  const contactId = byCaller.get(ANSWERING[0]!)!.contactId;
  const one = await api<{ contact: { surveyAnswers: Record<string, string | null> | null } }>(rig, 'GET', `/api/v1/campaigns/csat/contacts/${contactId}`);
  t.same(one.body.contact.surveyAnswers, { rating: '2', recommend: '4' }, 'the answers are stored on the contact');

  const cdrs = await waitFor('an outbound CDR per attempt', async () => {
    const rows = (await listCdrs(rig)).filter((c) => c.direction === 'outbound' && c.campaignId === 'csat');
    return rows.length >= 5 ? rows : undefined;
  }, 30_000);
  const answered = cdrs.filter((c) => c.dialResult === 'answered');
  t.equal(answered.length, 3);
  t.ok(answered.every((c) => c.agent === null && (c.played ?? []).includes('en/welcome') && (c.played ?? []).includes('en/goodbye')),
    `the surveyed calls heard the survey's prompts, no agent (${JSON.stringify(answered.map((c) => c.played))})`);
  t.equal(cdrs.filter((c) => c.dialResult === 'no_answer').length, 2, 'the two unanswered attempts');
});
