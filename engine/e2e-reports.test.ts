/**
 * Reports through the real engine (issue 18): sipp callers answered by sipp agents, one who hangs
 * up in the queue; the engine's report (GET /api/v1/reports) agrees with the CDRs the CRM got on
 * offered, answered and abandoned, per queue and programme, and has the agents' time; the
 * schedule's airing (put through the API) names the CDRs' programme and airing. Surge mode: the
 * schedule's window and the manual override (POST /api/v1/surge) switch skills, each switch a
 * `surge` event on the event stream.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer, runSipp } from './testing/index.ts';
import { SCENARIOS, api, callersFile, startE2e, startSippAgents, waitForCdrs } from './testing/engine-rig.ts';
import { connectEvents } from './api/testkit.ts';

interface Row { keys: Record<string, string | null>; figures: Record<string, number>; agentTime: { staffedMs: number } | null }

t.test('the report of a run agrees with its CDRs', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const { rig } = await startE2e(t);
  const agents = await startSippAgents(rig, ['1001', '1002'], 200);
  t.teardown(agents.close);
  await new Promise((r) => setTimeout(r, 200));
  const from = Date.now() - 1000;
  // The schedule names the airing of number 100 now (the demo number plan says demo-shopping-hour, no airing).
  const put = (p: string, body: unknown) => fetch(`http://127.0.0.1:${rig.httpPort}${p}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  t.equal((await put('/api/v1/schedule/programmes/wok-show', { id: 'wok-show', name: 'Wok show' })).status, 200);
  t.equal((await put('/api/v1/schedule/airings/wok-1', { id: 'wok-1', programme: 'wok-show', channel: 'ch2', start: from - 60_000, end: from + 600_000, numbers: ['100'] })).status, 200);
  const numbers = ['+4930555000001', '+4930555000002'];
  const r = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: numbers.length, rate: 10, timeoutSec: 60, args: ['-s', '100', '-inf', callersFile(rig, numbers), '-d', '9000'],
  });
  t.equal(r.failed, 0, r.stderr.slice(0, 300));
  const cdrs = await waitForCdrs(rig, numbers.length);
  const to = Date.now() + 60_000;
  const rep = await api<{ rows: Row[] }>(rig, 'GET', `/api/v1/reports?group=queue,programme&interval=all&from=${from}&to=${to}`);
  t.equal(rep.status, 200);
  const offered = rep.body.rows.reduce((s, x) => s + x.figures.offered!, 0);
  const answered = rep.body.rows.reduce((s, x) => s + x.figures.answered!, 0);
  t.equal(offered, cdrs.length, 'offered = the CDRs');
  t.equal(answered, cdrs.filter((c) => c.outcome === 'answered').length, 'answered = the answered CDRs');
  t.ok(cdrs.every((c) => c.programme === 'wok-show' && c.airing === 'wok-1'), 'the CDRs are attributed to the airing on screen');
  const row = rep.body.rows.find((x) => x.keys.queue === 'orders' && x.keys.programme === 'wok-show');
  t.equal(row?.figures.answered, 2, 'filed under the queue and programme of the CDRs');
  const byAgent = await api<{ rows: Row[] }>(rig, 'GET', `/api/v1/reports?group=agent&interval=all&from=${from}&to=${to}`);
  const a = byAgent.body.rows.filter((x) => x.keys.agent === '1001' || x.keys.agent === '1002');
  t.equal(a.reduce((s, x) => s + x.figures.handled!, 0), 2);
  t.ok(a.every((x) => (x.agentTime?.staffedMs ?? 0) > 0), 'agent state changes were recorded as staffed time');
});

t.test('surge mode through the real engine: an airing on screen switches its back-office agent into the queue, and back after the window', async (t) => {
  const { rig } = await startE2e(t);
  const put = (p: string, body: unknown) => fetch(`http://127.0.0.1:${rig.httpPort}${p}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const skills = () => rig.engine.acd.inspectAgent('1006')?.skills;
  t.same(skills(), { service: 80, orders: 30 }, 'agent 1006 as configured: no vip skill');
  t.equal((await put('/api/v1/schedule/programmes/gold-hour', {
    id: 'gold-hour', name: 'Gold hour', surge: { leadMinutes: 10, queue: 'vip', level: 50, agents: ['1006'] },
  })).status, 200);
  const now = Date.now();
  t.equal((await put('/api/v1/schedule/airings/gold-1', { id: 'gold-1', programme: 'gold-hour', channel: 'ch1', start: now + 5 * 60_000, end: now + 65 * 60_000, numbers: ['100'] })).status, 200);
  t.same(skills(), { service: 80, orders: 30, vip: 50 }, 'within leadMinutes of the airing: the vip skill at the surge level');
  // The airing moved to yesterday: its window (end + the 30 min tail) is over.
  t.equal((await put('/api/v1/schedule/airings/gold-1', { id: 'gold-1', programme: 'gold-hour', channel: 'ch1', start: now - 86_400_000, end: now - 86_400_000 + 3_600_000, numbers: ['100'] })).status, 200);
  t.same(skills(), { service: 80, orders: 30 }, 'after the window: back to the configured skills');
  const audit = await api<{ items: { action: string; actor: string }[] }>(rig, 'GET', '/api/v1/audit?limit=100');
  t.same(audit.body.items.filter((e) => e.actor === 'surge-mode').map((e) => e.action).filter((a) => a.startsWith('surge.')).sort(), ['surge.off', 'surge.on'], 'both switches audited');
});

t.test('surge override through the real engine: the API switches the agent at once, the switch is a CTI event for staff, held until released', async (t) => {
  const { rig } = await startE2e(t);
  const put = (p: string, body: unknown) => fetch(`http://127.0.0.1:${rig.httpPort}${p}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const skills = () => rig.engine.acd.inspectAgent('1006')?.skills;
  t.equal((await put('/api/v1/schedule/programmes/gold-hour', {
    id: 'gold-hour', name: 'Gold hour', surge: { leadMinutes: 10, queue: 'vip', level: 50, agents: ['1006'] },
  })).status, 200);
  // Tomorrow's airing: the schedule alone switches nothing now.
  const now = Date.now();
  t.equal((await put('/api/v1/schedule/airings/gold-2', { id: 'gold-2', programme: 'gold-hour', channel: 'ch1', start: now + 86_400_000, end: now + 90_000_000, numbers: ['100'] })).status, 200);
  t.same(skills(), { service: 80, orders: 30 });
  const ws = `ws://127.0.0.1:${rig.httpPort}/api/v1/events`;
  const staff = await connectEvents(ws);
  t.teardown(() => staff.close());
  const agentOnly = await connectEvents(`${ws}?agent=1006`);
  t.teardown(() => agentOnly.close());
  await staff.waitFor((m) => m.type === 'hello');
  await agentOnly.waitFor((m) => m.type === 'hello');

  const start = await api<{ active: Array<{ airing: string; held: boolean; until: number | null }> }>(rig, 'POST', '/api/v1/surge', { action: 'start', airing: 'gold-2', reason: 'the gold price jumped: on air now' });
  t.equal(start.status, 200);
  t.match(start.body.active, [{ airing: 'gold-2', held: true, until: null }]);
  t.same(skills(), { service: 80, orders: 30, vip: 50 }, 'switched into the vip queue at once');
  t.match(await staff.waitFor((m) => m.type === 'surge'), { state: 'on', airing: 'gold-2', programme: 'gold-hour', queue: 'vip', agents: ['1006'], reason: 'override', until: null, campaignsPaused: true }, 'the CTI event');
  t.match((await api<{ campaignsPaused: boolean }>(rig, 'GET', '/api/v1/surge')).body, { campaignsPaused: true });

  // A schedule change re-reads the windows: the hold stays.
  t.equal((await put('/api/v1/schedule/airings/gold-2', { id: 'gold-2', programme: 'gold-hour', channel: 'ch1', start: now + 86_400_000, end: now + 91_000_000, numbers: ['100'] })).status, 200);
  t.same(skills(), { service: 80, orders: 30, vip: 50 }, 'held against the schedule');

  const stop = await api(rig, 'POST', '/api/v1/surge', { action: 'release', airing: 'gold-2', reason: 'back to the plan' });
  t.equal(stop.status, 200);
  t.same(skills(), { service: 80, orders: 30 }, 'released: the schedule says off, back to the configured skills');
  t.match(await staff.waitFor((m) => m.type === 'surge' && m['state'] === 'off'), { airing: 'gold-2', reason: 'override', campaignsPaused: false });
  t.same(agentOnly.messages.filter((m) => m.type === 'surge'), [], "an agent's stream does not carry it");
  const audit = await api<{ items: { action: string; actor: string; detail: Record<string, unknown> }[] }>(rig, 'GET', '/api/v1/audit?limit=100');
  t.same(audit.body.items.map((e) => e.action).filter((a) => a.startsWith('surge.')).sort(), ['surge.off', 'surge.on', 'surge.release', 'surge.start'], 'the overrides and the switches audited');
});
