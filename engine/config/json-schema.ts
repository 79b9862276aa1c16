/**
 * JSON Schema (2020-12) of the configuration file, generated from the zod schema so it cannot
 * drift: editors validate and complete `onair.yaml` with it (`# yaml-language-server: $schema=`).
 * Committed as docs/config.schema.json; `npm run docs` regenerates it, a test checks it.
 *
 * What zod's generation misses, added here: text fields the loader also takes as numbers
 * (`id: 1001`, see NUMBERS_AS_TEXT in schema.ts), and defaults that depend on the machine
 * (`media.workers`: CPU cores) are left out rather than frozen at the generating machine's value.
 * Rules across fields, addresses and prompt files stay with `onair --check-config`.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema, NUMBERS_AS_TEXT } from './schema.ts';

type Json = Record<string, unknown>;

/** Keys a text schema's JSON form carries that belong to the field, not to its text form. */
const FIELD_KEYS = ['description', 'default', 'title', 'examples'];

/** JSON Schema 2020-12 formats zod emits that validators know. */
const STANDARD_FORMATS = new Set(['uri', 'email', 'uuid', 'date-time', 'date', 'time', 'duration', 'ipv4', 'ipv6', 'hostname']);

/** The configuration file's JSON Schema. */
export function configJsonSchema(): Json {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      const def = ctx.zodSchema._zod.def as { type: string; out?: z.ZodType; defaultValue?: unknown };
      const json = ctx.jsonSchema as Json;
      // As in doc.ts: in input mode zod drops the default of a field whose schema holds a pipe.
      if (def.type === 'default' && json.default === undefined) json.default = def.defaultValue;
      if ('docDefault' in json) {
        delete json.docDefault;
        delete json.default;
      }
      // zod names its string checks as formats (`starts_with`) beside the pattern that enforces
      // them; JSON Schema validators know only their standard formats.
      if (typeof json.format === 'string' && !STANDARD_FORMATS.has(json.format) && typeof json.pattern === 'string') delete json.format;
      const numbers = def.type === 'pipe' && def.out !== undefined ? NUMBERS_AS_TEXT.get(def.out) : undefined;
      if (numbers !== undefined) {
        const text: Json = {};
        for (const [k, v] of Object.entries(json)) {
          if (!FIELD_KEYS.includes(k)) {
            text[k] = v;
            delete json[k];
          }
        }
        json.anyOf = [text, numbers];
      }
    },
  }) as Json;
  return {
    $schema: schema.$schema,
    title: 'onair configuration',
    description: 'The onair engine configuration file (docs/configuration.md). Generated from engine/config/schema.ts by engine/config/json-schema.ts.',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

/** The committed file's text: the schema, two-space indented, one newline at the end. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(configJsonSchemaText());
}
