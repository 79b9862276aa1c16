/**
 * The package as a user gets it: a fresh copy of the tree (the files git would clone) runs
 * `npm run build` (what `prepare` runs on `npm install`), the `onair` bin is executable with its
 * `#!` line, `npm pack` ships dist, docs, prompts and the licence (and no sources, tests or maps),
 * and an adapter developer's project that imports `from 'onair'` type-checks against the emitted
 * declarations and loads at run time (test/consumer).
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(fileURLToPath(import.meta.url));
const modules = realpathSync(path.join(root, 'node_modules'));
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; bin: { onair: string } };

function sh(cmd: string, args: string[], cwd: string): { code: number | null; out: string; err: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 240_000, env: { ...process.env, npm_config_loglevel: 'error' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const work = mkdtempSync(path.join(tmpdir(), 'onair-pkg-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));
const clone = path.join(work, 'onair');

t.test('a fresh copy builds: the bin is executable and runs by its #! line', async (t) => {
  // Tracked and new (not ignored) files, as the working tree has them: what a clone would hold.
  const files = execFileSync('git', ['ls-files', '-co', '--exclude-standard', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter((f) => f !== '');
  for (const f of files) {
    if (f === 'node_modules') continue;
    mkdirSync(path.dirname(path.join(clone, f)), { recursive: true });
    cpSync(path.join(root, f), path.join(clone, f));
  }
  symlinkSync(modules, path.join(clone, 'node_modules'));
  const build = sh('npm', ['run', 'build'], clone);
  t.equal(build.code, 0, `npm run build: ${build.err}`);
  const bin = path.join(clone, pkg.bin.onair);
  t.ok((statSync(bin).mode & 0o111) === 0o111, 'dist bin is executable');
  // env -S runs node with the engine's flags and glibc's arena limit (engine/cli ENGINE_ENV).
  t.match(readFileSync(bin, 'utf8').split('\n')[0], /^#!\/usr\/bin\/env -S MALLOC_ARENA_MAX=2 node /);
  const v = sh(bin, ['--version'], work);
  t.same([v.code, v.out], [0, `${pkg.version}\n`], 'runs directly, finds its package.json');
  const help = sh(bin, ['--help'], work);
  t.match(help.out, /--check-config FILE/);
});

t.test('npm pack ships dist, docs, prompts and the licence; no sources, tests or maps', async (t) => {
  const pack = sh('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], clone);
  t.equal(pack.code, 0, pack.err);
  const listed = (JSON.parse(pack.out) as Array<{ files: Array<{ path: string }> }>)[0]?.files.map((f) => f.path) ?? [];
  for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/crm-adapter/contract.d.ts',
    pkg.bin.onair, 'docs/crm-adapter.md', 'docs/configuration.md', 'docs/config.schema.json', 'media/prompts/en/welcome.wav',
    'deploy/onair.service', 'deploy/prometheus/alerts.yml', 'deploy/grafana/onair.json']) {
    t.ok(listed.includes(f), `ships ${f}`);
  }
  t.same(listed.filter((f) => f.endsWith('.map') || f.includes('.test.') || (f.endsWith('.ts') && !f.endsWith('.d.ts'))), [],
    'no source maps, tests or TypeScript sources');
});

t.test("an adapter developer's project: import type { CrmAdapter } from 'onair'", async (t) => {
  const consumer = path.join(work, 'consumer');
  cpSync(path.join(root, 'test/consumer'), consumer, { recursive: true });
  mkdirSync(path.join(consumer, 'node_modules'));
  symlinkSync(clone, path.join(consumer, 'node_modules/onair'));
  symlinkSync(path.join(modules, '@types'), path.join(consumer, 'node_modules/@types'));
  const tsc = sh(process.execPath, [path.join(modules, 'typescript/bin/tsc'), '-p', consumer], consumer);
  t.same([tsc.code, tsc.out], [0, ''], 'type-checks against the emitted declarations');
  const run = sh(process.execPath, ['run.mjs'], consumer);
  t.same(JSON.parse(run.out || '{}'), { contractVersion: 1, startEngine: 'function', unknown: false }, run.err);
});
