/** engine/users alone: scrypt hashes, the masking rule, seeding from the config, sessions ending. */
import t from 'tap';
import path from 'node:path';
import { openStore } from '../store/index.ts';
import { SessionTable, UserDirectory, hashPassword, maskNumber, parsePasswordHash, verifyPassword } from './index.ts';

const OPTS = {
  sessions: { idleMs: 1000, maxAgeMs: 5000 },
  accountLockout: { maxFailures: 5, windowMs: 60_000, lockMs: 60_000 },
  sourceLockout: { maxFailures: 50, windowMs: 60_000, lockMs: 60_000 },
};

t.test('scrypt hashes: salted, verifiable, malformed ones refused', async (t) => {
  const a = await hashPassword('s3cret');
  const b = await hashPassword('s3cret');
  t.match(a, /^scrypt\$16384\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
  t.not(a, b, 'a fresh salt each time');
  t.ok(await verifyPassword('s3cret', a));
  t.notOk(await verifyPassword('s3cret!', a));
  t.notOk(await verifyPassword('s3cret', 'scrypt$16385$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=='), 'N not a power of two');
  t.equal(parsePasswordHash('scrypt$1048576000$8$1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=='), null, 'a cost that would take gigabytes');
  t.equal(parsePasswordHash('md5$x'), null);
});

t.test('masking keeps the first three and the last four', async (t) => {
  t.equal(maskNumber('13812345678'), '138****5678');
  t.equal(maskNumber('+4915110000004'), '+49*******0004');
  t.equal(maskNumber('12345'), '***45');
  t.equal(maskNumber('1001'), '****');
  t.equal(maskNumber(''), '');
});

t.test('seeding: created, then updated from the config; a bad seed is refused', async (t) => {
  const file = path.join(t.testdir({}), 'onair.db');
  const agents = new Set(['1001']);
  const first = openStore({ path: file });
  const d1 = await UserDirectory.open(first.db, first.writer, [{ username: '1001', role: 'agent', agentId: '1001', name: 'A', password: 'one' }], agents, OPTS);
  const hash = first.db.prepare<{ password_hash: string }>('SELECT password_hash FROM users').get()!.password_hash;
  t.ok((await d1.signIn('1001', 'one', '127.0.0.1')).ok);
  await first.close();

  const second = openStore({ path: file });
  t.teardown(() => second.close());
  await UserDirectory.open(second.db, second.writer, [{ username: '1001', role: 'agent', agentId: '1001', name: 'A', password: 'one' }], agents, OPTS);
  t.equal(second.db.prepare<{ password_hash: string }>('SELECT password_hash FROM users').get()!.password_hash, hash, 'same password: the stored hash is kept');
  const d2 = await UserDirectory.open(second.db, second.writer, [{ username: '1001', role: 'agent', agentId: '1001', name: 'B', password: 'two' }], agents, OPTS);
  t.notOk((await d2.signIn('1001', 'one', '127.0.0.1')).ok, 'the old password no longer works');
  t.match(await d2.signIn('1001', 'two', '127.0.0.1'), { ok: true, session: { user: { name: 'B' } } });
  const pre = await hashPassword('three');
  const d3 = await UserDirectory.open(second.db, second.writer, [{ username: 'boss', role: 'admin', agentId: null, name: null, passwordHash: pre }], agents, OPTS);
  t.ok((await d3.signIn('boss', 'three', '127.0.0.1')).ok, 'a configured hash signs in');
  await t.rejects(UserDirectory.open(second.db, second.writer, [{ username: 'x', role: 'agent', agentId: '9999', name: null, password: 'p' }], agents, OPTS), /USERS_ERR_SEED/);
  await t.rejects(UserDirectory.open(second.db, second.writer, [{ username: 'y', role: 'admin', agentId: null, name: null, passwordHash: 'nope' }], agents, OPTS), /USERS_ERR_SEED/);
});

t.test('sessions end when idle, at their maximum age, and at sign-out', async (t) => {
  const s = new SessionTable({ idleMs: 1000, maxAgeMs: 5000 });
  const user = { username: 'u', role: 'agent' as const, agentId: '1', name: null };
  const a = s.create(user, '127.0.0.1', 0);
  t.equal(s.touch(a.token, 900)?.user.username, 'u');
  t.equal(s.touch(a.token, 1800)?.user.username, 'u', 'each use pushes the idle end');
  t.equal(s.touch(a.token, 2900), undefined, 'idle more than idleMs');
  const b = s.create(user, '127.0.0.1', 0);
  for (let at = 900; at < 5000; at += 900) s.touch(b.token, at);
  t.equal(s.touch(b.token, 5400), undefined, 'past maxAgeMs, however busy');
  const c = s.create(user, '127.0.0.1', 0);
  t.ok(s.end(c.token));
  t.equal(s.touch(c.token, 1), undefined);
  t.equal(s.touch('short', 1), undefined);
});
