/**
 * Conversions from the configuration to the option objects of the layers below, so that the
 * mapping is written once, next to the schema, and type-checked against those layers' own types.
 */
import type { AcdConfig, AgentConfig, QueueConfig } from '../acd/index.ts';
import type { ListenSpec } from '../sip/index.ts';
import type { Config, QueueSettings } from './schema.ts';

/** `null` in the configuration means "the ACD's default" (often unlimited): leave the field out. */
function opt<K extends string, V>(name: K, value: V | null): { [P in K]?: V } {
  return (value === null ? {} : { [name]: value }) as { [P in K]?: V };
}

function toQueueConfig(q: QueueSettings): QueueConfig {
  return {
    id: q.id,
    skill: q.skill ?? q.id,
    minLevel: q.minLevel,
    strategy: q.strategy,
    serviceLevelMs: q.serviceLevelMs,
    ...opt('maxLength', q.maxLength),
    ...opt('fullOverflowQueueId', q.fullOverflowQueueId),
    ...opt('maxWaitMs', q.maxWaitMs),
    ...opt('maxWaitQueueId', q.maxWaitQueueId),
    wrapUpMs: q.wrapUpMs,
    ringTimeoutMs: q.ringTimeoutMs,
    announcePeriodMs: q.announcePeriodMs,
    preferredAgentTimeoutMs: q.preferredAgentTimeoutMs,
    weight: q.weight,
    expansion: q.expansion.map((s) => ({
      ...opt('afterMs', s.afterMs),
      ...opt('queueLengthAtLeast', s.queueLengthAtLeast),
      add: s.add.map((t) => ({ skill: t.skill, minLevel: t.minLevel })),
    })),
    admission: {
      ...opt('callbackAboveMs', q.admission.callbackAboveMs),
      ...opt('overflowAboveMs', q.admission.overflowAboveMs),
      ...opt('overflowQueueId', q.admission.overflowQueueId),
    },
    initialHandleTimeMs: q.initialHandleTimeMs,
  };
}

/**
 * The ACD core's configuration: every queue with its routing fields (display names, hold music and
 * announcement wording stay with the call layer) and every agent with its skills. Fresh objects:
 * the ACD may keep them.
 */
export function toAcdConfig(config: Config): AcdConfig {
  const agents: AgentConfig[] = config.agents.map((a) => ({ id: a.id, skills: { ...a.skills } }));
  return { queues: config.queues.map(toQueueConfig), agents };
}

/** The SIP transport's listen specs (`TransportLayer.listen`), transports in the stack's spelling. */
export function toListenSpecs(config: Config): ListenSpec[] {
  return config.sip.listen.map((l) => ({
    transport: l.transport === 'udp' ? 'UDP' : l.transport === 'tcp' ? 'TCP' : 'TLS',
    address: l.address,
    port: l.port,
    ...(l.tls !== null && { tls: { cert: l.tls.cert, key: l.tls.key, ca: l.tls.ca ?? undefined } }),
  }));
}
