/**
 * Cross-field checks of a configuration that passed the schema: uniqueness, references between
 * sections, port ranges, prompt files, and the warnings an operator must see (demo credentials on a
 * public address above all), and the files the engine will open (TLS certificates, the prompt
 * directory, a CRM adapter module file), so that a configuration `--check-config` passes also starts.
 * Pure apart from the injected file look-ups of {@link CheckOptions}.
 */
import { readoutPrompts } from '../calls/index.ts';
import { isLoopback, isTerminal } from './schema.ts';
import type { Config, FlowAction, FlowStep } from './schema.ts';

/** What {@link checkConfig} needs from the outside world. */
export interface CheckOptions {
  /** True when the prompt `rel` (`en/welcome`, `hold/music`) exists as `<promptsDir>/<rel>.wav`. */
  promptExists(rel: string): boolean;
  /**
   * Why the engine could not open `file` as a `kind` (`does not exist`, `is not a directory`,
   * `is not readable`), or null when it can. A `database` is opened read-write and created (with
   * its folders) when missing. Relative paths are taken from the working directory,
   * as the engine takes them.
   */
  fileProblem(file: string, kind: 'file' | 'directory' | 'database'): string | null;
  /**
   * Why TLS cannot be set up from these PEM files (unparsable certificate, key not matching), or
   * null when it can; asked only once every file exists and is readable.
   */
  tlsProblem(files: { cert: string; key: string; ca: string | null }): string | null;
}

/** Problems found: errors make the configuration unusable; warnings are logged at start. */
export interface CheckReport {
  errors: string[];
  warnings: string[];
}

/** Prompts the queue announcements are made of (media/prompts/README.md). */
export const ANNOUNCEMENT_PROMPTS = ['you-are-number', 'in-queue', 'estimated-wait', 'minutes', 'seconds'] as const;

/** Run every cross-field check. The configuration is not modified. */
export function checkConfig(config: Config, opts: CheckOptions): CheckReport {
  const r: CheckReport = { errors: [], warnings: [] };
  checkSip(config, r, opts);
  checkHttp(config, r);
  checkUsers(config, r);
  checkMedia(config, r);
  checkTrunks(config, r);
  checkOutbound(config, r);
  checkAgents(config, r);
  checkQueues(config, r);
  checkFlows(config, r, opts);
  checkOperations(config, r, opts);
  // Issue 19: the pair's lease lives in the database both nodes share; a SQLite file is one node's.
  if (config.ha.enabled && config.database.kind !== 'postgres') r.errors.push('ha.enabled: an active-standby pair needs database.kind postgres (the lease and the store both nodes share)');
  return r;
}

/** Report every value after its first occurrence in `items` as a duplicate of it. */
function unique<T>(items: readonly T[], key: (item: T) => string, where: (i: number) => string, what: string, r: CheckReport): void {
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const k = key(item);
    const first = seen.get(k);
    if (first === undefined) seen.set(k, i);
    else r.errors.push(`${where(i)}: duplicate ${what} '${k}' (also ${where(first)})`);
  });
}

/** `a.b` for identifiers, `a["1"]` for other keys. */
function key(base: string, k: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? `${base}.${k}` : `${base}["${k}"]`;
}

/** An error when `file` cannot be opened as a `kind`; true when it can. */
function openable(field: string, file: string, kind: 'file' | 'directory' | 'database', r: CheckReport, opts: CheckOptions): boolean {
  const problem = opts.fileProblem(file, kind);
  if (problem !== null) r.errors.push(`${field}: ${kind} '${file}' ${problem}`);
  return problem === null;
}

