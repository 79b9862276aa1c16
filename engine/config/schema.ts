/**
 * The one schema of the engine's configuration (CONVENTIONS.md 11): every field has a default (or is
 * an identity that cannot have one, such as an agent's extension) and a one-line description, which
 * `doc.ts` turns into docs/configuration.md. Structure and value ranges are checked here; checks that
 * span fields (references, uniqueness, prompt files) live in `check.ts`.
 */
import { isIP } from 'node:net';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { defaultPromptDir, TTS_DEFAULTS } from '../../media/index.ts';
import { CidrError, CidrMatcher } from '../trunks/index.ts';
import { parseTrunkAddress } from '../outbound/index.ts';
import { isHostSyntax } from '../sip/index.ts';
import { DEFAULT_DIALING_POLICY, clockMinutes, isTimeZone, type CallingWindow } from '../callbacks/index.ts';
import { NOTIFY_EVENTS, NOTIFY_LANGUAGES } from '../../crm-adapter/shop/index.ts';

// ------------------------------------------------------------------ building blocks

/**
 * True for an address or CIDR the trunk ACL accepts (`10.0.0.0/8`, `2001:db8::/32`, `::1`): checked
 * with the trunks' own parser, so what the configuration accepts is exactly what the ACL can match.
 */
export function isCidr(text: string): boolean {
  try {
    new CidrMatcher([{ cidr: text, value: true }]);
    return true;
  } catch (err) {
    if (err instanceof CidrError) return false;
    throw err;
  }
}

/** Loopback addresses: 127.0.0.0/8 and ::1 (the only places an unauthenticated API may listen). */
export function isLoopback(address: string): boolean {
  return address === '::1' || address === 'localhost' || (isIP(address) === 4 && address.startsWith('127.'));
}

const ipAddress = z.string().refine((s) => isIP(s) !== 0, { message: 'expected an IPv4 or IPv6 address literal' });
const cidr = z.string().refine(isCidr, { message: 'expected an IPv4 or IPv6 address or CIDR (10.0.0.0/8, 2001:db8::/32)' });
/** 0 lets the system choose a free port (tests); the bound port is logged. */
const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().min(1);
const nonNegativeInt = z.number().int().min(0);
/** ACD durations: null means "unlimited" where the ACD's default is unlimited. */
const nullableMs = nonNegativeInt.nullable();
/** YAML reads `id: 1001` as a number; identities are text, so numbers are taken as their digits. */
const asText = (v: unknown): unknown => (typeof v === 'number' ? String(v) : v);
/**
 * For each text schema that also takes numbers through `asText`: the JSON Schema of exactly the
 * numbers whose `String(n)` it accepts (json-schema.ts offers it beside the text form, so the
 * generated schema takes `id: 1001` as the loader does).
 */
export const NUMBERS_AS_TEXT = new Map<z.ZodType, Record<string, unknown>>();
function numberAsText<T extends z.ZodType>(text: T, numbers: Record<string, unknown>): z.ZodPreprocess<T, unknown> {
  NUMBERS_AS_TEXT.set(text, numbers);
  return z.preprocess(asText, text);
}
const idPattern = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'expected an id: letters, digits, _ . - (not first)');
// String(n) starts with a digit for n >= 0 and uses only digits, '.', 'e' and '-' below 1e21 ('1e-7');
// from 1e21 on it has a '+' ('1e+21').
const id = numberAsText(idPattern, { type: 'number', minimum: 0, exclusiveMaximum: 1e21 });
/**
 * A prompt reference. A bare name (`welcome`) is played in the caller's language
 * (`<promptsDir>/<lang>/welcome.wav`); a name with a slash (`hold/music`, `en/welcome`) is a fixed file.
 */
