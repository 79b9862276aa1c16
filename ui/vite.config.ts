/**
 * Build of the browser UI (agent desktop, wallboard): Vite with Preact, output in dist/ui, which
 * the engine reads at start and serves on its HTTP port (engine/api/ui-files.ts).
 */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const here = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root: here,
  base: '/',
  plugins: [preact()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    // The engine serves whatever is here: no source maps, nothing under public/.
    sourcemap: false,
    assetsDir: 'assets',
  },
  publicDir: false,
});
