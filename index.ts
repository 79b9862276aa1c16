/**
 * onair — the package's door (`import ... from 'onair'`, package.json `exports`). What a program
 * outside the repository needs: the CRM adapter contract to implement an adapter
 * (docs/crm-adapter.md, `import type { CrmAdapter } from 'onair'`), and the engine with its configuration to embed it. Everything else is
 * internal and may change between versions.
 */
// The whole crm-adapter door: the contract, the two shipped adapters (to wrap or extend) and the
// module loader of `crm.adapter: module`.
export * from './crm-adapter/index.ts';
export { startEngine, type Engine } from './engine/engine.ts';
export { loadConfig, parseConfig, type Config, type ConfigInput, type LoadResult, type LoadOptions } from './engine/config/index.ts';
