/**
 * Reading the configuration: a YAML or JSON file (or the embedded demo), environment overrides,
 * schema validation, cross-field checks, then a deep freeze. The only place in the engine that
 * reads `process.env` (CONVENTIONS.md 11). Failures are results that name the field and the
 * problem, never exceptions: a bad file is an operator's mistake, not a programmer's.
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import { LineCounter, parseDocument, visit } from 'yaml';
import type { Document } from 'yaml';
import type { z } from 'zod';
import { checkConfig } from './check.ts';
import { demoConfig } from './demo.ts';
import { configSchema, LOG_LEVELS, logLevelSchema, portSchema } from './schema.ts';
import type { Config } from './schema.ts';

/** Outcome of {@link loadConfig} / {@link parseConfig}. */
export type LoadResult =
  | {
    ok: true;
    config: Readonly<Config>;
    /** Things an operator must hear about (logged at warn by the CLI). */
    warnings: string[];
    /** Environment overrides applied, as `ONAIR_X → field = value` (logged at info). */
    overrides: string[];
  }
  | { ok: false; errors: string[] };

/** Where values outside the file come from; `process.env` unless a test passes its own. */
export interface LoadOptions {
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Environment variables that override the file, applied after defaults and before the checks.
 * Each entry: the variable, the field it sets, and how.
 */
export const ENV_OVERRIDES = [
  { name: 'ONAIR_HTTP_PORT', field: 'http.port', doc: 'HTTP API port.' },
  { name: 'ONAIR_SIP_PORT', field: 'sip.listen[].port', doc: 'Port of every udp and tcp listen entry (tls entries keep theirs).' },
  { name: 'ONAIR_DB_PATH', field: 'database.path', doc: 'SQLite database file (with database.kind postgres: the tables not in PostgreSQL).' },
  { name: 'ONAIR_LOG_LEVEL', field: 'log.level', doc: 'Log level.' },
] as const;

/** Any JSON/YAML path segment as zod reports it. */
type PathKey = PropertyKey;

/** `queues[1].strategy`, `flows.main[0].menu.options["1"]`. */
export function formatPath(segments: readonly PathKey[]): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else {
      const k = String(s);
      out += /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? (out === '' ? k : `.${k}`) : `["${k}"]`;
    }
  }
  return out === '' ? '(top level)' : out;
}

/** zod's message without its generic prefix, in the words of a configuration reference. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined ? `required (${words(issue.expected)})` : `expected ${words(issue.expected)}, got ${typeName(issue.input)}`;
    case 'invalid_value':
      return issue.values.length === 1 ? `expected ${JSON.stringify(issue.values[0])}` : `expected one of ${issue.values.map(String).join(', ')}`;
    case 'invalid_key':
      return issue.issues[0] === undefined ? 'invalid key' : describeIssue(issue.issues[0]);
    case 'invalid_union':
      if ('options' in issue && Array.isArray(issue.options)) return `expected one of ${issue.options.map(String).join(', ')}`;
      return issue.message;
    default:
      return issue.message.replace(/^(Invalid input|Invalid option|Invalid string|Too small|Too big): /, '');
  }
}

/** The YAML words for JSON types. */
function words(expected: string): string {
  return expected === 'object' ? 'a mapping' : expected === 'array' ? 'a list' : expected;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** One line per problem; unknown keys get one line each so every typo is named. */
function formatIssues(issues: readonly z.core.$ZodIssue[], where: (p: readonly PathKey[]) => string): string[] {
  const out: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push(`${where([...issue.path, k])}: unknown field`);
    } else {
      // A refinement on an object reports at the object; invalid_key names the key after the path.
      out.push(`${where(issue.path)}: ${describeIssue(issue)}`);
    }
  }
  return out;
}

/** Deep-freeze plain data so no layer can change the configuration after start. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** A port from the environment: digits only (`Number('1e3')` is 1000, not a port anyone wrote). */
function envPort(name: string, field: string, text: string, errors: string[]): number | undefined {
  const p = /^\d{1,5}$/.test(text) ? portSchema.safeParse(Number(text)) : undefined;
  if (p?.success === true) return p.data;
  errors.push(`${name} (${field}): expected a port number 0..65535, got ${JSON.stringify(text)}`);
  return undefined;
}

