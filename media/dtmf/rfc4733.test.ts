import t from 'tap';
import { existsSync } from 'node:fs';
import { RtpView, writeRtpHeader, readPcapUdp } from '../rtp/index.ts';
import { Rfc4733Receiver, encodeRfc4733 } from './index.ts';
import type { DtmfDigit } from './index.ts';

const PT = 101;
const view = new RtpView();
let seq = 1000;

/** An RTP packet of telephone-event blocks [event, end, duration], sent at RTP time `ts`. */
function packet(ts: number, blocks: [string | number, boolean, number][], marker = false, pt = PT): RtpView {
  const b = Buffer.alloc(12 + 4 * blocks.length);
  writeRtpHeader(b, 0, pt, seq++ & 0xffff, ts, 0x1234, marker);
  blocks.forEach(([e, end, d], i) => encodeRfc4733(b, 12 + 4 * i, e, end, 10, d));
  const v = new RtpView();
  v.reset(b, b.length);
  return v;
}

/** Feed packets [nowMs, view] and collect every digit, draining the queue after each. */
function run(rx: Rfc4733Receiver, packets: [number, RtpView][], endMs?: number): DtmfDigit[] {
  const out: DtmfDigit[] = [];
  for (const [now, v] of packets) {
    for (let d = rx.onPacket(v, now); d !== undefined; d = rx.poll(now)) out.push(d);
  }
  if (endMs !== undefined) for (let d = rx.poll(endMs); d !== undefined; d = rx.poll(endMs)) out.push(d);
  return out;
}

/** The packets of one key press as RFC 4733 §2.5.1 senders send them: every 50 ms, end ×3. */
function press(digit: string, ts: number, t0: number, durationSamples: number): [number, RtpView][] {
  const out: [number, RtpView][] = [];
  // First packet at the key press with duration 0, then an update every 50 ms.
  for (let d = 0, i = 0; d < durationSamples; d += 400, i++) out.push([t0 + i * 50, packet(ts, [[digit, false, d]], i === 0)]);
  const tEnd = t0 + (durationSamples / 8);
  for (let i = 0; i < 3; i++) out.push([tEnd + i, packet(ts, [[digit, true, durationSamples]])]);
  return out;
}

t.test('encodeRfc4733 wire format', async (t) => {
  const b = Buffer.alloc(4);
  t.equal(encodeRfc4733(b, 0, '#', true, 10, 0x08c0), 4);
  t.same([...b], [0x0b, 0x8a, 0x08, 0xc0]);
  encodeRfc4733(b, 0, '*', false, 63, 1);
  t.same([...b], [0x0a, 0x3f, 0x00, 0x01]);
  encodeRfc4733(b, 0, 'd', false, 0, 0);
  t.equal(b[0], 15);
  t.throws(() => encodeRfc4733(b, 0, 'x', false, 0, 0), RangeError);
});

t.test('one press with the end sent three times: one digit with its duration', async (t) => {
  const rx = new Rfc4733Receiver();
  const digits = run(rx, press('5', 8000, 1000, 1600));
  t.same(digits, [{ digit: '5', startMs: 1000, durationMs: 200, source: 'rfc4733' }]);
});

// The pcaps ship with sipp (Debian sip-tester). Same contract as engine/testing requirePeer, which
// media tests may not import: skip with "PEER MISSING", or fail when CI requires the peers.
const SIPP_PCAPS = '/usr/share/sip-tester';
const havePcaps = existsSync(`${SIPP_PCAPS}/dtmf_2833_1.pcap`);
const missing = 'PEER MISSING: sipp (Debian sip-tester) pcaps not installed';
if (!havePcaps && process.env['ONAIR_REQUIRE_PEERS'] === '1') t.fail(missing);

