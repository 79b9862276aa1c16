/**
 * WAV (RIFF) loading for prompts: 8 kHz mono PCM16, µ-law or A-law, converted once into both
 * G.711 laws so playback never converts anything.
 */
import { readFileSync } from 'node:fs';
import {
  ALAW_TO_ULAW, ULAW_TO_ALAW, ULAW_SILENCE, ALAW_SILENCE, linearToUlaw, linearToAlaw, transcode,
} from '../codec/index.ts';

/** G.711 samples per 20 ms packet at 8 kHz. */
export const FRAME_BYTES = 160;

/** A prompt ready to send: both laws, 8 kHz, padded with silence to whole 20 ms frames. */
export interface Prompt {
  /** Cache name, e.g. `'en/welcome'` (the file name for {@link loadWav}). */
  name: string;
  /** µ-law bytes, a multiple of 160 (one 20 ms packet each). */
  pcmu: Buffer;
  /** A-law bytes, same length as `pcmu`. */
  pcma: Buffer;
  /** Duration of the audio before padding, ms. */
  durationMs: number;
}

/** Stable error codes of {@link loadWav}. */
export type WavErrorCode =
  | 'MEDIA_ERR_WAV_READ' //   the file cannot be read
  | 'MEDIA_ERR_WAV_PARSE' //  not a RIFF/WAVE file, or truncated chunks
  | 'MEDIA_ERR_WAV_FORMAT'; // a valid WAV in a format prompts do not use

/** Result of {@link loadWav}: a prompt, or a code and a reason naming the file. */
export type WavResult = { ok: true; prompt: Prompt } | { ok: false; code: WavErrorCode; reason: string };

/** WAVE format tags that matter here (RFC 2361, mmreg.h). */
const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_ALAW = 6;
const WAVE_FORMAT_MULAW = 7;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/** Read and convert a WAV file. See {@link parseWav}. */
export function loadWav(file: string, name: string = file): WavResult {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    return { ok: false, code: 'MEDIA_ERR_WAV_READ', reason: `${file}: ${(err as Error).message}` };
  }
  return parseWav(bytes, file, name);
}

/**
 * Parse WAV bytes into a {@link Prompt}. Accepts 8000 Hz mono PCM 16-bit, µ-law or A-law (also
 * inside WAVE_FORMAT_EXTENSIBLE); anything else is refused with `MEDIA_ERR_WAV_FORMAT` and a reason
 * that names the file and the format found, so a wrong prompt is fixed from the log line alone.
 *
 * ```
 * "RIFF" size "WAVE" | "fmt " len | tag(2) channels(2) rate(4) byteRate(4) align(2) bits(2) ...
 *                    | ...other chunks skipped... | "data" len | samples ... (pad byte if odd)
 * ```
 */
export function parseWav(bytes: Buffer, file: string, name: string = file): WavResult {
  if (bytes.length < 12 || bytes.toString('latin1', 0, 4) !== 'RIFF' || bytes.toString('latin1', 8, 12) !== 'WAVE') {
    return { ok: false, code: 'MEDIA_ERR_WAV_PARSE', reason: `${file}: not a RIFF/WAVE file` };
  }
  let tag = -1;
  let channels = 0;
  let rate = 0;
  let bits = 0;
  let data: Buffer | undefined;
  for (let off = 12; off + 8 <= bytes.length;) {
    const id = bytes.toString('latin1', off, off + 4);
    const size = bytes.readUInt32LE(off + 4);
    const body = off + 8;
    const end = body + size;
    // A data chunk may run past the end: writers that stream (to a pipe) cannot seek back to fix
    // its size, and a file still being copied is cut short. Take the samples that are there.
    if (end > bytes.length && id !== 'data') {
      return { ok: false, code: 'MEDIA_ERR_WAV_PARSE', reason: `${file}: chunk "${id}" truncated` };
    }
    if (id === 'fmt ') {
      if (size < 16) return { ok: false, code: 'MEDIA_ERR_WAV_PARSE', reason: `${file}: fmt chunk too short (${size} bytes)` };
      tag = bytes.readUInt16LE(body);
      channels = bytes.readUInt16LE(body + 2);
      rate = bytes.readUInt32LE(body + 4);
      bits = bytes.readUInt16LE(body + 14);
      if (tag === WAVE_FORMAT_EXTENSIBLE && size >= 40) tag = bytes.readUInt16LE(body + 24); // SubFormat GUID's first two bytes
    } else if (id === 'data') {
      data = bytes.subarray(body, Math.min(end, bytes.length));
      break;
    }
    off = body + size + (size & 1);
  }
  if (tag < 0) return { ok: false, code: 'MEDIA_ERR_WAV_PARSE', reason: `${file}: no fmt chunk` };
  if (data === undefined) return { ok: false, code: 'MEDIA_ERR_WAV_PARSE', reason: `${file}: no data chunk` };

  const kind = tag === WAVE_FORMAT_PCM && bits === 16 ? 'pcm16'
    : tag === WAVE_FORMAT_MULAW && bits === 8 ? 'ulaw'
      : tag === WAVE_FORMAT_ALAW && bits === 8 ? 'alaw'
        : undefined;
  if (kind === undefined || channels !== 1 || rate !== 8000) {
    return {
      ok: false,
      code: 'MEDIA_ERR_WAV_FORMAT',
      reason: `${file}: ${describe(tag, bits, channels, rate)}; prompts must be 8000 Hz mono PCM 16-bit, µ-law or A-law`,
    };
  }

  const samples = kind === 'pcm16' ? data.length >> 1 : data.length;
  const padded = Math.ceil(samples / FRAME_BYTES) * FRAME_BYTES;
  const pcmu = Buffer.alloc(padded, ULAW_SILENCE);
  const pcma = Buffer.alloc(padded, ALAW_SILENCE);
  if (kind === 'pcm16') {
    for (let i = 0; i < samples; i++) {
      const s = data.readInt16LE(i * 2);
      pcmu[i] = linearToUlaw(s);
      pcma[i] = linearToAlaw(s);
    }
  } else if (kind === 'ulaw') {
    data.copy(pcmu, 0, 0, samples);
    transcode(data, 0, samples, pcma, 0, ULAW_TO_ALAW);
  } else {
    data.copy(pcma, 0, 0, samples);
    transcode(data, 0, samples, pcmu, 0, ALAW_TO_ULAW);
  }
  return { ok: true, prompt: { name, pcmu, pcma, durationMs: samples / 8 } };
}

function describe(tag: number, bits: number, channels: number, rate: number): string {
  const format = tag === WAVE_FORMAT_PCM ? `PCM ${bits}-bit`
    : tag === WAVE_FORMAT_MULAW ? `µ-law ${bits}-bit`
      : tag === WAVE_FORMAT_ALAW ? `A-law ${bits}-bit`
        : tag === 3 ? `IEEE float ${bits}-bit`
          : tag === 0x11 ? 'IMA ADPCM'
            : tag === 0x55 ? 'MP3'
              : `format tag 0x${tag.toString(16)} ${bits}-bit`;
  return `${format}, ${channels === 1 ? 'mono' : channels === 2 ? 'stereo' : `${channels} channels`}, ${rate} Hz`;
}
