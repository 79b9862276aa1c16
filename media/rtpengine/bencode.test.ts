import t from 'tap';
import fc from 'fast-check';
import { decode, encode, MAX_DEPTH, type BValue, type BDict } from './bencode.ts';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Byte strings: any byte value, as rtpengine's SDP and call ids are. */
const byteString = fc.string({ unit: fc.integer({ min: 0, max: 255 }).map((c) => String.fromCharCode(c)), maxLength: 40 });

const value: fc.Arbitrary<BValue> = fc.letrec<{ v: BValue }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.integer({ min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER }),
    byteString,
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(byteString, tie('v'), { maxKeys: 4 }).map((d) => Object.assign(Object.create(null) as BDict, d)),
  ),
})).v;

/** Deep equality where dictionaries compare by keys and values, not key order. */
function same(a: BValue, b: BValue): boolean {
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]!));
  const ka = Object.keys(a).sort();
  const kb = Object.keys(b).sort();
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && same(a[k]!, b[k]!));
}

t.test('the examples of the BitTorrent specification', async (t) => {
  t.same(encode(42), b('i42e'));
  t.same(encode(-7), b('i-7e'));
  t.same(encode(0), b('i0e'));
  t.same(encode('spam'), b('4:spam'));
  t.same(encode(''), b('0:'));
  t.same(encode(['spam', 42]), b('l4:spami42ee'));
  t.same(encode({ spam: ['a', 'b'], cow: 'moo' }), b('d3:cow3:moo4:spaml1:a1:bee'), 'keys sorted');
  t.same(decode(b('d3:cow3:moo4:spaml1:a1:bee')), { ok: true, value: Object.assign(Object.create(null), { cow: 'moo', spam: ['a', 'b'] }) });
  t.same(decode(b('i-42e')), { ok: true, value: -42 });
});

t.test('an ng reply of rtpengine decodes to its fields', async (t) => {
  const r = decode(b('d3:sdp19:v=0\r\no=- 1 1 IN IP46:result2:oke'));
  t.ok(r.ok);
  if (r.ok) t.same({ ...(r.value as BDict) }, { sdp: 'v=0\r\no=- 1 1 IN IP4', result: 'ok' });
});

t.test('malformed input is a failure with a code, never an exception', async (t) => {
  const cases: [string, string][] = [
    ['', 'BENCODE_ERR_TRUNCATED'],
    ['i42', 'BENCODE_ERR_TRUNCATED'],
    ['ie', 'BENCODE_ERR_SYNTAX'],
    ['i-0e', 'BENCODE_ERR_SYNTAX'],
    ['i042e', 'BENCODE_ERR_SYNTAX'],
    ['i1x2e', 'BENCODE_ERR_SYNTAX'],
    ['i99999999999999999999e', 'BENCODE_ERR_RANGE'],
    ['5:abc', 'BENCODE_ERR_TRUNCATED'],
    ['99999999999999999999:x', 'BENCODE_ERR_TRUNCATED'],
    ['03:abc', 'BENCODE_ERR_SYNTAX'],
    ['3abc', 'BENCODE_ERR_SYNTAX'],
    ['l', 'BENCODE_ERR_TRUNCATED'],
    ['d3:cow', 'BENCODE_ERR_TRUNCATED'],
    ['di1ei2ee', 'BENCODE_ERR_SYNTAX'],
    ['x', 'BENCODE_ERR_SYNTAX'],
    ['i1ei2e', 'BENCODE_ERR_TRAILING'],
    ['l'.repeat(MAX_DEPTH + 1) + 'e'.repeat(MAX_DEPTH + 1), 'BENCODE_ERR_DEPTH'],
  ];
  for (const [input, code] of cases) {
    const r = decode(b(input));
    t.equal(r.ok ? 'ok' : r.code, code, JSON.stringify(input.slice(0, 40)));
  }
  t.ok(decode(b('l'.repeat(MAX_DEPTH) + 'e'.repeat(MAX_DEPTH))).ok, `${MAX_DEPTH} levels are accepted`);
});

t.test('a __proto__ key is only a key', async (t) => {
  const r = decode(b('d9:__proto__d6:polluti1eee'));
  t.ok(r.ok);
  t.equal(({} as Record<string, unknown>)['pollut'], undefined, 'Object.prototype untouched');
  if (r.ok) t.same(Object.keys(r.value as BDict), ['__proto__']);
});

t.test('property: decode(encode(v)) is v', async () => {
  fc.assert(fc.property(value, (v) => {
    const r = decode(encode(v));
    if (!r.ok) throw new Error(`${r.code}: ${r.reason}`);
    if (!same(r.value, v)) throw new Error(`round trip changed ${JSON.stringify(v)}`);
    if (!encode(r.value).equals(encode(v))) throw new Error('re-encoding differs');
  }), { numRuns: 2000 });
});

t.test('property: hostile bytes never throw, and what decodes re-encodes to the same bytes', async () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
    const buf = Buffer.from(bytes);
    const r = decode(buf);
    // Canonical bencode (sorted keys, no leading zeros) is the only accepted spelling, except
    // dictionary key order and repeated keys, which the decoder tolerates.
    if (r.ok && typeof r.value !== 'object' && !encode(r.value).equals(buf)) throw new Error('non-canonical scalar accepted');
  }), { numRuns: 5000 });
});

t.test('property: bencode-like noise never throws', async () => {
  const noise = fc.array(fc.constantFrom(...'ilde:0123456789-x'.split('')), { maxLength: 60 }).map((cs) => cs.join(''));
  fc.assert(fc.property(noise, (s) => {
    const r = decode(b(s));
    if (!r.ok && typeof r.code !== 'string') throw new Error('failure without a code');
  }), { numRuns: 5000 });
});

t.test('property: every prefix and every one-byte mutation of a valid message is handled', async () => {
  fc.assert(fc.property(value, fc.nat(), fc.integer({ min: 0, max: 255 }), (v, pos, byte) => {
    const buf = encode(v);
    for (let i = 0; i < buf.length; i++) {
      const r = decode(buf.subarray(0, i));
      if (r.ok) throw new Error(`a truncated message decoded (${i} of ${buf.length})`);
    }
    const m = Buffer.from(buf);
    if (m.length > 0) m[pos % m.length] = byte;
    decode(m);
  }), { numRuns: 500 });
});

t.test('encode refuses what is not bencode (programmer errors)', async (t) => {
  t.throws(() => encode(1.5), TypeError);
  t.throws(() => encode('中'), TypeError);
  t.throws(() => encode(Number.MAX_SAFE_INTEGER + 1), TypeError);
});
