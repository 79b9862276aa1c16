/**
 * Prints docs/configuration.md: the prose below, then a reference table per section generated from
 * the schema's descriptions and defaults, so the reference cannot drift from the code (a test
 * compares the committed file with this output).
 *
 *     node --import tsx engine/config/doc.ts > docs/configuration.md
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ENV_OVERRIDES } from './load.ts';
import { configSchema } from './schema.ts';

/** The subset of JSON Schema that zod emits for this schema. */
interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  docDefault?: string;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  format?: string;
}

interface Row {
  field: string;
  type: string;
  default: string;
  description: string;
}

/** Names for the keys of maps, by the map's field name. */
const KEY_NAMES: Record<string, string> = { flows: '<flow>', surveys: '<survey>', numbers: '<number>', skills: '<skill>', options: '<digit>' };

function variants(s: JsonSchema): JsonSchema[] {
  return s.anyOf ?? s.oneOf ?? [s];
}

function isObject(s: JsonSchema): boolean {
  return s.properties !== undefined || (typeof s.additionalProperties === 'object');
}

function typeOf(s: JsonSchema): string {
  if (s.anyOf !== undefined || s.oneOf !== undefined) {
    return [...new Set(variants(s).map(typeOf))].join(' or ');
  }
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum !== undefined) return s.enum.map((v) => `\`${String(v)}\``).join(', ');
  const t = Array.isArray(s.type) ? s.type.join(' or ') : s.type ?? 'any';
  if (t === 'array') return `list of ${s.items === undefined ? 'any' : typeOf(s.items)}`;
  if (t === 'object') {
    const values = s.additionalProperties;
    if (s.properties !== undefined || typeof values !== 'object') return 'object';
    return isObject(values) || values.type === 'array' ? 'map' : `map of ${typeOf(values)}`;
  }
  const min = s.minimum ?? s.exclusiveMinimum;
  const max = s.maximum !== undefined && s.maximum < 1e15 ? s.maximum : undefined;
  if ((t === 'integer' || t === 'number') && (min !== undefined || max !== undefined)) {
    return `${t} ${min ?? ''}..${max ?? ''}`.replace(' ..', ' ≤ ').replace(/\.\.$/, ' or more');
  }
  return s.format === 'uri' ? 'URL' : t;
}

function defaultOf(s: JsonSchema, required: boolean): string {
  if (s.docDefault !== undefined) return s.docDefault;
  if (s.default !== undefined) return `\`${JSON.stringify(s.default)}\``;
  return required ? '**required**' : '—';
}

/** Depth-first rows of every field under `s`; objects recurse, unions document each object variant. */
function walk(s: JsonSchema, field: string, required: boolean, rows: Row[], described?: string): void {
  const description = s.description ?? described ?? '';
  const objects = variants(s).filter(isObject);
  const discriminated = objects.length > 1 && objects.every((o) => Object.values(o.properties ?? {}).some((p) => p.const !== undefined));
  if (field !== '' && (objects.length === 0 || description !== '')) {
    rows.push({ field: `\`${field}\``, type: objects.length > 0 && !discriminated ? typeOf({ ...s, description: undefined }) : typeOf(s), default: defaultOf(s, required), description });
  }
  const prefix = field === '' ? '' : `${field}.`;
  const done = new Set<string>();
  for (const o of objects) {
    const tag = discriminated ? Object.entries(o.properties ?? {}).find(([, p]) => p.const !== undefined) : undefined;
    for (const [name, p] of Object.entries(o.properties ?? {})) {
      if (done.has(name)) continue;
      const sub = `${prefix}${name}`;
      const req = o.required?.includes(name) === true && p.default === undefined;
      const inAll = objects.every((v) => v.properties?.[name] !== undefined);
      if (tag !== undefined && name === tag[0]) {
        rows.push({ field: `\`${sub}: ${JSON.stringify(p.const)}\``, type: 'variant', default: '', description: p.description ?? '' });
        continue;
      }
      if (inAll) done.add(name);
      walkChild(p, sub, req, rows, tag !== undefined && !inAll ? ` (${tag[0]} ${JSON.stringify(tag[1].const)})` : '');
    }
    if (typeof o.additionalProperties === 'object' && (isObject(o.additionalProperties) || o.additionalProperties.type === 'array')) {
      const last = field.split('.').pop() ?? '';
      walkChild(o.additionalProperties, `${prefix}${KEY_NAMES[last] ?? '<key>'}`, false, rows, '');
    }
  }
}

