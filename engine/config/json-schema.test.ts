/**
 * docs/config.schema.json is the output of json-schema.ts, and it accepts what the zod schema
 * accepts: every example configuration and the demo, the numbers the loader takes as ids
 * (property test), and it refuses configurations the schema refuses. Validated by a real JSON
 * Schema 2020-12 validator (ajv 8, a dev dependency).
 */
import t from 'tap';
import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { configSchema, demoConfig } from './index.ts';
import { configJsonSchemaText } from './json-schema.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const committed = readFileSync(path.join(root, 'docs/config.schema.json'), 'utf8');

// ajv 8 (a dev dependency): the JSON Schema 2020-12 validator editors and CI tools use, so the
// committed schema is checked by the same code its users will run it with.
const require = createRequire(import.meta.url);
type Validate = ((data: unknown) => boolean) & { errors?: unknown };
const Ajv2020 = require('ajv/dist/2020') as { default: new (o: object) => { compile(s: object): Validate } };
const addFormats = require('ajv-formats') as { default: (ajv: unknown) => void };
const ajv = new Ajv2020.default({ strict: true, allErrors: true, allowUnionTypes: true });
addFormats.default(ajv);
const validate = ajv.compile(JSON.parse(committed) as object);

const accepts = (input: unknown): boolean => validate(input);
const zodAccepts = (input: unknown): boolean => configSchema.safeParse(input).success;

t.test('docs/config.schema.json is the output of json-schema.ts', async (t) => {
  t.ok(committed === configJsonSchemaText(), 'regenerate with: npm run docs');
});

t.test('every example configuration and the demo validate', async (t) => {
  const files = ['docs/examples', 'examples'].flatMap((dir) => readdirSync(path.join(root, dir))
    .filter((f) => /\.(ya?ml|json)$/.test(f)).map((f) => path.join(dir, f)));
  t.ok(files.includes('docs/examples/onair.yaml'));
  for (const f of files) {
    const input = parse(readFileSync(path.join(root, f), 'utf8')) as unknown;
    t.ok(zodAccepts(input), `${f}: the zod schema accepts it`);
    t.ok(accepts(input), `${f}: the JSON Schema accepts it ${JSON.stringify(validate.errors)}`);
  }
  t.ok(accepts(demoConfig()), `the demo ${JSON.stringify(validate.errors)}`);
  t.ok(accepts({}), 'the empty file (every default)');
});

/** A small configuration with one field replaced. */
function agentWith(field: string, value: unknown): unknown {
  return { agents: [{ id: 'a1', extension: '2001', password: 'pw', [field]: value }], queues: [{ id: 'orders' }] };
}

t.test('configurations the schema refuses, the JSON Schema refuses', async (t) => {
  const refused: Array<[string, unknown]> = [
    ['unknown field', { sip: { maxCals: 3 } }],
    ['unknown strategy', { queues: [{ id: 'q', strategy: 'fastest' }] }],
    ['port out of range', { http: { port: 70000 } }],
    ['negative numeric id', agentWith('id', -1)],
    ['numeric id from 1e21 (String gives 1e+21)', agentWith('id', 1e21)],
    ['one-digit extension', agentWith('extension', 5)],
    ['fractional extension', agentWith('extension', 10.5)],
    ['a step with two kinds', { flows: { main: [{ play: 'welcome', queue: 'q' }] } }],
    ['an empty step', { flows: { main: [{}] } }],
    ['a menu without options', { flows: { main: [{ menu: { options: {} } }, { hangup: null }] } }],
    ['tls without files', { sip: { listen: [{ transport: 'tls', address: '127.0.0.1' }] } }],
    ['wrong database kind', { database: { kind: 'mysql' } }],
    ['a CRM module without its file', { crm: { adapter: 'module' } }],
  ];
  for (const [what, input] of refused) {
    t.notOk(zodAccepts(input), `${what}: zod refuses`);
    t.notOk(accepts(input), `${what}: the JSON Schema refuses`);
  }
});

t.test('numbers written for ids, extensions, passwords and codes: the JSON Schema agrees with the loader', async (t) => {
  const number = fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.integer({ min: -100, max: 1e10 }),
    fc.constantFrom(0, -0, 9, 10, 1e20, 1e21, 9999999999, 1e10, 9999999999999998, 1e16, 1e-7, 0.5));
  const fields: Array<[string, (n: number) => unknown]> = [
    ['agents[].id', (n) => agentWith('id', n)],
    ['agents[].extension', (n) => agentWith('extension', n)],
    ['agents[].password', (n) => agentWith('password', n)],
    ['trunks[].id', (n) => ({ trunks: [{ id: n, allow: ['127.0.0.1'] }] })],
    ['featureCodes.login', (n) => ({ featureCodes: { login: n } })],
  ];
  for (const [field, build] of fields) {
    fc.assert(fc.property(number, (n) => accepts(build(n)) === zodAccepts(build(n))), { numRuns: 2000 });
    t.pass(`${field}: 2000 numbers, same verdict`);
  }
});
