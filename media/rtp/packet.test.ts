import t from 'tap';
import fc from 'fast-check';
import { RtpView, RTP_HEADER_SIZE, writeRtpHeader, isRtcp } from './index.ts';

// Fixtures are written out byte by byte from RFC 3550 §5.1 so a decoding error cannot cancel out
// against the same error in an encoder.
const plain = Buffer.from([
  0x80, 0x00, 0x12, 0x34, //          V=2, PT 0, seq 0x1234
  0x00, 0x00, 0x03, 0x20, //          timestamp 800
  0xde, 0xad, 0xbe, 0xef, //          SSRC
  0xff, 0xfe, 0xfd, 0xfc, //          4 bytes of µ-law payload
]);

const csrcExtPad = Buffer.from([
  0xb2, 0xe5, 0xff, 0xff, //          V=2 P=1 X=1 CC=2, M=1 PT=101, seq 65535
  0xff, 0xff, 0xff, 0xfe, //          timestamp 2^32-2
  0x01, 0x02, 0x03, 0x04, //          SSRC
  0x11, 0x11, 0x11, 0x11, //          CSRC 0
  0x22, 0x22, 0x22, 0x22, //          CSRC 1
  0xbe, 0xde, 0x00, 0x02, //          extension profile 0xBEDE, 2 words
  0x10, 0xaa, 0x00, 0x00, //          extension data
  0x00, 0x00, 0x00, 0x00,
  0x05, 0x8a, 0x03, 0x20, //          payload: a telephone-event block
  0x00, 0x00, 0x03, //                padding: 3 bytes including the count
]);

/** The fixed-header fields as the view decodes them. */
function fields(v: RtpView): Record<string, number | boolean> {
  return {
    version: v.version, padding: v.padding, extension: v.extension, csrcCount: v.csrcCount,
    marker: v.marker, payloadType: v.payloadType, sequence: v.sequence, timestamp: v.timestamp, ssrc: v.ssrc,
  };
}

t.test('plain packet', async (t) => {
  const v = new RtpView(plain, plain.length);
  t.same(fields(v), {
    version: 2, padding: false, extension: false, csrcCount: 0,
    marker: false, payloadType: 0, sequence: 0x1234, timestamp: 800, ssrc: 0xdeadbeef,
  });
  t.equal(v.headerLength, RTP_HEADER_SIZE);
  t.equal(v.payloadOffset, 12);
  t.equal(v.payloadLength, 4);
  t.equal(v.extensionProfile, -1);
  t.same([...v.payload()], [0xff, 0xfe, 0xfd, 0xfc]);
});

t.test('CSRC, extension and padding', async (t) => {
  const v = new RtpView();
  t.ok(v.reset(csrcExtPad, csrcExtPad.length));
  t.same(fields(v), {
    version: 2, padding: true, extension: true, csrcCount: 2,
    marker: true, payloadType: 101, sequence: 65535, timestamp: 0xfffffffe, ssrc: 0x01020304,
  });
  t.equal(v.csrc(0), 0x11111111);
  t.equal(v.csrc(1), 0x22222222);
  t.throws(() => v.csrc(2), RangeError);
  t.equal(v.extensionProfile, 0xbede);
  t.equal(v.extensionOffset, 24);
  t.equal(v.extensionLength, 8);
  t.equal(v.headerLength, 12 + 8 + 4 + 8);
  t.equal(v.paddingLength, 3);
  t.equal(v.payloadLength, 4);
  t.same([...v.payload()], [0x05, 0x8a, 0x03, 0x20]);
});

t.test('a datagram shorter than the buffer (recv into a big buffer)', async (t) => {
  const big = Buffer.alloc(1500, 0x55);
  plain.copy(big);
  const v = new RtpView();
  t.ok(v.reset(big, plain.length));
  t.equal(v.payloadLength, 4);
});

t.test('rewrite in place keeps the other fields', async (t) => {
  const b = Buffer.from(csrcExtPad);
  const v = new RtpView(b, b.length);
  v.sequence = 7;
  v.timestamp = 0x1_0000_0005; // wraps like the 32-bit field
  v.ssrc = 0xcafebabe;
  v.marker = false;
  v.payloadType = 8;
  t.same([...b.subarray(0, 12)], [0xb2, 0x08, 0x00, 0x07, 0, 0, 0, 5, 0xca, 0xfe, 0xba, 0xbe]);
  v.marker = true;
  t.equal(b[1], 0x88);
  t.equal(v.payloadType, 8);
  t.same(b.subarray(12), csrcExtPad.subarray(12), 'CSRC, extension, payload, padding untouched');
});