function applyEnv(config: Config, env: Readonly<Record<string, string | undefined>>, errors: string[], applied: string[]): void {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };

  const httpText = get('ONAIR_HTTP_PORT');
  const httpPort = httpText === undefined ? undefined : envPort('ONAIR_HTTP_PORT', 'http.port', httpText, errors);
  if (httpPort !== undefined) {
    config.http.port = httpPort;
    applied.push(`ONAIR_HTTP_PORT → http.port = ${httpPort}`);
  }
  const sipText = get('ONAIR_SIP_PORT');
  const sipPort = sipText === undefined ? undefined : envPort('ONAIR_SIP_PORT', 'sip.listen[].port', sipText, errors);
  if (sipPort !== undefined) {
    for (const l of config.sip.listen) if (l.transport !== 'tls') l.port = sipPort;
    applied.push(`ONAIR_SIP_PORT → sip.listen[].port = ${sipPort} (udp, tcp)`);
  }
  const dbPath = get('ONAIR_DB_PATH');
  if (dbPath !== undefined) {
    config.database.path = dbPath;
    applied.push(`ONAIR_DB_PATH → database.path = ${dbPath}`);
  }
  const level = get('ONAIR_LOG_LEVEL');
  if (level !== undefined) {
    const p = logLevelSchema.safeParse(level);
    if (p.success) {
      config.log.level = p.data;
      applied.push(`ONAIR_LOG_LEVEL → log.level = ${p.data}`);
    } else errors.push(`ONAIR_LOG_LEVEL (log.level): expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
  }
}

/**
 * Validate a configuration object (as read from a file, or built in code): schema, environment
 * overrides, cross-field checks, deep freeze. `describePath` lets the file reader add line numbers.
 */
export function parseConfig(
  input: unknown,
  opts: LoadOptions & { describePath?: (path: readonly PathKey[]) => string } = {},
): LoadResult {
  const parsed = configSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) return { ok: false, errors: formatIssues(parsed.error.issues, opts.describePath ?? formatPath) };
  // zod hands out its default values by reference: without the copy, the overrides below and the
  // freeze would reach into the schema's defaults and every later parse.
  const config = structuredClone(parsed.data);
  const errors: string[] = [];
  const overrides: string[] = [];
  applyEnv(config, opts.env ?? process.env, errors, overrides);
  if (errors.length > 0) return { ok: false, errors };
  const report = checkConfig(config, {
    promptExists: (rel) => existsSync(path.join(config.media.promptsDir, `${rel}.wav`)),
    fileProblem,
    tlsProblem,
  });
  if (report.errors.length > 0) return { ok: false, errors: report.errors };
  return { ok: true, config: deepFreeze(config), warnings: report.warnings, overrides };
}

/** The real {@link CheckOptions.fileProblem}: what the engine will meet when it opens `file`. */
export function fileProblem(file: string, kind: 'file' | 'directory' | 'database'): string | null {
  if (kind === 'database') return databaseProblem(file);
  let isDir: boolean;
  try {
    isDir = statSync(file).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `cannot be read (${code ?? (err as Error).message})`;
  }
  if (kind === 'directory' && !isDir) return 'is not a directory';
  if (kind === 'file' && isDir) return 'is a directory, not a file';
  try {
    // A directory is listed and entered (R + X); a file is read.
    accessSync(file, kind === 'directory' ? constants.R_OK | constants.X_OK : constants.R_OK);
  } catch {
    return 'is not readable by this user';
  }
  return null;
}

/**
 * An SQLite file the store opens read-write, creating it and its folders when missing: an existing
 * one must be a writable file; otherwise the nearest existing folder above it must be a writable
 * folder (not a file in the middle of the path).
 */
function databaseProblem(file: string): string | null {
  const abs = path.resolve(file);
  if (existsSync(abs)) {
    if (statSync(abs).isDirectory()) return 'is a directory, not a file';
    try {
      accessSync(abs, constants.R_OK | constants.W_OK);
      return null;
    } catch {
      return 'is not writable by this user';
    }
  }
  let dir = path.dirname(abs);
  while (!existsSync(dir)) dir = path.dirname(dir);
  if (!statSync(dir).isDirectory()) return `cannot be created: ${dir} is a file`;
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return null;
  } catch {
    return `cannot be created: ${dir} is not writable by this user`;
  }
}

/**
 * The real {@link CheckOptions.tlsProblem}: builds the secure context the TLS transport builds at
 * start (same files, same call), so a certificate that does not parse or a key that does not
 * match it is found here rather than by a failed start.
 */
export function tlsProblem(files: { cert: string; key: string; ca: string | null }): string | null {
  try {
    createSecureContext({
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      ...(files.ca !== null ? { ca: readFileSync(files.ca) } : {}),
    });
    return null;
  } catch (err) {
    return `cannot set up TLS from cert ${files.cert} and key ${files.key}: ${(err as Error).message}`;
  }
}

/** Adds ` (line N)` to a field path when the YAML document has a node there. */
function yamlLines(doc: Document, lines: LineCounter): (p: readonly PathKey[]) => string {
  return (p) => {
    const node = doc.getIn(p.map((s) => (typeof s === 'symbol' ? String(s) : s)), true) as { range?: [number, number, number] } | undefined;
    const at = node?.range?.[0];
    return at === undefined ? formatPath(p) : `${formatPath(p)} (line ${lines.linePos(at).line})`;
  };
}

/**
 * YAML reads `0800123456` as the integer 800123456 and `+4930` as 4930: a dialled number or an
 * extension would silently lose its leading 0 or +. Integers written that way (and hex/octal) keep
 * their text; a numeric field then reports a type error instead of taking a surprising value.
 */
function keepNumberText(doc: Document): void {
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'number' && node.source !== undefined && /^(\+|0\d|0[xo])/i.test(node.source)) node.value = node.source;
    },
  });
}

/**
 * Load the configuration from `file` (`.yaml`, `.yml` or `.json`), or the embedded demo when no
 * file is given. Environment overrides (see {@link ENV_OVERRIDES}) apply in both cases.
 */
export function loadConfig(file?: string, opts: LoadOptions = {}): LoadResult {
  if (file === undefined) return parseConfig(demoConfig(), opts);
  const ext = path.extname(file).toLowerCase();
  if (ext !== '.yaml' && ext !== '.yml' && ext !== '.json') {
    return { ok: false, errors: [`${file}: unknown file type '${ext}'; use .yaml, .yml or .json`] };
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { ok: false, errors: [`${file}: cannot read: ${(err as Error).message}`] };
  }
  if (text.trim() === '') return { ok: false, errors: [`${file}: the file is empty`] };
  if (ext === '.json') {
    let input: unknown;
    try {
      input = JSON.parse(text);
    } catch (err) {
      return { ok: false, errors: [`${file}: not valid JSON: ${(err as Error).message}`] };
    }
    return parseConfig(input, opts);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return { ok: false, errors: doc.errors.map((e) => `${file}: not valid YAML: ${e.message.split('\n')[0]}`) };
  }
  keepNumberText(doc);
  return parseConfig(doc.toJS({ maxAliasCount: 100 }), { ...opts, describePath: yamlLines(doc, lines) });
}