function checkSip(c: Config, r: CheckReport, opts: CheckOptions): void {
  c.sip.listen.forEach((l, i) => {
    // The transport reads these at start (readFileSync); only tls sockets open them.
    if (l.transport !== 'tls' || l.tls === null) return;
    const files = [['cert', l.tls.cert], ['key', l.tls.key], ['ca', l.tls.ca]] as const;
    let ok = true;
    for (const [name, file] of files) if (file !== null && !openable(`sip.listen[${i}].tls.${name}`, file, 'file', r, opts)) ok = false;
    const problem = ok ? opts.tlsProblem(l.tls) : null;
    if (problem !== null) r.errors.push(`sip.listen[${i}].tls: ${problem}`);
  });
  unique(c.sip.listen.filter((l) => l.port !== 0), (l) => `${l.transport} ${l.address}:${l.port}`, (i) => `sip.listen[${i}]`, 'socket', r);
  if (c.sip.timers.T1 > c.sip.timers.T2) r.errors.push(`sip.timers.T1: ${c.sip.timers.T1} is above T2 (${c.sip.timers.T2})`);
  if (c.sip.limits.maxHeaderBytes > c.sip.limits.maxMessageBytes) {
    r.errors.push(`sip.limits.maxHeaderBytes: ${c.sip.limits.maxHeaderBytes} is above maxMessageBytes (${c.sip.limits.maxMessageBytes})`);
  }
  const publicSip = c.sip.listen.filter((l) => !isLoopback(l.address)).map((l) => l.address);
  if (publicSip.length > 0) {
    const demo = c.agents.filter((a) => a.password === `demo${a.extension}`).map((a) => a.extension);
    if (demo.length > 0) {
      r.warnings.push(
        `SECURITY: agents ${demo.join(', ')} use the demo password demo<extension> while SIP listens on ${[...new Set(publicSip)].join(', ')}: ` +
        'anyone who can reach it can register as these agents and take calls. Set real passwords.',
      );
    }
  }
}

function checkHttp(c: Config, r: CheckReport): void {
  const { tokens } = c.http.auth;
  if (tokens.length === 0 && !isLoopback(c.http.address)) {
    r.errors.push(`http.auth.tokens: empty while http.address ${c.http.address} is not loopback; an open API is allowed only on 127.0.0.1 or ::1`);
  }
  tokens.forEach((spec, i) => {
    const t = typeof spec === 'string' ? spec : spec.token;
    if (t.length < 16) r.warnings.push(`http.auth.tokens[${i}]: shorter than 16 characters, easy to guess`);
  });
}

/** Accounts name configured agents, once each; names are unique without regard to case. */
function checkUsers(c: Config, r: CheckReport): void {
  const agents = new Set(c.agents.map((a) => a.id));
  c.users.accounts.forEach((u, i) => {
    if (u.agent !== null && !agents.has(u.agent)) r.errors.push(`users.accounts[${i}].agent: no agent ${u.agent} in agents`);
  });
  unique(c.users.accounts, (u) => u.username.toLowerCase(), (i) => `users.accounts[${i}].username`, 'username', r);
  unique(c.users.accounts.filter((u) => u.agent !== null), (u) => u.agent!, (i) => `users.accounts[${i}].agent`, 'agent of a user', r);
  if (!isLoopback(c.http.address)) {
    const clear = c.users.accounts.filter((u) => u.password !== null).map((u) => u.username);
    if (clear.length > 0) r.warnings.push(`SECURITY: users ${clear.join(', ')} have clear-text passwords while the API listens on ${c.http.address}; use passwordHash and real passwords`);
  }
}

