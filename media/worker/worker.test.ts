import t from 'tap';
import type { Test } from 'tap';
import dgram from 'node:dgram';
import type { Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MediaPool } from './index.ts';
import type { AllocatedLeg, MediaDelegate, MediaPoolOptions } from './index.ts';
import { RtpView, writeRtpHeader } from '../rtp/index.ts';
import { encodeRfc4733 } from '../dtmf/index.ts';
import { ULAW_TO_ALAW, encodeLinear } from '../codec/index.ts';
import { defaultPromptDir, HOLD_MUSIC } from '../prompts/index.ts';

/** A random even port range of 200 ports in the dynamic range, to live next to parallel tests. */
function range(): { portMin: number; portMax: number } {
  const base = 30000 + 2 * Math.floor(Math.random() * 14000);
  return { portMin: base, portMax: base + 199 };
}

async function peer(t: Test): Promise<{ sock: Socket; port: number; got: Buffer[] }> {
  const sock = dgram.createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  t.teardown(() => sock.close());
  return { sock, port: sock.address().port, got };
}

async function startPool(t: Test, opts: MediaPoolOptions): Promise<MediaPool> {
  const pool = await MediaPool.start({ bindAddress: '127.0.0.1', ...range(), ...opts });
  t.teardown(() => pool.close());
  return pool;
}

function until(cond: () => boolean, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  return new Promise((resolve) => {
    const check = (): void => {
      if (cond()) resolve(true);
      else if (Date.now() > end) resolve(false);
      else setTimeout(check, 10);
    };
    check();
  });
}

/** Resolves once a socket could bind `port` on 127.0.0.1 (closed again): nothing holds the port. */
async function bindable(port: number): Promise<void> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, '127.0.0.1', () => resolve());
  });
  sock.close();
}

/** An in-thread pool on 8 ports (4 legs) with all four allocated and a fifth refused for want of a port. */
async function fullTinyPool(t: Test, spareLegs: number): Promise<{ pool: MediaPool; base: number; legs: AllocatedLeg[] }> {
  const base = 30000 + 2 * Math.floor(Math.random() * 14000);
  const pool = await MediaPool.start({ workers: 1, inThread: true, bindAddress: '127.0.0.1', portMin: base, portMax: base + 7, spareLegs });
  t.teardown(() => pool.close());
  const legs: AllocatedLeg[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await pool.allocate();
    t.ok(r.ok, `leg ${i + 1} of four even ports in 8`);
    if (r.ok) legs.push(r.value);
  }
  const fifth = await pool.allocate();
  t.equal(fifth.ok, false);
  if (!fifth.ok) t.equal(fifth.code, 'MEDIA_ERR_NO_PORT');
  return { pool, base, legs };
}

function send(sock: Socket, port: number, buf: Buffer): Promise<void> {
  return new Promise((r) => sock.send(buf, port, '127.0.0.1', () => r()));
}

/** A DTMF key press as RFC 4733 packets: start (marker), updates, three end reports. */
async function pressKey(sock: Socket, port: number, digit: string, seq0: number, ts: number): Promise<number> {
  let seq = seq0;
  for (let i = 0; i < 8; i++) {
    const b = Buffer.alloc(16);
    const end = i >= 5;
    writeRtpHeader(b, 0, 101, seq++, ts, 0xdeadbeef, i === 0);
    encodeRfc4733(b, 12, digit, end, 10, Math.min(i + 1, 5) * 160);
    await send(sock, port, b);
  }
  return seq;
}

