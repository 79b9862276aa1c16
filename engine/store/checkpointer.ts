/**
 * WAL checkpoints off the main thread. SQLite's automatic checkpoint runs inside the commit that
 * crosses the threshold, on the committing thread, and syncs the database file: on the engine's
 * main thread that stalled SIP and media set-up for 50-150 ms every few seconds (first-media p99
 * 100 ms at 100 calls/s, 10 ms without it; docs/bench.md). So the main connection turns automatic
 * checkpoints off and a worker thread with its own connection runs PASSIVE checkpoints (they never
 * block writers) on a period. If the worker dies, automatic checkpoints are turned back on so the
 * WAL cannot grow without bound.
 */
import { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import type { SqliteDatabase } from '../db/index.ts';

const require = createRequire(import.meta.url);

/** CommonJS source of the worker (eval'd: no build step, same under tsx and from dist/). */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { timeout: 1000 });
const step = () => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch (err) { parentPort.postMessage(String(err)); } };
const timer = setInterval(step, workerData.intervalMs);
parentPort.on('message', (m) => {
  if (m !== 'stop') return;
  clearInterval(timer);
  step();
  db.close();
  parentPort.postMessage('stopped');
});
`;

/** A running background checkpointer; `stop()` is idempotent. */
export interface Checkpointer {
  stop(): Promise<void>;
}

/**
 * Start checkpointing `path` (a WAL database opened by `db` on this thread) every `intervalMs`
 * from a worker thread, with automatic checkpoints off on `db`.
 */
export function startCheckpointer(db: SqliteDatabase, path: string, intervalMs = 1000): Checkpointer {
  db.pragma('wal_autocheckpoint = 0');
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { module: require.resolve('better-sqlite3'), path, intervalMs },
    // A worker must not inherit the tsx loader flags it does not need.
    execArgv: [],
  });
  let stopped = false;
  let done: (() => void) | undefined;
  worker.on('message', (m: unknown) => {
    if (m === 'stopped') done?.();
  });
  worker.on('error', () => {
    // Fall back to SQLite's own checkpoints rather than let the WAL grow.
    if (!stopped && db.open) db.pragma('wal_autocheckpoint = 1000');
  });
  worker.on('exit', () => {
    if (!stopped && db.open) db.pragma('wal_autocheckpoint = 1000');
    done?.();
  });
  // After the listeners: a store nobody closes must not keep the process alive.
  worker.unref();
  return {
    stop: () => {
      if (stopped) return Promise.resolve();
      stopped = true;
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => { void worker.terminate(); resolve(); }, 3000);
        done = () => { clearTimeout(t); resolve(); };
        worker.postMessage('stop');
      });
    },
  };
}
