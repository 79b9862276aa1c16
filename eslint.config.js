// Lint enforces the layer boundaries of docs/architecture.md; style is left to tsc and review.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'net', 'dgram', 'tls', 'crypto', 'os', 'path', 'events',
  'worker_threads', 'child_process', 'http', 'https', 'stream', 'timers', 'util', 'buffer'];


export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'var/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {},
  },
  {
    // The ACD core is pure: no Node, no siblings, no I/O (ARCHITECTURE.md).
    files: ['engine/acd/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: nodeBuiltins, message: 'engine/acd is pure: no Node imports.' },
          { group: ['../*', '!../acd', '!../acd/**'], message: 'engine/acd imports nothing from its siblings.' },
        ],
      }],
      'no-restricted-globals': ['error', 'setTimeout', 'setInterval', 'setImmediate', 'process', 'Promise', 'performance'],
    },
  },
  {
    // The SIP stack knows nothing of calls, queues, media or the CRM.
    files: ['engine/sip/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/acd', '**/acd/**', '**/calls', '**/calls/**', '**/registrar/**', '**/trunks/**',
            '**/api/**', '**/media/**', '**/crm-adapter/**'], message: 'engine/sip knows nothing of calls, queues, media or the CRM.' },
        ],
      }],
    },
  },
  {
    // Media knows nothing of SIP, calls or the ACD (its tests may use the shared test helpers).
    files: ['media/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/engine/**'], message: 'media/ knows nothing of the engine.' },
        ],
      }],
    },
  },
  {
    // Only engine/config reads the environment (CONVENTIONS.md 11).
    files: ['engine/**/*.ts', 'media/**/*.ts', 'crm-adapter/**/*.ts'],
    ignores: ['engine/config/**', 'engine/cli/**', 'engine/testing/**', '**/*.test.ts', '**/examples/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only engine/config reads process.env.' }],
    },
  },
);