const promptName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_/-]*$/, 'expected a prompt name such as welcome or hold/music');
// Integers up to 16 digits; 9999999999999999 is not a double (it reads as 1e16, 17 digits).
const dialString = numberAsText(z.string().regex(/^[0-9*#]{1,16}$/, 'expected 1-16 of 0-9 * #'), { type: 'integer', minimum: 0, maximum: 9999999999999998 });

/** Log levels of pino, `silent` included. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** The pino levels a configuration may choose. */
export type LogLevel = (typeof LOG_LEVELS)[number];
/** Log level (also used for the `ONAIR_LOG_LEVEL` override). */
export const logLevelSchema = z.enum(LOG_LEVELS);
/** A TCP/UDP port, 0 = any free port (also used for the `ONAIR_*_PORT` overrides). */
export const portSchema = port;

/** The ACD's built-in strategies, spelled as in `engine/acd` (docs/acd.md). */
export const STRATEGIES = ['longestIdle', 'leastCalls', 'leastTalkTime', 'skillLevel', 'roundRobin'] as const;

// ------------------------------------------------------------------ sip

const tlsFiles = z.strictObject({
  cert: z.string().min(1).describe('PEM certificate chain file.'),
  key: z.string().min(1).describe('PEM private key file.'),
  ca: z.string().min(1).nullable().default(null).describe('PEM CA bundle for client certificates; null = none.'),
});

const listenEntry = z.strictObject({
  transport: z.enum(['udp', 'tcp', 'tls']).describe('Transport of this socket.'),
  address: ipAddress.describe('IP literal to bind (0.0.0.0 or :: for every interface).'),
  port: port.default(5060).describe('Port to bind; 0 = any free port.'),
  tls: tlsFiles.nullable().default(null).describe('Certificate files; required when transport is tls.'),
}).refine((l) => l.transport !== 'tls' || l.tls !== null, { message: 'transport tls needs tls: { cert, key }', path: ['tls'] })
  // The same rule for the JSON Schema (json-schema.ts).
  .meta({ if: { properties: { transport: { const: 'tls' } } }, then: { required: ['tls'], properties: { tls: { type: 'object' } } } });

const sipSection = z.strictObject({
  listen: z.array(listenEntry).min(1).default([
    { transport: 'udp', address: '127.0.0.1', port: 5060, tls: null },
    { transport: 'tcp', address: '127.0.0.1', port: 5060, tls: null },
  ]).describe('Sockets the SIP stack listens on.'),
  timers: z.strictObject({
    T1: positiveInt.default(500).describe('RFC 3261 T1, round-trip estimate (ms).'),
    T2: positiveInt.default(4000).describe('RFC 3261 T2, longest retransmit interval (ms).'),
    T4: positiveInt.default(5000).describe('RFC 3261 T4, longest time a message lives in the network (ms).'),
  }).prefault({}).describe('RFC 3261 §17 timer bases.'),
  limits: z.strictObject({
    maxMessageBytes: z.number().int().min(1024).max(65535).default(65535).describe('Largest SIP message accepted (bytes).'),
    maxHeaders: positiveInt.default(100).describe('Most header fields in one message.'),
    maxHeaderBytes: z.number().int().min(256).default(8192).describe('Longest header field including folded lines (bytes).'),
    maxConnectionBuffer: z.number().int().min(65536).default(262144).describe('Unframed bytes a TCP/TLS connection may hold before it is closed.'),
    maxConnections: positiveInt.default(10000).describe('Most concurrent TCP/TLS connections.'),
    connectionIdleSeconds: positiveInt.default(600).describe('A TCP/TLS connection idle this long is closed (s).'),
    maxConnectionsPerSource: positiveInt.default(100).describe('Most concurrent inbound TCP/TLS connections from one source address; more are closed at accept.'),
    firstMessageTimeoutSeconds: positiveInt.default(10).describe('An inbound TCP/TLS connection that has not completed its first SIP message (or TLS handshake) within this time is closed (s; slowloris).'),
    maxServerTransactions: positiveInt.default(50000).describe('Most server transactions waiting for a final response; above it new requests get 503 (answered ones absorbing retransmissions are not counted).'),
    maxServerTransactionsPerSource: positiveInt.default(20000).describe('Most unanswered server transactions from one source address (a carrier trunk sends everything from one; early-media callers keep theirs open).'),
    maxRetainedNonInviteTransactions: positiveInt.default(20000).describe('Most answered non-INVITE server transactions kept over UDP to absorb retransmissions (timer J, 32 s); above it the oldest is ended early and counted in onair_sip_transactions_evicted_total. 20000 holds 625 non-INVITE requests/s; INVITE transactions are never evicted.'),
  }).prefault({}).describe('Hard limits on untrusted input (CONVENTIONS.md 5).'),
  admission: z.strictObject({
    enabled: z.boolean().default(true).describe('Per-source admission on: requests over a limit are dropped without an answer, before a transaction exists.'),
    requestsPerSecond: z.number().positive().default(50).describe('New requests (any method, outside established dialogs) per second from one source address.'),
    requestBurst: positiveInt.default(100).describe('Bucket size of requestsPerSecond (requests admitted at once).'),
    invitesPerSecond: z.number().positive().default(10).describe('New INVITEs per second from one source without a trunk ceiling; a trunk address gets its trunks[].maxCallsPerSecond.'),
    inviteBurst: positiveInt.default(20).describe('Bucket size of invitesPerSecond.'),
    registersPerSecond: z.number().positive().default(2).describe('REGISTERs per second from one source address (a phone sends a few a minute).'),
    registerBurst: positiveInt.default(20).describe('Bucket size of registersPerSecond.'),
    blockAfterDrops: positiveInt.default(100).describe('Admission drops within blockWindowSeconds that block a source.'),
    blockWindowSeconds: positiveInt.default(10).describe('Window of blockAfterDrops (s).'),
    blockSeconds: positiveInt.default(300).describe('How long a blocked source has every request dropped (s).'),
    blockTrunkSources: z.boolean().default(false).describe('Also block trunk addresses (by default a carrier over its ceiling is limited, never blocked).'),
    maxSources: positiveInt.default(50000).describe('Most source addresses with bucket state (least recently seen evicted first).'),
    maxBlockedSources: positiveInt.default(10000).describe('Most blocked source addresses remembered (oldest evicted first).'),
    ipv6PrefixLength: z.number().int().min(16).max(128).default(64).describe('IPv6 sources share one set of buckets and one block per prefix of this length (bits): a host owns a whole /64 and can change its address at will.'),
    exempt: z.array(ipAddress).default(['127.0.0.1', '::1']).describe('Source addresses never limited: the host itself (a co-located SIP proxy, sipp benches) by default; add a SIP proxy in front of onair, which sends everything from one address.'),
  }).prefault({}).describe('Per-source admission: token buckets per source IP, fail2ban-style blocks (docs/operations.md, Limits and admission).'),
  maxCalls: positiveInt.default(1000).describe('Calls in progress above which a new INVITE gets 503 with Retry-After.'),
  retryAfterSeconds: positiveInt.default(5).describe('Retry-After of those 503 answers (s).'),
  product: z.string().min(1).default('onair').describe('User-Agent / Server header value.'),
}).prefault({}).describe('SIP transports, timers and limits.');

// ------------------------------------------------------------------ http

const httpSection = z.strictObject({
  address: ipAddress.default('127.0.0.1').describe('IP literal the HTTP API binds.'),
  port: port.default(8080).describe('HTTP port; 0 = any free port.'),
  auth: z.strictObject({
    tokens: z.array(z.union([
      z.string().min(1),
      z.strictObject({
        token: z.string().min(1).describe('The bearer token.'),
        scopes: z.array(z.enum(['read', 'calls', 'agents', 'admin', 'shop'])).min(1).optional()
          .describe('What the token reaches (docs/desktop.md, Integration tokens): read, calls, agents, admin, shop; absent = everything.'),
      }),
    ])).default([]).describe('Bearer tokens accepted: a string (full access, as before scopes existed) or { token, scopes }; empty = API open, allowed only on a loopback address.'),
    openPaths: z.array(z.string().startsWith('/')).default(['/healthz', '/metrics']).describe('Paths served without a token.'),
  }).prefault({}).describe('Token authentication of the API.'),
  tls: z.strictObject({
    certPath: z.string().min(1).describe('PEM certificate chain file.'),
    keyPath: z.string().min(1).describe('PEM private key file.'),
  }).nullable().default(null).describe('HTTPS for the API, the event stream and the UI (the session cookie then gets Secure); null = plain HTTP.'),
}).prefault({}).describe('HTTP API, WebSocket events and /metrics.');

// ------------------------------------------------------------------ media

const mediaSection = z.strictObject({
  rtpPortMin: z.number().int().min(1024).max(65534).default(20000).describe('First RTP port (even).'),
  rtpPortMax: z.number().int().min(1025).max(65535).default(29999).describe('Last port of the range (odd: the range holds whole RTP/RTCP pairs).'),
  workers: positiveInt.default(() => availableParallelism())
    .describe('Media worker threads; default: the number of CPU cores.').meta({ docDefault: 'CPU cores' }),
  bindAddress: ipAddress.default('0.0.0.0').describe('IP literal RTP sockets bind to.'),
  address: ipAddress.nullable().default(null).describe('Address written in SDP; null = the bind address (127.0.0.1 for 0.0.0.0).'),
  promptsDir: z.string().min(1).nullable().default(null).transform((dir) => path.resolve(dir ?? defaultPromptDir()))
    .describe('Prompt directory (<dir>/<lang>/<name>.wav); null = the shipped set. Resolved to an absolute path.'),
  language: z.string().min(1).default('en').describe('Language of prompts for callers whose language the CRM does not know.'),
  languages: z.array(z.string().min(1)).min(1).default(['en', 'zh']).describe('Languages callers may hear; every localised prompt must exist in each.'),
  rtpTimeoutSeconds: nonNegativeInt.default(30).describe('A call whose leg receives no RTP this long is hung up (s); 0 = never.'),
  inbandDtmf: z.boolean().default(false).describe('Detect DTMF tones in the audio as well as RFC 4733 events.'),
  maxStreams: z.union([positiveInt, z.literal('auto')]).nullable().default('auto')
    .describe('Media capacity: most callers given media at once (IVR, hold audio; 50 packets/s each; bridged calls do not count); beyond it a caller waits per its trunk\'s overload policy (docs/operations.md, Overload). \'auto\' = measured at start: each worker times a burst of datagrams and the capacity is workers x capacityCoreShare / (cost per datagram x 50/s); null = no limit but the RTP ports.'),
  capacityCoreShare: z.number().gt(0).max(1).default(0.5)
    .describe("With maxStreams 'auto': the share of one core each media worker may spend pacing IVR and hold audio; the rest is left to signalling, the ACD and bridged calls."),
  spareLegs: nonNegativeInt.max(1000).default(32)
    .describe("RTP sockets each worker keeps bound ahead of demand, so a new call's media port is known without waiting for the worker; 0 = bind per call."),
  relay: z.enum(['onair', 'rtpengine']).default('onair')
    .describe("Who relays the audio of a caller bridged to an agent: 'onair' (the media workers) or 'rtpengine' (both phones are moved to it by re-INVITE, so their audio survives this process; docs/operations.md, Running with rtpengine). IVR, hold music, recording and monitoring stay on onair's legs."),
  rtpengine: z.strictObject({
    address: ipAddress.default('127.0.0.1').describe("rtpengine's ng control address (its --listen-ng)."),
    port: z.number().int().min(1).max(65535).default(2223).describe("rtpengine's ng control port (UDP)."),
    timeoutMs: positiveInt.default(1000)
      .describe("An ng request unanswered this long (ms; sent again every quarter of it) leaves the bridged call on onair's relay (counted in onair_rtpengine_fallbacks_total)."),
  }).prefault({}).describe("The rtpengine of media.relay 'rtpengine' (read only then)."),
  tts: z.strictObject({
    dir: z.string().min(1).default('./var/tts').transform((dir) => path.resolve(dir))
      .describe('Cache directory of run-time prompts (<dir>/<hash>.wav, read as tts/<hash>). Resolved to an absolute path.'),
    voices: z.record(z.string().min(1), z.string().regex(/^[A-Za-z0-9+_-]{1,40}$/)).default({ ...TTS_DEFAULTS.voices })
      .describe('Language → espeak-ng voice of run-time prompts; a language without one gets its fallback prompt.'),
    rate: z.number().int().min(80).max(450).default(TTS_DEFAULTS.rate).describe('espeak-ng speed, words per minute (the shipped set: 150).'),
    maxEntries: positiveInt.default(TTS_DEFAULTS.maxEntries).describe('Most run-time prompts kept on disk; the least recently used are deleted first.'),
    maxMegabytes: positiveInt.default(TTS_DEFAULTS.maxBytes / (1024 * 1024)).describe('Most disk space the run-time prompts take (MB).'),
    concurrency: positiveInt.max(16).default(TTS_DEFAULTS.concurrency).describe('Renders at once (espeak-ng then sox, child processes off the main thread).'),
    timeoutMs: positiveInt.default(TTS_DEFAULTS.timeoutMs).describe('A render (waiting for a slot included) not done this long gives the caller the fallback prompt (ms).'),
    maxChars: positiveInt.max(2000).default(TTS_DEFAULTS.maxChars).describe('Longest text spoken (characters); catalog text past it is cut.'),
  }).prefault({}).describe('Run-time prompts: catalog text spoken by espeak-ng and cached (media/prompts/README.md, Run-time prompts).'),
}).prefault({}).describe('RTP, media workers and prompts.');

// ------------------------------------------------------------------ database and CRM

const sqlitePath = z.string().min(1).default('./var/onair.db');
const sqliteSynchronous = z.enum(['normal', 'full']).default('normal').describe('normal survives a process crash; full also a power loss.');
const commitWindowMs = nonNegativeInt.max(50).default(5).describe('Writes are committed together at most this long after the first of them; 0 = at the end of each event-loop turn. A write counts as stored (CDR accepted, callback kept) only once committed (ms).');
const databaseSection = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('sqlite').describe('Embedded SQLite in WAL mode.'),
    path: sqlitePath.describe('Database file (its folder is created).'),
    synchronous: sqliteSynchronous,
    commitWindowMs,
  }),
  z.strictObject({
    kind: z.literal('postgres').describe('PostgreSQL for the store (outbox, callback tasks and attempts, call journal, do-not-call list, agent registrations); the engine\'s other tables stay in the SQLite file `path` (docs/operations.md, Running on PostgreSQL).'),
    url: z.string().startsWith('postgres').describe('Connection URL, postgres://user:pass@host:port/db.'),
    poolSize: positiveInt.max(100).default(4).describe('Connections to PostgreSQL (one carries the writes at a time, the others the reads).'),
    commitWindowMs,
    path: sqlitePath.describe('SQLite file of what is not in PostgreSQL yet (user accounts and sessions, the built-in sqlite CRM, ...; its folder is created).'),
    synchronous: sqliteSynchronous,
  }),
]).prefault({ kind: 'sqlite' }).describe('Where the outbox, callbacks and call journal are kept.');

const crmCommon = {
  lookupDeadlineMs: positiveInt.default(300).describe('A caller look-up slower than this is treated as an unknown caller (ms).'),
  lookupCacheSeconds: nonNegativeInt.default(60).describe('How long a look-up result is reused for the same number; 0 = no cache (s).'),
  blacklistAction: z.enum(['reject-603', 'reject-486', 'announce']).default('reject-603')
    .describe('What a blacklisted caller gets: 603 Decline, 486 Busy Here, or the goodbye prompt then hang-up.'),
  vipPriorityPerLevel: nonNegativeInt.default(10).describe('0 turns VIP priority off; any other value gives a caller its CRM VIP level as ACD priority (only the order of priorities matters).'),
};

