/**
 * DTMF: RFC 4733 telephone-events and in-band Goertzel detection on G.711. The only module other
 * folders import from `media/dtmf/`.
 */
export { DTMF_DIGITS, digitToEvent, DigitQueue } from './digit.ts';
export type { DtmfDigit } from './digit.ts';
export { Rfc4733Receiver, encodeRfc4733, RFC4733_BLOCK_SIZE } from './rfc4733.ts';
export type { Rfc4733Options } from './rfc4733.ts';
export { GoertzelDetector } from './goertzel.ts';
export type { GoertzelOptions } from './goertzel.ts';
