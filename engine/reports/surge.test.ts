import t from 'tap';
import { FakeClock } from '../clock/index.ts';
import { SurgeMode, desiredSkills, type Airing, type Programme, type SkillsPort, type SurgeEvent } from './index.ts';

const M = 60_000;
const T0 = Date.UTC(2026, 0, 1, 12);
const base: Record<string, Record<string, number>> = { '2001': { backoffice: 80 }, '2002': { backoffice: 70, orders: 10 }, '1001': { orders: 90 } };

/** A fake of contract C3 that keeps skills with the real rule's output (desiredSkills is the product's). */
class FakeSkills implements SkillsPort {
  readonly skills = new Map(Object.entries(base).map(([a, s]) => [a, { ...s }]));
  readonly calls: string[] = [];
  setSkills(agentId: string, skills: Record<string, number>): void {
    this.skills.set(agentId, { ...skills });
    this.calls.push(agentId);
  }
}

const kitchen: Programme = { id: 'kitchen', name: 'Kitchen', products: [], surge: { leadMinutes: 10, queue: 'orders', level: 60, agents: ['2001', '2002'] } };
const airing = (id: string, start: number, end: number): Airing => ({ id, programme: 'kitchen', channel: 'c', start, end, numbers: ['100'], expectedCalls: null, products: [] });

t.test('two airings: the back office is switched in and out at the configured times', async (t) => {
  const clock = new FakeClock(T0 - 60 * M);
  const skills = new FakeSkills();
  const events: SurgeEvent[] = [];
  const airings = [airing('k1', T0, T0 + 60 * M), airing('k2', T0 + 180 * M, T0 + 240 * M)];
  const surge = new SurgeMode({
    schedule: { programmes: () => [kitchen], airings: () => airings }, tailMs: 30 * M, skills,
    baseSkills: (a) => base[a] ?? {}, clock, onSwitch: (e) => events.push(e),
  });
  surge.refresh();
  t.same(events, [], 'nothing an hour before');
  clock.advanceTo(T0 - 10 * M - 1);
  t.same(events, []);
  clock.advanceTo(T0 - 10 * M);
  t.match(events, [{ state: 'on', airing: 'k1', programme: 'kitchen', queue: 'orders', agents: ['2001', '2002'], campaignsPaused: true, at: T0 - 10 * M, reason: 'schedule', until: T0 + 90 * M }]);
  t.same(skills.skills.get('2001'), { backoffice: 80, orders: 60 });
  t.same(skills.skills.get('2002'), { backoffice: 70, orders: 60 }, 'the higher level of the two');
  t.same(skills.skills.get('1001'), { orders: 90 }, 'an agent not listed keeps its skills');
  t.ok(surge.campaignsPaused);
  clock.advanceTo(T0 + 90 * M - 1);
  t.equal(events.length, 1, 'still on in the tail');
  clock.advanceTo(T0 + 90 * M);
  t.match(events[1], { state: 'off', airing: 'k1', agents: ['2001', '2002'], campaignsPaused: false, reason: 'schedule' });
  t.same(skills.skills.get('2001'), base['2001'], 'back to the configured skills');
  t.same(skills.skills.get('2002'), base['2002']);
  t.notOk(surge.campaignsPaused);
  clock.advanceTo(T0 + 170 * M);
  t.match(events[2], { state: 'on', airing: 'k2', at: T0 + 170 * M });
  clock.advanceTo(T0 + 270 * M);
  t.match(events[3], { state: 'off', airing: 'k2', at: T0 + 270 * M });
  t.equal(events.length, 4);
  t.same(skills.calls, ['2001', '2002', '2001', '2002', '2001', '2002', '2001', '2002'], 'each switch touched each agent once');
});

function rig(airings: Airing[], programmes: Programme[] = [kitchen], tailMs = 0) {
  const clock = new FakeClock(T0 - 60 * M);
  const skills = new FakeSkills();
  const events: SurgeEvent[] = [];
  const surge = new SurgeMode({
    schedule: { programmes: () => programmes, airings: () => airings }, tailMs, skills,
    baseSkills: (a) => base[a] ?? {}, clock, onSwitch: (e) => events.push(e),
  });
  surge.refresh();
  return { clock, skills, events, surge };
}

