import t from 'tap';
import { openDatabase, SqliteWriter } from '../db/index.ts';
import { AiringIndex, SqliteSchedule, attributeRoute, parseScheduleCsv, parseScheduleYaml, type Airing } from './index.ts';

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 1, 12);
const airing = (id: string, start: number, end: number, numbers = ['400100'], programme = 'kitchen'): Airing =>
  ({ id, programme, channel: 'ch1', start, end, numbers, expectedCalls: 1000, products: [] });

t.test('attribution by number and time window with a tail; a reused number resolves by time', async (t) => {
  const idx = new AiringIndex([airing('a', T0, T0 + H), airing('b', T0 + 1.25 * H, T0 + 2 * H), airing('c', T0, T0 + H, ['400200'], 'garden')], 30 * 60_000);
  t.equal(idx.resolve('400100', T0 - 1), null, 'before the airing');
  t.equal(idx.resolve('400100', T0)?.id, 'a');
  t.equal(idx.resolve('400100', T0 + H + 10 * 60_000)?.id, 'a', 'in the tail');
  t.equal(idx.resolve('400100', T0 + 1.25 * H)?.id, 'b', 'the next airing wins over the tail of the last');
  t.equal(idx.resolve('400100', T0 + 2.5 * H - 1)?.id, 'b');
  t.equal(idx.resolve('400100', T0 + 2.5 * H), null, 'after the tail');
  t.equal(idx.resolve('400200', T0 + 1)?.id, 'c');
  t.equal(idx.resolve('999', T0), null);
  const planned = { flow: 'main', programme: 'plan', airing: null };
  t.same(attributeRoute(idx, planned, '400100', T0 + 1), { flow: 'main', programme: 'kitchen', airing: 'a' });
  t.equal(attributeRoute(idx, planned, '999', T0), planned, 'the number plan is the fallback');
});

t.test('stored schedule: CRUD, refusals, import all or nothing, survives reopening', async (t) => {
  const db = openDatabase({ path: ':memory:' });
  t.teardown(() => db.close());
  const writer = new SqliteWriter(db, true);
  let changes = 0;
  const s = new SqliteSchedule({ db, writer, tailMs: 0, onChange: () => { changes++; } });
  t.match(await s.putAiring(airing('a', T0, T0 + H)), { ok: false, code: 'REPORTS_ERR_UNKNOWN_PROGRAMME' });
  t.match(await s.putProgramme({ id: 'kitchen', name: 'Kitchen', products: ['wok'], surge: null }), { ok: true });
  t.match(await s.putAiring(airing('a', T0, T0 + H)), { ok: true });
  t.equal(s.resolve('400100', T0)?.id, 'a', 'the index follows the change');
  t.match(await s.deleteProgramme('kitchen'), { ok: false, code: 'REPORTS_ERR_IN_USE' });
  const bad = await s.import({ programmes: [], airings: [airing('b', T0 + H, T0 + 2 * H), airing('x', T0, T0 + H, ['1'], 'nope')] });
  t.match(bad, { ok: false, code: 'REPORTS_ERR_UNKNOWN_PROGRAMME' });
  t.equal(s.airings().length, 1, 'nothing of a refused import is kept');
  t.equal(changes, 2);
  const s2 = new SqliteSchedule({ db, writer, tailMs: 0 });
  t.same(s2.airings(), [airing('a', T0, T0 + H)], 'stored');
  t.same(s2.programmes(), [{ id: 'kitchen', name: 'Kitchen', products: ['wok'], surge: null }]);
  t.match(await s.deleteAiring('a'), { ok: true });
  t.match(await s.deleteAiring('a'), { ok: false, code: 'REPORTS_ERR_NOT_FOUND' });
  t.equal(s.resolve('400100', T0), null);
});

t.test('YAML and CSV files', async (t) => {
  const y = parseScheduleYaml(`
programmes:
  - { id: kitchen, name: Kitchen Hour, products: [wok], surge: { leadMinutes: 10, queue: orders, level: 60, agents: ["2001"] } }
airings:
  - { id: k1, programme: kitchen, channel: CCTV-2, start: "2026-01-01T20:00:00+08:00", end: "2026-01-01T21:00:00+08:00", numbers: ["400100"], expectedCalls: 1800 }
`);
  t.ok(y.ok);
  if (y.ok) {
    t.equal(y.value.airings[0]!.start, Date.UTC(2026, 0, 1, 12));
    t.equal(y.value.programmes[0]!.surge?.leadMinutes, 10);
  }
  t.match(parseScheduleYaml('airings: [{ id: k1 }]'), { ok: false, code: 'REPORTS_ERR_SCHEDULE_INVALID' });
  t.match(parseScheduleYaml('{ unclosed'), { ok: false, code: 'REPORTS_ERR_SCHEDULE_INVALID' });
  const c = parseScheduleCsv('airing,programme,channel,start,end,numbers,expectedCalls,products\r\nk1,kitchen,CCTV-2,2026-01-01T12:00:00Z,2026-01-01T13:00:00Z,400100;400101,1800,"wok;pan"\r\n', new Set());
  t.ok(c.ok);
  if (c.ok) {
    t.same(c.value.airings[0], { id: 'k1', programme: 'kitchen', channel: 'CCTV-2', start: T0, end: T0 + H, numbers: ['400100', '400101'], expectedCalls: 1800, products: ['wok', 'pan'] });
    t.same(c.value.programmes, [{ id: 'kitchen', name: 'kitchen', products: [], surge: null }], 'unknown programme created');
  }
  t.match(parseScheduleCsv('airing,programme\n', new Set()), { ok: false });
  t.match(parseScheduleCsv('airing,programme,channel,start,end,numbers,expectedCalls,products\nk1,kitchen,c,5,4,400,,\n', new Set()), { ok: false, reason: /line 2: end/ });
});
