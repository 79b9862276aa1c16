// StreamFramer: every corpus fixture split at every byte offset, and byte by byte, frames the same
// first message as parsing the whole buffer; keep-alives; limits; views survive later pushes.
import t from 'tap';
import { StreamFramer } from './framer.ts';
import type { FramerEvent } from './framer.ts';
import { parse } from './parser.ts';
import type { ParseResult } from './parser.ts';
import { corpusFiles, snapshot } from './message-testing.ts';

const LIMITS = { maxBuffer: 1 << 20, maxMessageBytes: 65535 };

/** The first event that is not a keep-alive, or undefined. */
function firstFrame(events: FramerEvent[]): FramerEvent | undefined {
  return events.find((e) => e.type !== 'keepalive');
}

function feed(chunks: Buffer[]): FramerEvent[] {
  const f = new StreamFramer(LIMITS);
  const events: FramerEvent[] = [];
  for (const c of chunks) events.push(...f.push(c));
  return events;
}

/** What the framer must report first for a buffer, derived from parsing it whole in stream mode. */
function describe(r: ParseResult): unknown {
  if (r.ok) return { type: 'message', ok: true, consumed: r.consumed, message: snapshot(r.message) };
  if (r.code === 'SIP_ERR_INCOMPLETE') return undefined;
  if (r.consumed !== undefined) return { type: 'message', ok: false, code: r.code, status: r.status };
  return { type: 'error', code: r.code, status: r.status };
}

function describeEvent(e: FramerEvent | undefined): unknown {
  if (e === undefined) return undefined;
  if (e.type === 'error') return { type: 'error', code: e.code, status: e.status };
  if (e.type === 'keepalive') return { type: 'keepalive' };
  const r = e.result;
  if (r.ok) return { type: 'message', ok: true, consumed: r.consumed, message: snapshot(r.message) };
  return { type: 'message', ok: false, code: r.code, status: r.status };
}

for (const file of corpusFiles()) {
  t.test(`${file.set}/${file.name}`, (t) => {
    const buf = file.bytes;
    const want = describe(parse(buf, { stream: true, ...LIMITS }));
    if (file.name === 'clerr') t.equal(want, undefined, 'clerr waits for more bytes on a stream');
    if (file.name === 'inv2543') t.match(want, { type: 'error', code: 'SIP_ERR_MISSING_HEADER' }, 'no Content-Length on a stream');
    t.same(describeEvent(firstFrame(feed([buf]))), want, 'whole');
    // Compared as JSON, with one assertion per file: tens of thousands of t.same calls are slow.
    const wantJson = JSON.stringify(want);
    const bad: number[] = [];
    for (let k = 1; k < buf.length; k++) {
      if (JSON.stringify(describeEvent(firstFrame(feed([buf.subarray(0, k), buf.subarray(k)])))) !== wantJson) bad.push(k);
    }
    t.same(bad, [], `same first frame when split at each of the ${buf.length - 1} offsets`);
    const bytes: Buffer[] = [];
    for (let k = 0; k < buf.length; k++) bytes.push(buf.subarray(k, k + 1));
    t.same(describeEvent(firstFrame(feed(bytes))), want, 'byte by byte');
    t.end();
  });
}

const OPTIONS = Buffer.from(
  'OPTIONS sip:a@example.com SIP/2.0\r\nVia: SIP/2.0/TCP h.example.com;branch=z9hG4bK1\r\n'
  + 'From: <sip:b@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n'
  + 'Content-Length: 4\r\n\r\nabcd', 'latin1');

t.test('keep-alives between messages', (t) => {
  const f = new StreamFramer(LIMITS);
  const ev = f.push(Buffer.concat([Buffer.from('\r\n\r\n'), OPTIONS, Buffer.from('\r\n\r\n'), OPTIONS, Buffer.from('\r\n')]));
  t.same(ev.map((e) => e.type), ['keepalive', 'message', 'keepalive', 'message']);
  t.equal(f.buffered, 2, 'a lone CRLF waits: it may be the first half of a ping');
  t.same(f.push(Buffer.from('\r\n')).map((e) => e.type), ['keepalive']);
  t.same(f.push(Buffer.from('\r\nOPT')).map((e) => e.type), [], 'a lone CRLF before a message is skipped');
  t.equal(f.buffered, 3);
  t.same(f.push(OPTIONS.subarray(3)).map((e) => e.type), ['message']);
  t.end();
});

