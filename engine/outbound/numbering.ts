/**
 * Customer numbers as the trunk wants them (config `outbound.numbering`). The number comes from
 * the network (the caller number of an inbound call, a CSV import), so it is checked here: letters,
 * `*`, `#`, too few or too many digits are refused with a code, never dialled.
 *
 * ```
 *   countryCode 86, nationalPrefix 0, internationalPrefix 00
 *
 *   input (any spelling)        E.164            national        e164
 *   "+86 138-0013-8000"         +8613800138000   13800138000 → "013800138000"   "+8613800138000"
 *   "0086 13800138000"          +8613800138000   (same)
 *   "013800138000"              +8613800138000   (same)
 *   "13800138000"               +8613800138000   (same)
 *   "+1 212 555 0100"           +12125550100     "0012125550100"                "+12125550100"
 * ```
 * 1. The trunks' own normalisation (visual separators out, `+` only first, letters → not a number).
 * 2. International when it starts with `+` or the international prefix; otherwise national: the
 *    national prefix, when it starts with it, is dropped and the country code put in front.
 * 3. Plausible E.164: 7 to 15 digits, the first (of the country code) not 0.
 * 4. Written out: `e164` as `+<digits>`; `national` as national prefix + national number for the
 *    own country, international prefix + digits for another (country codes are prefix-free, so
 *    "starts with our country code" is exactly "our country").
 */
import { normalizeNumber } from '../trunks/index.ts';
import type { OutboundErrorCode } from './errors.ts';

/** How numbers are written for the trunks (config `outbound.numbering`). */
export interface Numbering {
  /** Country code of the center's own numbers, digits without `+` (`86`). */
  countryCode: string;
  /** Trunk prefix of national numbers (`0`); empty when the country has none. */
  nationalPrefix: string;
  /** Prefix of international numbers (`00`, `011`). */
  internationalPrefix: string;
  /** What is sent in the Request-URI. */
  format: 'national' | 'e164';
}

/** A number ready to dial, or why not. */
export type DialNumber =
  | { ok: true; number: string; e164: string }
  | { ok: false; code: OutboundErrorCode; reason: string };

/** E.164 (ITU-T) allows at most 15 digits; fewer than 7 is no subscriber number anywhere. */
const E164_MIN = 7;
const E164_MAX = 15;
/** Longer input is refused unread (visual separators included, nothing real comes near it). */
const INPUT_MAX = 64;

/** The number to put in the Request-URI for `input`, written per `n`. */
export function dialNumberOf(input: string, n: Numbering): DialNumber {
  if (input.length > INPUT_MAX) return implausible(`longer than ${INPUT_MAX} characters`);
  const s = normalizeNumber(input);
  if (s === '') return { ok: false, code: 'OUTBOUND_ERR_NOT_A_NUMBER', reason: 'not a telephone number' };
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2a || c === 0x23) return implausible('a service code (* or #), not a subscriber number');
  }
  let e164: string;
  if (s.charCodeAt(0) === 0x2b) e164 = s.slice(1);
  else if (s.startsWith(n.internationalPrefix)) e164 = s.slice(n.internationalPrefix.length);
  else e164 = n.countryCode + (n.nationalPrefix !== '' && s.startsWith(n.nationalPrefix) ? s.slice(n.nationalPrefix.length) : s);
  if (e164.length < E164_MIN || e164.length > E164_MAX) return implausible(`${e164.length} digits in E.164 (${E164_MIN}-${E164_MAX})`);
  if (e164.charCodeAt(0) === 0x30) return implausible('a country code cannot start with 0');
  const number = n.format === 'e164'
    ? `+${e164}`
    : e164.startsWith(n.countryCode) ? n.nationalPrefix + e164.slice(n.countryCode.length) : n.internationalPrefix + e164;
  return { ok: true, number, e164: `+${e164}` };
}

function implausible(reason: string): DialNumber {
  return { ok: false, code: 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER', reason };
}