t.test('the sipp fixtures (Debian sip-tester pcaps)', { skip: havePcaps ? false : missing }, async (t) => {
  const dir = SIPP_PCAPS;
  const names = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'pound', 'star'];
  const expected = '0123456789#*';
  names.forEach((name, i) => {
    const rx = new Rfc4733Receiver({ payloadType: 101 });
    const packets = readPcapUdp(`${dir}/dtmf_2833_${name}.pcap`);
    t.equal(packets.length, 10, `${name}: 7 updates and 3 end packets`);
    const out = run(rx, packets.map((p): [number, RtpView] => {
      const v = new RtpView();
      t.ok(v.reset(p.payload, p.payload.length));
      return [p.timeMs, v];
    }));
    t.equal(out.length, 1, `${name}: reported once`);
    t.equal(out[0]?.digit, expected[i]);
    t.equal(out[0]?.durationMs, 280, `${name}: 2240 samples`);
    t.equal(out[0]?.startMs, packets[0]!.timeMs);
  });
});

t.test('late and reordered copies of an ended event are dropped', async (t) => {
  const rx = new Rfc4733Receiver();
  const first = press('1', 8000, 0, 800);
  const second = press('2', 12000, 500, 800);
  const late = packet(8000, [['1', true, 800]]);
  const digits = run(rx, [...first, ...second.slice(0, 1), [520, late], ...second.slice(1), [700, late]]);
  t.same(digits.map((d) => d.digit), ['1', '2']);
});

t.test('the same key twice is two digits', async (t) => {
  const rx = new Rfc4733Receiver();
  const digits = run(rx, [...press('7', 8000, 0, 800), ...press('7', 8000 + 2400, 300, 800)]);
  t.same(digits.map((d) => [d.digit, d.startMs]), [['7', 0], ['7', 300]]);
});

t.test('lost start packets: start time from the first duration seen', async (t) => {
  const rx = new Rfc4733Receiver();
  const p = press('9', 8000, 0, 1600).slice(2); // the first two packets lost
  const digits = run(rx, p);
  t.equal(digits.length, 1);
  t.equal(digits[0]!.startMs, 0, 'the packet at 100 ms says 800 samples had passed');
  t.equal(digits[0]!.durationMs, 200);
});

t.test('all end packets lost: reported when the next event starts, or after the end timeout', async (t) => {
  const rx = new Rfc4733Receiver({ endTimeoutMs: 1000 });
  const noEnd = (digit: string, ts: number, t0: number) => press(digit, ts, t0, 1200).slice(0, -3);
  const digits = run(rx, [...noEnd('3', 8000, 0), ...press('4', 20000, 1500, 800)]);
  t.same(digits.map((d) => [d.digit, d.durationMs]), [['3', 100], ['4', 100]], '3 lasted at least the 800 samples seen');
  const rx2 = new Rfc4733Receiver({ endTimeoutMs: 1000 });
  t.same(run(rx2, noEnd('6', 8000, 0)), [], 'not yet');
  t.equal(rx2.poll(1099), undefined, 'the last packet was at 100 ms');
  t.equal(rx2.poll(1100)?.digit, '6');
  t.equal(rx2.poll(5000), undefined, 'once');
});

t.test('a long event across timestamp updates (§2.5.1.3) is one digit', async (t) => {
  const rx = new Rfc4733Receiver();
  const packets: [number, RtpView][] = [];
  // Segment 1: duration grows to the 16-bit maximum (8.19 s), E not set.
  for (let d = 0, i = 0; d <= 65535; d = d === 65535 ? 70000 : Math.min(d + 400, 65535), i++) {
    packets.push([i * 50, packet(8000, [['0', false, d]], i === 0)]);
  }
  // Segment 2 starts where segment 1 ended, and ends 2000 samples later.
  const ts2 = 8000 + 65535;
  packets.push([8200, packet(ts2, [['0', false, 400]])], [8400, packet(ts2, [['0', true, 2000]])]);
  packets.push([8401, packet(ts2, [['0', true, 2000]])], [8402, packet(ts2, [['0', true, 2000]])]);
  const digits = run(rx, packets);
  t.equal(digits.length, 1);
  t.equal(digits[0]!.durationMs, (65535 + 2000) / 8);
  t.equal(digits[0]!.startMs, 0);
});

