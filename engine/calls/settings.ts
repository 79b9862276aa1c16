/**
 * Call-control settings from the configuration: policy (which prompt, which digit, what a refusal
 * writes), so it lives here and is tested here; the composition root only calls it.
 */
import type { Config, FlowAction, FlowStep as ConfigStep } from '../config/index.ts';
import type { CallsSettings, DeskAction, Flow, FlowCondition, FlowStep, MenuAction, QueueCallSettings } from './types.ts';

/** A configured pattern as a whole-input match (the schema has checked that it compiles). */
const anchored = (p: string): RegExp => new RegExp(`^(?:${p})$`);

/** What a queue not in the settings gets: the schema's defaults. */
export const DEFAULT_QUEUE_CALL_SETTINGS: Readonly<QueueCallSettings> = Object.freeze({
  holdMusic: 'hold/music', announcePosition: true, announceWait: true, abandonToCallback: true, callbackDigit: '3',
  consultRingTimeoutMs: 30_000,
});

const prompts = (p: string | null | undefined): string[] => (p ? [p] : []);

function action(a: FlowAction): MenuAction {
  switch (a.type) {
    case 'queue': return { type: 'queue', queue: a.queue, vipQueue: a.vipQueue };
    case 'callback': return { type: 'callback', queue: a.queue, prompts: [...prompts(a.prompt), 'goodbye'] };
    case 'hangup': return { type: 'hangup' };
    case 'goto': return { type: 'flow', flow: a.flow };
  }
}

/** A configured flow step as call control runs it (prompts as lists, times in ms, patterns compiled). */
export function flowStep(s: ConfigStep): FlowStep {
  switch (s.type) {
    case 'play': return { type: 'play', prompts: [...s.prompts] };
    case 'menu': return {
      type: 'menu', prompts: [s.prompt], timeoutMs: s.timeoutSeconds * 1000, retries: s.retries,
      invalidPrompts: prompts(s.invalidPrompt),
      options: Object.fromEntries(Object.entries(s.options).map(([d, a]) => [d, action(a)])),
    };
    case 'collect': return {
      type: 'collect', into: s.into, prompts: [s.prompt], minDigits: s.minDigits, maxDigits: s.maxDigits, terminator: s.terminator,
      firstDigitTimeoutMs: s.firstDigitTimeoutSeconds * 1000, interDigitTimeoutMs: s.interDigitTimeoutSeconds * 1000,
      retries: s.retries, invalidPrompts: prompts(s.invalidPrompt), pattern: s.pattern === null ? null : anchored(s.pattern),
    };
    case 'branch': return {
      type: 'branch', then: action(s.then), else: s.else === null ? null : action(s.else),
      when: s.when.map((c): FlowCondition => (c.kind === 'var' ? { ...c, matches: c.matches === null ? null : anchored(c.matches) } : c)),
    };
    case 'query': return {
      type: 'query', kind: s.kind, orderNumberVar: s.orderNumber, verificationVar: s.verification, into: s.into, timeoutMs: s.timeoutMs,
      readout: s.readout, notFoundPrompts: prompts(s.notFoundPrompt), notFound: s.notFound === null ? null : action(s.notFound),
      failedPrompts: prompts(s.failedPrompt), failed: action(s.failed),
    };
    case 'products': return {
      type: 'products', max: s.max, into: s.into, timeoutMs: s.timeoutMs, menuTimeoutMs: s.menuTimeoutSeconds * 1000, retries: s.retries,
      invalidPrompts: prompts(s.invalidPrompt), agent: action(s.agent), notFoundPrompts: prompts(s.notFoundPrompt),
      notFound: s.notFound === null ? null : action(s.notFound), failedPrompts: prompts(s.failedPrompt), failed: action(s.failed),
    };
    case 'queue': return { type: 'queue', queue: s.queue, vipQueue: s.vipQueue };
    case 'callback': return { type: 'callback', queue: s.queue, prompts: [...prompts(s.prompt), 'goodbye'] };
    case 'hangup': return { type: 'hangup', prompts: prompts(s.prompt) };
    case 'goto': return { type: 'goto', flow: s.flow };
  }
}

/** The configured IVR surveys (config `surveys`) as flows, by id (engine/campaigns, mode ivr). */
export function surveysFromConfig(config: Pick<Config, 'surveys'>): Map<string, Flow> {
  const surveys = new Map<string, Flow>();
  for (const [id, steps] of Object.entries(config.surveys)) surveys.set(id, { id, steps: steps.map(flowStep) });
  return surveys;
}

/**
 * {@link CallsSettings} of a validated configuration (the flow language is the config's).
 * `mediaStreams` is the media capacity in force: the engine passes what `mediaCapacity` measured
 * for `media.maxStreams: 'auto'`; left out, a configured number is used and 'auto' means no limit.
 */
export function settingsFromConfig(config: Config, mediaStreams: number | null = config.media.maxStreams === 'auto' ? null : config.media.maxStreams): CallsSettings {
  const flows: Record<string, Flow> = {};
  for (const [id, steps] of Object.entries(config.flows)) flows[id] = { id, steps: steps.map(flowStep) };
  const numbers: Record<string, CallsSettings['defaultRoute']> = {};
  for (const [n, r] of Object.entries(config.numbers)) if (n !== 'default') numbers[n] = { flow: r.flow, programme: r.programme, airing: r.airing };
  const dflt = config.numbers['default'];
  const firstFlow = Object.keys(config.flows)[0] ?? 'main';
  const queues: Record<string, QueueCallSettings> = {};
  for (const q of config.queues) {
    queues[q.id] = {
      holdMusic: q.holdMusic, announcePosition: q.announcePosition, announceWait: q.announceWait,
      abandonToCallback: q.abandonToCallback, callbackDigit: q.admission.callbackDigit, consultRingTimeoutMs: q.consultRingTimeoutMs,
    };
  }
  const codes: Record<string, DeskAction> = {};
  codes[config.featureCodes.ready] = 'ready';
  codes[config.featureCodes.notReady] = 'notReady';
  codes[config.featureCodes.logout] = 'logout';
  codes[config.featureCodes.login] = 'login';
  const refusals = config.callbacks.capacityRefusals;
  return {
    maxCalls: config.sip.maxCalls, retryAfterSeconds: config.sip.retryAfterSeconds, flows, numbers,
    defaultRoute: dflt ? { flow: dflt.flow, programme: dflt.programme, airing: dflt.airing } : { flow: firstFlow, programme: null, airing: null },
    defaultCallbackQueue: config.callbacks.defaultQueue ?? config.queues[0]?.id ?? 'default',
    language: config.media.language === 'zh' ? 'zh' : 'en',
    lookupDeadlineMs: config.crm.lookupDeadlineMs, blacklistAction: config.crm.blacklistAction, queues,
    featureCodes: codes, rtpTimeoutMs: config.media.rtpTimeoutSeconds * 1000,
    vipPriority: config.crm.vipPriorityPerLevel > 0,
    refusals: { recordsPerSecond: refusals.recordsPerSecond, burst: refusals.burst, dedupeMs: refusals.dedupeSeconds * 1000 },
    mediaStreams,
  };
}
