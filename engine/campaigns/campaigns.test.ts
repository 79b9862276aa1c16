/**
 * The campaign rules on their own: the CSV reader (hostile input, every line judged), the script,
 * the hold-back rules (schedule, inbound pressure, state, DNC), and the store on a real SQLite file
 * (import order, a number open in two campaigns refused, stop cancels open contacts, figures).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { migrate, openDatabase, SqliteWriter } from '../db/index.ts';
import { STORE_MIGRATIONS } from '../store/schema.ts';
import { DEFAULT_DIALING_POLICY } from '../callbacks/index.ts';
import { CampaignStore, holdBack, parseContactsCsv, renderScript, splitCsvLine, type CampaignInput } from './index.ts';

t.test('csv: quotes, separators, and every bad line reported with its number', async (t) => {
  t.same(splitCsvLine('a, "b, c" ,"d ""e"""', ','), ['a', 'b, c', 'd "e"']);
  t.equal(splitCsvLine('"open', ','), null);
  const r = parseContactsCsv([
    'Phone;name;vip_level', '+86 138-0013-8000;Li;1', '', '13800138001;"Wang; Jr";2', 'abc;x;1', '13800138001;again;1', '13800138002;"x;1',
    '13800138003;two', `13800138004;${'x'.repeat(501)};1`, '13800138005;Zhao;3\r',
  ].join('\n'), 10);
  if (!r.ok) throw new Error(r.reason);
  t.same(r.columns, ['name', 'vip_level']);
  t.same(r.rows.map((x) => [x.line, x.number, x.fields['name']]), [[2, '+8613800138000', 'Li'], [4, '13800138001', 'Wang; Jr'], [10, '13800138005', 'Zhao']]);
  t.same(r.errors.map((e) => e.line), [5, 6, 7, 8, 9], 'each bad line by its number');
  t.match(r.errors, [{ reason: /not a phone number/ }, { reason: /in the file already/ }, { reason: /unclosed quote/ }, { reason: /2 fields/ }, { reason: /longer than 500/ }]);
  t.equal(r.lines, 8, 'non-empty lines after the header');
  t.equal(r.refused, 5);
  const capped = parseContactsCsv('number\n1380013800\n1380013801\n1380013802\n', 2);
  t.match(capped, { ok: true, truncated: true, refused: 1, errors: [{ line: 4, reason: /limit of 2/ }] }, 'bounded: beyond the cap every row is refused');
  t.match(parseContactsCsv('name,city\nx,y\n', 5), { ok: false, reason: /no number column/ });
  t.match(parseContactsCsv('number,bad name\n', 5), { ok: false, reason: /field name/ });
  t.match(parseContactsCsv('', 5), { ok: false, reason: /empty/ });
});

t.test('script: the contact\'s fields, the number, unknown names kept', async (t) => {
  t.equal(renderScript('Hi {{name}} ({{number}}), {{ product }} {{unknown}} {{', '+861', { name: 'Li', product: 'rice' }), 'Hi Li (+861), rice {{unknown}} {{');
  t.equal(renderScript('{{constructor}}', '1', {}), '{{constructor}}', 'no prototype fields');
});

t.test('hold-back rules: state, due, DNC, schedule in the campaign\'s zone, inbound pressure', async (t) => {
  // 2026-01-05 is a Monday; 02:00 UTC = 10:00 in Shanghai.
  const mon10 = Date.UTC(2026, 0, 5, 2, 0);
  const c = { state: 'running' as const, schedule: [{ days: [1, 2, 3, 4, 5], from: '09:00', to: '18:00' }], timeZone: 'Asia/Shanghai', pauseWhenInboundWaiting: 2 };
  const task = { status: 'open' as const, nextAttemptAt: mon10, caller: '+861' };
  const o = { isDnc: () => false, inboundWaitingMax: 0 };
  t.equal(holdBack(c, task, mon10, o), null);
  t.equal(holdBack({ ...c, state: 'paused' }, task, mon10, o), 'campaign_not_running');
  t.equal(holdBack(c, { ...task, nextAttemptAt: mon10 + 1 }, mon10, o), 'not_due');
  t.equal(holdBack(c, task, mon10, { ...o, isDnc: () => true }), 'dnc');
  t.equal(holdBack(c, task, mon10 + 9 * 3_600_000, o), 'outside_schedule', '19:00 local');
  t.equal(holdBack(c, task, mon10 + 5 * 86_400_000, o), 'outside_schedule', 'Saturday');
  t.equal(holdBack(c, task, mon10, { ...o, inboundWaitingMax: 2 }), null, 'at the threshold: dials');
  t.equal(holdBack(c, task, mon10, { ...o, inboundWaitingMax: 3 }), 'inbound_waiting', 'above it: live callers first');
});

t.test('store: import order, one open campaign per number, stop cancels, figures', async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-campaigns-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase({ path: path.join(dir, 'c.db') });
  t.teardown(() => db.close());
  // Campaigns live beside the engine store (its do-not-call list).
  migrate(db, 'store', STORE_MIGRATIONS, 1000);
  const store = new CampaignStore(db, new SqliteWriter(db, false, 0), DEFAULT_DIALING_POLICY, 1000);
  const base: CampaignInput = {
    id: 'a', name: 'A', type: 'survey', mode: 'progressive', queue: 'orders', schedule: [{ days: [1, 2, 3, 4, 5, 6, 7], from: '00:00', to: '24:00' }],
    timeZone: 'UTC', script: '', resultCodes: ['ok'], pauseWhenInboundWaiting: 0, callerId: '4008001234', survey: null, maxConcurrent: 10, callsPerSecond: 2,
  };
  t.match(await store.create(base, 1000), { ok: true, value: { state: 'paused' } });
  t.match(await store.create(base, 1000), { ok: false, code: 'STORE_ERR_INVALID_STATE' }, 'an id once');
  await store.create({ ...base, id: 'b', mode: 'preview' }, 1000);
  const rows = ['111111', '222222', '333333'].map((number, i) => ({ line: i + 2, number, fields: { n: String(i) } }));
  t.match(await store.importContacts('a', rows, 2000), { ok: true, value: { added: 3, refused: [] } });
  t.match(await store.importContacts('b', [{ line: 2, number: '222222', fields: {} }, { line: 3, number: '444444', fields: {} }], 2000),
    { ok: true, value: { added: 1, refused: [{ line: 2, reason: /open in a campaign already/ }] } });
  t.same(await store.tasks.progressive.due(5000, 10), [], 'a paused campaign has nothing due');
  await store.setState('a', 'start', 3000);
  await store.setState('b', 'start', 3000);
  const due = await store.tasks.progressive.due(5000, 10);
  t.same(due.map((x) => x.caller), ['111111', '222222', '333333'], 'the file\'s order is the calling order');
  t.match(due[0], { queue: 'orders', dialled: '4008001234', status: 'open', reason: 'campaign' });
  t.same((await store.tasks.preview.due(5000, 10)).map((x) => x.caller), ['444444'], 'each mode dials its own campaigns');
  t.equal(store.campaignOf(due[0]!.id)?.id, 'a');
  t.same(store.contactSync(due[1]!.id)?.fields, { n: '1' });
  const stopped = await store.setState('a', 'stop', 4000);
  t.match(stopped, { ok: true, value: { state: 'stopped' } });
  t.same(store.stats('a').byStatus, { cancelled: 3 }, 'stop cancels the open contacts');
  t.match(await store.setState('a', 'resume', 5000), { ok: false }, 'stopped is final');
  t.match(await store.importContacts('a', rows, 5000), { ok: false }, 'no import into a stopped campaign');
  // Reopened after the restart of the engine: the campaigns are read back.
  const again = new CampaignStore(db, new SqliteWriter(db, false, 0), DEFAULT_DIALING_POLICY, 6000);
  t.same(again.list().map((c) => [c.id, c.state]), [['a', 'stopped'], ['b', 'running']], 'durable');
});
