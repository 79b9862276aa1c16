/**
 * Campaigns pause during surge mode and resume after (issue 18), on the call-control rig
 * (engine/calls/testing.ts: the real UA over a recording wire, the real ACD, call control's effect
 * loop, a fake clock) with the real campaign runtime and store on SQLite: a progressive campaign
 * runs while its agent talks to a live caller (its contact waits in the ACD for the agent); surge
 * mode starts; the agent comes free and no campaign attempt starts; surge mode ends and the
 * contact rings the agent.
 */
import t from 'tap';
import { pino } from 'pino';
import { CallRig } from '../calls/testing.ts';
import { DEFAULT_DIALING_POLICY } from '../callbacks/index.ts';
import { migrate, openDatabase, SqliteWriter } from '../db/index.ts';
import type { OutboundPort } from '../dialer/index.ts';
import { STORE_MIGRATIONS } from '../store/schema.ts';
import { CampaignRuntime, CampaignStore, holdBack } from './index.ts';

t.test('a running campaign makes no attempt during a surge and resumes after it', async (t) => {
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  migrate(db, 'store', STORE_MIGRATIONS, 1000);
  const dials: string[] = [];
  const outbound: OutboundPort = { dial: (req) => { dials.push(req.number); return { hangup: () => {} }; } };
  let campaigns: CampaignRuntime | undefined;
  const r = new CallRig({
    logLevel: 'silent', queues: [{ id: 'orders', wrapUpMs: 0, ringTimeoutMs: 10_000 }],
    callbacks: (rig) => {
      const store = new CampaignStore(db, new SqliteWriter(db, false, 0), DEFAULT_DIALING_POLICY, rig.clock.now());
      campaigns = new CampaignRuntime({
        store, outbox: rig.store, isDnc: () => false, inboundWaiting: () => [0], queues: new Set(['orders']), log: pino({ level: 'silent' }),
        dialer: {
          acd: rig.acd, decide: (input) => rig.calls.decide(input), store: rig.store, outbound, ua: rig.ua, media: rig.media,
          agents: { contacts: (id) => {
            const p = rig.phones.get(id);
            return p ? [{ uri: { scheme: 'sip', user: p.extension, host: p.source.address, port: p.source.port, params: new Map(), headers: new Map() } as never, source: p.source }] : [];
          } },
          settings: { pollMs: 2000, defaultQueue: 'orders', rtpTimeoutMs: 0, lookupDeadlineMs: 300 },
          log: pino({ level: 'silent' }), clock: rig.clock,
        },
      });
      return campaigns.dialers.progressive;
    },
  });
  const c = campaigns!;
  t.teardown(async () => { await c.stop(); await r.close(); });
  const phone = r.agent('a1', '2001', 5070);
  const live = await r.answeredCall(phone);
  t.equal(r.agentInvites().length, 1, 'a1 talks to a live caller');

  const now = r.clock.now();
  t.match(await c.create({
    id: 'spring', name: 'Spring', type: 'resale', mode: 'progressive', queue: 'orders', schedule: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }],
    timeZone: 'UTC', script: '', resultCodes: ['sold'], pauseWhenInboundWaiting: 5, callerId: '4008001234', survey: null, maxConcurrent: 10, callsPerSecond: 2,
  }, now), { ok: true });
  t.match(await c.importCsv('spring', 'number\n13900000001\n', now), { ok: true, report: { added: 1 } });
  c.start();
  t.match(await c.setState('spring', 'start', now), { ok: true, campaign: { state: 'running' } });
  await r.advance(0);
  await r.settle();
  t.equal(c.dialers.progressive.stats.entries, 1, 'the contact waits in the ACD for the busy agent');

  c.setSurge(true);
  t.ok(c.surgePaused);
  await r.settle();
  t.equal(c.dialers.progressive.stats.entries, 0, 'surge on: the loaded contact is taken back');
  r.phoneHangsUp(live.inv, phone);
  await r.advance(0);
  for (let i = 0; i < 5; i++) await r.advance(2000);
  t.equal(r.acd.inspectAgent('a1')?.state, 'idle', 'a1 is free');
  t.equal(r.agentInvites().length, 1, 'no campaign attempt during the surge');
  t.same(dials, []);

  c.setSurge(false);
  await r.advance(0);
  await r.settle();
  const invites = r.agentInvites();
  t.equal(invites.length, 2, 'surge off: the campaign resumes at once');
  t.equal(invites[1]!.headers.get('x-onair-campaign'), 'spring', "the agent's phone rings for the campaign's contact");
});

t.test('hold-back: surge mode holds a contact that would dial', async (t) => {
  const c = { state: 'running' as const, schedule: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }], timeZone: 'UTC', pauseWhenInboundWaiting: 2 };
  const task = { status: 'open' as const, nextAttemptAt: 0, caller: '+861' };
  t.equal(holdBack(c, task, 1000, { isDnc: () => false, inboundWaitingMax: 0 }), null);
  t.equal(holdBack(c, task, 1000, { isDnc: () => false, inboundWaitingMax: 0, surge: true }), 'surge');
  t.equal(holdBack({ ...c, state: 'paused' }, task, 1000, { isDnc: () => false, inboundWaitingMax: 0, surge: true }), 'campaign_not_running', 'a paused campaign stays paused whatever the surge');
});