t.test('ping split byte by byte', (t) => {
  const f = new StreamFramer(LIMITS);
  const types: string[] = [];
  for (const b of Buffer.from('\r\n\r\n')) types.push(...f.push(Buffer.from([b])).map((e) => e.type));
  t.same(types, ['keepalive']);
  t.end();
});

t.test('pipelined messages and views that survive later pushes', (t) => {
  const f = new StreamFramer(LIMITS);
  const two = Buffer.concat([OPTIONS, OPTIONS]);
  const ev1 = f.push(two.subarray(0, OPTIONS.length + 10));
  t.equal(ev1.length, 1);
  const first = ev1[0]!;
  if (first.type !== 'message' || !first.result.ok) throw new Error('expected a message');
  const body = first.result.message.body;
  // Many small pushes force the framer to grow and replace its buffer.
  const events: FramerEvent[] = [];
  for (let k = OPTIONS.length + 10; k < two.length; k++) events.push(...f.push(two.subarray(k, k + 1)));
  events.push(...f.push(Buffer.concat(Array.from({ length: 50 }, () => OPTIONS))));
  t.equal(events.filter((e) => e.type === 'message').length, 51);
  t.equal(body.toString(), 'abcd', 'the first body is untouched');
  t.end();
});

t.test('a bad message with known framing is reported and skipped', (t) => {
  const bad = Buffer.from(OPTIONS.toString('latin1').replace('CSeq: 1 OPTIONS', 'CSeq: 1 INVITE'), 'latin1');
  const ev = feed([Buffer.concat([bad, OPTIONS])]);
  t.equal(ev.length, 2);
  t.match(ev[0], { type: 'message', result: { ok: false, code: 'SIP_ERR_PARSE', status: 400 } });
  t.match(ev[1], { type: 'message', result: { ok: true } });
  t.end();
});

t.test('limits end the stream', (t) => {
  const small = new StreamFramer({ maxBuffer: 100, maxMessageBytes: 65535 });
  const ev = small.push(Buffer.alloc(101, 0x41));
  t.match(ev, [{ type: 'error', code: 'SIP_ERR_TOO_LARGE' }]);
  t.same(small.push(OPTIONS), [], 'nothing after a fatal error');

  const hdr = new StreamFramer({ maxBuffer: 1 << 20, maxMessageBytes: 200 });
  t.match(hdr.push(Buffer.alloc(300, 0x41)), [{ type: 'error', code: 'SIP_ERR_TOO_LARGE' }], 'header section beyond maxMessageBytes');

  const big = Buffer.from(OPTIONS.toString('latin1').replace('Content-Length: 4', 'Content-Length: 100000'), 'latin1');
  t.match(feed([big]), [{ type: 'error', code: 'SIP_ERR_TOO_LARGE', status: 413 }], 'declared body beyond the limit');

  const nocl = Buffer.from(OPTIONS.toString('latin1').replace('Content-Length: 4\r\n', ''), 'latin1');
  t.match(feed([nocl]), [{ type: 'error', code: 'SIP_ERR_MISSING_HEADER', status: 400 }], 'no Content-Length on a stream');
  t.end();
});

t.test('a large header section byte by byte', (t) => {
  // Linearity is measured, not asserted here (no timed assertions): 33 KB byte by byte frames in
  // tens of milliseconds. This checks the resumed header-end search across 8 KB of one-byte pushes.
  const padding = 'X-Pad: ' + 'p'.repeat(200) + '\r\n';
  const text = OPTIONS.toString('latin1').replace('Content-Length', padding.repeat(40) + 'Content-Length');
  const buf = Buffer.from(text, 'latin1');
  const f = new StreamFramer(LIMITS);
  let messages = 0;
  for (let k = 0; k < buf.length; k++) messages += f.push(buf.subarray(k, k + 1)).length;
  t.equal(messages, 1);
  t.end();
});
