/**
 * A throw-away self-signed certificate for TLS tests (CN=127.0.0.1, one day), made with openssl in
 * a temporary folder removed at the test's teardown. Undefined (the test skipped) without openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { requirePeer } from '../../testing/index.ts';

/** Certificate and key files; the caller's test is skipped when openssl is missing. */
export function selfSignedCert(t: Parameters<typeof requirePeer>[0] & { teardown(fn: () => unknown): void }): { cert: string; key: string } | undefined {
  if (!requirePeer(t, 'openssl')) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'onair-tls-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}