function checkMedia(c: Config, r: CheckReport): void {
  const m = c.media;
  if (m.rtpPortMin % 2 !== 0) r.errors.push(`media.rtpPortMin: ${m.rtpPortMin} must be even (RTP on even ports, RTCP on the next)`);
  if (m.rtpPortMax % 2 !== 1) r.errors.push(`media.rtpPortMax: ${m.rtpPortMax} must be odd (the range holds whole RTP/RTCP pairs)`);
  if (m.rtpPortMax <= m.rtpPortMin) {
    r.errors.push(`media.rtpPortMax: ${m.rtpPortMax} must be above rtpPortMin (${m.rtpPortMin})`);
    return;
  }
  const ports = m.rtpPortMax - m.rtpPortMin + 1;
  // The media pool splits the range evenly between workers and needs two pairs in each share.
  if (Math.floor(ports / m.workers) < 4) {
    r.errors.push(`media.rtpPortMax: range ${m.rtpPortMin}-${m.rtpPortMax} is too small for ${m.workers} workers (4 ports each at least)`);
  }
  const pairs = Math.floor(ports / 2);
  if (pairs < 2 * c.sip.maxCalls) {
    r.warnings.push(`media: RTP range ${m.rtpPortMin}-${m.rtpPortMax} holds ${pairs} RTP/RTCP pairs, fewer than 2 per call at sip.maxCalls=${c.sip.maxCalls}`);
  }
  const inRange = (p: number): boolean => p >= m.rtpPortMin && p <= m.rtpPortMax;
  c.sip.listen.forEach((l, i) => {
    if (l.transport === 'udp' && inRange(l.port)) r.errors.push(`sip.listen[${i}].port: ${l.port} lies in the RTP range ${m.rtpPortMin}-${m.rtpPortMax}`);
  });
  if (!m.languages.includes(m.language)) r.errors.push(`media.language: '${m.language}' is not in media.languages (${m.languages.join(', ')})`);
  if (m.address === null && (m.bindAddress === '0.0.0.0' || m.bindAddress === '::') && c.sip.listen.some((l) => !isLoopback(l.address))) {
    r.warnings.push(`media.address: unset with bindAddress ${m.bindAddress}: SDP will advertise 127.0.0.1, unreachable for remote phones and carriers`);
  }
}

function checkTrunks(c: Config, r: CheckReport): void {
  unique(c.trunks, (t) => t.id, (i) => `trunks[${i}].id`, 'trunk id', r);
  c.trunks.forEach((t, i) => {
    if (t.auth === null && t.allow.some((a) => a === '0.0.0.0/0' || a === '::/0')) {
      r.warnings.push(`trunks[${i}].allow: admits every address without digest auth: anyone can place calls into the queues`);
    }
    if (new Set(t.codecs).size !== t.codecs.length) r.errors.push(`trunks[${i}].codecs: a codec is listed twice`);
  });
  if (c.trunks.length === 0) r.warnings.push('trunks: none configured; no carrier call will be admitted');
}

/** Outbound trunks: unique ids, and a SIP socket of each trunk's transport to send from. */
function checkOutbound(c: Config, r: CheckReport): void {
  unique(c.outbound.trunks, (t) => t.id, (i) => `outbound.trunks[${i}].id`, 'outbound trunk id', r);
  const transports = new Set(c.sip.listen.map((l) => l.transport));
  c.outbound.trunks.forEach((t, i) => {
    if (!transports.has(t.transport)) r.errors.push(`outbound.trunks[${i}].transport: no sip.listen socket of transport ${t.transport} to send from`);
  });
}

function checkAgents(c: Config, r: CheckReport): void {
  unique(c.agents, (a) => a.id, (i) => `agents[${i}].id`, 'agent id', r);
  unique(c.agents, (a) => a.extension, (i) => `agents[${i}].extension`, 'extension', r);
  const reg = c.registrar;
  if (reg.minExpires > reg.maxExpires) r.errors.push(`registrar.minExpires: ${reg.minExpires} is above maxExpires (${reg.maxExpires})`);
  if (reg.defaultExpires < reg.minExpires || reg.defaultExpires > reg.maxExpires) {
    r.errors.push(`registrar.defaultExpires: ${reg.defaultExpires} is outside minExpires..maxExpires (${reg.minExpires}..${reg.maxExpires})`);
  }
  const used = new Set<string>();
  for (const q of c.queues) {
    used.add(q.skill ?? q.id);
    for (const step of q.expansion) for (const t of step.add) used.add(t.skill);
  }
  c.agents.forEach((a, i) => {
    for (const skill of Object.keys(a.skills)) {
      if (!used.has(skill)) r.errors.push(`${key(`agents[${i}].skills`, skill)}: no queue uses skill '${skill}' (queues: ${c.queues.map((q) => q.id).join(', ') || 'none'})`);
    }
  });
  if (c.agents.length === 0) r.warnings.push('agents: none configured; no call can be answered');
}

