/**
 * Number normalisation per `outbound.numbering`: the spellings of one number give one E.164 and
 * one dial string, foreign numbers keep their country, and anything that is not plausible digits
 * (the number came from the network) is refused with a code.
 */
import t from 'tap';
import fc from 'fast-check';
import { dialNumberOf, type Numbering } from './index.ts';

const CN: Numbering = { countryCode: '86', nationalPrefix: '0', internationalPrefix: '00', format: 'national' };
const CN164: Numbering = { ...CN, format: 'e164' };
const US: Numbering = { countryCode: '1', nationalPrefix: '1', internationalPrefix: '011', format: 'national' };

function number(input: string, n: Numbering): string {
  const r = dialNumberOf(input, n);
  return r.ok ? r.number : r.code;
}

t.test('spellings of one number', async (t) => {
  for (const s of ['+86 138-0013-8000', '0086 13800138000', '013800138000', '13800138000', '%2B8613800138000', '(0)138.0013.8000']) {
    t.equal(number(s, CN), '013800138000', `${s} national`);
    t.equal(number(s, CN164), '+8613800138000', `${s} e164`);
  }
  t.equal(number('+1 212 555 0100', CN), '0012125550100', 'a foreign number keeps its country (international prefix)');
  t.equal(number('+1 212 555 0100', CN164), '+12125550100');
  t.equal(number('12125550100', US), '12125550100', 'NANP: national prefix 1');
  t.equal(number('2125550100', US), '12125550100');
  t.equal(number('011 44 20 7946 0000', US), '011442079460000');
  const noPrefix: Numbering = { countryCode: '39', nationalPrefix: '', internationalPrefix: '00', format: 'national' };
  t.equal(number('06 1234 5678', noPrefix), '0612345678', 'no national prefix: the number as written');
  t.equal(number('+39 06 1234 5678', noPrefix), '0612345678');
});

t.test('refused: not a number, not plausible', async (t) => {
  const cases: [string, string][] = [
    ['', 'OUTBOUND_ERR_NOT_A_NUMBER'], ['anonymous', 'OUTBOUND_ERR_NOT_A_NUMBER'], ['138abc', 'OUTBOUND_ERR_NOT_A_NUMBER'],
    ['+', 'OUTBOUND_ERR_NOT_A_NUMBER'], ['1+2', 'OUTBOUND_ERR_NOT_A_NUMBER'], ['138\r\nVia: x', 'OUTBOUND_ERR_NOT_A_NUMBER'],
    ['*100#', 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'], ['110', 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'], ['+123', 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'],
    ['+0123456789', 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'], ['+1234567890123456', 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'],
    ['1'.repeat(65), 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER'],
  ];
  for (const [input, code] of cases) t.equal(number(input, CN), code, JSON.stringify(input));
});

/** A national number of China: 1-9 then 6-10 digits (E.164 of 9-13 digits). */
const nationalNumber = fc.tuple(fc.integer({ min: 1, max: 9 }), fc.stringMatching(/^[0-9]{6,10}$/)).map(([a, b]) => `${a}${b}`);
const separators = fc.constantFrom('', ' ', '-', '.');

t.test('property: every spelling of a national number gives the same E.164 and dial string', async (t) => {
  fc.assert(fc.property(nationalNumber, separators, fc.constantFrom(CN, CN164), (nsn, sep, n) => {
    const spellings = [`+86${sep}${nsn}`, `00${sep}86${sep}${nsn}`, `0${sep}${nsn}`, nsn.split('').join(sep)];
    const results = spellings.map((s) => dialNumberOf(s, n));
    const first = results[0]!;
    if (!first.ok || first.e164 !== `+86${nsn}`) return false;
    return results.every((r) => r.ok && r.number === first.number && r.e164 === first.e164);
  }));
});

t.test('property: output is digits (+ first in e164), idempotent, and never throws on any text', async (t) => {
  fc.assert(fc.property(fc.oneof(fc.string({ maxLength: 70 }), fc.stringMatching(/^\+?[0-9 ()-]{0,24}$/)), fc.constantFrom(CN, CN164, US), (input, n) => {
    const r = dialNumberOf(input, n);
    if (!r.ok) return r.code === 'OUTBOUND_ERR_NOT_A_NUMBER' || r.code === 'OUTBOUND_ERR_IMPLAUSIBLE_NUMBER';
    const digits = n.format === 'e164' ? r.number.slice(1) : r.number;
    if (n.format === 'e164' && !r.number.startsWith('+')) return false;
    if (!/^[0-9]+$/.test(digits)) return false;
    const again = dialNumberOf(r.number, n);
    return again.ok && again.number === r.number && again.e164 === r.e164;
  }), { numRuns: 2000 });
});
