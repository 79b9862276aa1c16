/** Benches refuse to bench a build older than the sources it stands for. */
import t from 'tap';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { staleBuild } from './engine-process.ts';

t.test('staleBuild: missing, older than a source file, fresh; tests and rigs do not count', async (t) => {
  const root = mkdtempSync(path.join(tmpdir(), 'onair-stale-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  t.match(staleBuild(root), /no build/, 'no dist/: refused');
  mkdirSync(path.join(root, 'dist/engine/cli'), { recursive: true });
  mkdirSync(path.join(root, 'engine/calls'), { recursive: true });
  mkdirSync(path.join(root, 'engine/testing'), { recursive: true });
  const main = path.join(root, 'dist/engine/cli/main.js');
  const src = path.join(root, 'engine/calls/controller.ts');
  writeFileSync(main, '');
  writeFileSync(src, '');
  const past = new Date(Date.now() - 60_000), now = new Date();
  utimesSync(src, past, past);
  utimesSync(main, now, now);
  t.equal(staleBuild(root), null, 'the build is newer than every source file');
  const later = new Date(Date.now() + 60_000);
  for (const f of ['engine/calls/controller.test.ts', 'engine/testing/rig.ts']) {
    writeFileSync(path.join(root, f), '');
    utimesSync(path.join(root, f), later, later);
  }
  t.equal(staleBuild(root), null, 'a newer test or test rig is not part of the build');
  utimesSync(src, later, later);
  t.match(staleBuild(root), /engine\/calls\/controller\.ts is newer/, 'a newer source file: refused, named');
});
