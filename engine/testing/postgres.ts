/**
 * A throwaway PostgreSQL cluster for tests: `initdb` into a temporary folder, `postgres` listening
 * on a unix socket in that folder and on a free loopback TCP port, trust authentication (nothing
 * but this machine's loopback can reach it), fsync off (a test cluster need not survive a power
 * loss). `stop()` stops the server and removes the folder; {@link requirePostgres} registers it as
 * a teardown, so it runs when the test fails too, and a process exit without teardown (a crash of
 * the test runner) still stops the server through an exit hook.
 *
 * PostgreSQL refuses to run as root, so when the tests run as root the cluster runs as the
 * `postgres` user (Debian's package creates it) through `runuser`.
 *
 * When the binaries are missing the test is skipped with "PEER MISSING" — or fails under
 * `ONAIR_REQUIRE_PEERS=1` (`.ci/run`), like the other peers (peers.ts).
 */
import { spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { which, type PeerTest } from './peers.ts';
import { freeTcpPort } from './ports.ts';

/** A running test cluster. */
export interface PostgresCluster {
  /** `postgres://onair@127.0.0.1:<port>/postgres` (loopback TCP, trust authentication). */
  readonly url: string;
  /** Folder of the unix socket (`host=` of a socket connection). */
  readonly socketDir: string;
  readonly port: number;
  /** The URL of database `name` of this cluster (create it first: {@link PostgresCluster.createDatabase}). */
  urlOf(name: string): string;
  /** Create an empty database and return its URL. */
  createDatabase(name: string): Promise<string>;
  /** Stop the server (fast shutdown) and remove the folder. Idempotent. */
  stop(): void;
}

/** Folder of the PostgreSQL server binaries (initdb, pg_ctl, postgres), or undefined. */
export function postgresBinDir(): string | undefined {
  // pg_ctl on PATH may be a symlink into the server's folder (which has initdb, postgres).
  const onPath = which('pg_ctl');
  const real = onPath === undefined ? undefined : path.dirname(realpathSync(onPath));
  if (real !== undefined && existsSync(path.join(real, 'initdb'))) return real;
  // Debian keeps the server binaries off PATH, one folder per major version: take the newest.
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(path.join(root, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : path.join(root, versions[0], 'bin');
}

/** uid and gid of the `postgres` user, or undefined. */
function postgresUser(): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

const live = new Set<PostgresCluster>();
let exitHook = false;

/**
 * Start a cluster. Throws when the binaries are there but the cluster does not start (that is a
 * failure, not a missing peer); returns undefined when PostgreSQL is not installed.
 */
export async function startPostgres(): Promise<PostgresCluster | undefined> {
  const bin = postgresBinDir();
  if (bin === undefined) return undefined;
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? postgresUser() : undefined;
  if (asRoot && user === undefined) throw new Error('running as root and there is no postgres user to run the test cluster as');
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-pg-'));
  if (user !== undefined) chownSync(dir, user.uid, user.gid);
  const data = path.join(dir, 'data');
  const port = await freeTcpPort();
  const run = (cmd: string, args: string[]): ReturnType<typeof spawnSync> => {
    const [file, argv] = user !== undefined ? ['runuser', ['-u', 'postgres', '--', path.join(bin, cmd), ...args]] : [path.join(bin, cmd), args];
    return spawnSync(file, argv, { encoding: 'utf8', timeout: 60_000 });
  };
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    live.delete(cluster);
    run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w', '-t', '20']);
    rmSync(dir, { recursive: true, force: true });
  };
  const cluster: PostgresCluster = {
    url: `postgres://onair@127.0.0.1:${port}/postgres`,
    socketDir: dir,
    port,
    urlOf: (name) => `postgres://onair@127.0.0.1:${port}/${encodeURIComponent(name)}`,
    createDatabase: async (name) => {
      const client = new pg.Client({ connectionString: cluster.url });
      await client.connect();
      try {
        await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
      } finally {
        await client.end();
      }
      return cluster.urlOf(name);
    },
    stop,
  };
  try {
    const init = run('initdb', ['-D', data, '-U', 'onair', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    if (init.status !== 0) throw new Error(`initdb failed: ${String(init.stderr)}`);
    // -k: the socket in our folder (not /var/run/postgresql); listen on loopback only.
    const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
    const start = run('pg_ctl', ['start', '-D', data, '-w', '-t', '30', '-l', path.join(dir, 'server.log'), '-o', opts]);
    if (start.status !== 0) throw new Error(`pg_ctl start failed: ${String(start.stderr)}${String(start.stdout)}`);
  } catch (err) {
    stop();
    throw err;
  }
  live.add(cluster);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => { for (const c of [...live]) c.stop(); });
  }
  return cluster;
}

/** What {@link requirePostgres} needs of a tap test. */
export interface PostgresTest extends PeerTest {
  teardown(fn: () => void | Promise<void>): void;
}

/**
 * A cluster for test `t`, stopped and removed when `t` ends; undefined (the test skipped, or
 * failed under `ONAIR_REQUIRE_PEERS=1`) when PostgreSQL is not installed.
 */
export async function requirePostgres(t: PostgresTest): Promise<PostgresCluster | undefined> {
  const cluster = await startPostgres();
  if (cluster === undefined) {
    const msg = 'PEER MISSING: PostgreSQL server binaries (initdb, pg_ctl) are not installed (Debian: postgresql)';
    if (process.env['ONAIR_REQUIRE_PEERS'] === '1') t.fail(msg);
    else t.skip(msg);
    return undefined;
  }
  t.teardown(() => cluster.stop());
  return cluster;
}
