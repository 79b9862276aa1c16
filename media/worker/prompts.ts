/**
 * The worker's prompt source: the shared prompt cache of media/prompts plus its number read-out.
 */
import { PromptCache, numberReadout } from '../prompts/index.ts';
import type { PromptSource } from '../player/index.ts';

/**
 * A {@link PromptSource} over the prompt directory `dir`, preloaded so the pacing clock never waits
 * on a disk read in steady state.
 */
export function promptSource(dir: string): PromptSource {
  const cache = new PromptCache({ dir });
  cache.preload();
  return {
    get: (name) => cache.get(name),
    readout: (n, lang) => numberReadout(n, lang),
  };
}
