/**
 * rtpengine (Debian `rtpengine-daemon`) as a peer of tests and benches: userspace forwarding only
 * (`--table=-1`: no kernel module, no iptables), the ng control protocol and RTP on loopback, no
 * config file, in the foreground as our child. `start` resolves once it answers an ng `ping`;
 * `stop` kills it by its pid. A start that fails kills what it started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { NgClient } from '../../media/index.ts';
import { freeUdpPort } from './ports.ts';

/** Options of {@link startRtpengine}. */
export interface RtpengineOptions {
  /** First and last RTP port rtpengine may use (4 per relayed call: RTP + RTCP, each side). Default: 800 ports from a random even start in 30000-31999. */
  portMin?: number;
  portMax?: number;
  /** Forwarding threads. Default: rtpengine's (one per core). */
  threads?: number;
  /** Seconds without media before rtpengine drops a call on its own. Default 60 (rtpengine's). */
  timeoutSec?: number;
  /** How long to wait for the first pong (ms). Default 10000. */
  startTimeoutMs?: number;
}

/** A running rtpengine. */
export interface Rtpengine {
  child: ChildProcess;
  pid: number;
  /** The ng control address (`media.rtpengine` of the engine's config). */
  address: string;
  ngPort: number;
  portMin: number;
  portMax: number;
  /** A client of its ng port (closed by `stop`). */
  ng: NgClient;
  /** Log output so far (bounded), for failure messages. */
  output(): string;
  /** SIGKILL by pid and wait for the exit; idempotent. */
  stop(): Promise<void>;
}

/** The rtpengine command line of {@link startRtpengine} (exported for docs and the report). */
export function rtpengineArgs(ngPort: number, o: Required<Pick<RtpengineOptions, 'portMin' | 'portMax'>> & RtpengineOptions): string[] {
  return [
    '--config-file=none', '--table=-1', '--interface=127.0.0.1', `--listen-ng=127.0.0.1:${ngPort}`,
    `--port-min=${o.portMin}`, `--port-max=${o.portMax}`, '--foreground', '--log-stderr', '--log-level=5',
    // A deleted call's ports are freed at once: tests and benches create and delete many.
    '--delete-delay=0', `--timeout=${o.timeoutSec ?? 60}`,
    ...(o.threads !== undefined ? [`--num-threads=${o.threads}`] : []),
  ];
}

/** Start rtpengine on free loopback ports. */
export async function startRtpengine(o: RtpengineOptions = {}): Promise<Rtpengine> {
  const ngPort = await freeUdpPort();
  const portMin = o.portMin ?? 30000 + 2 * Math.floor(Math.random() * 600);
  const portMax = o.portMax ?? portMin + 799;
  const child = spawn('rtpengine', rtpengineArgs(ngPort, { ...o, portMin, portMax }), { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer): void => { if (out.length < 100_000) out += d.toString(); };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  child.once('error', (err) => keep(Buffer.from(`spawn failed: ${err.message}\n`)));
  let ng: NgClient | undefined;
  const stop = async (): Promise<void> => {
    ng?.close();
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch { /* gone already */ }
    }
    await exited;
  };
  try {
    ng = await NgClient.open({ address: '127.0.0.1', port: ngPort, timeoutMs: 500, retransmitMs: 100 });
    const deadline = Date.now() + (o.startTimeoutMs ?? 10_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`rtpengine exited at start:\n${out}`);
      if ((await ng.ping()).ok) break;
      if (Date.now() > deadline) throw new Error(`rtpengine did not answer ping within ${o.startTimeoutMs ?? 10_000} ms:\n${out}`);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, pid: child.pid!, address: '127.0.0.1', ngPort, portMin, portMax, ng, output: () => out, stop };
}
