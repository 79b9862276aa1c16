/**
 * Prompts: WAV loading into both G.711 laws, the prompt cache, number read-out, and the default
 * prompt set shipped next to this file (`en/`, `zh/`, `hold/`, made by `generate.sh`). The only
 * module other folders import from `media/prompts/`.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export { loadWav, parseWav, FRAME_BYTES } from './wav.ts';
export type { Prompt, WavResult, WavErrorCode } from './wav.ts';
export { PromptCache } from './cache.ts';
export type { PromptCacheOptions, PromptResult } from './cache.ts';
export { numberReadout, READOUT_MAX, digitsReadout, moneyReadout, MONEY_MAX_FEN } from './readout.ts';
export type { ReadoutLanguage } from './readout.ts';
export { RuntimePrompts, cleanTtsText, execTts, TTS_PREFIX, TTS_DEFAULTS } from './tts.ts';
export type { RuntimePromptsOptions, TtsResult, TtsErrorCode, TtsExec } from './tts.ts';

/**
 * Directory of the shipped prompt set. Run from source this is the folder of this module; run from
 * `dist/media/prompts/` (after `npm run build`) the WAVs are not compiled output, so it is the
 * package's `media/prompts/` folder.
 */
export function defaultPromptDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  if (existsSync(path.join(here, 'en'))) return here;
  return path.resolve(here, '../../../media/prompts');
}

/** Name of the default hold-music loop in the shipped prompt set. */
export const HOLD_MUSIC = 'hold/music';
