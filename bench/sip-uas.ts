/**
 * `npm run bench -- sip-uas [--seconds 30] [--start 500] [--step 500] [--max 6000]`
 *
 * The example UAS (its own process) under sipp's built-in `uac` scenario over UDP on this machine
 * (sipp included). Steps the call rate up and reports the highest rate at which a whole run had
 * zero failed calls and zero retransmissions: `uas_max_cps_zero_fail`.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { emit, say, machine, SIPP_LOAD_BUFFERS } from './lib.ts';
import { freeUdpPort, runSipp, which } from '../engine/testing/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function arg(args: string[], name: string, dflt: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
}


export async function main(args: string[]): Promise<void> {
  if (!which('sipp')) throw new Error('sipp is not installed (Debian: sip-tester)');
  const seconds = arg(args, '--seconds', 30);
  const start = arg(args, '--start', 500);
  const step = arg(args, '--step', 500);
  const max = arg(args, '--max', 6000);
  const port = await freeUdpPort();
  const built = path.join(root, 'dist/examples/uas.js');
  const cmd = existsSync(built) ? [built] : ['--import', 'tsx', path.join(root, 'examples/uas.ts')];
  const uas = spawn(process.execPath, [...cmd, '--port', String(port)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = (): void => { if (uas.exitCode === null) uas.kill('SIGKILL'); };
  process.on('exit', stop);
  try {
    await new Promise((r) => setTimeout(r, 1500));
    let best = 0;
    const runs: { rate: number; successful: number; failed: number; retransmissions: number }[] = [];
    for (let rate = start; rate <= max; rate += step) {
      const calls = rate * seconds;
      const r = await runSipp({
        scenario: 'uac', target: `127.0.0.1:${port}`, transport: 'u1', rate, calls, limit: rate * 4,
        timeoutSec: seconds + 30, args: ['-rate_increase', '0', ...SIPP_LOAD_BUFFERS],
      });
      runs.push({ rate, successful: r.successful, failed: r.failed, retransmissions: r.retransmissions });
      say(`sip-uas: ${rate} cps for ${seconds} s: ${r.successful} ok, ${r.failed} failed, ${r.retransmissions} retransmissions`);
      if (r.failed === 0 && r.retransmissions === 0 && r.successful === calls) best = rate;
      else break;
    }
    emit({ bench: 'sip-uas', metric: 'uas_max_cps_zero_fail', value: best, unit: 'calls/s', seconds, runs, machine: machine() });
  } finally {
    stop();
  }
}