for (const inThread of [true, false]) {
  const mode = inThread ? 'in-thread' : 'worker_threads';

  t.test(`${mode}: allocate, play to a peer, DTMF back, release frees the port`, async (t) => {
    const events: string[] = [];
    const delegate: MediaDelegate = {
      dtmf: (leg, digit, info) => events.push(`dtmf ${leg} ${digit} ${info.source}`),
      playbackDone: (leg, id, why) => events.push(`done ${leg} ${id} ${why}`),
    };
    const pool = await startPool(t, { workers: 2, inThread, delegate, promptDir: defaultPromptDir() });
    t.equal(pool.workers, 2);
    const a = await pool.allocate();
    const b = await pool.allocate();
    if (!a.ok || !b.ok) throw new Error('allocate failed');
    t.equal(a.value.port % 2, 0, 'even RTP port');
    t.not(pool.workerOf(a.value.leg), pool.workerOf(b.value.leg), 'spread over workers');
    const p = await peer(t);
    t.ok((await pool.setRemote(a.value.leg, { address: '127.0.0.1', port: p.port, latch: false })).ok);
    const play = await pool.play(a.value.leg, { items: [{ kind: 'silence', ms: 100 }] });
    t.ok(play.ok);
    const playId = play.ok ? play.value.playId : -1;
    t.ok(await until(() => events.includes(`done ${a.value.leg} ${playId} finished`)), 'playbackDone');
    await until(() => p.got.length >= 5, 500);
    // A loaded machine may stall the clock long enough that frames are skipped, never repeated.
    const skipped = (await pool.stats()).reduce((n, s) => n + s.skippedFrames, 0);
    t.equal(p.got.length + skipped, 5, '100 ms = five 20 ms frames, sent or skipped');
    const v = new RtpView();
    const seqs = p.got.map((m) => (v.reset(m, m.length), v.sequence));
    for (let i = 1; i < seqs.length; i++) t.equal((seqs[i]! - seqs[i - 1]!) & 0xffff, 1);
    t.ok(p.got.every((m) => m.length === 172 && m[12] === 0xff), 'µ-law silence frames');

    await pressKey(p.sock, a.value.port, '7', 1, 8000);
    t.ok(await until(() => events.includes(`dtmf ${a.value.leg} 7 rfc4733`)), 'RFC 4733 digit reported');
    t.equal(events.filter((e) => e.startsWith('dtmf')).length, 1, 'reported once despite three end packets');

    const bad = await pool.play(a.value.leg, { items: [{ kind: 'prompt', name: 'no/such/prompt' }] });
    t.equal(bad.ok, false);
    if (!bad.ok) t.equal(bad.code, 'MEDIA_ERR_PLAYLIST');
    const unknown = await pool.setRemote('9.9', { address: '127.0.0.1', port: 1 });
    t.equal(unknown.ok, false);

    const port = a.value.port;
    t.ok((await pool.release(a.value.leg)).ok);
    t.equal((await pool.release(a.value.leg)).ok, false, 'second release: unknown leg');
    // The port is free again: another socket can bind it.
    await bindable(port);
    const stats = await pool.stats();
    t.equal(stats.reduce((n, s) => n + s.legs, 0), 1);
    t.ok(stats.every((s) => s.sendErrors === 0));
    // The worker's own isolate (docs/bench.md, call-memory): committed covers what is in use.
    t.ok(stats.every((s) => s.heapUsed > 0 && s.heapTotal >= s.heapUsed), 'each worker reports its V8 heap');
  });

  t.test(`${mode}: spare legs: allocate answers at once, the claimed leg plays, spares refill`, async (t) => {
    const pool = await startPool(t, { workers: 1, inThread, spareLegs: 3 });
    t.equal(pool.spareCount(0), 3, 'bound ahead of demand at start');
    let s = await pool.stats();
    t.match(s[0], { legs: 0, spares: 3 });
    // No round trip: the result is there before any worker reply can be.
    let settled = false;
    const pending = pool.allocate({ codec: 'PCMA' }).then((r) => ((settled = true), r));
    await Promise.resolve();
    await Promise.resolve();
    t.ok(settled, 'allocate resolved within the same turn');
    const a = await pending;
    if (!a.ok) throw new Error(a.reason);
    t.equal(a.value.port % 2, 0, 'even RTP port');
    // Commands sent right away reach the claimed leg, with the options of the allocation.
    const p = await peer(t);
    void pool.setRemote(a.value.leg, { address: '127.0.0.1', port: p.port, latch: false });
    t.ok((await pool.play(a.value.leg, { items: [{ kind: 'silence', ms: 60 }] })).ok);
    t.ok(await until(() => p.got.length >= 2), 'claimed leg sends');
    t.ok(p.got.every((m) => (m[1]! & 0x7f) === 8 && m[12] === 0xd5), 'A-law (PT 8) silence: the claim carried the options');
    const b = await pool.allocate({ near: a.value.leg });
    if (!b.ok) throw new Error(b.reason);
    t.equal(pool.workerOf(b.value.leg), pool.workerOf(a.value.leg));
    t.ok((await pool.bridge(a.value.leg, b.value.leg)).ok, 'spare legs bridge like any other');
    t.ok(await until(() => pool.spareCount(0) === 3), 'refilled');
    s = await pool.stats();
    t.match(s[0], { legs: 2, spares: 3 });
    const ports = new Set([a.value.port, b.value.port]);
    t.equal(ports.size, 2, 'distinct ports');
    t.ok((await pool.release(a.value.leg)).ok);
    t.ok((await pool.release(b.value.leg)).ok);
    await pool.close();
    // Closing releases the spares' ports too.
    for (const port of ports) await bindable(port);
  });

  t.test(`${mode}: bridge with transcoding, continuity, recording, unbridge to hold`, async (t) => {
    const done: number[] = [];
    const pool = await startPool(t, { workers: 1, inThread, promptDir: defaultPromptDir(), delegate: { playbackDone: (_l, id) => done.push(id) } });
    const caller = await pool.allocate({ codec: 'PCMU' });
    if (!caller.ok) throw new Error(caller.reason);
    const agent = await pool.allocate({ codec: 'PCMA', near: caller.value.leg });
    if (!agent.ok) throw new Error(agent.reason);
    const pc = await peer(t);
    const pa = await peer(t);
    // Latching: the remote's SDP says port 9 but its packets come from pc/pa: we answer there.
    t.ok((await pool.setRemote(caller.value.leg, { address: '127.0.0.1', port: 9 })).ok);
    t.ok((await pool.setRemote(agent.value.leg, { address: '127.0.0.1', port: 9, codec: 'PCMA' })).ok);
    const hold = await pool.play(caller.value.leg, { items: [{ kind: 'prompt', name: HOLD_MUSIC }], loop: true });
    t.ok(hold.ok, 'hold music');
    const dir = t.testdir({});
    const wav = path.join(dir, 'rec.wav');
    t.ok((await pool.recordStart(caller.value.leg, wav)).ok);
    // The caller speaks first (this latches the caller leg) and hears hold music.
    const tone = new Int16Array(160).map((_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    const ulaw = Buffer.alloc(160);
    encodeLinear(tone, ulaw, 0, 'PCMU');
    let callerSeq = 100;
    const callerPacket = (): Buffer => {
      const b = Buffer.alloc(172);
      writeRtpHeader(b, 0, 0, callerSeq, callerSeq * 160, 0x1111, false);
      callerSeq++;
      ulaw.copy(b, 12);
      return b;
    };
    for (let i = 0; i < 5; i++) await send(pc.sock, caller.value.port, callerPacket());
    t.ok(await until(() => pc.got.length >= 10), 'hold music reaches the latched caller');
    // Agent latches too (one packet), then bridge.
    const agentFirst = Buffer.alloc(172, 0xd5);
    writeRtpHeader(agentFirst, 0, 8, 1, 1, 0x2222, false);
    await send(pa.sock, agent.value.port, agentFirst);
    await until(() => false, 50);
    const br = await pool.bridge(caller.value.leg, agent.value.leg);
    t.ok(br.ok && br.value.transcoding, 'bridged, transcoding µ-law↔A-law');
    const before = pc.got.length;
    const agentGotBefore = pa.got.length;
    for (let i = 0; i < 10; i++) await send(pc.sock, caller.value.port, callerPacket());
    for (let i = 0; i < 10; i++) {
      const b = Buffer.alloc(172, 0x2a);
      writeRtpHeader(b, 0, 8, 50 + i, 7777 + i * 160, 0x2222, false);
      await send(pa.sock, agent.value.port, b);
    }
    t.ok(await until(() => pa.got.length >= agentGotBefore + 10), 'caller audio reaches the agent');
    const v = new RtpView();
    const toAgent = pa.got.slice(agentGotBefore);
    t.ok(toAgent.every((m) => v.reset(m, m.length) && v.payloadType === 8), 'A-law PT to the agent');
    v.reset(toAgent[0]!, toAgent[0]!.length);
    t.equal(toAgent[0]![12], ULAW_TO_ALAW[ulaw[0]!], 'payload transcoded by table');
    t.ok(await until(() => pc.got.length >= before + 10), 'agent audio reaches the caller');
    const un = await pool.unbridge(caller.value.leg, { items: [{ kind: 'prompt', name: HOLD_MUSIC }], loop: true });
    t.ok(un.ok, 'back to hold');
    const afterUnbridge = pc.got.length;
    t.ok(await until(() => pc.got.length >= afterUnbridge + 5));
    // Everything the caller heard is one stream: one SSRC, sequence +1 with no gaps.
    const heard = pc.got.map((m) => (v.reset(m, m.length), { seq: v.sequence, ssrc: v.ssrc, marker: v.marker, pt: v.payloadType }));
    t.equal(new Set(heard.map((h) => h.ssrc)).size, 1, 'one SSRC across hold → agent → hold');
    let gaps = 0;
    for (let i = 1; i < heard.length; i++) if (((heard[i]!.seq - heard[i - 1]!.seq) & 0xffff) !== 1) gaps++;
    t.equal(gaps, 0, 'sequence continuous across source switches');
    t.ok(heard.every((h) => h.pt === 0), 'caller always gets PCMU');
    // The very first hold packet went to the SDP address (port 9), before the caller latched.
    t.ok(heard.filter((h) => h.marker).length >= 2, 'marker at each switch (agent, hold again)');
    const rec = await pool.recordStop(caller.value.leg);
    t.ok(rec.ok, JSON.stringify(rec));
    const data = readFileSync(wav);
    t.equal(data.toString('latin1', 0, 4), 'RIFF');
    t.equal(data.readUInt16LE(22), 2, 'stereo');
    t.equal(data.readUInt32LE(40) + 44, data.length, 'data size matches the file');
    let leftEnergy = 0;
    for (let off = 44; off + 4 <= data.length; off += 4) leftEnergy += Math.abs(data.readInt16LE(off));
    t.ok(leftEnergy > 0, 'caller voice on the left channel');
    t.ok((await pool.release(caller.value.leg)).ok);
    t.ok((await pool.release(agent.value.leg)).ok);
    const stats = await pool.stats();
    t.same(stats.map((s) => s.legs), [0], 'no legs left');
  });
}

t.test('bridge across workers is refused with a clear code', async (t) => {
  const pool = await startPool(t, { workers: 2, inThread: true });
  const a = await pool.allocate();
  const b = await pool.allocate();
  if (!a.ok || !b.ok) throw new Error('allocate');
  const r = await pool.bridge(a.value.leg, b.value.leg);
  t.equal(r.ok, false);
  if (!r.ok) t.equal(r.code, 'MEDIA_ERR_WORKER');
});

t.test('port range exhaustion is a result; close releases everything', async (t) => {
  const { pool, base } = await fullTinyPool(t, 0);
  await pool.close();
  await pool.close();
  const again = await MediaPool.start({ workers: 1, inThread: true, bindAddress: '127.0.0.1', portMin: base, portMax: base + 7 });
  t.teardown(() => again.close());
  for (let i = 0; i < 4; i++) t.ok((await again.allocate()).ok, 'ports bindable again after close');
});

t.test('a media worker that dies: its legs are reported, new legs go to the others, never to it', async (t) => {
  const gone: string[] = [];
  const pool = await startPool(t, { workers: 2, spareLegs: 2, delegate: { workerExit: (w, legs) => gone.push(`${w}:${legs.join(',')}`) } });
  const a = await pool.allocate();
  if (!a.ok) throw new Error(a.reason);
  const dead = pool.workerOf(a.value.leg);
  // Kill the thread the way a crash would end it (the pool did not ask for it).
  const channels = (pool as unknown as { channels: { terminate(): Promise<void> }[] }).channels;
  await channels[dead]!.terminate();
  t.ok(await until(() => gone.length === 1), 'workerExit reported');
  t.equal(gone[0], `${dead}:${a.value.leg}`, 'with its legs');
  for (let i = 0; i < 4; i++) {
    const r = await pool.allocate();
    t.ok(r.ok, 'allocate still answers');
    if (r.ok) t.equal(pool.workerOf(r.value.leg), 1 - dead, 'on the live worker');
  }
  const stale = await pool.setRemote(a.value.leg, { address: '127.0.0.1', port: 9 });
  t.equal(stale.ok, false, "the dead worker's leg is unknown");
  await channels[1 - dead]!.terminate();
  t.ok(await until(() => gone.length === 2));
  const none = await pool.allocate();
  t.equal(none.ok, false, 'no worker left: a clear error, not a hang');
  if (!none.ok) t.equal(none.code, 'MEDIA_ERR_WORKER');
});

t.test('spare legs share the port range: exhaustion, then a release lets them refill', async (t) => {
  const { pool, legs } = await fullTinyPool(t, 2);
  t.equal(pool.spareCount(0), 0);
  t.ok((await pool.release(legs[0]!.leg)).ok);
  t.ok(await until(() => pool.spareCount(0) === 1), 'the freed port is bound as a spare again');
  t.ok((await pool.allocate()).ok);
  t.equal((await pool.allocate()).ok, false, 'and the range is full again');
});

t.test('in-band DTMF per leg, and RTP timeout once per silence', async (t) => {
  const events: string[] = [];
  const pool = await startPool(t, {
    workers: 1, inThread: true,
    delegate: {
      dtmf: (leg, digit, info) => events.push(`dtmf ${leg} ${digit} ${info.source}`),
      rtpTimeout: (leg) => events.push(`timeout ${leg}`),
    },
  });
  const a = await pool.allocate({ codec: 'PCMU', inbandDtmf: true, rtpTimeoutMs: 300 });
  if (!a.ok) throw new Error(a.reason);
  const leg = a.value.leg;
  const p = await peer(t);
  t.ok((await pool.setRemote(leg, { address: '127.0.0.1', port: p.port })).ok);
  // Digit 5 = 770 Hz + 1336 Hz for 100 ms, then 100 ms of silence (G.711 µ-law, 20 ms packets).
  const samples = new Int16Array(160);
  const frame = Buffer.alloc(172);
  for (let f = 0; f < 10; f++) {
    for (let i = 0; i < 160; i++) {
      const n = f * 160 + i;
      const s = f < 5 ? 6000 * (Math.sin((2 * Math.PI * 770 * n) / 8000) + Math.sin((2 * Math.PI * 1336 * n) / 8000)) : 0;
      samples[i] = Math.round(s);
    }
    writeRtpHeader(frame, 0, 0, 1000 + f, 160 * f, 0xabc, f === 0);
    encodeLinear(samples, frame, 12, 'PCMU');
    await send(p.sock, a.value.port, frame);
  }
  t.ok(await until(() => events.includes(`dtmf ${leg} 5 inband`)), 'tone detected in-band');
  t.ok(await until(() => events.includes(`timeout ${leg}`), 2000), 'rtpTimeout after 300 ms of silence');
  await until(() => false, 400);
  t.equal(events.filter((e) => e.startsWith('timeout')).length, 1, 'reported once per silence');
  t.equal(events.filter((e) => e.startsWith('dtmf')).length, 1, 'one digit');
});

t.test('lost packets: a running total per worker that counts gaps, earlier SSRCs and released legs, and never goes down', async (t) => {
  const pool = await startPool(t, { workers: 1, inThread: true });
  const a = await pool.allocate({ codec: 'PCMU' });
  if (!a.ok) throw new Error(a.reason);
  const p = await peer(t);
  t.ok((await pool.setRemote(a.value.leg, { address: '127.0.0.1', port: p.port })).ok);
  const frame = Buffer.alloc(172);
  const stream = async (ssrc: number, seqs: number[]): Promise<void> => {
    for (const seq of seqs) {
      writeRtpHeader(frame, 0, 0, seq, seq * 160, ssrc, false);
      await send(p.sock, a.value.port, frame);
    }
  };
  const lost = async (): Promise<number> => (await pool.stats()).reduce((n, s) => n + s.packetsLost, 0);
  const received = async (n: number): Promise<boolean> => {
    for (let i = 0; i < 100; i++) {
      if ((await pool.stats())[0]!.packetsIn >= n) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return false;
  };
  await stream(0x111, [1, 2, 3, 6, 7, 10]); // 4, 5, 8, 9 missing
  t.ok(await received(6));
  t.equal(await lost(), 4, 'sequence gaps counted');
  await stream(0x111, [4]); // a late packet: the leg's own figure drops to 3
  t.ok(await received(7));
  t.equal(await lost(), 4, 'the total keeps the highest figure seen');
  await stream(0x222, [100, 102]); // a new SSRC: the old stream's loss is kept, the new one adds 1
  t.ok(await received(9));
  t.equal(await lost(), 5, 'an SSRC change carries the old loss');
  t.ok((await pool.release(a.value.leg)).ok);
  t.equal(await lost(), 5, 'a released leg keeps counting in the total');
});

t.test('a run of RTP ports held by another process does not fail a leg: allocation tries past it', async (t) => {
  // Another engine (or a test rig with an overlapping range) holds the first 20 even ports of
  // ours; with only 8 bind attempts a new caller got a 503 here.
  const base = 30000 + 2 * Math.floor(Math.random() * 14000);
  const held: Socket[] = [];
  t.teardown(() => { for (const s of held) s.close(); });
  for (let i = 0; i < 20; i++) {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(base + 2 * i, '127.0.0.1', () => resolve()); });
    held.push(s);
  }
  const pool = await MediaPool.start({ workers: 1, inThread: true, bindAddress: '127.0.0.1', portMin: base, portMax: base + 99, spareLegs: 0 });
  t.teardown(() => pool.close());
  const r = await pool.allocate();
  t.ok(r.ok, 'a leg is allocated past the held ports');
  if (r.ok) t.ok(r.value.port >= base + 40, `on a free port (${r.value.port})`);
});
