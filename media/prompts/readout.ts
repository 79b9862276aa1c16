/**
 * Number read-out: a number as the list of prompt names that say it, for queue position and
 * estimated-wait announcements ("you are number" + readout(7) + ...).
 *
 * Prompt files used (see generate.sh):
 * - en: `en/numbers/0`..`en/numbers/20`, `en/numbers/30`..`en/numbers/90` (tens), `en/numbers/hundred`,
 *   `en/numbers/thousand`;
 * - zh: `zh/numbers/0`..`zh/numbers/10`, `zh/numbers/hundred` (百), `zh/numbers/thousand` (千),
 *   `zh/numbers/ten-thousand` (万).
 */

/** Languages with a number read-out. */
export type ReadoutLanguage = 'en' | 'zh';

/** Largest number read out (positions and minutes never come close). */
export const READOUT_MAX = 999_999;

/**
 * Prompt names that say `n` in order. `n` is truncated to an integer; negative or above
 * {@link READOUT_MAX} is a programmer error (RangeError).
 *
 * en: 345 → `3 hundred 40 5` (American, no "and"); 1200 → `1 thousand 2 hundred`.
 * zh: 15 → `10 5` (十五); 25 → `2 10 5` (二十五); 105 → `1 百 0 5` (一百零五); 1010 → `1 千 0 1 10`
 * (一千零一十); 20000 → `2 万`.
 */
export function numberReadout(n: number, lang: ReadoutLanguage): string[] {
  const v = Math.trunc(n);
  if (!(v >= 0 && v <= READOUT_MAX)) throw new RangeError(`cannot read out ${n}: must be 0..${READOUT_MAX}`);
  const words = lang === 'en' ? english(v) : mandarin(v);
  return words.map((w) => `${lang}/numbers/${w}`);
}

function english(n: number): string[] {
  if (n === 0) return ['0'];
  const out: string[] = [];
  const thousands = Math.floor(n / 1000);
  if (thousands > 0) {
    englishBelowThousand(thousands, out);
    out.push('thousand');
  }
  englishBelowThousand(n % 1000, out);
  return out;
}

function englishBelowThousand(n: number, out: string[]): void {
  const hundreds = Math.floor(n / 100);
  if (hundreds > 0) out.push(String(hundreds), 'hundred');
  const rest = n % 100;
  if (rest === 0) return;
  if (rest <= 20) {
    out.push(String(rest));
    return;
  }
  out.push(String(rest - (rest % 10)));
  if (rest % 10 !== 0) out.push(String(rest % 10));
}

function mandarin(n: number): string[] {
  if (n === 0) return ['0'];
  const out: string[] = [];
  const wan = Math.floor(n / 10000);
  const rest = n % 10000;
  if (wan > 0) {
    mandarinBelowWan(wan, out, false);
    out.push('ten-thousand');
    // 一万零五百: a gap below the 万 section is read as 零.
    if (rest > 0 && rest < 1000) out.push('0');
  }
  if (rest > 0) mandarinBelowWan(rest, out, wan > 0);
  return out;
}

// 0 < n < 10000. `inside`: part of a larger number, where 10..19 is read 一十五 rather than 十五.
function mandarinBelowWan(n: number, out: string[], inside: boolean): void {
  const digits = [Math.floor(n / 1000), Math.floor(n / 100) % 10, Math.floor(n / 10) % 10, n % 10];
  const units = ['thousand', 'hundred', '10', ''];
  let zeroPending = false;
  let started = false;
  for (let i = 0; i < 4; i++) {
    const d = digits[i]!;
    if (d === 0) {
      if (started) zeroPending = true;
      continue;
    }
    if (zeroPending) out.push('0');
    zeroPending = false;
    // 十五 alone, but 一百一十五 / 一万一十五 inside a longer number.
    const bareTen = i === 2 && d === 1 && !started && !inside;
    if (!bareTen) out.push(String(d));
    if (units[i] !== '') out.push(units[i]!);
    started = true;
  }
}

/**
 * Prompt names that say the digits of `s` one by one (an order number, a waybill): `20261207` →
 * `2 0 2 6 1 2 0 7`. Anything but 0-9 is skipped (a letter prefix has no prompt).
 */
export function digitsReadout(s: string, lang: ReadoutLanguage): string[] {
  const out: string[] = [];
  for (const c of s) if (c >= '0' && c <= '9') out.push(`${lang}/numbers/${c}`);
  return out;
}

/** Largest amount read out, in fen (1/100 yuan): {@link READOUT_MAX} yuan and 99 fen. */
export const MONEY_MAX_FEN = READOUT_MAX * 100 + 99;

/**
 * Prompt names that say an amount of `fen` (1/100 yuan), with the money prompts `money/yuan`,
 * `money/jiao` (zh) and `money/fen`. Negative, fractional or above {@link MONEY_MAX_FEN} is a
 * programmer error (RangeError).
 *
 * zh (元角分): 29900 → `2 百 9 10 9 元` (二百九十九元); 12950 → `1 百 2 10 9 元 5 角`; 1205 →
 * `10 2 元 0 5 分` (十二元零五分); 50 → `5 角`; 0 → `0 元`.
 * en (yuan and fen): 29900 → `2 hundred 90 9 yuan`; 12950 → `1 hundred 20 9 yuan 50 fen`; 50 → `50 fen`.
 */
export function moneyReadout(fen: number, lang: ReadoutLanguage): string[] {
  if (!(Number.isInteger(fen) && fen >= 0 && fen <= MONEY_MAX_FEN)) throw new RangeError(`cannot read out ${fen} fen: must be an integer 0..${MONEY_MAX_FEN}`);
  const yuan = Math.floor(fen / 100);
  const cents = fen % 100;
  const unit = (u: string): string => `${lang}/money/${u}`;
  const out: string[] = [];
  if (yuan > 0 || cents === 0) out.push(...numberReadout(yuan, lang), unit('yuan'));
  if (cents === 0) return out;
  if (lang === 'en') {
    out.push(...numberReadout(cents, lang), unit('fen'));
    return out;
  }
  const jiao = Math.floor(cents / 10);
  const f = cents % 10;
  if (jiao > 0) out.push(...numberReadout(jiao, lang), unit('jiao'));
  // 十二元零五分: a missing 角 between 元 and 分 is read as 零.
  else if (yuan > 0) out.push(...numberReadout(0, lang));
  if (f > 0) out.push(...numberReadout(f, lang), unit('fen'));
  return out;
}
