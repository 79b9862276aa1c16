/**
 * Third-party CRM adapters as modules (`crm.adapter: module`, docs/crm-adapter.md): a JavaScript
 * module file whose default export is either an adapter object or a factory
 * `(options) => CrmAdapter | Promise<CrmAdapter>` that receives `crm.options`. The loaded object is
 * checked against the contract before the engine uses it, so a wrong module fails at start with a
 * code that says what is wrong, not on the first call.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CONTRACT_VERSION, type CrmAdapter } from './contract.ts';

/** Error codes of the module loader (one registry, CONVENTIONS.md 19). */
export const CRM_MODULE_ERRORS = {
  /** The module file does not exist (or is a directory). */
  notFound: 'CRM_ERR_MODULE_NOT_FOUND',
  /** Importing the module threw (a syntax error, a missing dependency, a throw at top level). */
  load: 'CRM_ERR_MODULE_LOAD',
  /** The module has no default export, or it is neither an adapter object nor a factory function. */
  export: 'CRM_ERR_MODULE_EXPORT',
  /** The factory threw or rejected. */
  factory: 'CRM_ERR_MODULE_FACTORY',
  /** The adapter lacks a method of the contract, a name, or declares another contract version. */
  contract: 'CRM_ERR_MODULE_CONTRACT',
} as const;

/** One of {@link CRM_MODULE_ERRORS}. */
export type CrmModuleErrorCode = (typeof CRM_MODULE_ERRORS)[keyof typeof CRM_MODULE_ERRORS];

/** A module that cannot serve as the CRM adapter; `code` says why. */
export class CrmModuleError extends Error {
  readonly code: CrmModuleErrorCode;
  constructor(code: CrmModuleErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'CrmModuleError';
    this.code = code;
  }
}

/** The methods of {@link CrmAdapter}, each checked to be a function. */
const METHODS = ['init', 'lookupCaller', 'callEvent', 'deliverCdr', 'close'] as const satisfies ReadonlyArray<keyof CrmAdapter>;

/**
 * Problems that keep `value` from being a {@link CrmAdapter} (empty when it is one). Checked on
 * the object itself, so a class instance, a plain object and a proxy are all accepted.
 */
export function contractProblems(value: unknown): string[] {
  if (value === null || typeof value !== 'object') return [`expected an object, got ${value === null ? 'null' : typeof value}`];
  const v = value as Record<string, unknown>;
  const out: string[] = [];
  if (v.contractVersion !== CONTRACT_VERSION) out.push(`contractVersion is ${JSON.stringify(v.contractVersion)}, expected ${CONTRACT_VERSION}`);
  if (typeof v.name !== 'string' || v.name === '') out.push('name: expected a non-empty string');
  for (const m of METHODS) if (typeof v[m] !== 'function') out.push(`${m}: expected a method, got ${typeof v[m]}`);
  // Optional (IVR self-service): absent is fine, present must be a method.
  if (v.query !== undefined && typeof v.query !== 'function') out.push(`query: expected a method or nothing, got ${typeof v.query}`);
  return out;
}

/**
 * Load the adapter of module file `spec` (relative to `baseDir`, or absolute) and check it against
 * the contract. A default export that is a function is called with `options` (the factory form);
 * an object is used as it is. Throws a {@link CrmModuleError}.
 */
export async function loadAdapterModule(spec: string, baseDir: string, options: Readonly<Record<string, unknown>> = {}): Promise<CrmAdapter> {
  const file = path.resolve(baseDir, spec);
  if (!existsSync(file) || statSync(file).isDirectory()) throw new CrmModuleError(CRM_MODULE_ERRORS.notFound, `${file}: no such module file`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  } catch (err) {
    throw new CrmModuleError(CRM_MODULE_ERRORS.load, `${file}: import failed: ${(err as Error).message}`, { cause: err });
  }
  const exported = mod.default;
  let adapter: unknown;
  if (typeof exported === 'function') {
    try {
      adapter = await (exported as (o: Readonly<Record<string, unknown>>) => unknown)(options);
    } catch (err) {
      throw new CrmModuleError(CRM_MODULE_ERRORS.factory, `${file}: the default export (factory) failed: ${(err as Error).message}`, { cause: err });
    }
  } else if (exported !== null && typeof exported === 'object') {
    adapter = exported;
  } else {
    throw new CrmModuleError(CRM_MODULE_ERRORS.export,
      `${file}: the default export must be an adapter object or a factory function, got ${exported === undefined ? 'no default export' : typeof exported}`);
  }
  const problems = contractProblems(adapter);
  if (problems.length > 0) {
    throw new CrmModuleError(CRM_MODULE_ERRORS.contract, `${file}: not a CRM adapter (contract version ${CONTRACT_VERSION}): ${problems.join('; ')}`);
  }
  return adapter as CrmAdapter;
}