t.test('a long event whose last packets of segment 1 were lost is still one digit', async (t) => {
  const rx = new Rfc4733Receiver();
  const packets: [number, RtpView][] = [[0, packet(8000, [['0', false, 60000]], true)]];
  packets.push([8300, packet(8000 + 65535, [['0', true, 800]])]);
  const digits = run(rx, packets);
  t.same(digits.map((d) => [d.digit, d.durationMs]), [['0', (65535 + 800) / 8]]);
});

t.test('several events packed in one packet (§2.5.1.5)', async (t) => {
  const rx = new Rfc4733Receiver();
  // '1' in progress; its end is only sent packed in front of the start of '2'.
  const digits = run(rx, [
    [0, packet(8000, [['1', false, 400]], true)],
    [60, packet(8800, [['1', true, 480], ['2', false, 160]], true)],
    [110, packet(8800, [['1', true, 480], ['2', true, 560]])],
    [111, packet(8800, [['1', true, 480], ['2', true, 560]])],
  ]);
  t.same(digits.map((d) => [d.digit, d.durationMs]), [['1', 60], ['2', 70]]);
});

t.test('RFC 2198 redundancy recovers lost packets without duplicates', async (t) => {
  const RED = 100;
  /** A red packet: [timestamp offset, blocks] redundant entries, then the primary blocks. */
  function red(ts: number, redundant: [number, [string, boolean, number][]][], primary: [string, boolean, number][]): RtpView {
    const headers = 4 * redundant.length + 1;
    const total = headers + 4 * (redundant.reduce((n, [, b]) => n + b.length, 0) + primary.length);
    const b = Buffer.alloc(12 + total);
    writeRtpHeader(b, 0, RED, seq++ & 0xffff, ts, 0x1234, false);
    let h = 12;
    let data = 12 + headers;
    for (const [offset, blocks] of redundant) {
      const len = blocks.length * 4;
      b[h] = 0x80 | PT;
      b[h + 1] = offset >> 6;
      b[h + 2] = ((offset & 0x3f) << 2) | (len >> 8);
      b[h + 3] = len & 0xff;
      h += 4;
      for (const [e, end, d] of blocks) data += encodeRfc4733(b, data, e, end, 10, d);
    }
    b[h] = PT;
    for (const [e, end, d] of primary) data += encodeRfc4733(b, data, e, end, 10, d);
    const v = new RtpView();
    v.reset(b, b.length);
    return v;
  }
  const rx = new Rfc4733Receiver({ redPayloadType: RED });
  // '8' (ts 8000) ends; every packet of '8' was lost, only the redundant copy in the packet of
  // '9' (ts 9600, offset 1600) arrives. Then a copy of '9' whose primary is a duplicate.
  const digits = run(rx, [
    [300, red(9600, [[1600, [['8', true, 800]]]], [['9', false, 400]])],
    [350, red(9600, [[1600, [['8', true, 800]]]], [['9', true, 800]])],
    [351, red(9600, [[1600, [['8', true, 800]]]], [['9', true, 800]])],
  ]);
  t.same(digits.map((d) => d.digit), ['8', '9']);
  t.equal(digits[0]!.durationMs, 100);
  const garbage = red(9600, [], []);
  garbage.buf[12] = 0x80 | PT; // says a header follows, but the packet ends
  t.same(run(rx, [[400, garbage]]), [], 'truncated red is ignored');
});

t.test('other payload types and non-DTMF events are ignored', async (t) => {
  const rx = new Rfc4733Receiver({ payloadType: 96 });
  t.same(run(rx, press('1', 8000, 0, 800)), [], 'PT 101 is not ours here');
  const rx2 = new Rfc4733Receiver();
  t.same(run(rx2, [[0, packet(8000, [[16, true, 800]])]]), [], 'flash');
  t.same(run(rx2, [[0, packet(8000, [], false)]]), [], 'empty payload');
});

t.test('reset forgets an event in progress', async (t) => {
  const rx = new Rfc4733Receiver();
  run(rx, press('1', 8000, 0, 1200).slice(0, 2));
  rx.reset();
  t.equal(rx.poll(1e9), undefined);
});
