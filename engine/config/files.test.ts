/**
 * `--check-config` opens what the engine will open: a configuration it passes must not fail at
 * start over a missing or broken file, or over a database the store does not have. Real files,
 * real openssl, the real loader and the real `onair` executable.
 */
import t from 'tap';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { requirePeer } from '../testing/index.ts';
import { fileProblem, parseConfig } from './load.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

function errorsOf(input: unknown): string[] {
  const r = parseConfig(input, { env: {} });
  return r.ok ? [] : r.errors;
}

function tlsConfig(tls: { cert: string; key: string; ca?: string | null }): Record<string, unknown> {
  return { sip: { listen: [{ transport: 'udp', address: '127.0.0.1' }, { transport: 'tls', address: '127.0.0.1', port: 5061, tls }] } };
}

t.test('fileProblem: what opening the path would meet', async (t) => {
  const dir = t.testdir({ 'a.pem': 'x', sub: {} });
  t.equal(fileProblem(path.join(dir, 'a.pem'), 'file'), null);
  t.equal(fileProblem(path.join(dir, 'sub'), 'directory'), null);
  t.equal(fileProblem(path.join(dir, 'nope.pem'), 'file'), 'does not exist');
  t.equal(fileProblem(path.join(dir, 'a.pem', 'below'), 'file'), 'does not exist', 'a file in the middle of the path');
  t.equal(fileProblem(path.join(dir, 'sub'), 'file'), 'is a directory, not a file');
  t.equal(fileProblem(path.join(dir, 'a.pem'), 'directory'), 'is not a directory');
  if (process.getuid?.() !== 0) {
    chmodSync(path.join(dir, 'a.pem'), 0o000);
    t.equal(fileProblem(path.join(dir, 'a.pem'), 'file'), 'is not readable by this user');
  }
});

t.test('TLS certificate and key files: missing, not matching, good', async (t) => {
  const dir = t.testdir({});
  const missing = errorsOf(tlsConfig({ cert: path.join(dir, 'cert.pem'), key: path.join(dir, 'key.pem') }));
  t.same(missing, [
    `sip.listen[1].tls.cert: file '${path.join(dir, 'cert.pem')}' does not exist`,
    `sip.listen[1].tls.key: file '${path.join(dir, 'key.pem')}' does not exist`,
  ]);
  if (!requirePeer(t, 'openssl')) return;
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const other = path.join(dir, 'other-key.pem');
  const req = (k: string, c: string): void => {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', k, '-out', c, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  };
  req(key, cert);
  req(other, path.join(dir, 'other-cert.pem'));
  t.same(errorsOf(tlsConfig({ cert, key })), [], 'a matching pair passes');
  const mismatch = errorsOf(tlsConfig({ cert, key: other }));
  t.equal(mismatch.length, 1);
  t.match(mismatch[0], /^sip\.listen\[1\]\.tls: cannot set up TLS from cert .*cert\.pem and key .*other-key\.pem: .*key values mismatch/);
  writeFileSync(path.join(dir, 'junk.pem'), 'not a certificate\n');
  t.match(errorsOf(tlsConfig({ cert: path.join(dir, 'junk.pem'), key })), [/^sip\.listen\[1\]\.tls: cannot set up TLS from cert .*junk\.pem/]);
  t.match(errorsOf(tlsConfig({ cert, key, ca: path.join(dir, 'ca.pem') })), [/^sip\.listen\[1\]\.tls\.ca: file '.*ca\.pem' does not exist$/]);
});

t.test('the prompt directory: reported once, not as every prompt missing', async (t) => {
  const dir = t.testdir({ 'file.txt': 'x' });
  t.same(errorsOf({ media: { promptsDir: path.join(dir, 'none') } }), [`media.promptsDir: directory '${path.join(dir, 'none')}' does not exist`]);
  t.same(errorsOf({ media: { promptsDir: path.join(dir, 'file.txt') } }), [`media.promptsDir: directory '${path.join(dir, 'file.txt')}' is not a directory`]);
});

t.test('the SQLite file: a writable file, or creatable where it is missing', async (t) => {
  const dir = t.testdir({ 'file.txt': 'x', 'old.db': '', sub: {} });
  t.same(errorsOf({ database: { kind: 'sqlite', path: path.join(dir, 'new/deeper/onair.db') } }), [], 'folders are created');
  t.same(errorsOf({ database: { kind: 'sqlite', path: path.join(dir, 'old.db') } }), []);
  t.same(errorsOf({ database: { kind: 'sqlite', path: path.join(dir, 'sub') } }), [`database.path: database '${path.join(dir, 'sub')}' is a directory, not a file`]);
  t.same(errorsOf({ database: { kind: 'sqlite', path: path.join(dir, 'file.txt/onair.db') } }),
    [`database.path: database '${path.join(dir, 'file.txt/onair.db')}' cannot be created: ${path.join(dir, 'file.txt')} is a file`]);
  t.same(errorsOf({ database: { kind: 'sqlite', path: ':memory:' } }), [], 'an in-memory database opens no file');
  if (process.getuid?.() !== 0) {
    chmodSync(path.join(dir, 'sub'), 0o500);
    t.match(errorsOf({ database: { kind: 'sqlite', path: path.join(dir, 'sub/onair.db') } }), [/cannot be created: .*sub is not writable by this user$/]);
    chmodSync(path.join(dir, 'sub'), 0o700);
  }
});

t.test('database.kind postgres is accepted; its SQLite file (the tables not in PostgreSQL) is checked like the sqlite kind\'s', async (t) => {
  t.same(errorsOf({ database: { kind: 'postgres', url: 'postgres://u:p@db/onair' } }), []);
  const dir = t.testdir({ file: 'x' });
  t.match(errorsOf({ database: { kind: 'postgres', url: 'postgres://u:p@db/onair', path: path.join(dir, 'file/onair.db') } }), [/^database\.path: /]);
});

t.test('executable: --check-config exits 2 for a file the start would fail on', async (t) => {
  const dir = t.testdir({
    'tls.yaml': 'sip:\n  listen:\n    - { transport: tls, address: 127.0.0.1, port: 5061, tls: { cert: no-cert.pem, key: no-key.pem } }\n',
  });
  const check = (file: string): { code: number | null; stderr: string } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'engine/cli/main.ts'), '--check-config', file], {
      cwd: dir, encoding: 'utf8', timeout: 60_000,
    });
    return { code: r.status, stderr: r.stderr };
  };
  const tls = check('tls.yaml');
  t.equal(tls.code, 2);
  t.match(tls.stderr, /sip\.listen\[0\]\.tls\.cert: file 'no-cert\.pem' does not exist/, 'relative to the working directory, as the engine opens it');
  t.match(tls.stderr, /sip\.listen\[0\]\.tls\.key: file 'no-key\.pem' does not exist/);
});
