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
  t.match(events, [{ state: 'on', airing: 'k1', programme: 'kitchen', agents: ['2001', '2002'], campaignsPaused: true, at: T0 - 10 * M }]);
  t.same(skills.skills.get('2001'), { backoffice: 80, orders: 60 });
  t.same(skills.skills.get('2002'), { backoffice: 70, orders: 60 }, 'the higher level of the two');
  t.same(skills.skills.get('1001'), { orders: 90 }, 'an agent not listed keeps its skills');
  t.ok(surge.campaignsPaused);
  clock.advanceTo(T0 + 90 * M - 1);
  t.equal(events.length, 1, 'still on in the tail');
  clock.advanceTo(T0 + 90 * M);
  t.match(events[1], { state: 'off', airing: 'k1', agents: ['2001', '2002'], campaignsPaused: false });
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

t.test('manual override on and off; back to auto follows the schedule', async (t) => {
  const clock = new FakeClock(T0 - 60 * M);
  const skills = new FakeSkills();
  const events: SurgeEvent[] = [];
  const surge = new SurgeMode({
    schedule: { programmes: () => [kitchen], airings: () => [airing('k1', T0, T0 + 60 * M)] }, tailMs: 0, skills,
    baseSkills: (a) => base[a] ?? {}, clock, onSwitch: (e) => events.push(e),
  });
  surge.refresh();
  surge.setOverride('on');
  t.match(events, [{ state: 'on', programme: 'kitchen', override: 'on', airing: null }]);
  t.equal(skills.skills.get('2001')?.orders, 60);
  clock.advanceTo(T0 + 120 * M);
  t.equal(events.length, 1, 'the override holds past the window');
  surge.setOverride('auto');
  t.match(events[1], { state: 'off', override: 'auto' });
  t.same(skills.skills.get('2001'), base['2001']);
  clock.setTimer(0, () => {});
  clock.advanceTo(T0 - 5 * M + 240 * M);
  t.equal(events.length, 2);
  surge.stop();
  surge.stop();
});

t.test('desiredSkills: the rule', async (t) => {
  const w = { airing: 'a', programme: 'p', from: 0, to: 1, skill: 'orders', level: 60, agents: ['x'] };
  t.same(desiredSkills({ orders: 90 }, 'x', [w]), { orders: 90 }, 'a higher own level stays');
  t.same(desiredSkills({}, 'x', [w, { ...w, level: 70 }]), { orders: 70 });
  t.same(desiredSkills({ a: 1 }, 'y', [w]), { a: 1 });
});
