/**
 * Third-party adapter modules: the loader's checks (each refusal with its code), and the example
 * module crm-adapter/examples/jsonl-crm.mjs through the real engine (`crm.adapter: module`) with
 * sipp callers and a sipp agent: its look-up decides (a blacklisted caller gets 603, a known one
 * reaches the agent) and its file receives the events and the CDR.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRM_MODULE_ERRORS, CrmModuleError, contractProblems, loadAdapterModule, unknownCaller } from './index.ts';
import { parseConfig } from '../engine/config/index.ts';
import { requirePeer, runSipp } from '../engine/testing/index.ts';
import { SCENARIOS, callersFile, startEngineRig, startSippAgents } from '../engine/testing/engine-rig.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLE = path.join(here, 'examples/jsonl-crm.mjs');

const methods = 'init() {}, async lookupCaller() { return null; }, async callEvent() {}, async deliverCdr() {}, async close() {}';

t.test('loadAdapterModule: a factory gets the options, an object is used as it is', async (t) => {
  const dir = t.testdir({
    'object.mjs': `export default { contractVersion: 1, name: 'obj', ${methods} };`,
    'factory.mjs': `export default async (o) => ({ contractVersion: 1, name: 'f-' + o.suffix, ${methods} });`,
  });
  t.equal((await loadAdapterModule('object.mjs', dir)).name, 'obj', 'relative to baseDir');
  t.equal((await loadAdapterModule(path.join(dir, 'factory.mjs'), '/nowhere', { suffix: 'x' })).name, 'f-x', 'absolute; options reach the factory');
});

t.test('loadAdapterModule refuses what is not an adapter, with a code', async (t) => {
  const dir = t.testdir({
    'syntax.mjs': 'export default {',
    'none.mjs': 'export const adapter = {};',
    'number.mjs': 'export default 42;',
    'throws.mjs': "export default () => { throw new Error('no token'); };",
    'partial.mjs': "export default { contractVersion: 2, name: '', init() {}, lookupCaller: 'x' };",
    sub: {},
  });
  const refused = async (spec: string): Promise<CrmModuleError> => {
    try {
      await loadAdapterModule(spec, dir);
    } catch (err) {
      if (err instanceof CrmModuleError) return err;
      throw err;
    }
    throw new Error(`${spec} was accepted`);
  };
  t.equal((await refused('missing.mjs')).code, CRM_MODULE_ERRORS.notFound);
  t.equal((await refused('sub')).code, CRM_MODULE_ERRORS.notFound, 'a directory is not a module file');
  t.equal((await refused('syntax.mjs')).code, CRM_MODULE_ERRORS.load);
  const none = await refused('none.mjs');
  t.equal(none.code, CRM_MODULE_ERRORS.export);
  t.match(none.message, /got no default export/);
  t.equal((await refused('number.mjs')).code, CRM_MODULE_ERRORS.export);
  const factory = await refused('throws.mjs');
  t.equal(factory.code, CRM_MODULE_ERRORS.factory);
  t.match(factory.message, /no token/);
  const partial = await refused('partial.mjs');
  t.equal(partial.code, CRM_MODULE_ERRORS.contract);
  t.match(partial.message, /contractVersion is 2, expected 1; name: expected a non-empty string; lookupCaller: expected a method, got string; callEvent: expected a method, got undefined/);
  t.equal((await refused(EXAMPLE.replace('.mjs', '.js'))).code, CRM_MODULE_ERRORS.notFound);
  const noFile = await loadAdapterModule(EXAMPLE, dir).catch((err: unknown) => err);
  t.match(noFile, { code: CRM_MODULE_ERRORS.factory, message: /options\.file .* is required/ }, 'the example factory checks its options');
});

t.test('the example module keeps the contract', async (t) => {
  const file = path.join(t.testdir({}), 'out/crm.jsonl');
  const crm = await loadAdapterModule(EXAMPLE, here, { customers: { '+491': { name: 'Ada', vipLevel: 2 } }, file });
  await crm.init();
  const ctx = { dialled: '100', deadlineMs: 100, signal: new AbortController().signal, callId: 'c1' };
  t.same(await crm.lookupCaller('+492', ctx), unknownCaller());
  t.match(await crm.lookupCaller('+491', ctx), { known: true, name: 'Ada', vipLevel: 2, blacklisted: false });
  await crm.close();
});

t.test('config: crm.adapter module needs its module file', async (t) => {
  const r = parseConfig({ crm: { adapter: 'module', module: path.join(here, 'examples/nope.mjs') } }, { env: {} });
  t.same(r.ok ? [] : r.errors, [`crm.module: file '${path.join(here, 'examples/nope.mjs')}' does not exist`]);
  const ok = parseConfig({ crm: { adapter: 'module', module: EXAMPLE, options: { file: 'x.jsonl' } } }, { env: {} });
  t.ok(ok.ok && ok.config.crm.adapter === 'module' && ok.config.crm.options.file === 'x.jsonl');
});

t.test('the real engine with crm.adapter module: the example decides and records', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const dir = t.testdir({});
  const file = path.join(dir, 'crm.jsonl');
  const rig = await startEngineRig({
    crm: { adapter: 'module', module: EXAMPLE, options: { file, customers: { '+4930555000': { name: 'Ada Muster' }, '+4930666000': { blacklisted: true } } } },
  });
  t.teardown(rig.close);
  const agents = await startSippAgents(rig, ['1001'], 200);
  t.teardown(agents.close);
  const blocked = await runSipp({
    scenario: path.join(SCENARIOS, 'caller-declined.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 30, args: ['-s', '100', '-inf', callersFile(rig, ['+4930666000'], 'blocked.csv')],
  });
  t.equal(blocked.successful, 1, `the blacklisted caller is declined (stderr: ${blocked.stderr.slice(0, 300)})`);
  const known = await runSipp({
    scenario: path.join(SCENARIOS, 'caller.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1',
    calls: 1, timeoutSec: 60, args: ['-s', '100', '-inf', callersFile(rig, ['+4930555000'], 'known.csv'), '-d', '9000'],
  });
  t.equal(known.successful, 1, `the known caller is answered (stderr: ${known.stderr.slice(0, 300)})`);
  // Delivery goes through the durable outbox, asynchronously: wait (bounded) for both CDRs.
  type Line = { kind: string; deliveryId: string; cdr?: { caller: string; outcome: string; customerId: string | null; agent: string | null } };
  let lines: Line[] = [];
  for (let i = 0; i < 100; i++) {
    lines = readFileSync(file, { encoding: 'utf8', flag: 'a+' }).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
    if (lines.filter((l) => l.kind === 'cdr').length >= 2) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const cdrs = lines.flatMap((l) => (l.cdr === undefined ? [] : [l.cdr]));
  t.match(cdrs.find((c) => c.caller === '+4930666000'), { outcome: 'rejected_blacklist', customerId: '+4930666000' });
  t.match(cdrs.find((c) => c.caller === '+4930555000'), { outcome: 'answered', customerId: '+4930555000', agent: '1001' });
  t.ok(lines.some((l) => l.kind === 'event'), 'call events reach the module too');
});

t.test('query is optional: a v1 adapter without it keeps the contract, one that is not a method does not', async (t) => {
  const fn = async (): Promise<void> => {};
  const v1 = { contractVersion: 1, name: 'x', init: fn, lookupCaller: fn, callEvent: fn, deliverCdr: fn, close: fn };
  t.same(contractProblems(v1), []);
  t.same(contractProblems({ ...v1, query: fn }), []);
  t.same(contractProblems({ ...v1, query: 'orders' }), ['query: expected a method or nothing, got string']);
});