function checkQueues(c: Config, r: CheckReport): void {
  unique(c.queues, (q) => q.id, (i) => `queues[${i}].id`, 'queue id', r);
  const ids = new Set(c.queues.map((q) => q.id));
  c.queues.forEach((q, i) => {
    const ref = (field: string, target: string | null): void => {
      if (target === null) return;
      if (!ids.has(target)) r.errors.push(`queues[${i}].${field}: '${target}' is not a queue`);
      else if (target === q.id) r.errors.push(`queues[${i}].${field}: points to the queue itself`);
    };
    ref('fullOverflowQueueId', q.fullOverflowQueueId);
    ref('maxWaitQueueId', q.maxWaitQueueId);
    ref('admission.overflowQueueId', q.admission.overflowQueueId);
    if ((q.admission.overflowAboveMs === null) !== (q.admission.overflowQueueId === null)) {
      r.errors.push(`queues[${i}].admission: overflowAboveMs and overflowQueueId go together`);
    }
    if (q.fullOverflowQueueId !== null && q.maxLength === null) {
      r.warnings.push(`queues[${i}].fullOverflowQueueId: never used, maxLength is unlimited`);
    }
    const skill = q.skill ?? q.id;
    if (c.agents.length > 0 && !c.agents.some((a) => (a.skills[skill] ?? 0) >= q.minLevel)) {
      r.warnings.push(`queues[${i}]: no agent has skill '${skill}' at level ${q.minLevel} or more; callers wait for expansion steps only`);
    }
  });
  if (c.queues.length === 0) r.warnings.push('queues: none configured');
  const cbq = c.callbacks.defaultQueue;
  if (cbq !== null && !ids.has(cbq)) r.errors.push(`callbacks.defaultQueue: '${cbq}' is not a queue`);
  // Predictive dialing connects an answered customer within 2 s: only a phone that answers by itself can.
  if (c.callbacks.dialing.mode === 'predictive') {
    if (!c.agents.some((a) => a.autoAnswer)) r.errors.push('callbacks.dialing.mode: predictive needs agents with autoAnswer: true');
    for (const q of c.queues) {
      const skill = q.skill ?? q.id;
      const manual = c.agents.filter((a) => (a.skills[skill] ?? 0) >= q.minLevel && !a.autoAnswer).map((a) => a.id);
      if (manual.length > 0) r.errors.push(`callbacks.dialing.mode: predictive, but agents ${manual.join(', ')} of queue ${q.id} are not on autoAnswer`);
    }
  }
}

/** Every action reachable from a flow's steps, with its field path. */
function actionsOf(path: string, steps: readonly FlowStep[]): Array<[string, FlowAction]> {
  const out: Array<[string, FlowAction]> = [];
  steps.forEach((s, i) => {
    if (s.type === 'menu') for (const [digit, a] of Object.entries(s.options)) out.push([key(`${path}[${i}].menu.options`, digit), a]);
    else if (s.type === 'branch') {
      out.push([`${path}[${i}].branch.then`, s.then]);
      if (s.else !== null) out.push([`${path}[${i}].branch.else`, s.else]);
    } else if (s.type === 'query') {
      out.push([`${path}[${i}].query.failed`, s.failed]);
      if (s.notFound !== null) out.push([`${path}[${i}].query.notFound`, s.notFound]);
    } else if (s.type === 'products') {
      out.push([`${path}[${i}].products.agent`, s.agent], [`${path}[${i}].products.failed`, s.failed]);
      if (s.notFound !== null) out.push([`${path}[${i}].products.notFound`, s.notFound]);
    } else if (isTerminal(s)) out.push([`${path}[${i}].${s.type}`, s]);
  });
  return out;
}