t.test('manual start of an airing: on at once, held past its window until released', async (t) => {
  const { clock, skills, events, surge } = rig([airing('k1', T0, T0 + 60 * M)]);
  t.same(events, []);
  const r = surge.override('start', { airing: 'k1', queue: null }, 'supervisor', 'the show starts early');
  t.match(r, { ok: true, value: { active: [{ airing: 'k1', until: null, held: true }], holds: [{ state: 'on', airing: 'k1', by: 'supervisor', note: 'the show starts early' }], campaignsPaused: true } });
  t.match(events, [{ type: 'surge', state: 'on', airing: 'k1', programme: 'kitchen', queue: 'orders', agents: ['2001', '2002'], reason: 'override', until: null, campaignsPaused: true }]);
  t.equal(skills.skills.get('2001')?.orders, 60);
  clock.advanceTo(T0 + 120 * M);
  t.equal(events.length, 1, 'the hold keeps it on after the window');
  t.equal(skills.skills.get('2001')?.orders, 60);
  surge.override('release', { airing: 'k1', queue: null }, 'supervisor', 'done');
  t.match(events[1], { state: 'off', airing: 'k1', reason: 'override', until: null, campaignsPaused: false, agents: ['2001', '2002'] });
  t.same(skills.skills.get('2001'), base['2001'], 'released after the window: back to the configured skills');
  surge.stop();
  surge.stop();
});

t.test('manual stop holds surge off inside its window; a release gives it back to the schedule', async (t) => {
  const { clock, skills, events, surge } = rig([airing('k1', T0, T0 + 60 * M)]);
  surge.override('stop', { airing: null, queue: 'orders' }, 'supervisor', 'back office needed elsewhere');
  t.same(events, [], 'nothing was on: no switch');
  clock.advanceTo(T0);
  t.same(events, [], 'the window opens, the hold keeps it off');
  t.same(skills.skills.get('2001'), base['2001']);
  t.notOk(surge.campaignsPaused);
  surge.override('release', { airing: null, queue: null }, 'supervisor', '');
  t.match(events, [{ state: 'on', airing: 'k1', reason: 'override', until: T0 + 60 * M }], 'released inside the window: on, until the window ends');
  clock.advanceTo(T0 + 60 * M);
  t.match(events[1], { state: 'off', airing: 'k1', reason: 'schedule' });
});

t.test('the latest hold covering a window decides; everything on switches one window per programme', async (t) => {
  const { events, surge } = rig([airing('k1', T0 - 300 * M, T0 - 240 * M), airing('k2', T0 + 60 * M, T0 + 120 * M), airing('k3', T0 + 300 * M, T0 + 360 * M)]);
  surge.override('start', { airing: null, queue: null }, 'supervisor', '');
  t.match(events, [{ state: 'on', airing: 'k2', until: null }], 'the next airing of the programme');
  t.same(surge.active(), ['k2']);
  surge.override('stop', { airing: 'k2', queue: null }, 'supervisor', '');
  t.match(events[1], { state: 'off', airing: 'k2' }, 'a later hold on the airing wins');
  surge.override('start', { airing: null, queue: null }, 'supervisor', '');
  t.match(events[2], { state: 'on', airing: 'k2' }, 'a later hold on everything wins again');
  t.match(surge.override('start', { airing: 'nope', queue: null }, 'x', ''), { ok: false, code: 'REPORTS_ERR_NOT_FOUND' });
  t.match(surge.override('stop', { airing: null, queue: 'service' }, 'x', ''), { ok: false, code: 'REPORTS_ERR_NOT_FOUND' });
  surge.stop();
  t.match(events[3], { state: 'off', airing: 'k2' }, 'stop puts everyone back');
  t.match(surge.override('start', { airing: null, queue: null }, 'x', ''), { ok: false, code: 'REPORTS_ERR_STOPPED' });
});

t.test('desiredSkills: the rule', async (t) => {
  const w = { airing: 'a', programme: 'p', queue: 'orders', from: 0, to: 1, skill: 'orders', level: 60, agents: ['x'] };
  t.same(desiredSkills({ orders: 90 }, 'x', [w]), { orders: 90 }, 'a higher own level stays');
  t.same(desiredSkills({}, 'x', [w, { ...w, level: 70 }]), { orders: 70 });
  t.same(desiredSkills({ a: 1 }, 'y', [w]), { a: 1 });
});
