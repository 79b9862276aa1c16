/**
 * The built browser UI (Vite's output, `dist/ui`), served by the API server itself: every file is
 * read once at start into memory, and a request is answered from that table by exact name. No
 * part of a request's path ever reaches the filesystem, so `..`, encoded slashes or symlinks
 * cannot reach another file; the table is a few hundred kilobytes.
 *
 * ```
 *  GET /               ─▶ index.html   (no-cache: it names the current hashed assets)
 *  GET /assets/<name>  ─▶ assets/<name> (immutable: Vite puts a content hash in each name)
 * ```
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file ready to send. */
export interface UiFile {
  body: Buffer;
  type: string;
  etag: string;
}

/** The UI's files by path relative to the build folder (`index.html`, `assets/index-3f2a.js`). */
export type UiFiles = ReadonlyMap<string, UiFile>;

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.json': 'application/json',
  '.map': 'application/json',
};

/** Most files and bytes read (a wrong folder must not load a disk into memory). */
const MAX_FILES = 500;
const MAX_BYTES = 20 * 1024 * 1024;

/** Where `npm run build` puts the UI: `<package root>/dist/ui`, found from this file in the sources or in dist/. */
export function defaultUiDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'dist', 'ui');
    dir = path.dirname(dir);
  }
  return path.resolve('dist', 'ui');
}

/** Read every file under `dir`; null when there is no built UI there (no `index.html`). */
export function loadUiFiles(dir: string): UiFiles | null {
  if (!existsSync(path.join(dir, 'index.html'))) return null;
  const files = new Map<string, UiFile>();
  let bytes = 0;
  const walk = (rel: string): void => {
    for (const entry of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const name = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        walk(name);
        continue;
      }
      if (!entry.isFile()) continue;
      const full = path.join(dir, name);
      bytes += statSync(full).size;
      if (files.size >= MAX_FILES || bytes > MAX_BYTES) throw new Error(`API_ERR_UI: ${dir} holds more than ${MAX_FILES} files or ${MAX_BYTES} bytes; not a UI build`);
      const body = readFileSync(full);
      files.set(name, {
        body, type: TYPES[path.extname(name)] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      });
    }
  };
  walk('');
  return files;
}

/**
 * Content-Security-Policy of the UI: its own scripts and styles only (uPlot sets element styles,
 * hence inline styles), API calls and the event socket to the same origin, no framing.
 */
export const UI_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
