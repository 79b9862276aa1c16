/**
 * Test helpers for real peers (sipp, baresip, kamailio). A test that needs a peer calls
 * `requirePeer(t, 'sipp')`: when the peer is missing the test is skipped with a reason that
 * contains "PEER MISSING" — or fails, when `ONAIR_REQUIRE_PEERS=1` (set by `.ci/run`), so that CI
 * never passes by skipping the interop tests.
 */
import { spawnSync } from 'node:child_process';

/** Tap's test object, reduced to what we use (keeps this file free of a tap import). */
export interface PeerTest {
  // tap's own signatures take optional extras; any arguments are accepted here.
  skip(...args: any[]): unknown;
  fail(...args: any[]): unknown;
}

const found = new Map<string, string | undefined>();

/** Absolute path of an executable on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  if (!found.has(cmd)) {
    const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
    found.set(cmd, r.status === 0 ? r.stdout.trim() || undefined : undefined);
  }
  return found.get(cmd);
}

/** Debian packages of the peers whose package is not named after the command. */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = { sipp: 'sip-tester', promtool: 'prometheus', 'systemd-analyze': 'systemd', chromium: 'chromium fonts-noto-cjk', rtpengine: 'rtpengine-daemon' };

/** True when the peer is installed; otherwise skips (or fails under CI) and returns false. */
export function requirePeer(
  t: PeerTest, cmd: 'sipp' | 'baresip' | 'kamailio' | 'gcc' | 'sox' | 'espeak-ng' | 'openssl' | 'prometheus' | 'promtool' | 'systemd-analyze' | 'chromium' | 'rtpengine',
): boolean {
  if (which(cmd)) return true;
  const msg = `PEER MISSING: ${cmd} is not installed (Debian: ${DEBIAN_PACKAGE[cmd] ?? cmd})`;
  if (process.env['ONAIR_REQUIRE_PEERS'] === '1') t.fail(msg);
  else t.skip(msg);
  return false;
}