t.test('malformed packets are refused with a reason', async (t) => {
  const cases: [string, Buffer, string][] = [
    ['short', plain.subarray(0, 11), 'short'],
    ['version 1', Buffer.from([0x40, ...plain.subarray(1)]), 'version'],
    ['CSRC past the end', Buffer.from([0x8f, ...plain.subarray(1)]), 'csrc'],
    ['extension header past the end', Buffer.concat([Buffer.from([0x90]), plain.subarray(1, 14)]), 'extension'],
    ['extension data past the end', Buffer.from([0x90, ...plain.subarray(1, 12), 0xbe, 0xde, 0x00, 0x09]), 'extension'],
    ['zero padding count', Buffer.from([0xa0, ...plain.subarray(1, 15), 0x00]), 'padding'],
    ['padding into the header', Buffer.from([0xa0, ...plain.subarray(1, 15), 0x09]), 'padding'],
  ];
  const v = new RtpView(plain, plain.length);
  for (const [name, buf, why] of cases) {
    t.equal(RtpView.check(buf, buf.length), why, name);
    t.notOk(v.reset(buf, buf.length), name);
    t.equal(v.length, 0, `${name}: view emptied`);
  }
  t.equal(RtpView.check(plain, plain.length + 1), 'short', 'length beyond the buffer');
});

t.test('writeRtpHeader writes what the view reads', async (t) => {
  const b = Buffer.alloc(12 + 160, 0xff);
  t.equal(writeRtpHeader(b, 0, 8, 0xfffe, 0xfffffff0, 0x89abcdef, true), 12);
  t.same([...b.subarray(0, 12)], [0x80, 0x88, 0xff, 0xfe, 0xff, 0xff, 0xff, 0xf0, 0x89, 0xab, 0xcd, 0xef]);
  const v = new RtpView(b, b.length);
  t.equal(v.payloadLength, 160);
  // At an offset, for buffers that carry several packets.
  const c = Buffer.alloc(40);
  writeRtpHeader(c, 20, 0, 1, 2, 3, false);
  t.same([...c.subarray(20, 32)], [0x80, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
  t.equal(c[19], 0);
});

t.test('RTCP on the RTP port is recognised (RFC 5761 §4)', async (t) => {
  const rr = Buffer.from([0x80, 201, 0x00, 0x01, 0, 0, 0, 1]); // empty receiver report
  t.ok(isRtcp(rr, rr.length));
  t.notOk(isRtcp(plain, plain.length));
  const markedPt72 = Buffer.from([0x80, 0x80 | 72, ...plain.subarray(2)]);
  t.ok(isRtcp(markedPt72, markedPt72.length), 'M=1 PT=72 is SR, which is why RTP/AVP avoids PTs 64-95');
  t.notOk(isRtcp(rr, 4), 'too short');
});

t.test('property: any bytes are either refused or give a consistent view', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), fc.boolean(), (bytes, forceV2) => {
      const b = Buffer.from(bytes);
      if (forceV2 && b.length > 0) b[0] = (b[0]! & 0x3f) | 0x80;
      const v = new RtpView();
      const ok = v.reset(b, b.length);
      if (ok !== (RtpView.check(b, b.length) === 'ok')) return false;
      if (!ok) return v.length === 0;
      return v.headerLength + v.payloadLength + v.paddingLength === b.length && v.payloadLength >= 0 &&
        v.headerLength >= 12 + 4 * v.csrcCount;
    }),
    { numRuns: 2000, seed: 3550 },
  );
  t.pass('2000 random datagrams');
});

t.test('property: header written and read back', async (t) => {
  const b = Buffer.alloc(12);
  const v = new RtpView();
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 127 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffffffff }),
      fc.integer({ min: 0, max: 0xffffffff }), fc.boolean(),
      (pt, seq, ts, ssrc, marker) => {
        writeRtpHeader(b, 0, pt, seq, ts, ssrc, marker);
        return v.reset(b, 12) && v.payloadType === pt && v.sequence === seq && v.timestamp === ts &&
          v.ssrc === ssrc && v.marker === marker && v.payloadLength === 0;
      },
    ),
    { numRuns: 1000, seed: 1 },
  );
  t.pass('1000 headers');
});