function walkChild(p: JsonSchema, field: string, required: boolean, rows: Row[], note: string): void {
  const items = variants(p).find((v) => v.type === 'array' && v.items !== undefined && variants(v.items).some(isObject));
  if (items?.items !== undefined) {
    rows.push({ field: `\`${field}\``, type: typeOf(p), default: defaultOf(p, required), description: (p.description ?? '') + note });
    walk(items.items, `${field}[]`, false, rows, '');
    return;
  }
  walk(p, field, required, rows, (p.description ?? '') + note);
  const last = rows[rows.length - 1];
  if (last !== undefined && last.field === `\`${field}\`` && note !== '' && !last.description.endsWith(note)) last.description += note;
}

function table(rows: Row[]): string {
  const esc = (t: string): string => t.replace(/\|/g, '\\|');
  return ['| field | type | default | description |', '| --- | --- | --- | --- |',
    ...rows.map((r) => `| ${esc(r.field)} | ${esc(r.type)} | ${esc(r.default)} | ${esc(r.description)} |`)].join('\n');
}

const INTRO = `# Configuration reference

onair reads one configuration file, YAML (\`.yaml\`, \`.yml\`) or JSON (\`.json\`), validates it once at
start and freezes it. Without \`--config\` it runs the embedded demo (\`engine/config/demo.ts\`): SIP on
127.0.0.1:5060 (UDP and TCP), HTTP on 127.0.0.1:8080, SQLite in \`./var/onair.db\`, a trunk \`local\`
admitting 127.0.0.1 and ::1, queues \`orders\`, \`service\` and \`vip\`, agents 1001-1010 with passwords
\`demo<extension>\`, number \`100\` → greeting then \`orders\`, \`200\` and anything else → the menu.

\`\`\`
onair --check-config onair.yaml   # OK and warnings (exit 0), or every problem (exit 2)
onair --config onair.yaml         # start
\`\`\`

Every field has a default except identities (ids, extensions, passwords, URLs); a file only writes
what differs. Unknown fields are errors (a typo never passes silently). Errors name the field, its
line in a YAML file, and the problem:

\`\`\`
onair.yaml: invalid configuration (2 problems):
  - sip.maxCals (line 3): unknown field
  - queues[1].strategy (line 8): expected one of longestIdle, leastCalls, leastTalkTime, skillLevel, roundRobin
\`\`\`

Once every field has the right type, the checks across fields run and report the same way
(\`flows.main[1].queue: 'orderz' is not a queue\`).

Relative paths (\`database.path\`, \`media.promptsDir\`, TLS files, \`crm.module\`) are relative to the working
directory. Numbers that are identities (\`id: 1001\`, \`extension: 1001\`) may be written unquoted, and
YAML integers written with a leading 0 or + (\`0800123456\`, \`+4930123\`) keep their text, so dialled
numbers survive without quotes (a numeric field written that way, \`port: 08080\`, is an error).

## Environment overrides

Read by \`engine/config\` only, after the file's defaults and before the checks (an override that
breaks a rule is reported like a bad field). Empty values are ignored.

| variable | field | effect |
| --- | --- | --- |
${ENV_OVERRIDES.map((e) => `| \`${e.name}\` | \`${e.field}\` | ${e.doc} |`).join('\n')}

## Checks beyond the types

