/**
 * baresip (Debian `baresip`, 1.0.x) as a real agent softphone for tests: a generated config folder
 * (no sound card needed), one account registering with digest auth, auto answer. Its microphone is
 * a generated tone (the `aufile` source) and what it hears goes to an `aubridge` device nobody
 * reads, so RTP flows both ways without audio hardware.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect } from 'node:net';

/** Options of {@link startBaresip}. */
export interface BaresipOptions {
  /** Registrar (the engine's SIP UDP endpoint). */
  registrar: { address: string; port: number };
  /** Account user (the agent's extension) and digest password. */
  user: string;
  password: string;
  /** `auto`: answer every incoming call at once; `manual`: let it ring. Default auto. */
  answerMode?: 'auto' | 'manual';
  /** Seconds of the microphone tone (the source stops at its end). Default 60. */
  toneSeconds?: number;
  /**
   * Loopback TCP port of baresip's `ctrl_tcp` module (with `menu` for its commands), so a test
   * can drive the phone: {@link Baresip.command} (`transfer`, `hangup`, `hold`...). Off by default.
   */
  ctrlPort?: number;
}

/** A running baresip; `close()` kills it and removes its folder (idempotent). */
export interface Baresip {
  process: ChildProcess;
  /** stdout and stderr so far (bounded), for failure messages. */
  output(): string;
  /**
   * Send one command over `ctrl_tcp` (netstring JSON, baresip 1.0), e.g. `('transfer', 'sip:service@127.0.0.1:5060')`;
   * resolves with baresip's reply text. Needs `ctrlPort`.
   */
  command(name: string, params?: string): Promise<string>;
  close(): Promise<void>;
}

/**
 * A WAV file: 8 kHz, mono, S16LE (what baresip's `aufile` source requires for G.711), a 440 Hz
 * tone at half scale.
 *
 * ```
 *  0  "RIFF" size "WAVE"   12  "fmt " 16 PCM=1 ch=1 8000 16000 align=2 bits=16   36  "data" n  samples…
 * ```
 */
export function toneWav(seconds: number, hz = 440): Buffer {
  const samples = Math.round(seconds * 8000);
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0, 'latin1');
  b.writeUInt32LE(36 + samples * 2, 4);
  b.write('WAVE', 8, 'latin1');
  b.write('fmt ', 12, 'latin1');
  b.writeUInt32LE(16, 16);
  b.writeUInt16LE(1, 20);
  b.writeUInt16LE(1, 22);
  b.writeUInt32LE(8000, 24);
  b.writeUInt32LE(16000, 28);
  b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34);
  b.write('data', 36, 'latin1');
  b.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) b.writeInt16LE(Math.round(16000 * Math.sin((2 * Math.PI * hz * i) / 8000)), 44 + i * 2);
  return b;
}

/** Start baresip with a generated config folder; it registers by itself. */
export function startBaresip(o: BaresipOptions): Baresip {
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-baresip-'));
  const tone = path.join(dir, 'tone.wav');
  writeFileSync(tone, toneWav(o.toneSeconds ?? 60));
  writeFileSync(path.join(dir, 'config'), [
    'poll_method\t\tepoll',
    'sip_listen\t\t127.0.0.1:0',
    'module_path\t\t/usr/lib/baresip/modules',
    'module\t\t\tg711.so',
    'module\t\t\taufile.so',
    'module\t\t\taubridge.so',
    'module_app\t\taccount.so',
    `audio_source\t\taufile,${tone}`,
    'audio_player\t\taubridge,onair-nobody',
    'audio_alert\t\taubridge,onair-nobody',
    'rtp_timeout\t\t0',
    ...(o.ctrlPort !== undefined ? ['module_app\t\tmenu.so', 'module_app\t\tctrl_tcp.so', `ctrl_tcp_listen\t\t127.0.0.1:${o.ctrlPort}`] : []),
    '',
  ].join('\n'));
  const { address, port } = o.registrar;
  writeFileSync(path.join(dir, 'accounts'),
    `<sip:${o.user}@${address}:${port};transport=udp>;auth_pass=${o.password};regint=60;answermode=${o.answerMode ?? 'auto'};audio_codecs=PCMA,PCMU\n`);
  const child = spawn('baresip', ['-f', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (d: Buffer): void => { if (output.length < 50_000) output += d.toString(); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  let closing: Promise<void> | undefined;
  return {
    process: child,
    output: () => output,
    command: (name, params) => ctrlCommand(o.ctrlPort, name, params),
    close: () => {
      closing ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        rmSync(dir, { recursive: true, force: true });
      })();
      return closing;
    },
  };
}

/** One `ctrl_tcp` command: a netstring `len:{json},` out, the first netstring back. */
function ctrlCommand(port: number | undefined, name: string, params?: string): Promise<string> {
  if (port === undefined) return Promise.reject(new Error('baresip started without ctrlPort'));
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    const json = JSON.stringify({ command: name, ...(params !== undefined ? { params } : {}), token: 'onair' });
    let got = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`baresip ctrl: no reply to ${name}`)); }, 5000);
    sock.on('connect', () => sock.write(`${Buffer.byteLength(json)}:${json},`));
    sock.on('data', (d) => {
      got += d.toString();
      const colon = got.indexOf(':');
      const len = colon > 0 ? Number(got.slice(0, colon)) : NaN;
      // Skip events (`"event":true`); the reply carries `"response":true`.
      if (Number.isFinite(len) && got.length >= colon + 1 + len + 1) {
        const body = got.slice(colon + 1, colon + 1 + len);
        got = got.slice(colon + 2 + len);
        if (body.includes('"response"')) {
          clearTimeout(timer);
          sock.end();
          resolve(body);
        }
      }
    });
    sock.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}