/** Prompt references of a flow step, with their field paths. */
function promptsOf(path: string, s: FlowStep): Array<[string, string]> {
  switch (s.type) {
    case 'play': return s.prompts.map((p, j) => [`${path}.play[${j}]`, p]);
    case 'menu': {
      const out: Array<[string, string]> = [[`${path}.menu.prompt`, s.prompt]];
      if (s.invalidPrompt !== null) out.push([`${path}.menu.invalidPrompt`, s.invalidPrompt]);
      for (const [digit, a] of Object.entries(s.options)) out.push(...promptsOf(key(`${path}.menu.options`, digit), a));
      return out;
    }
    case 'collect': {
      const out: Array<[string, string]> = [[`${path}.collect.prompt`, s.prompt]];
      if (s.invalidPrompt !== null) out.push([`${path}.collect.invalidPrompt`, s.invalidPrompt]);
      return out;
    }
    case 'branch': return [...promptsOf(`${path}.branch.then`, s.then), ...(s.else === null ? [] : promptsOf(`${path}.branch.else`, s.else))];
    case 'query': {
      const out: Array<[string, string]> = [];
      if (s.notFoundPrompt !== null) out.push([`${path}.query.notFoundPrompt`, s.notFoundPrompt]);
      if (s.failedPrompt !== null) out.push([`${path}.query.failedPrompt`, s.failedPrompt]);
      out.push(...promptsOf(`${path}.query.failed`, s.failed), ...(s.notFound === null ? [] : promptsOf(`${path}.query.notFound`, s.notFound)));
      return out;
    }
    case 'products': {
      const out: Array<[string, string]> = [];
      for (const f of ['invalidPrompt', 'notFoundPrompt', 'failedPrompt'] as const) {
        const name = s[f];
        if (name !== null) out.push([`${path}.products.${f}`, name]);
      }
      out.push(...promptsOf(`${path}.products.agent`, s.agent), ...promptsOf(`${path}.products.failed`, s.failed));
      if (s.notFound !== null) out.push(...promptsOf(`${path}.products.notFound`, s.notFound));
      return out;
    }
    case 'callback': return s.prompt === null ? [] : [[`${path}.callback.prompt`, s.prompt]];
    case 'hangup': return s.prompt === null ? [] : [[`${path}.hangup.prompt`, s.prompt]];
    default: return [];
  }
}

