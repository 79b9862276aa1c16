/**
 * Number normalisation and the caller/dialled extraction on real parsed INVITEs.
 */
import t from 'tap';
import { parse, type SipRequest } from '../sip/index.ts';
import { callerOf, dialledOf, normalizeNumber } from './numbers.ts';

function invite(ruri: string, headers: string[]): SipRequest {
  const text = [
    `INVITE ${ruri} SIP/2.0`,
    'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-n1',
    'Max-Forwards: 70',
    'Call-ID: n1@192.0.2.1',
    'CSeq: 1 INVITE',
    'Contact: <sip:gw@192.0.2.1>',
    ...headers,
    'Content-Length: 0',
    '', '',
  ].join('\r\n');
  const r = parse(Buffer.from(text, 'latin1'));
  if (!r.ok || r.message.kind !== 'request') throw new Error(`bad fixture: ${r.ok ? 'response' : r.reason}`);
  return r.message;
}

t.test('normalizeNumber', async (t) => {
  const cases: [string, string][] = [
    ['+49 (30) 1234-56.78', '+493012345678'],
    ['%2B1-212-555-0100;isub=7', '+12125550100'],
    ['0301234567', '0301234567'],
    ['*100#', '*100#'],
    ['anonymous', ''],
    ['Restricted', ''],
    ['12+34', ''],
    ['+', ''],
    ['', ''],
    ['100;phone-context=+49', '100'],
  ];
  for (const [input, want] of cases) t.equal(normalizeNumber(input), want, JSON.stringify(input));
});

t.test('caller from P-Asserted-Identity, preferring tel:, falling back to From', async (t) => {
  const both = invite('sip:100@198.51.100.1', [
    'From: "Carrier" <sip:gw@carrier.example>;tag=1',
    'To: <sip:100@198.51.100.1>',
    'P-Asserted-Identity: "Jane Doe" <sip:+4930555@carrier.example;user=phone>',
    'P-Asserted-Identity: <tel:+49-30-555-1>',
  ]);
  t.same(callerOf(both, 'pai'), { number: '+49305551', display: 'Jane Doe' }, 'tel: value; display from the first that has one');
  t.same(callerOf(both, 'from'), { number: '', display: 'Carrier' }, 'From user "gw" is not a number');

  const noPai = invite('sip:100@198.51.100.1', ['From: "M\xc3\xbcller" <sip:+41-44-000@carrier.example>;tag=1', 'To: <sip:100@198.51.100.1>']);
  t.same(callerOf(noPai, 'pai'), { number: '+4144000', display: 'Müller' }, 'no PAI: From, UTF-8 display');

  const anon = invite('sip:100@198.51.100.1', ['From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=1', 'To: <sip:100@h>', 'P-Asserted-Identity: <sip:+331234@carrier.example>', 'Privacy: id']);
  t.same(callerOf(anon, 'pai'), { number: '+331234', display: 'Anonymous' }, 'PAI gives the number the From withholds');
  t.same(callerOf(anon, 'from'), { number: '', display: 'Anonymous' }, 'withheld caller is the empty number');
});

t.test('dialled number from the Request-URI or To', async (t) => {
  const req = invite('sip:0800-100-200@198.51.100.1;user=phone', ['From: <sip:+4930555@c>;tag=1', 'To: <sip:+49800100200@carrier.example>']);
  t.equal(dialledOf(req, 'ruri'), '0800100200');
  t.equal(dialledOf(req, 'to'), '+49800100200');
  const tel = invite('tel:+49-800-100', ['From: <sip:1@c>;tag=1', 'To: <tel:200>']);
  t.equal(dialledOf(tel, 'ruri'), '+49800100', 'tel: Request-URI');
  t.equal(dialledOf(tel, 'to'), '200');
  const none = invite('sip:198.51.100.1', ['From: <sip:1@c>;tag=1', 'To: <sip:198.51.100.1>']);
  t.equal(dialledOf(none, 'ruri'), '', 'no user part');
  t.equal(dialledOf(none, 'to'), '');
});