// The shop's customer notifications (docs/shop.md, Notifications) and couriers' webhook.
const shopNotifications = z.strictObject({
  shopName: z.string().min(1).max(40).default('onair').describe('The shop\'s name in notifications: 【name】 before an SMS, the signature of an e-mail.'),
  defaultLanguage: z.enum(NOTIFY_LANGUAGES).default('zh-CN').describe('Language of the notifications of a customer whose language is not set (zh-CN or en; a customer\'s zh* is zh-CN, any other en).'),
  events: z.array(z.enum(NOTIFY_EVENTS)).default([...NOTIFY_EVENTS]).describe('Order steps that notify the customer: create, review, ship, deliver, refuse, settle, return, exchange, cancel.'),
  email: z.strictObject({
    host: z.string().min(1).describe('SMTP server (host name or address).'),
    port: z.number().int().min(1).max(65535).default(587).describe('SMTP port: 587 (submission, STARTTLS), 465 (with secure), 25.'),
    secure: z.boolean().default(false).describe('TLS from the first byte (port 465); false = plain, upgraded by STARTTLS when the server offers it.'),
    auth: z.strictObject({
      user: z.string().min(1).describe('SMTP user.'),
      pass: z.string().min(1).describe('SMTP password.'),
    }).nullable().default(null).describe('SMTP authentication; null = none.'),
    from: z.string().min(3).max(200).describe('The From of the e-mails, e.g. "东方购物 <shop@example.com>".'),
    timeoutMs: positiveInt.default(10_000).describe('Connection, greeting and socket timeout of one delivery (ms).'),
  }).nullable().default(null).describe('E-mail by SMTP to the customer\'s address; null = no e-mails.'),
  sms: z.strictObject({
    url: z.url({ protocol: /^https?$/ }).describe('The HTTP SMS gateway: each SMS is a JSON POST here; 2xx = accepted, 408/429/5xx = tried again, other 4xx = failed.'),
    token: z.string().min(1).nullable().default(null).describe('Sent as Authorization: Bearer <token>; null = no Authorization header.'),
    body: z.json().default({ to: '{to}', text: '{text}', ref: '{id}' }).describe('The JSON body; in its strings {to} (the number), {text} (the message) and {id} (the notification id, also the Idempotency-Key header) are replaced.'),
    timeoutMs: positiveInt.default(5000).describe('Timeout of one POST (ms).'),
  }).nullable().default(null).describe('SMS through an HTTP gateway to the customer\'s first number (asked for in the IVR, a flow\'s query orderSms: the order\'s delivery phone); null = no SMS.'),
  retry: z.strictObject({
    baseDelayMs: positiveInt.default(5000).describe('Delay after the first failed attempt (ms); doubled each further failure, less up to 20% at random.'),
    maxDelayMs: positiveInt.default(3_600_000).describe('Longest delay between attempts (ms).'),
    maxAttempts: positiveInt.default(20).describe('A notification is failed (kept, not sent) after this many failed attempts.'),
  }).prefault({}).describe('Retries of a notification the server or gateway did not take.'),
  pollMs: positiveInt.default(5000).describe('How often pending notifications are looked for besides the order steps that write them (ms).'),
}).prefault({}).describe('Customer notifications written with each order step, delivered durably (docs/shop.md, Notifications).');

const logisticsWebhook = z.strictObject({
  secrets: z.record(z.string().regex(/^[A-Za-z0-9_-]{1,32}$/), z.string().min(16)).default({})
    .describe('Signing secret (16 characters or more) per courier id (SF, EMS, POST ...): POST /api/v1/shop/logistics/webhook/<courier>; a courier without one is refused.'),
  toleranceSeconds: positiveInt.max(3600).default(300).describe('How far a delivery\'s X-Onair-Timestamp may be from now (s).'),
}).prefault({}).describe('Couriers\' webhook of parcel reports, HMAC-signed (docs/shop.md, Courier webhook).');

const crmSection = z.discriminatedUnion('adapter', [
  z.strictObject({
    adapter: z.literal('sqlite').describe('The built-in CRM in the engine database.'),
    strikeThreshold: positiveInt.default(3).describe('Strikes after which a number is blacklisted.'),
    seedDemo: z.boolean().default(false).describe('Insert the demo customers at start.'),
    ...crmCommon,
  }),
  z.strictObject({
    adapter: z.literal('webhook').describe('JSON POSTs to your CRM, HMAC-signed.'),
    url: z.url({ protocol: /^https?$/ }).describe('Where events and CDRs are POSTed.'),
    lookupUrl: z.url({ protocol: /^https?$/ }).nullable().default(null).describe('Where look-ups are POSTed; null = every caller unknown.'),
    queryUrl: z.url({ protocol: /^https?$/ }).nullable().default(null).describe("Where the IVR's self-service queries (flow step query) are POSTed; null = none (a query step needs it)."),
    secret: z.string().min(1).describe('Shared secret of the HMAC-SHA256 signature.'),
    timeoutMs: positiveInt.default(5000).describe('Timeout of one event or CDR POST (ms).'),
    lookupTimeoutMs: positiveInt.default(1000).describe('Timeout of one look-up POST (ms).'),
    ...crmCommon,
  }),
  z.strictObject({
    adapter: z.literal('shop').describe('The reference TV-shopping CRM (docs/shop.md): customers, catalog, orders; a database of its own.'),
    path: z.string().min(1).nullable().default(null).describe('SQLite file of the shop; null = shop.db in the folder of database.path (:memory: with an in-memory engine database).'),
    postgresUrl: z.string().startsWith('postgres').nullable().default(null).describe('PostgreSQL connection URL (postgres://user:pass@host/db); set, the shop keeps its data there instead of SQLite.'),
    poolSize: positiveInt.max(100).default(10).describe('Connections of the PostgreSQL pool.'),
    strikeThreshold: positiveInt.default(3).describe('Strikes after which a number is blacklisted.'),
    seedDemo: z.boolean().default(false).describe('Insert the demo customers, products and promotions at start (where missing).'),
    shipper: z.strictObject({
      name: z.string().min(1).max(64).describe('Sender name printed on shipping documents.'),
      phone: z.string().min(3).max(32).describe('Sender phone number.'),
      address: z.string().min(1).max(200).describe('Sender address.'),
    }).nullable().default(null).describe('The sender on shipping documents; null = shipping documents are refused (SHOP_ERR_CONFIG) until it is set.'),
    cjkFont: z.string().min(1).default('/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc').describe('CJK font embedded in shipping documents (Debian fonts-noto-cjk); missing = documents refused (SHOP_ERR_FONT), never printed garbled.'),
    notifications: shopNotifications,
    logisticsWebhook,
    ...crmCommon,
  }),
  z.strictObject({
    adapter: z.literal('module').describe('Your own adapter: a JavaScript module implementing the contract (docs/crm-adapter.md).'),
    module: z.string().min(1).describe('The module file (.js or .mjs; relative to the working directory); its default export is the adapter or a factory taking crm.options.'),
    options: z.record(z.string(), z.unknown()).default({}).describe("Passed to the module's factory (URLs, tokens: whatever the adapter needs)."),
    ...crmCommon,
  }),
]).prefault({ adapter: 'sqlite' }).describe('The CRM adapter: caller look-up, events and CDRs.');

// ------------------------------------------------------------------ trunks, agents, registrar

const trunk = z.strictObject({
  id: id.describe('Trunk id (in logs, metrics and CDRs).'),
  name: z.string().nullable().default(null).describe('Display name; null = the id.'),
  allow: z.array(cidr).min(1).describe('Source addresses admitted (CIDR, IPv4 or IPv6).'),
  auth: z.strictObject({
    username: z.string().min(1).describe('Digest user name.'),
    password: z.string().min(1).describe('Digest password.'),
    realm: z.string().min(1).default('onair').describe('Digest realm.'),
  }).nullable().default(null).describe('Digest credentials the carrier must present; null = address ACL only.'),
  earlyMedia: z.boolean().default(false).describe('Queue in early media (183) instead of answering at once (200).'),
  answerAfterSeconds: positiveInt.default(45).describe("With earlyMedia, answer after this long, before the carrier's early-media limit (s)."),
  callerFrom: z.enum(['pai', 'from']).default('pai').describe('Caller number from P-Asserted-Identity (falling back to From) or From.'),
  dialledFrom: z.enum(['ruri', 'to']).default('ruri').describe('Dialled number from the Request-URI or the To header.'),
  codecs: z.array(z.enum(['PCMU', 'PCMA'])).min(1).default(['PCMU', 'PCMA']).describe('Codecs offered/accepted, in preference order.'),
  inbandDtmf: z.boolean().nullable().default(null).describe('In-band DTMF detection for this trunk; null = media.inbandDtmf.'),
  maxCallsPerSecond: z.number().positive().nullable().default(null).describe("The carrier's contracted calls per second: INVITE ceiling of the trunk's source addresses; null = the SIP admission default."),
  overload: z.strictObject({
    whenMediaFull: z.enum(['ringing', 'refuse']).default('ringing')
      .describe("At media.maxStreams: 'ringing' holds the caller in 180 Ringing without media (the carrier plays ringback) in its queue; 'refuse' answers 503 with Retry-After and keeps a callback task."),
    maxRingingSeconds: positiveInt.default(50)
      .describe("Longest a caller is held in ringing, below the carrier's own limit on unanswered calls (s)."),
    atRingingLimit: z.enum(['refuse', 'media']).default('refuse')
      .describe("A caller still held at maxRingingSeconds: 'refuse' answers 503 with Retry-After and keeps a callback task; 'media' gives them media beyond media.maxStreams."),
  }).prefault({}).describe('What a caller on this trunk gets when the media capacity is reached (docs/operations.md, Overload).'),
});

