/**
 * Telephone numbers out of carrier INVITEs: the caller from P-Asserted-Identity (RFC 3325) or
 * From, the dialled number from the Request-URI or To, each normalised the same way.
 *
 * Normalisation (RFC 3966 §5.1.1 visual separators):
 * ```
 *   "+49 (30) 1234-56.78"        → "+493012345678"
 *   "%2B1-212-555-0100;isub=7"   → "+12125550100"
 *   "anonymous"                  → ""
 * ```
 * 1. `%XX` escapes are decoded; anything from the first `;` on (`;isub=`, `;phone-context=`,
 *    `;npdi` written in a user part) is dropped.
 * 2. Visual separators `-` `.` `(` `)` and spaces are removed.
 * 3. A `+` is kept only as the first character.
 * 4. Digits, `*` and `#` are kept.
 * 5. Anything else (letters: `anonymous`, `restricted`, `unavailable`) means "not a number":
 *    the result is the empty string.
 */
import { parseNameAddr, unescapeUri, type NameAddr, type SipRequest, type SipUri } from '../sip/index.ts';

/** Where the caller's number is read. */
export type CallerSource = 'pai' | 'from';
/** Where the dialled number is read. */
export type DialledSource = 'ruri' | 'to';

/** Normalise a telephone number as written in a URI user part (see the rules above); '' when it is none. */
export function normalizeNumber(text: string): string {
  const s = unescapeUri(text);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) out += s[i];
    else if (c === 0x2a || c === 0x23) out += s[i]; // * #
    else if (c === 0x2b) {
      if (i !== 0) return '';
      out += '+';
    } else if (c === 0x3b) break; // ; parameters in the user part
    else if (c !== 0x2d && c !== 0x2e && c !== 0x28 && c !== 0x29 && c !== 0x20) return '';
  }
  return out === '+' ? '' : out;
}

/** The number in a SIP/SIPS/TEL URI, normalised; '' for other schemes or no number. */
export function numberOfUri(uri: SipUri): string {
  if (uri.scheme !== 'sip' && uri.scheme !== 'sips' && uri.scheme !== 'tel') return '';
  return normalizeNumber(uri.user);
}

/** A caller's identity as the engine uses it. */
export interface CallerIdentity {
  /** Normalised number; '' when withheld or not a number. */
  number: string;
  /** Display name as text (UTF-8 decoded), when the header had one. */
  display: string | undefined;
}

/**
 * The caller: with `pai`, the P-Asserted-Identity (its tel: value when it carries both a tel: and
 * a sip: identity, RFC 3325 §9.1; the display name of the first value that has one), falling back
 * to From when there is none or it holds no number; with `from`, the From header.
 */
export function callerOf(request: SipRequest, source: CallerSource): CallerIdentity {
  const from = request.headers.from;
  if (source === 'pai') {
    const values = request.headers.getAll('P-Asserted-Identity');
    let chosen: NameAddr | undefined;
    let display: string | undefined;
    for (const v of values) {
      const na = parseNameAddr(v);
      if (na === undefined) continue;
      display ??= displayText(na);
      if (chosen === undefined || (na.uri.scheme === 'tel' && chosen.uri.scheme !== 'tel')) chosen = na;
    }
    const number = chosen === undefined ? '' : numberOfUri(chosen.uri);
    if (number !== '') return { number, display: display ?? displayText(from) };
  }
  return { number: numberOfUri(from.uri), display: displayText(from) };
}

/** The dialled number: the Request-URI user or the To user, normalised; '' when there is none. */
export function dialledOf(request: SipRequest, source: DialledSource): string {
  return numberOfUri(source === 'ruri' ? request.uri : request.headers.to.uri);
}

/** Display names are byte strings (one char per octet); carriers send UTF-8. */
function displayText(na: NameAddr): string | undefined {
  const d = na.displayName;
  if (d === undefined || d === '') return undefined;
  return Buffer.from(d, 'latin1').toString('utf8');
}
