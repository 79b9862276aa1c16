/**
 * Config overrides for attack runs that must work on engines before and after a fix: a field the
 * engine's schema does not know yet (a setting a fix adds) is left out with a note, instead of
 * the engine refusing to start.
 */
import { demoConfig, parseConfig, type ConfigInput } from '../../engine/config/index.ts';
import { mergeConfig } from '../../engine/testing/engine-rig.ts';

/**
 * `overrides` (laid over the demo, as spawnEngine does) without the fields this engine's schema
 * reports as unknown (`sip.admission: unknown field`, `trunks[1].maxCallsPerSecond: unknown
 * field`), and a note for each. Throws on any other config error. Copies; `overrides` is kept.
 */
export function fitToSchema(overrides: Partial<ConfigInput>): { overrides: Partial<ConfigInput>; notes: string[] } {
  const copy = structuredClone(overrides) as Record<string, unknown>;
  const notes: string[] = [];
  for (let round = 0; round < 20; round++) {
    const r = parseConfig(mergeConfig(demoConfig(), copy as Partial<ConfigInput>), { env: {} });
    if (r.ok) return { overrides: copy as Partial<ConfigInput>, notes };
    const unknown = r.errors.find((x) => x.endsWith(': unknown field'));
    const keys = unknown?.slice(0, -': unknown field'.length).replace(/\[(\d+)\]/g, '.$1').split('.') ?? [];
    let parent: Record<string, unknown> | undefined = copy;
    for (const k of keys.slice(0, -1)) parent = parent?.[k] as Record<string, unknown> | undefined;
    const last = keys[keys.length - 1];
    if (!parent || last === undefined || !(last in parent)) throw new Error(`config overrides invalid:\n${r.errors.join('\n')}`);
    delete parent[last];
    notes.push(`${keys.join('.')} is not in this engine's schema: left out`);
  }
  throw new Error('config overrides: too many unknown fields');
}