const agent = z.strictObject({
  id: id.describe('Agent id (ACD, API, CDRs).'),
  extension: numberAsText(z.string().regex(/^[0-9]{2,10}$/, 'expected 2-10 digits'), { type: 'integer', minimum: 10, maximum: 9999999999 }).describe('SIP user the phone registers as (sip:<extension>@...).'),
  password: numberAsText(z.string().min(1), { type: 'number' }).describe('Digest password of the phone.'),
  name: z.string().nullable().default(null).describe('Display name; null = the id.'),
  skills: z.record(idPattern, z.number().int().min(1).max(100)).default({}).describe('Skill → level (1..100, higher is better).'),
  team: id.nullable().default(null).describe('Team of the agent: supervisors with users.accounts[].teams see only their teams.'),
  autoReadyOnRegister: z.boolean().default(false).describe('Log in as available when the phone registers.'),
  autoAnswer: z.boolean().default(false).describe('The phone answers offers by itself: the dialer\'s INVITEs carry Call-Info answer-after=0 (predictive callback dialing needs it, docs/dialer.md).'),
  maxRegistrations: z.number().int().min(1).max(10).default(3).describe('Most contacts the phone may register.'),
});

const registrarSection = z.strictObject({
  realm: z.string().min(1).default('onair').describe('Digest realm of agent phones.'),
  minExpires: positiveInt.default(60).describe('Shorter registrations get 423 Interval Too Brief (s).'),
  maxExpires: positiveInt.default(3600).describe('Longer registrations are cut to this (s).'),
  defaultExpires: positiveInt.default(3600).describe('Expiry when the phone asks none (s).'),
  nonceTtlSeconds: positiveInt.default(300).describe('Lifetime of a digest nonce; an older one gets 401 stale=true (s).'),
  allowNoQop: z.boolean().default(false).describe('Accept RFC 2069 digest answers without qop=auth (old phones), each nonce once; off: refused with 403.'),
  sourceBlock: z.strictObject({
    maxFailures: nonNegativeInt.default(20).describe('Failed authentications tolerated from one source address within the window; the next one blocks it.'),
    windowSeconds: positiveInt.default(60).describe('Counting window of failures per source (s).'),
    blockSeconds: nonNegativeInt.default(300).describe('How long a blocked source is refused unread (503) (s).'),
  }).prefault({}).describe('Per-source limit on failed REGISTER authentications.'),
  accountLockout: z.strictObject({
    maxFailures: nonNegativeInt.default(10).describe('Failed authentications of one agent account, from any sources, tolerated within the window; the next one locks it.'),
    windowSeconds: positiveInt.default(600).describe('Counting window of failures per account (s).'),
    lockSeconds: nonNegativeInt.default(900).describe("How long a locked account's credentials are refused (503), right password included, except from its registered phone's address (s)."),
  }).prefault({}).describe('Per-account lockout against guesses spread over many addresses.'),
  refusalIntervalMs: nonNegativeInt.default(1000).describe('Least time between two refusals (503) answered to one source; the others are dropped unanswered (ms).'),
}).prefault({}).describe('Registrar of agent phones.');

// ------------------------------------------------------------------ queues (ACD QueueConfig)

const skillTarget = z.strictObject({
  skill: id.describe('Skill name.'),
  minLevel: z.number().int().min(0).max(100).default(1).describe('Lowest level that qualifies.'),
});

const expansionStep = z.strictObject({
  afterMs: nonNegativeInt.nullable().default(null).describe('Reached after waiting this long (ms); null = not by time.'),
  queueLengthAtLeast: positiveInt.nullable().default(null).describe('Reached on arrival when this many already wait; null = not by length.'),
  add: z.array(skillTarget).min(1).describe('Skill targets added at this step (cumulative).'),
}).refine((s) => s.afterMs !== null || s.queueLengthAtLeast !== null, { message: 'an expansion step needs afterMs or queueLengthAtLeast' });