function checkFlows(c: Config, r: CheckReport, opts: CheckOptions): void {
  // Without the directory every prompt would be reported missing: say it once instead.
  const promptsDir = openable('media.promptsDir', c.media.promptsDir, 'directory', r, opts);
  const queues = new Set(c.queues.map((q) => q.id));
  const reachedQueues = new Set<string>();
  const reachedFlows = new Set<string>();
  const missingPrompt = (field: string, name: string): void => {
    if (!promptsDir) return;
    const files = name.includes('/') ? [name] : c.media.languages.map((lang) => `${lang}/${name}`);
    const missing = files.filter((f) => !opts.promptExists(f));
    if (missing.length > 0) r.errors.push(`${field}: prompt '${name}' not found (${missing.map((f) => `${f}.wav`).join(', ')} in the prompts directory)`);
  };

  for (const [flowId, steps] of Object.entries(c.flows)) {
    const path = key('flows', flowId);
    const end = steps.findIndex(isTerminal);
    if (end === -1) r.errors.push(`${path}: the last step must be queue, callback, hangup or goto`);
    else if (end < steps.length - 1) r.errors.push(`${path}[${end + 1}]: unreachable, step ${end} (${steps[end]?.type}) ends the flow`);
    steps.forEach((s, i) => {
      for (const [field, name] of promptsOf(`${path}[${i}]`, s)) missingPrompt(field, name);
      // A query's readout (status words, money units) in each language: a missing one would fail the playback at run time.
      if (s.type === 'query' && s.readout) {
        for (const lang of c.media.languages) for (const name of readoutPrompts(s.kind, lang)) missingPrompt(`${path}[${i}].query.readout`, `${lang}/${name}`);
      }
      if (s.type === 'products') {
        for (const lang of c.media.languages) for (const name of readoutPrompts('products', lang)) missingPrompt(`${path}[${i}].products`, `${lang}/${name}`);
      }
    });
    for (const [field, a] of actionsOf(path, steps)) {
      if (a.type === 'queue' || a.type === 'callback') {
        for (const q of a.type === 'queue' ? [a.queue, a.vipQueue] : [a.queue]) {
          if (q === null) continue;
          reachedQueues.add(q);
          if (!queues.has(q)) r.errors.push(`${field}: '${q}' is not a queue`);
        }
      } else if (a.type === 'goto') {
        reachedFlows.add(a.flow);
        if (c.flows[a.flow] === undefined) r.errors.push(`${field}: '${a.flow}' is not a flow`);
      }
    }
  }
  checkGotoLoops(c, r);
  checkQueries(c, r);

  for (const [number, route] of Object.entries(c.numbers)) {
    reachedFlows.add(route.flow);
    if (c.flows[route.flow] === undefined) r.errors.push(`${key('numbers', number)}.flow: '${route.flow}' is not a flow`);
  }
  if (c.numbers.default === undefined && Object.keys(c.flows).length > 0) {
    r.warnings.push('numbers.default: absent; calls to numbers not listed are refused (404)');
  }
  for (const flowId of Object.keys(c.flows)) {
    if (!reachedFlows.has(flowId)) r.warnings.push(`${key('flows', flowId)}: not used by any number or goto`);
  }
  c.queues.forEach((q, i) => {
    missingPrompt(`queues[${i}].holdMusic`, q.holdMusic);
    if (q.announcePeriodMs > 0) {
      for (const name of ANNOUNCEMENT_PROMPTS) missingPrompt(`queues[${i}].announcePeriodMs (announcement)`, name);
    }
    for (const t of [q.fullOverflowQueueId, q.maxWaitQueueId, q.admission.overflowQueueId]) if (t !== null) reachedQueues.add(t);
  });
  c.queues.forEach((q, i) => {
    if (!reachedQueues.has(q.id)) r.warnings.push(`queues[${i}]: '${q.id}' is not reached by any flow or overflow`);
  });
  if (c.crm.blacklistAction === 'announce') missingPrompt('crm.blacklistAction', 'goodbye');
}

/**
 * A flow without a menu runs straight through to its final step; if that is a `goto` chain that
 * comes back to itself, the call loops forever without the caller being able to leave.
 */
/**
 * Goto loops the caller cannot leave: flows that end in goto with no menu or branch to go
 * elsewhere (the caller would hear the same prompts forever), and flows that reach each other by
 * goto (terminal or a branch's) before any step that waits (play, menu, collect): those would
 * loop at once, on the event loop.
 */
