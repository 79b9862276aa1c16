/**
 * The worker's prompt source: the shared prompt cache of media/prompts plus its number read-out.
 */
import { PromptCache, numberReadout, TTS_PREFIX } from '../prompts/index.ts';
import type { PromptSource } from '../player/index.ts';

/**
 * A {@link PromptSource} over the prompt directory `dir`, preloaded so the pacing clock never waits
 * on a disk read in steady state. `ttsDir`: the run-time prompts' cache (media/prompts/tts.ts),
 * read as `tts/<hash>` on first use (each a few kB, written before the call asks for it).
 */
export function promptSource(dir: string, ttsDir?: string): PromptSource {
  const cache = new PromptCache({ dir, ...(ttsDir !== undefined && { mounts: { [TTS_PREFIX]: ttsDir } }) });
  cache.preload();
  return {
    get: (name) => cache.get(name),
    readout: (n, lang) => numberReadout(n, lang),
  };
}
