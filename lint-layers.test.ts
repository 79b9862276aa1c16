/**
 * The layer rules of eslint.config.js that keep engine/store and crm-adapter from importing each
 * other (both stand on engine/db): each refusal is shown on a file placed in the layer, and the
 * imports the layers do make pass.
 */
import t from 'tap';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';

const root = path.dirname(fileURLToPath(import.meta.url));
const eslint = new ESLint({ cwd: root });

async function messages(file: string, code: string): Promise<string[]> {
  const [r] = await eslint.lintText(code, { filePath: path.join(root, file) });
  return (r?.messages ?? []).map((m) => m.message);
}

t.test('crm-adapter never imports engine/store', async (t) => {
  t.match(await messages('crm-adapter/x.ts', "import { openStore } from '../engine/store/index.ts';\nexport const s = openStore;\n"),
    [/crm-adapter uses engine\/db, not engine\/store/]);
  t.same(await messages('crm-adapter/x.ts', "import { openDatabase } from '../engine/db/index.ts';\nexport const o = openDatabase;\n"), []);
  t.same(await messages('crm-adapter/x.test.ts', "import { openStore } from '../engine/store/index.ts';\nexport const s = openStore;\n"), [],
    'its tests may drive the real outbox');
});

t.test('engine/store imports only types from crm-adapter', async (t) => {
  t.match(await messages('engine/store/x.ts', "import { CrmDeliveryError } from '../../crm-adapter/index.ts';\nexport const e = CrmDeliveryError;\n"),
    [/engine\/store may import only types from crm-adapter/]);
  t.same(await messages('engine/store/x.ts', "import type { Cdr } from '../../crm-adapter/index.ts';\nexport type C = Cdr;\n"), []);
});

t.test('engine/db imports neither the engine nor crm-adapter', async (t) => {
  t.match(await messages('engine/db/x.ts', "import { openStore } from '../store/index.ts';\nexport const s = openStore;\n"), [/engine\/db imports nothing/]);
  t.match(await messages('engine/db/x.ts', "import type { Cdr } from '../../crm-adapter/index.ts';\nexport type C = Cdr;\n"), [/engine\/db imports nothing/]);
  t.same(await messages('engine/db/x.ts', "import { openDatabase } from './sqlite.ts';\nexport const o = openDatabase;\n"), []);
});
