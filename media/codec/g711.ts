/**
 * G.711 µ-law (PCMU) and A-law (PCMA) by lookup tables, built once at module load.
 *
 * The encoders are the classic sign/magnitude implementations (Sun g711.c, also used by Asterisk
 * and by the `alawmulaw` package, which the tests use as reference for all 65,536 inputs); the
 * decoders give the ITU-T G.711 reconstruction values scaled to 16 bits (µ-law ±32124, A-law
 * ±32256). Companding every sample through a 64K table is one indexed load per sample.
 */

/** The two G.711 laws, named as their RTP/AVP encoding names (RFC 3551 §6: PT 0 and PT 8). */
export type G711 = 'PCMU' | 'PCMA';

/** µ-law code of silence (the "positive zero"): what a muted PCMU stream carries. */
export const ULAW_SILENCE = 0xff;
/** A-law code of silence (+8 linear, the smallest positive step, even bits inverted). */
export const ALAW_SILENCE = 0xd5;

function ulawDecode(code: number): number {
  const u = ~code & 0xff;
  const exponent = (u >> 4) & 0x07;
  // ((mantissa << 3) + bias) << exponent, minus the bias again (G.711 Table 2, scaled by 4).
  const magnitude = ((((u & 0x0f) << 3) + 0x84) << exponent) - 0x84;
  return (u & 0x80) !== 0 ? -magnitude : magnitude;
}

function alawDecode(code: number): number {
  const a = code ^ 0x55;
  const exponent = (a >> 4) & 0x07;
  let magnitude = (a & 0x0f) << 4;
  if (exponent === 0) magnitude += 8;
  else magnitude = (magnitude + 0x108) << (exponent - 1);
  // A-law's sign bit is 1 for positive values (the opposite of µ-law).
  return (a & 0x80) !== 0 ? magnitude : -magnitude;
}

function segment(magnitude: number): number {
  // Position of the highest set bit above bit 7, 0..7 (the G.711 segment number).
  let s = 0;
  for (let v = magnitude >> 8; v > 0 && s < 7; v >>= 1) s++;
  return s;
}

function ulawEncode(sample: number): number {
  const BIAS = 0x84;
  const CLIP = 32635;
  let magnitude = sample;
  let sign = 0;
  if (sample < 0) {
    magnitude = -sample;
    sign = 0x80;
  }
  magnitude = Math.min(magnitude + BIAS, CLIP);
  const exponent = segment(magnitude);
  const mantissa = (magnitude >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

function alawEncode(sample: number): number {
  let magnitude: number;
  let sign: number;
  if (sample >= 0) {
    magnitude = sample;
    sign = 0x80;
  } else {
    magnitude = sample === -32768 ? 32767 : -sample;
    sign = 0;
  }
  if (magnitude > 32635) magnitude = 32635;
  let code: number;
  if (magnitude >= 256) {
    const exponent = segment(magnitude);
    code = (exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0f);
  } else {
    code = magnitude >> 4;
  }
  return (code | sign) ^ 0x55;
}

/** µ-law code → 16-bit linear sample (256 entries). */
export const ULAW_TO_LINEAR = new Int16Array(256);
/** A-law code → 16-bit linear sample (256 entries). */
export const ALAW_TO_LINEAR = new Int16Array(256);
// Indexed by the sample's 16-bit two's complement pattern (sample & 0xffff).
const LINEAR_TO_ULAW = new Uint8Array(65536);
const LINEAR_TO_ALAW = new Uint8Array(65536);
/**
 * µ-law code → A-law code by way of the linear value (as Asterisk's codec_a_mu does), 256 entries.
 * Use with {@link transcode}.
 */
export const ULAW_TO_ALAW = new Uint8Array(256);
/** A-law code → µ-law code by way of the linear value, 256 entries. Use with {@link transcode}. */
export const ALAW_TO_ULAW = new Uint8Array(256);

for (let i = 0; i < 256; i++) {
  ULAW_TO_LINEAR[i] = ulawDecode(i);
  ALAW_TO_LINEAR[i] = alawDecode(i);
}
for (let i = 0; i < 65536; i++) {
  const sample = i >= 32768 ? i - 65536 : i;
  LINEAR_TO_ULAW[i] = ulawEncode(sample);
  LINEAR_TO_ALAW[i] = alawEncode(sample);
}
for (let i = 0; i < 256; i++) {
  ULAW_TO_ALAW[i] = LINEAR_TO_ALAW[ULAW_TO_LINEAR[i]! & 0xffff]!;
  ALAW_TO_ULAW[i] = LINEAR_TO_ULAW[ALAW_TO_LINEAR[i]! & 0xffff]!;
}

/** Encode one 16-bit linear sample (values outside ±32767 are clamped) to µ-law. */
export function linearToUlaw(sample: number): number {
  return LINEAR_TO_ULAW[clamp16(sample) & 0xffff]!;
}

/** Encode one 16-bit linear sample (values outside ±32767 are clamped) to A-law. */
export function linearToAlaw(sample: number): number {
  return LINEAR_TO_ALAW[clamp16(sample) & 0xffff]!;
}

function clamp16(sample: number): number {
  return sample > 32767 ? 32767 : sample < -32768 ? -32768 : sample | 0;
}

/**
 * Map `len` bytes of `src` from `srcOff` through a 256-entry `table` into `dst` at `dstOff`
 * (`ULAW_TO_ALAW` or `ALAW_TO_ULAW`). `src` and `dst` may be the same buffer at the same offset:
 * the relay transcodes a received packet in place.
 */
export function transcode(src: Buffer, srcOff: number, len: number, dst: Buffer, dstOff: number, table: Uint8Array): void {
  for (let i = 0; i < len; i++) dst[dstOff + i] = table[src[srcOff + i]!]!;
}

/**
 * Encode `count` 16-bit linear samples into G.711 bytes at `dst[dstOff]` (used once per prompt at
 * load time, and by tests to synthesise tones).
 */
export function encodeLinear(samples: Int16Array, dst: Uint8Array, dstOff: number, codec: G711): void {
  const table = codec === 'PCMU' ? LINEAR_TO_ULAW : LINEAR_TO_ALAW;
  for (let i = 0; i < samples.length; i++) dst[dstOff + i] = table[samples[i]! & 0xffff]!;
}

/** The 256-entry decode table of a codec. */
export function decodeTable(codec: G711): Int16Array {
  return codec === 'PCMU' ? ULAW_TO_LINEAR : ALAW_TO_LINEAR;
}

/** The silence byte of a codec. */
export function silenceByte(codec: G711): number {
  return codec === 'PCMU' ? ULAW_SILENCE : ALAW_SILENCE;
}

/** RTP/AVP static payload type of a codec (RFC 3551 Table 4). */
export function staticPayloadType(codec: G711): number {
  return codec === 'PCMU' ? 0 : 8;
}
