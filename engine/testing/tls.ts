/**
 * Real certificates for tests (openssl), and the example deployment of docs/examples/onair.yaml
 * made checkable on this machine: its TLS socket names files under /etc/onair/tls, which
 * `--check-config` rightly requires to exist.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A self-signed RSA certificate for 127.0.0.1 and its key, written as `<dir>/<name>-{cert,key}.pem`. */
export function selfSignedCertificate(dir: string, name = 'tls'): { cert: string; key: string } {
  const cert = path.join(dir, `${name}-cert.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
  return { cert, key };
}

/** The TLS files docs/examples/onair.yaml names (a server's Let's Encrypt layout). */
export const EXAMPLE_TLS = { cert: '/etc/onair/tls/fullchain.pem', key: '/etc/onair/tls/privkey.pem' } as const;

/**
 * docs/examples/onair.yaml written to `<dir>/onair.yaml` with its TLS files replaced by a real
 * self-signed pair in `dir` (needs openssl); everything else as committed. Returns the file.
 */
export function exampleDeployment(dir: string): string {
  const text = readFileSync(path.join(root, 'docs/examples/onair.yaml'), 'utf8');
  if (!text.includes(EXAMPLE_TLS.cert) || !text.includes(EXAMPLE_TLS.key)) throw new Error('docs/examples/onair.yaml no longer names EXAMPLE_TLS');
  const pair = selfSignedCertificate(dir, 'example');
  const file = path.join(dir, 'onair.yaml');
  writeFileSync(file, text.replace(EXAMPLE_TLS.cert, pair.cert).replace(EXAMPLE_TLS.key, pair.key));
  return file;
}
