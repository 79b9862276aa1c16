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
