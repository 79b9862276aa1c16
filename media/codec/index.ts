/**
 * Codecs: G.711 µ-law/A-law lookup tables and table transcoding. The only module other folders
 * import from `media/codec/`.
 */
export {
  ULAW_TO_LINEAR, ALAW_TO_LINEAR, ULAW_TO_ALAW, ALAW_TO_ULAW, ULAW_SILENCE, ALAW_SILENCE,
  linearToUlaw, linearToAlaw, transcode, encodeLinear, decodeTable, silenceByte, staticPayloadType,
} from './g711.ts';
export type { G711 } from './g711.ts';