const queue = z.strictObject({
  id: id.describe('Queue id.'),
  name: z.string().nullable().default(null).describe('Display name; null = the id.'),
  skill: id.nullable().default(null).describe('Skill agents need; null = the queue id.'),
  minLevel: z.number().int().min(0).max(100).default(1).describe('Lowest level of the skill that serves this queue.'),
  strategy: z.enum(STRATEGIES).default('longestIdle').describe('How the agent is chosen (docs/acd.md).'),
  serviceLevelMs: nonNegativeInt.default(20000).describe('Answered within this wait counts as in service level (ms).'),
  maxLength: nonNegativeInt.nullable().default(null).describe('Most callers waiting; null = unlimited.'),
  fullOverflowQueueId: id.nullable().default(null).describe('Queue for callers arriving when full; null = refuse them.'),
  maxWaitMs: nullableMs.default(null).describe('Longest wait before leaving the queue (ms); null = unlimited.'),
  maxWaitQueueId: id.nullable().default(null).describe('Queue for callers who waited maxWaitMs; null = end the call.'),
  wrapUpMs: nonNegativeInt.default(0).describe("Agent's wrap-up after each call (ms)."),
  ringTimeoutMs: nonNegativeInt.default(20000).describe('Ring-no-answer timeout of an offer (ms); 0 = never.'),
  consultRingTimeoutMs: positiveInt.default(30000).describe("How long a consulted agent's phone rings before the consultation fails and the caller is back with its agent (ms)."),
  announcePeriodMs: nonNegativeInt.default(0).describe('Period of position / wait announcements (ms); 0 = none.'),
  announcePosition: z.boolean().default(true).describe('Announcements say the position in the queue.'),
  announceWait: z.boolean().default(true).describe('Announcements say the estimated wait.'),
  holdMusic: promptName.default('hold/music').describe('Prompt looped while waiting.'),
  preferredAgentTimeoutMs: nonNegativeInt.default(0).describe('How long a call waits for its preferred agent alone (ms).'),
  weight: z.number().positive().default(1).describe("Weight of this queue's wait when an agent serves several queues."),
  expansion: z.array(expansionStep).default([]).describe('Overflow / expansion steps, in order.'),
  abandonToCallback: z.boolean().default(true).describe('A caller who hangs up while waiting becomes a callback task.'),
  admission: z.strictObject({
    callbackAboveMs: nullableMs.default(null).describe('Offer a callback above this estimated wait (ms); null = never.'),
    overflowAboveMs: nullableMs.default(null).describe('Send to overflowQueueId above this estimated wait (ms); null = never.'),
    overflowQueueId: id.nullable().default(null).describe('Target of overflowAboveMs.'),
    callbackDigit: z.preprocess(asText, z.enum(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'])).default('3')
      .describe('Digit that accepts the callback offer (the default prompt callback-offer says "press 3").'),
  }).prefault({}).describe('Admission control on the estimated wait of a new caller.'),
  initialHandleTimeMs: positiveInt.default(180000).describe('Handle-time estimate before any call was handled (ms).'),
});

// ------------------------------------------------------------------ flows and numbers

// Local clock windows: callback calling hours and the IVR's office hours share them.
const clockTime = z.string().refine((s) => { const m = clockMinutes(s); return m !== null && m < 1440; }, { message: 'expected HH:MM, 00:00-23:59' });
const clockEnd = z.string().refine((s) => { const m = clockMinutes(s); return m !== null && m > 0; }, { message: 'expected HH:MM, 00:01-24:00' });
const callingWindow = z.strictObject({
  days: z.array(z.number().int().min(1).max(7)).min(1).max(7).default([1, 2, 3, 4, 5, 6, 7]).describe('Weekdays the window starts on, 1 = Monday ... 7 = Sunday.'),
  from: clockTime.describe('Local start, HH:MM.'),
  to: clockEnd.describe('Local end, HH:MM (24:00 = midnight); earlier than from = the window ends the next day.'),
}).refine((w) => clockMinutes(w.from) !== clockMinutes(w.to), { message: 'from and to are equal; for a whole day write 00:00 to 24:00', path: ['to'] });

/** Confirmation of a callback request, when the flow names none. */
const CALLBACK_CONFIRMED = 'callback-confirmed';

// A step is written as a mapping with exactly one key, its kind (`- play: welcome`); it is parsed
// into a FlowStep discriminated on `type`, so the flow runner can switch on it. A bare string is
// the short form of the targets below.
const queueTarget = z.union([
  id,
  z.strictObject({
    id: id.describe('Queue id.'),
    vipQueue: id.nullable().default(null).describe('Queue for callers with a VIP level; null = the same queue.'),
  }),
], { error: 'expected a queue id, or { id, vipQueue }' });

const callbackTarget = z.union([
  id,
  z.strictObject({
    queue: id.describe('Queue whose agents will call back.'),
    prompt: promptName.nullable().default(CALLBACK_CONFIRMED).describe('Confirmation played before hanging up; null = none.'),
  }),
], { error: 'expected a queue id, or { queue, prompt }' });

const hangupTarget = z.strictObject({
  prompt: promptName.nullable().default(null).describe('Played before hanging up; null = none.'),
}).nullable();

const STEP_KINDS = ['play', 'menu', 'collect', 'branch', 'query', 'products', 'queue', 'callback', 'hangup', 'goto'] as const;
const ACTION_KINDS = ['queue', 'callback', 'hangup', 'goto'] as const;

/** A terminal step: where a call goes (a menu option, or the last step of a flow). */
export type FlowAction =
  | { type: 'queue'; queue: string; vipQueue: string | null }
  | { type: 'callback'; queue: string; prompt: string | null }
  | { type: 'hangup'; prompt: string | null }
  | { type: 'goto'; flow: string };

/** A DTMF menu, as resolved. */
export interface FlowMenu {
  type: 'menu';
  prompt: string;
  options: Record<string, FlowAction>;
  timeoutSeconds: number;
  retries: number;
  invalidPrompt: string | null;
}

/** Multi-digit input (an order number, a product code, a date) kept in a call variable. */
export interface FlowCollect {
  type: 'collect';
  /** The call variable the digits go into. */
  into: string;
  prompt: string;
  minDigits: number;
  maxDigits: number;
  /** Ends the input early (not kept); null = only maxDigits or the inter-digit timeout end it. */
  terminator: '#' | '*' | null;
  firstDigitTimeoutSeconds: number;
  interDigitTimeoutSeconds: number;
  retries: number;
  invalidPrompt: string | null;
  /** A regular expression the whole input must match (anchored), or null. */
  pattern: string | null;
}

/** One condition of a branch. */
export type FlowCondition =
  | { kind: 'var'; var: string; equals: string | null; matches: string | null; present: boolean | null }
  | { kind: 'hours'; windows: CallingWindow[]; timeZone: string }
  | { kind: 'dates'; dates: string[]; timeZone: string };

/** A branch: when every condition holds, `then`; otherwise `else`, or the next step when null. */
export interface FlowBranch {
  type: 'branch';
  when: FlowCondition[];
  then: FlowAction;
  else: FlowAction | null;
}

/**
 * A CRM query (IVR self-service, docs/crm-adapter.md): an order's status, that status sent by
 * SMS, or today's promotion, kept in `<into>…` call variables and read out; nothing found →
 * `notFound`, no answer in time or a CRM error → `failed` (an agent).
 */
export interface FlowQuery {
  type: 'query';
  kind: 'orderStatus' | 'orderSms' | 'promotion';
  /** orderStatus, orderSms: the call variable with the order number. */
  orderNumber: string | null;
  /** orderStatus, orderSms: the call variable with the caller's verification, or null. */
  verification: string | null;
  into: string;
  timeoutMs: number;
  readout: boolean;
  notFoundPrompt: string | null;
  notFound: FlowAction | null;
  failedPrompt: string | null;
  failed: FlowAction;
}

/**
 * Product introductions by menu (docs/shop.md, IVR product introductions): the CRM's products for
 * the call's programme/airing, "for <name> press 1 …", the picked one's description and price,
 * then 1 = `agent` with the product in `<into>Sku`, `<into>Name`, `<into>PriceFen`.
 */
export interface FlowProducts {
  type: 'products';
  max: number;
  into: string;
  timeoutMs: number;
  menuTimeoutSeconds: number;
  retries: number;
  invalidPrompt: string | null;
  agent: FlowAction;
  notFoundPrompt: string | null;
  notFound: FlowAction | null;
  failedPrompt: string | null;
  failed: FlowAction;
}

/** One step of an IVR flow, as resolved. `play`, `menu`, `collect`, `branch`, `query` and `products` can continue with the next step. */
export type FlowStep = { type: 'play'; prompts: string[] } | FlowMenu | FlowCollect | FlowBranch | FlowQuery | FlowProducts | FlowAction;

/** Steps whose kind ends a flow: nothing after them runs. */
export function isTerminal(step: FlowStep): step is FlowAction {
  return step.type !== 'play' && step.type !== 'menu' && step.type !== 'collect' && step.type !== 'branch' && step.type !== 'query' && step.type !== 'products';
}

type StepInput = {
  play?: string | string[]; menu?: MenuInput; collect?: z.output<typeof collectSchema>; branch?: z.output<typeof branchSchema>;
  query?: FlowQuery; products?: FlowProducts; queue?: z.output<typeof queueTarget>;
  callback?: z.output<typeof callbackTarget>; hangup?: { prompt: string | null } | null; goto?: string;
};
type MenuInput = z.output<typeof menuSchema>;

/** Exactly one present key among `kinds`; the message lists them. */
function oneKindOf(kinds: readonly string[]) {
  return (v: Record<string, unknown>, ctx: z.RefinementCtx): void => {
    const present = Object.keys(v).filter((k) => v[k] !== undefined);
    // An unknown or malformed key is already reported; "exactly one" would only repeat it.
    if (present.length !== 1 && ctx.issues.length === 0) {
      ctx.addIssue({ code: 'custom', message: `a step has exactly one of ${kinds.join(', ')}${present.length > 1 ? ` (found ${present.join(', ')})` : ''}` });
    }
  };
}

function toAction(v: StepInput): FlowAction {
  if (v.queue !== undefined) {
    return typeof v.queue === 'string' ? { type: 'queue', queue: v.queue, vipQueue: null } : { type: 'queue', queue: v.queue.id, vipQueue: v.queue.vipQueue };
  }
  if (v.callback !== undefined) {
    return typeof v.callback === 'string'
      ? { type: 'callback', queue: v.callback, prompt: CALLBACK_CONFIRMED }
      : { type: 'callback', queue: v.callback.queue, prompt: v.callback.prompt };
  }
  if (v.goto !== undefined) return { type: 'goto', flow: v.goto };
  return { type: 'hangup', prompt: v.hangup?.prompt ?? null };
}

const actionFields = {
  queue: queueTarget.optional().describe('Enqueue the caller (ends the flow).'),
  callback: callbackTarget.optional().describe('Create a callback task, confirm, hang up (ends the flow).'),
  hangup: hangupTarget.optional().describe('Hang up, after an optional prompt (ends the flow).'),
  goto: id.optional().describe('Continue in another flow (ends this one).'),
};

// The meta keys say "exactly one kind" in the JSON Schema (json-schema.ts); oneKindOf checks it here.
const EXACTLY_ONE = { minProperties: 1, maxProperties: 1 } as const;
const actionSchema = z.strictObject(actionFields).meta(EXACTLY_ONE).superRefine(oneKindOf(ACTION_KINDS)).transform(toAction);

const menuSchema = z.strictObject({
  prompt: promptName.default('menu').describe('Prompt that lists the choices.'),
  options: z.record(z.string().regex(/^[0-9*#]$/, 'expected one DTMF digit 0-9 * #'), actionSchema)
    .refine((o) => Object.keys(o).length > 0, { message: 'a menu needs at least one option' }).meta({ minProperties: 1 })
    .describe('Digit → action (queue, callback, hangup or goto).'),
  timeoutSeconds: positiveInt.default(5).describe('Wait for a digit after the prompt (s).'),
  retries: nonNegativeInt.default(2).describe('Times the menu is repeated after a timeout or an invalid digit.'),
  invalidPrompt: promptName.nullable().default('invalid-choice').describe('Played after an invalid digit; null = none.'),
});

/** Call variable names: short identifiers (they travel as SIP header names, X-Onair-Var-<name>). */
const varName = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/, 'expected a variable name: a letter, then up to 31 letters, digits or _');
/** A configured pattern: compiled at load so a bad one is a config error, not a call's. */
const digitPattern = z.string().max(200).refine((p) => { try { new RegExp(`^(?:${p})$`); return true; } catch { return false; } }, { message: 'expected a regular expression' });

const collectSchema = z.strictObject({
  into: varName.describe('Call variable the digits are kept in (screen pop X-Onair-Var-<name>, CDR variables).'),
  prompt: promptName.describe('Prompt asking for the input.'),
  minDigits: z.number().int().min(1).max(32).default(1).describe('Fewest digits accepted.'),
  maxDigits: z.number().int().min(1).max(32).default(16).describe('Input ends by itself at this many digits.'),
  terminator: z.enum(['#', '*']).nullable().default('#').describe('Key that ends the input early (not kept); null = none.'),
  firstDigitTimeoutSeconds: positiveInt.max(60).default(8).describe('Wait for the first digit after the prompt (s).'),
  interDigitTimeoutSeconds: positiveInt.max(30).default(3).describe('Wait between digits (s); the input ends when it passes.'),
  retries: nonNegativeInt.max(9).default(2).describe('Times the prompt is repeated after no or an invalid input; then the flow goes on without the variable.'),
  invalidPrompt: promptName.nullable().default('invalid-choice').describe('Played after an invalid input; null = none.'),
  pattern: digitPattern.nullable().default(null).describe('Regular expression the whole input must match (anchored); null = any digits.'),
}).refine((c) => c.minDigits <= c.maxDigits, { message: 'minDigits is above maxDigits', path: ['minDigits'] });

const conditionSchema = z.strictObject({
  var: varName.optional().describe('A call variable: with equals, matches or present.'),
  equals: z.string().max(64).optional().describe('The variable has exactly this value.'),
  matches: digitPattern.optional().describe('The variable matches this regular expression (anchored).'),
  present: z.boolean().optional().describe('The variable is set (true) or not (false).'),
  hours: z.array(callingWindow).min(1).optional().describe('Now is inside one of these local windows (office hours).'),
  dates: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD')).min(1).optional().describe('Today (local) is one of these dates (holidays).'),
  timeZone: z.string().refine(isTimeZone, { message: 'expected an IANA time zone, e.g. Asia/Shanghai' }).default('Asia/Shanghai').describe('IANA time zone of hours and dates.'),
}).superRefine((c, ctx) => {
  const kinds = [c.var !== undefined, c.hours !== undefined, c.dates !== undefined].filter(Boolean).length;
  if (kinds !== 1) ctx.addIssue({ code: 'custom', message: 'a condition has exactly one of var, hours, dates' });
  const tests = [c.equals, c.matches, c.present].filter((x) => x !== undefined).length;
  if (c.var !== undefined && tests !== 1) ctx.addIssue({ code: 'custom', message: 'a var condition has exactly one of equals, matches, present' });
  if (c.var === undefined && tests > 0) ctx.addIssue({ code: 'custom', message: 'equals, matches and present go with var' });
}).transform((c): FlowCondition => {
  if (c.var !== undefined) return { kind: 'var', var: c.var, equals: c.equals ?? null, matches: c.matches ?? null, present: c.present ?? null };
  if (c.hours !== undefined) return { kind: 'hours', windows: c.hours, timeZone: c.timeZone };
  return { kind: 'dates', dates: c.dates ?? [], timeZone: c.timeZone };
});

const branchSchema = z.strictObject({
  when: z.array(conditionSchema).min(1).describe('Conditions that must all hold.'),
  then: actionSchema.describe('Where the call goes when they hold (queue, callback, hangup or goto).'),
  else: actionSchema.nullable().default(null).describe('Where it goes otherwise; null = the next step.'),
});

/** The default prefix of a query's variables by kind (`orderResult`, `orderSmsResult`, `promotionResult`). */
const QUERY_INTO = { orderStatus: 'order', orderSms: 'orderSms', promotion: 'promotion' } as const;

/** The prefix of a query's variables: short, so that `<into>ValidUntil` stays a variable name. */
const queryPrefix = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,19}$/, 'expected a letter, then up to 19 letters, digits or _');

const querySchema = z.strictObject({
  kind: z.enum(['orderStatus', 'orderSms', 'promotion']).describe("What is asked: an order's status by its number; that status sent by SMS to the order's own phone (after an orderStatus readout: a menu's \"press 1\"); or the promotion on offer now for the dialled number's programme/airing."),
  orderNumber: varName.nullable().default(null).describe('orderStatus, orderSms: the call variable holding the order number (a collect step before sets it).'),
  verification: varName.nullable().default(null)
    .describe('orderStatus, orderSms: the call variable holding what the caller keyed to prove the order is theirs when calling from another number (the shop: the last 4 digits of the delivery phone); null = only orders of the calling number are told.'),
  into: queryPrefix.nullable().default(null).describe('Prefix of the variables the answer goes into (<into>Result, <into>Status, ...); null = order, orderSms or promotion.'),
  timeoutMs: z.number().int().min(100).max(10_000).default(2000).describe('How long the caller waits for the CRM (ms); then failed.'),
  readout: z.boolean().default(true).describe('Read the answer out (status, amount, price); false = only set the variables.'),
  notFoundPrompt: promptName.nullable().default('query-not-found').describe('Played when the CRM has nothing for the caller; null = none.'),
  notFound: actionSchema.nullable().default(null).describe('Where the caller goes when nothing is found; null = the next step.'),
  failedPrompt: promptName.nullable().default('query-failed').describe('Played when the CRM did not answer in time, failed or has no query; null = none.'),
  failed: actionSchema.describe('Where the caller goes then (an agent: a queue).'),
}).superRefine((q, ctx) => {
  if (q.kind !== 'promotion' && q.orderNumber === null) ctx.addIssue({ code: 'custom', message: `${q.kind} needs orderNumber (the variable with the order number)`, path: ['orderNumber'] });
  if (q.kind === 'promotion' && (q.orderNumber !== null || q.verification !== null)) ctx.addIssue({ code: 'custom', message: 'orderNumber and verification go with orderStatus or orderSms', path: ['kind'] });
}).transform((q): FlowQuery => ({ type: 'query', ...q, into: q.into ?? QUERY_INTO[q.kind] }));

const productsSchema = z.strictObject({
  max: z.number().int().min(1).max(9).default(3).describe('Most products in the menu (one digit each).'),
  into: queryPrefix.default('product').describe('Prefix of the variables of the product picked (<into>Sku, <into>Name, <into>PriceFen; <into>Result, <into>Count).'),
  timeoutMs: z.number().int().min(100).max(10_000).default(2000).describe('How long the caller waits for the CRM (ms); then failed.'),
  menuTimeoutSeconds: positiveInt.max(60).default(5).describe('Wait for a digit after the list or a product (s).'),
  retries: nonNegativeInt.max(9).default(1).describe('Times a menu is repeated after a timeout or an invalid digit; then the next step.'),
  invalidPrompt: promptName.nullable().default('invalid-choice').describe('Played after an invalid digit; null = none.'),
  agent: actionSchema.describe('Where a caller who picked a product and pressed 1 goes (a sales queue).'),
  notFoundPrompt: promptName.nullable().default('query-not-found').describe('Played when the CRM has no product to offer; null = none.'),
  notFound: actionSchema.nullable().default(null).describe('Where the caller goes then; null = the next step.'),
  failedPrompt: promptName.nullable().default('query-failed').describe('Played when the CRM did not answer in time, failed or has no query; null = none.'),
  failed: actionSchema.describe('Where the caller goes then (an agent: a queue).'),
}).transform((p): FlowProducts => ({ type: 'products', ...p }));

const stepSchema = z.strictObject({
  play: z.union([promptName, z.array(promptName).min(1)]).optional().describe('Play prompts in order, then continue.'),
  menu: menuSchema.optional().describe('DTMF menu; when retries run out the flow continues with the next step.'),
  collect: collectSchema.optional().describe('Collect several digits into a call variable, then continue.'),
  branch: branchSchema.optional().describe('Go somewhere when conditions on variables or the time hold; else the next step or else.'),
  query: querySchema.optional().describe("Ask the CRM (an order's status, today's promotion), keep the answer in variables, read it out, then continue."),
  products: productsSchema.optional().describe("Introduce the CRM's products by menu (names and descriptions by run-time prompts), then an agent with the product picked."),
  ...actionFields,
}).meta(EXACTLY_ONE).superRefine(oneKindOf(STEP_KINDS)).transform((v): FlowStep => {
  if (v.play !== undefined) return { type: 'play', prompts: typeof v.play === 'string' ? [v.play] : v.play };
  if (v.menu !== undefined) return { type: 'menu', ...v.menu };
  if (v.collect !== undefined) return { type: 'collect', ...v.collect };
  if (v.branch !== undefined) return { type: 'branch', when: v.branch.when, then: v.branch.then, else: v.branch.else };
  if (v.query !== undefined) return v.query;
  if (v.products !== undefined) return v.products;
  return toAction(v);
});

// An IVR survey (campaigns of mode ivr, issue 14): the steps of a flow that need no agent. A
// menu's options lead to queues and flows, so a question is a collect step (one digit: maxDigits 1).
const SURVEY_KINDS: readonly FlowStep['type'][] = ['play', 'collect', 'hangup'];
const surveySchema = z.array(stepSchema.refine((s) => SURVEY_KINDS.includes(s.type), {
  message: 'a survey step is play, collect (a question) or hangup: no agent, so no menu, branch, query, queue, callback or goto',
})).min(1).superRefine((steps, ctx) => {
  const seen = new Set<string>();
  for (const s of steps) {
    if (s.type !== 'collect') continue;
    if (seen.has(s.into)) ctx.addIssue({ code: 'custom', message: `question ${s.into} is asked twice (each collect's into names one answer)` });
    seen.add(s.into);
  }
  if (seen.size === 0) ctx.addIssue({ code: 'custom', message: 'a survey asks at least one question (a collect step)' });
}).describe('Steps of one survey, run in order on the customer\'s leg: play, collect (a question; its into names the answer), hangup.');

const numberRoute = z.strictObject({
  flow: id.describe('IVR flow the call runs.'),
  programme: z.string().nullable().default(null).describe('TV programme recorded in the CDR; null = none.'),
  airing: z.string().nullable().default(null).describe('Airing (broadcast slot) recorded in the CDR; null = none.'),
});

// ------------------------------------------------------------------ outbound trunks

/** Digits of a number presented as caller id, `+` allowed first (YAML may read it as a number). */
const callerIdNumber = numberAsText(z.string().regex(/^\+?[0-9]{1,20}$/, 'expected digits, + allowed first'), { type: 'integer', minimum: 0, maximum: 9999999999999998 });

const outboundTrunk = z.strictObject({
  id: id.describe('Outbound trunk id (logs, metrics, attempt records).'),
  address: z.string().refine((s) => parseTrunkAddress(s) !== undefined, { message: 'expected host:port with an IP literal host (192.0.2.7:5060, [2001:db8::1]:5060); no DNS' })
    .describe('Where INVITEs go: host:port of the carrier or gateway, IP literal (port default 5060, 5061 for tls).'),
  transport: z.enum(['udp', 'tcp', 'tls']).default('udp').describe('Transport to the trunk; sip.listen needs a socket of it.'),
  username: z.string().min(1).nullable().default(null).describe('Digest user name for 401/407 challenges of the trunk; null = none.'),
  password: z.string().min(1).nullable().default(null).describe('Digest password (with username).'),
  domain: z.string().refine(isHostSyntax, { message: 'expected a host name or IP literal' }).nullable().default(null)
    .describe('Host of the Request-URI, From and To (sip:<number>@<domain>); null = the address host.'),
  callerId: callerIdNumber.describe('Number presented to the customer when the call names none (a callback presents the number the customer called).'),
  maxConcurrent: positiveInt.default(30).describe('Calls in progress (ringing or talking) on this trunk; a call over it goes to the next trunk.'),
  callsPerSecond: z.number().positive().default(5).describe('New calls per second on this trunk (token bucket of one second); over it the next trunk is used.'),
  ringTimeoutSeconds: z.number().int().min(1).max(120).default(30)
    .describe('No answer after this long: CANCEL, result no_answer (s; below the 180 s INVITE guard of the SIP stack).'),
}).refine((t) => (t.username === null) === (t.password === null), { message: 'username and password go together', path: ['password'] });

const outboundSection = z.strictObject({
  trunks: z.array(outboundTrunk).default([]).describe('Trunks customers are dialled through, tried in order; the next on a trunk error (5xx, no response).'),
  numbering: z.strictObject({
    countryCode: numberAsText(z.string().regex(/^[1-9][0-9]{0,2}$/, 'expected 1-3 digits, not starting with 0'), { type: 'integer', minimum: 1, maximum: 999 })
      .default('86').describe('Country code of national numbers (without +).'),
    nationalPrefix: numberAsText(z.string().regex(/^[0-9]{0,3}$/, 'expected 0-3 digits'), { type: 'integer', minimum: 0, maximum: 999 })
      .default('0').describe('Trunk prefix of national numbers; empty when the country has none.'),
    internationalPrefix: numberAsText(z.string().regex(/^[0-9]{1,4}$/, 'expected 1-4 digits'), { type: 'integer', minimum: 0, maximum: 9999 })
      .default('00').describe('Prefix of international numbers (00, 011).'),
    format: z.enum(['national', 'e164']).default('national').describe('How the number is sent: national (prefix + national number, international prefix for other countries) or e164 (+digits).'),
  }).prefault({}).describe('How customer numbers are normalised before dialling; implausible numbers are refused (invalid_number).'),
}).prefault({}).describe('Outbound trunks: the carriers customers are called back through (docs/dialer.md).');
// ------------------------------------------------------------------ callback dialing

const D = DEFAULT_DIALING_POLICY;
const retryDelay = (d: number | null, what: string) => nonNegativeInt.max(7 * 86_400).nullable().default(d)
  .describe(`After ${what}: seconds until the next attempt; null = no retry, the task ends exhausted.`);
/** Dialing modes: only progressive is executed so far; the others are refused rather than silently run as progressive. */
const DIALING_MODES = ['progressive', 'preview', 'predictive'] as const;
const dialingSection = z.strictObject({
  mode: z.enum(DIALING_MODES).default('progressive')
    .describe('How callbacks are dialled: progressive = a free agent is rung first, then the customer is dialled; preview = the task is offered to the agent\'s desktop first (accept / skip / reschedule through the API; the queue\'s ring timeout bounds the preview), an accepted task is dialled as progressive; predictive = customers are dialled ahead by the pacer, an answered customer is put through to an auto-answer agent (every agent of the queues must have autoAnswer: true) (docs/dialer.md).'),
  maxAttempts: positiveInt.max(100).default(D.maxAttempts).describe('Attempts that ring the customer, at most; then the task ends exhausted (an offer the agent did not answer does not count).'),
  retryDelaySeconds: z.strictObject({
    busy: retryDelay(D.retryDelaySeconds.busy, 'busy (486/600)'),
    no_answer: retryDelay(D.retryDelaySeconds.no_answer, 'no answer (480/408, ring timeout)'),
    trunk_error: retryDelay(D.retryDelaySeconds.trunk_error, 'a trunk error on every trunk (5xx, unreachable)'),
    cancelled: retryDelay(D.retryDelaySeconds.cancelled, 'a dial cancelled before the customer answered'),
    agent_no_answer: retryDelay(D.retryDelaySeconds.agent_no_answer, 'the agent did not answer the offer (the customer was not dialled)'),
    skipped: retryDelay(D.retryDelaySeconds.skipped, 'the agent skipped a preview (mode preview: the next agent gets the next task meanwhile)'),
    interrupted: retryDelay(D.retryDelaySeconds.interrupted, 'the engine stopped during the attempt'),
    failed: retryDelay(D.retryDelaySeconds.failed, 'an engine failure during the attempt'),
    rejected: retryDelay(D.retryDelaySeconds.rejected, 'rejected by the customer (603, other 4xx/6xx)'),
    invalid_number: retryDelay(D.retryDelaySeconds.invalid_number, 'an invalid number (404/484/410/604)'),
  }).prefault({}).describe('Delay before the next attempt, per result of the last one (s); the attempt then waits for the calling hours.'),
  callingHours: z.array(callingWindow).min(1).default(D.callingHours.map((w) => ({ ...w, days: [...w.days] })))
    .describe('Windows in which customers may be called, in the task\'s time zone; a retry falling outside waits for the next window.'),
  timeZone: z.string().refine(isTimeZone, { message: 'expected an IANA time zone, e.g. Asia/Shanghai' }).default(D.timeZone)
    .describe('IANA time zone of the calling hours, for tasks that carry no customer time zone.'),
  expiryHours: z.number().positive().max(24 * 90).default(D.expiryHours).describe('An open task whose first call arrived longer ago than this is closed as expired (h).'),
  pollSeconds: z.number().positive().max(60).default(2).describe('How often the dialer looks for due tasks (s); it also looks when an agent becomes free.'),
  maxAbandonRatio: z.number().min(0).max(1).default(0.03).describe('Mode predictive: ceiling of dialer abandons (answered customers with no agent within 2 s) over answered customers in a rolling 30 minutes; the pacer keeps under it.'),
}).prefault({}).describe('The callback dialer and its attempt policy (docs/dialer.md).');
// ------------------------------------------------------------------ users, desktop

const lockout = (failures: number, windowSeconds: number, lockSeconds: number, what: string) => z.strictObject({
  maxFailures: nonNegativeInt.default(failures).describe(`Failed sign-ins tolerated ${what} within the window; the next one locks.`),
  windowSeconds: positiveInt.default(windowSeconds).describe('Length of the counting window (s).'),
  lockSeconds: positiveInt.default(lockSeconds).describe('How long the lock lasts; every sign-in is refused meanwhile, right password or not (s).'),
}).prefault({});

const userAccount = z.strictObject({
  username: numberAsText(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/, 'expected 1-64 letters, digits, _ . @ - (not first)'), { type: 'number' })
    .describe('Sign-in name (agents: their extension); case-insensitive.'),
  role: z.enum(['agent', 'supervisor', 'admin']).describe('agent: own state and calls only; supervisor and admin: everything (teams come later).'),
  agent: id.nullable().default(null).describe('The agent id this user works as; required for role agent.'),
  name: z.string().max(100).nullable().default(null).describe('Display name; null = the username.'),
  teams: z.array(id).default([]).describe('Supervisors: the teams (agents[].team) it sees and changes; empty = every agent.'),
  password: numberAsText(z.string().min(1).max(200), { type: 'number' }).nullable().default(null).describe('Password in clear (demo and tests); prefer passwordHash.'),
  passwordHash: z.string().regex(/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/, 'expected scrypt$N$r$p$salt$key (see docs/desktop.md)').nullable().default(null)
    .describe('scrypt hash of the password (docs/desktop.md shows how to make one).'),
}).refine((u) => (u.password === null) !== (u.passwordHash === null), { message: 'exactly one of password and passwordHash', path: ['password'] })
  .refine((u) => u.role !== 'agent' || u.agent !== null, { message: 'role agent needs agent: <agent id>', path: ['agent'] });

const usersSection = z.strictObject({
  accounts: z.array(userAccount).default([]).describe('People who sign in to the desktop and wallboard; seeded into the database at start. Any account makes the API require a session or a token.'),
  sessionIdleMinutes: positiveInt.default(60).describe('A session unused this long ends (min).'),
  sessionMaxHours: positiveInt.default(12).describe('A session ends this long after sign-in, used or not (h).'),
  accountLockout: lockout(5, 900, 900, 'for one account, from any address'),
  sourceLockout: lockout(20, 900, 900, 'from one address, for any accounts'),
  maskNumbersFor: z.array(z.enum(['agent', 'supervisor', 'admin'])).default(['agent']).describe('Roles that see callers\' numbers masked (138****5678) in the API and events.'),
  unmaskRoles: z.array(z.enum(['agent', 'supervisor', 'admin'])).default(['supervisor', 'admin']).describe('Roles that may unmask a caller\'s number (POST /api/v1/calls/:id/unmask, audited); an agent only for its own call.'),
}).prefault({}).describe('Users and roles of the browser desktop and wallboard.');

const reasonCode = z.strictObject({
  code: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'expected 1-32 of a-z 0-9 _ -').describe('Reason recorded with the not-ready status.'),
  en: z.string().min(1).max(40).describe('Label in English.'),
  zh: z.string().min(1).max(40).describe('Label in Chinese (zh-CN).'),
});

