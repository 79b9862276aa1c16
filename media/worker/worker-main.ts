/**
 * Entry point of a media worker thread: one {@link MediaWorkerCore} wired to the parent port.
 * Started by `MediaPool`; `workerData` is the worker's {@link WorkerConfig}.
 */
import { parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';
import { MediaWorkerCore } from './core.ts';
import { promptSource } from './prompts.ts';
import type { WorkerConfig, WorkerMessage, WorkerRequest } from './protocol.ts';

const port = parentPort;
if (port === null) throw new Error('worker-main.ts must run inside a worker thread');
const config = workerData as WorkerConfig;
if (config.priority !== undefined) {
  try {
    // pid 0 = the calling thread on Linux: only this worker's pacing gets the priority.
    os.setPriority(0, config.priority);
  } catch {
    // Not permitted: run at the inherited priority.
  }
}
const post = (msg: WorkerMessage): void => port.postMessage(msg);
const core = new MediaWorkerCore(config, config.promptDir === undefined ? undefined : promptSource(config.promptDir, config.ttsDir), post);
port.on('message', (req: WorkerRequest) => {
  void core.handle(req.cmd).then((r) => {
    post({ id: req.id, ...r });
    if (req.cmd.op === 'shutdown') port.close();
  });
});
