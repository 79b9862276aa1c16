// Lint enforces the layer boundaries of docs/architecture.md; style is left to tsc and review.
import tseslint from 'typescript-eslint';

const nodeBuiltins = ['node:*', 'fs', 'net', 'dgram', 'tls', 'crypto', 'os', 'path', 'events',
  'worker_threads', 'child_process', 'http', 'https', 'stream', 'timers', 'util', 'buffer'];


export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'var/**'] },
  {
    files: ['**/*.ts', '**/*.tsx'],
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
    // The attempt policy is pure like the ACD: the store and the dialer ask it, it asks nobody.
    files: ['engine/callbacks/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: nodeBuiltins, message: 'engine/callbacks is pure: no Node imports.' },
          { group: ['../*', '!../callbacks', '!../callbacks/**'], message: 'engine/callbacks imports nothing from its siblings.' },
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
    // engine/sched is the main thread's work scheduler: layers post to it, it imports none of them.
    files: ['engine/sched/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../*', '!../sched', '!../sched/**', '../../*'], message: 'engine/sched imports nothing from the engine.' },
        ],
      }],
    },
  },
  {
    // engine/db is the plumbing below the store and the CRM adapters: it imports neither, nor the engine.
    files: ['engine/db/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['../*', '!../db', '!../db/**', '../../*'], message: 'engine/db imports nothing from the engine or crm-adapter.' },
        ],
      }],
    },
  },
  {
    // crm-adapter stands on engine/db and its own contract, never on the store (ARCHITECTURE.md):
    // the store's dispatcher drives the adapters, so an import back would close a circle.
    files: ['crm-adapter/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/engine/store', '**/engine/store/**'], message: 'crm-adapter uses engine/db, not engine/store.' },
        ],
      }],
    },
  },
  {
    // The store knows the CRM contract's types (the outbox carries its events and CDRs) but no
    // adapter code: crm-adapter's built-in CRM stands on engine/db, below the store.
    files: ['engine/store/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/crm-adapter', '**/crm-adapter/**'], allowTypeImports: true, message: 'engine/store may import only types from crm-adapter.' },
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