const desktopSection = z.strictObject({
  timeZone: z.string().refine((tz) => { try { new Intl.DateTimeFormat('en', { timeZone: tz }); return true; } catch { return false; } }, { message: 'expected an IANA time zone, e.g. Asia/Shanghai' })
    .default('Asia/Shanghai').describe("The center's time zone: every time the desktop and wallboard show."),
  language: z.enum(['zh-CN', 'en']).default('zh-CN').describe('Language a browser sees first (each user may switch).'),
  notReadyReasons: z.array(reasonCode).min(1).default([
    { code: 'break', en: 'Break', zh: '休息' },
    { code: 'lunch', en: 'Lunch', zh: '午餐' },
    { code: 'training', en: 'Training', zh: '培训' },
    { code: 'meeting', en: 'Meeting', zh: '开会' },
  ]).describe('Not-ready reasons an agent picks from; a signed-in agent may use only these.'),
  wrapUpCodes: z.array(reasonCode.extend({
    code: z.string().regex(/^[a-z0-9_-]{1,32}$/, 'expected 1-32 of a-z 0-9 _ -').describe('Code recorded in the CDR (`disposition.code`).'),
    requiresNote: z.boolean().default(false).describe('The agent must type a note with this code.'),
  })).default([
    { code: 'order', en: 'Order placed', zh: '已下单', requiresNote: false },
    { code: 'enquiry', en: 'Product enquiry', zh: '产品咨询', requiresNote: false },
    { code: 'complaint', en: 'Complaint', zh: '投诉', requiresNote: true },
    { code: 'no-sale', en: 'No sale', zh: '未成交', requiresNote: false },
  ]).refine((codes) => new Set(codes.map((c) => c.code)).size === codes.length, { message: 'wrap-up codes must be unique' })
    .describe('Wrap-up (disposition) codes an agent picks after a call; saved in the CDR with the note and sent to the CRM.'),
}).prefault({}).describe('The browser agent desktop and wallboard.');