Errors (the engine does not start):
- unique ids: queues, agents, extensions, trunks, SIP sockets, feature codes;
- references: agent skills must be used by a queue (its skill or an expansion step); overflow
  targets, flow \`queue\`/\`callback\`/\`vipQueue\`/\`goto\` targets, number → flow, \`callbacks.defaultQueue\`
  must exist; a queue may not overflow to itself;
- flows: the last step must end the flow (\`queue\`, \`callback\`, \`hangup\`, \`goto\`), nothing may
  follow such a step, and \`goto\` chains without a menu may not loop;
- prompts: every prompt a flow, hold music or announcement uses must exist as a WAV file (bare names
  in every language of \`media.languages\`); \`media.promptsDir\` must be a readable directory;
- files the engine opens at start: the TLS \`cert\`, \`key\` and \`ca\` of every tls socket must be
  readable, and the certificate and key must load together (the same secure context the transport
  builds); with \`crm.adapter: module\`, \`crm.module\` must be a readable file (whether it keeps the
  adapter contract is checked when the engine imports it at start); the SQLite \`database.path\` must
  be a writable file, or creatable (no file in the middle of its path, a writable folder above it);
- ports: \`media.rtpPortMin\` even, \`rtpPortMax\` odd and above it, the range large enough for the
  workers, no UDP SIP port inside it; \`sip.timers.T1 ≤ T2\`; registrar expiries in order;
- \`http.auth.tokens\` empty is allowed only when \`http.address\` is loopback (127.0.0.0/8, ::1):
  **with no token the API is open**, so it must not be reachable from the network.

Warnings (printed by \`--check-config\`, logged at start):
- **demo passwords (\`demo<extension>\`) while SIP listens on a non-loopback address** (anyone who can
  reach the port can register as an agent);
- a trunk admitting every address without digest auth; a webhook CRM over plain http to another host;
  short tokens and secrets; an RTP range smaller than two pairs per call at \`sip.maxCalls\`;
  \`media.address\` unset with a wildcard bind on a public SIP address;
- no trunks, agents or queues; a queue no agent can serve or no flow reaches; a flow no number uses;
  no \`numbers.default\`.

## IVR flows

A flow is a list of steps run in order. Each step is a mapping with exactly one key, its kind:

| step | value | what it does |
| --- | --- | --- |
| \`play\` | a prompt or a list of prompts | plays them, then the next step |
| \`menu\` | \`{ prompt, options, timeoutSeconds, retries, invalidPrompt }\` | plays \`prompt\` and waits for one DTMF digit; \`options\` maps a digit to an action; after a timeout or an invalid digit (\`invalidPrompt\` first) the menu repeats up to \`retries\` times, then the flow continues with the next step |
| \`queue\` | a queue id, or \`{ id, vipQueue }\` | enqueues the caller (callers with a CRM VIP level go to \`vipQueue\` when set); ends the flow |
| \`callback\` | a queue id, or \`{ queue, prompt }\` | creates a callback task in the queue, plays the confirmation (default \`callback-confirmed\`), hangs up; ends the flow |
| \`hangup\` | nothing, or \`{ prompt }\` | hangs up after an optional prompt; ends the flow |
| \`goto\` | a flow id | continues in that flow; ends this one |
| \`collect\` | \`{ into, prompt, minDigits, maxDigits, terminator, firstDigitTimeoutSeconds, interDigitTimeoutSeconds, retries, invalidPrompt, pattern }\` | plays \`prompt\` (a first digit stops it) and collects digits 0-9 until \`terminator\` (default \`#\`, not kept), \`maxDigits\`, or \`interDigitTimeoutSeconds\` of silence; fewer than \`minDigits\` or not matching \`pattern\` (a regular expression for the whole input) is invalid; no or invalid input repeats it up to \`retries\` times, then the flow goes on without the variable. The digits are kept in the call variable \`into\` |
| \`branch\` | \`{ when, then, else }\` | when every condition of \`when\` holds, goes to the action \`then\`; otherwise to \`else\`, or the next step when \`else\` is not set. A condition is \`{ var, equals }\`, \`{ var, matches }\` (a regular expression), \`{ var, present }\`, \`{ hours: [{ days, from, to }] }\` (office hours, local) or \`{ dates: [YYYY-MM-DD] }\` (holidays), with \`timeZone\` (default \`Asia/Shanghai\`) for the last two |

Menu options and a branch's \`then\` / \`else\` take the last four (the actions). A flow must end with
an action, so every caller has somewhere to go when a menu gets no valid answer.

Call variables (from \`collect\`) travel with the call: the agent's phone gets them as SIP headers
\`X-Onair-Var-<name>\`, the desktop's screen pop and the \`call.offered\` event as \`variables\`, and the
CDR as \`variables\` (docs/crm-adapter.md). \`--check-config\` refuses goto loops the caller cannot
leave, including loops through a branch before any step that waits.

Prompts are names in the prompt directory (\`media.promptsDir\`, the shipped set by default, see
\`media/prompts/README.md\`). A bare name (\`welcome\`) is played in the caller's language: the CRM's
language if it is in \`media.languages\`, otherwise \`media.language\`; it must exist as
\`<dir>/<lang>/<name>.wav\` for every language listed. A name with a slash (\`hold/music\`, \`en/welcome\`)
is one fixed file.

\`numbers\` maps the dialled number (as the trunk reads it) to a flow, with the TV programme and airing
recorded in the CDR; \`default\` catches every other number.

\`\`\`yaml
flows:
  main-menu:
    - play: welcome
    - menu:
        prompt: menu
        options:
          1: { queue: { id: orders, vipQueue: vip } }
          2: { queue: service }
          3: { callback: orders }
    - queue: orders            # no valid choice after the retries
  order-status:                # "press 4 for your order": key the order number, office hours only
    - branch:
        when: [{ hours: [{ days: [1, 2, 3, 4, 5, 6], from: '08:00', to: '22:00' }] }]
        then: { goto: order-number }
        else: { hangup: { prompt: goodbye } }
    - queue: service
  order-number:
    - collect: { into: orderNumber, prompt: enter-order, minDigits: 6, maxDigits: 14 }
    - queue: service           # with or without the number: the agent sees it when keyed
numbers:
  '0800123456': { flow: main-menu, programme: morning-show }
  default: { flow: main-menu }
\`\`\`

## IVR surveys

\`surveys\` are flows for dialled customers with no agent (campaigns of mode \`ivr\`,
docs/dialer.md): only \`play\`, \`collect\` (a question: its \`into\` names the answer, each once)
and \`hangup\` steps, at least one question. The campaign dials a contact, runs the survey on the
answered call and sends the answers to the CRM in the contact's \`campaign_result\`.

\`\`\`yaml
surveys:
  after-sale:
    - play: welcome
    - collect: { into: rating, prompt: rate-1-to-5, maxDigits: 1, terminator: null, pattern: '[1-5]' }
    - hangup: { prompt: goodbye }
\`\`\`

A complete deployment example: [examples/onair.yaml](examples/onair.yaml).

Editors can check and complete the file with the JSON Schema [config.schema.json](config.schema.json)
(generated from the same schema; with the YAML language server, start the file with
\`# yaml-language-server: $schema=<path to>/docs/config.schema.json\`). It checks structure, types,
ranges and ids as the engine does; rules across fields, addresses and files are \`--check-config\`'s.

## Reference

Generated from \`engine/config/schema.ts\` by \`npm run docs\` (\`engine/config/doc.ts\`).
`;

/** The whole of docs/configuration.md. */
export function configurationMarkdown(): string {
  const root = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    // In input mode zod leaves out the default of a field whose schema holds a pipe (the ids that
    // accept YAML numbers); the default is still there on the zod node.
    override: (ctx) => {
      if (ctx.zodSchema._zod.def.type === 'default' && ctx.jsonSchema.default === undefined) {
        ctx.jsonSchema.default = (ctx.zodSchema as z.core.$ZodDefault)._zod.def.defaultValue;
      }
    },
  }) as JsonSchema;
  const sections: string[] = [INTRO];
  for (const [name, section] of Object.entries(root.properties ?? {})) {
    const rows: Row[] = [];
    walkChild(section, name, false, rows, '');
    const [head, ...rest] = rows;
    const dflt = head !== undefined && head.default !== '`{}`' && head.default !== '—' ? ` Default: ${head.default}.` : '';
    sections.push(`### ${name}\n\n${head?.description ?? ''}${dflt}\n\n${table(rest.length > 0 ? rest : rows)}\n`);
  }
  return sections.join('\n');
}

if (process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.stdout.write(configurationMarkdown());
}