function checkGotoLoops(c: Config, r: CheckReport): void {
  const endless = new Map<string, string[]>();
  const instant = new Map<string, string[]>();
  for (const [flowId, steps] of Object.entries(c.flows)) {
    const last = steps[steps.length - 1];
    const exit = steps.some((s) => s.type === 'menu' || s.type === 'branch' || s.type === 'query' || s.type === 'products');
    endless.set(flowId, last?.type === 'goto' && !exit ? [last.flow] : []);
    const to: string[] = [];
    for (const s of steps) {
      if (s.type === 'play' || s.type === 'menu' || s.type === 'collect' || s.type === 'products') break;
      if (s.type === 'branch') for (const a of [s.then, s.else]) if (a?.type === 'goto') to.push(a.flow);
      if (s.type === 'query') for (const a of [s.failed, s.notFound]) if (a?.type === 'goto') to.push(a.flow);
      if (s.type === 'goto') to.push(s.flow);
    }
    instant.set(flowId, to);
  }
  const reported = new Set<string>();
  const loops = (next: Map<string, string[]>, why: string): void => {
    const walk = (chain: string[]): void => {
      for (const n of next.get(chain[chain.length - 1]!) ?? []) {
        const i = chain.indexOf(n);
        if (i < 0) {
          if (chain.length <= next.size) walk([...chain, n]);
          continue;
        }
        const loop = chain.slice(i);
        if (loop.some((f) => reported.has(f))) continue;
        loop.forEach((f) => reported.add(f));
        r.errors.push(`${key('flows', n)}: goto loop ${[...loop, n].join(' → ')} ${why}`);
      }
    };
    for (const start of next.keys()) walk([start]);
  };
  loops(instant, 'with no play, menu or collect to wait in');
  loops(endless, 'with no menu to leave it');
}

/**
 * Query and products steps: the configured adapter must have a query (the built-in SQLite CRM and the webhook
 * adapter have none: every caller would take the fallback), and the order number must come from a
 * collect step of some flow.
 */
function checkQueries(c: Config, r: CheckReport): void {
  const collected = new Set<string>();
  for (const steps of Object.values(c.flows)) for (const s of steps) if (s.type === 'collect') collected.add(s.into);
  for (const [flowId, steps] of Object.entries(c.flows)) {
    steps.forEach((s, i) => {
      if (s.type !== 'query' && s.type !== 'products') return;
      const field = `${key('flows', flowId)}[${i}].${s.type}`;
      if (c.crm.adapter === 'sqlite') {
        r.errors.push(`${field}: crm.adapter sqlite has no query (IVR self-service); use shop, webhook with queryUrl, or a module adapter that implements query`);
      } else if (c.crm.adapter === 'webhook' && c.crm.queryUrl === null) {
        r.errors.push(`${field}: crm.queryUrl is null: the webhook CRM would answer no query`);
      }
      if (s.type === 'products') return;
      if (s.kind === 'orderSms' && c.crm.adapter === 'shop' && c.crm.notifications.sms === null) {
        r.errors.push(`${field}: crm.notifications.sms is null: the shop sends no SMS, so every caller would be told nothing was sent`);
      }
      for (const v of [s.orderNumber, s.verification]) {
        if (v !== null && !collected.has(v)) r.warnings.push(`${field}: variable '${v}' is not set by any collect step`);
      }
    });
  }
}

function checkOperations(c: Config, r: CheckReport, opts: CheckOptions): void {
  const codes = Object.entries(c.featureCodes);
  unique(codes, ([, code]) => code, (i) => `featureCodes.${codes[i]?.[0]}`, 'feature code', r);
  // Both kinds have the SQLite file (with postgres: the tables not in PostgreSQL yet).
  if (c.database.path !== ':memory:') openable('database.path', c.database.path, 'database', r, opts);
  // The engine imports it at start; whether it keeps the contract is checked then (importing it
  // here would run the adapter's code on every check).
  if (c.crm.adapter === 'module') openable('crm.module', c.crm.module, 'file', r, opts);
  if (c.crm.adapter === 'webhook') {
    const url = new URL(c.crm.url);
    if (url.protocol === 'http:' && !isLoopback(url.hostname.replace(/^\[|\]$/g, ''))) {
      r.warnings.push(`crm.url: plain http to ${url.hostname}; CDRs and caller data travel unencrypted`);
    }
    if (c.crm.secret.length < 16) r.warnings.push('crm.secret: shorter than 16 characters, easy to guess');
  }
}