// ------------------------------------------------------------------ recording (issue 16)

const recordingPolicy = z.union([
  z.enum(['always', 'never', 'onDemand']),
  z.strictObject({ share: z.number().min(0).max(1).describe('Fraction of calls recorded (quality checks), picked per call id: the same call always gives the same answer.') }),
]);
const recordingSection = z.strictObject({
  dir: z.string().min(1).default('var/recordings').transform((dir) => path.resolve(dir))
    .describe('Directory of the recordings (created at start); files are <call id>.wav.'),
  layout: z.enum(['stereo', 'mixed']).default('stereo').describe('stereo: caller left, agent right; mixed: both in one channel (half the bytes).'),
  retentionDays: nonNegativeInt.default(90).describe('Recordings older than this are deleted by a periodic sweep (days); 0 = kept forever.'),
  sweepMinutes: positiveInt.max(1440).default(60).describe('How often old recordings are looked for (min).'),
  policy: recordingPolicy.default('never').describe('Calls no number, agent or queue entry names: always, never, onDemand (started from the API) or { share: 0.1 }.'),
  numbers: z.record(z.string().regex(/^[0-9*#+]{1,32}$/), recordingPolicy).default({}).describe('Policy by dialled number (wins over agent and queue).'),
  agents: z.record(idPattern, recordingPolicy).default({}).describe('Policy by agent id (wins over queue).'),
  queues: z.record(idPattern, recordingPolicy).default({}).describe('Policy by queue id.'),
}).prefault({}).describe('Recording of bridged calls (docs/recording.md).');
// ------------------------------------------------------------------ reports (issue 18)

const reportsSection = z.strictObject({
  schedule: z.strictObject({
    tailMinutes: z.number().int().min(0).max(24 * 60).default(30).describe('Calls arriving this long after an airing ends still belong to it (min).'),
    file: z.string().min(1).nullable().default(null).describe('Schedule file (YAML, or CSV of airings) imported at start, replacing programmes and airings of the same ids; null = none (the API edits the stored schedule).'),
  }).prefault({}).describe('The broadcast schedule: programmes and airings, stored in the database (docs/reports.md).'),
}).prefault({}).describe('Reports, the broadcast schedule and surge mode (docs/reports.md).');

// ------------------------------------------------------------------ active-standby (issue 19)

const haSection = z.strictObject({
  enabled: z.boolean().default(false).describe('Run as one node of an active-standby pair on the shared PostgreSQL database (needs database.kind postgres): only the node holding the lease takes calls, the other answers 503 (docs/operations.md, Running an active-standby pair).'),
  nodeId: z.string().min(1).max(64).regex(/^[A-Za-z0-9._:-]+$/).nullable().default(null).describe('This node\'s name in the lease row (unique per node); null = host name and process id.'),
  leaseMs: z.number().int().min(200).max(60_000).default(2000).describe('How long a taken or renewed lease lasts: a dead or paused active is replaced this long after its last renewal; a node whose renewal is not answered within it fences itself (ms; docs/operations.md, Choosing the lease).'),
  renewIntervalMs: z.number().int().min(50).max(30_000).default(250).describe('How often the active renews the lease and the standby bids for it (a standby also bids the moment a held lease runs out); at most half of leaseMs: eight renewals per lease leave seven to be late (ms).'),
}).refine((h) => h.renewIntervalMs * 2 <= h.leaseMs, { message: 'ha.renewIntervalMs must be at most half of ha.leaseMs', path: ['renewIntervalMs'] })
  .prefault({}).describe('Active-standby pair: a lease with a fencing epoch in PostgreSQL (issue 19).');

// ------------------------------------------------------------------ the whole configuration

/** The engine configuration schema. Parse with {@link loadConfig} (which adds cross-field checks). */
export const configSchema = z.strictObject({
  sip: sipSection,
  http: httpSection,
  media: mediaSection,
  database: databaseSection,
  crm: crmSection,
  trunks: z.array(trunk).default([]).describe('Carrier trunks INVITEs are admitted from.'),
  agents: z.array(agent).default([]).describe('Agents and their phones.'),
  registrar: registrarSection,
  users: usersSection,
  desktop: desktopSection,
  reports: reportsSection,
  queues: z.array(queue).default([]).describe('Queues (skill groups) of the ACD.'),
  flows: z.record(idPattern, z.array(stepSchema).min(1).describe('Steps of one flow, run in order.')).default({}).describe('IVR flows by id: steps run in order.'),
  surveys: z.record(idPattern, surveySchema).default({})
    .describe('IVR surveys by id: campaigns of mode ivr dial their contacts and run one on each answered call, no agent; the answers go to the CRM (campaign_result).'),
  numbers: z.record(z.union([z.string().regex(/^[0-9*#+]{1,32}$/), z.literal('default')], { error: 'expected a dialled number (digits, * # +) or default' }), numberRoute).default({})
    .describe('Dialled number → flow and programme; the key default catches other numbers.'),
  callbacks: z.strictObject({
    defaultQueue: id.nullable().default(null).describe('Queue of the callback task of a caller who hangs up in the IVR; null = the first queue.'),
    capacityRefusals: z.strictObject({
      recordsPerSecond: z.number().positive().default(5).describe('Capacity refusals (503) per second and trunk that get a CDR and callback; the rest are counted only.'),
      burst: positiveInt.default(50).describe('Refusals per trunk recorded at once after a quiet period (token bucket size).'),
      dedupeSeconds: nonNegativeInt.default(600).describe('A number refused again within this long gets no second callback task (s).'),
    }).prefault({}).describe('Bounds on what a flood of capacity refusals writes (every refused INVITE still gets its 503).'),
    dialing: dialingSection,
  }).prefault({}).describe('Callback tasks.'),
  outbound: outboundSection,
  recording: recordingSection,
  featureCodes: z.strictObject({
    login: dialString.default('*60').describe('Dialled by an agent: log in, not ready yet.'),
    ready: dialString.default('*61').describe('Dialled by an agent: log in and become available.'),
    notReady: dialString.default('*62').describe('Dialled by an agent: not ready (no offers).'),
    logout: dialString.default('*63').describe('Dialled by an agent: log out.'),
  }).prefault({}).describe('Codes agents dial from their phones.'),
  scheduler: z.strictObject({
    enabled: z.boolean().default(true).describe('Main-thread work by class (docs/operations.md, Priorities under load): inbound SIP is queued per class and drained agent work first (answers, ACK/BYE of live dialogs), new callers after; false = every message handled in arrival order (the behaviour before issue 13, for comparison).'),
    turnBudgetMs: z.number().positive().max(50).default(2).describe('Time one turn of the event loop spends on queued work before it yields to timers and socket reads (ms); each class still waiting gets one item per turn regardless.'),
    queueLimit: positiveInt.default(20000).describe('Most items waiting per class; a new request above it gets 503 with Retry-After (a response or ACK is dropped and counted as overload_shed).'),
    tryingAfterMs: z.number().int().min(1).max(199).default(100).describe('A new INVITE still queued this long gets 100 Trying at once (RFC 3261 wants one within 200 ms; it also stops the caller retransmitting) (ms).'),
    maxSignallingWaitMs: nonNegativeInt.max(60000).default(2000).describe("Sojourn admission: a new INVITE that waited this long since its parse when its turn comes is answered 503 with Retry-After and kept as a CDR and callback task instead of being worked, so the signalling queue drains and admitted callers get media quickly (docs/operations.md, Overload); 0 = off (ms)."),
  }).prefault({}).describe('Priorities under load on the main thread (issue 13): work classes agent > record > signalling > media.'),
  ha: haSection,
  shutdown: z.strictObject({
    drainSeconds: nonNegativeInt.default(30).describe('On SIGTERM, calls in progress may finish for this long (s).'),
  }).prefault({}).describe('Graceful stop.'),
  log: z.strictObject({
    level: logLevelSchema.default('info').describe('pino log level.'),
  }).prefault({}).describe('Logging.'),
});

/** The configuration as written (every field with a default optional). */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated configuration, every default filled in. {@link loadConfig} returns it frozen. */
export type Config = z.output<typeof configSchema>;
/** One queue as configured. */
export type QueueSettings = Config['queues'][number];
/** One agent as configured. */
export type AgentSettings = Config['agents'][number];
/** One trunk as configured. */
export type TrunkSettings = Config['trunks'][number];
/** One user account as configured. */
export type UserSettings = Config['users']['accounts'][number];
/** One SIP listen socket as configured. */
export type ListenSettings = Config['sip']['listen'][number];
/** The `outbound` section as configured. */
export type OutboundSettings = Config['outbound'];
/** One outbound trunk as configured. */
export type OutboundTrunkSettings = OutboundSettings['trunks'][number];
