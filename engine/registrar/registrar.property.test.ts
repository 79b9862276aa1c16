/**
 * Property test of the registrar's invariants under random sequences of REGISTERs (new contacts,
 * refreshes, removals, `*`, replays of old CSeqs, other Call-IDs) and clock jumps:
 *
 * - an agent never holds more bindings than allowed, and none that has ended;
 * - `lookup` is ordered by q, then most recent refresh;
 * - presence as told by the events (onRegistered / onUnregistered) always equals `isRegistered`;
 * - every 200 lists exactly the current bindings;
 * - a rejected request changes nothing.
 *
 * Requests are parsed SIP text handed to `handle` directly (no sockets) so that thousands run fast.
 */
import t from 'tap';
import fc from 'fast-check';
import { FakeClock } from '../clock/index.ts';
import { answerChallenge, parse, type HeaderField, type IncomingRequest, type SipRequest } from '../sip/index.ts';
import { Registrar } from './registrar.ts';

type Op =
  | { kind: 'register'; contacts: { port: number; expires: number | undefined; q: number | undefined }[]; expires: number | undefined; callId: string; cseqStep: number }
  | { kind: 'star'; callId: string; cseqStep: number; expires: number }
  | { kind: 'advance'; ms: number };

const contactArb = fc.record({
  port: fc.integer({ min: 6000, max: 6005 }),
  expires: fc.option(fc.constantFrom(0, 30, 60, 90, 600, 5000), { nil: undefined }),
  q: fc.option(fc.constantFrom(0.1, 0.5, 1), { nil: undefined }),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('register' as const), contacts: fc.array(contactArb, { maxLength: 4 }), expires: fc.option(fc.constantFrom(0, 60, 120), { nil: undefined }), callId: fc.constantFrom('A', 'B', 'C'), cseqStep: fc.integer({ min: -2, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('star' as const), callId: fc.constantFrom('A', 'B', 'C'), cseqStep: fc.integer({ min: -2, max: 3 }), expires: fc.constantFrom(0, 0, 60) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 200_000 }) }) },
);

const URI = 'sip:registrar.test';

function build(contacts: string[], expires: number | undefined, callId: string, cseq: number, authorization: string | undefined): SipRequest {
  const lines = [
    `REGISTER ${URI} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-${callId}-${cseq}`,
    'From: <sip:1001@registrar.test>;tag=p',
    'To: <sip:1001@registrar.test>',
    `Call-ID: ${callId}`,
    `CSeq: ${cseq} REGISTER`,
    ...contacts.map((c) => `Contact: ${c}`),
    ...(expires !== undefined ? [`Expires: ${expires}`] : []),
    ...(authorization !== undefined ? [`Authorization: ${authorization}`] : []),
    'Content-Length: 0', '', '',
  ];
  const r = parse(Buffer.from(lines.join('\r\n'), 'latin1'));
  if (!r.ok || r.message.kind !== 'request') throw new Error('bad fixture');
  return r.message;
}

interface Answer { status: number; headers: HeaderField[] }

function fakeRequest(request: SipRequest, answers: Answer[]): IncomingRequest {
  return {
    request,
    inbound: { message: request, source: { transport: 'UDP', address: '127.0.0.1', port: 5070 }, local: { transport: 'UDP', address: '127.0.0.1', port: 5060 } },
    respond: (status: number, opts: { headers?: HeaderField[] } = {}) => {
      answers.push({ status, headers: opts.headers ?? [] });
      return true;
    },
  } as unknown as IncomingRequest;
}

t.test('registrar invariants hold under random REGISTER sequences', async (t) => {
  let checked = 0;
  const statuses = new Map<number, number>();
  fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 25 }), (ops) => {
    const clock = new FakeClock(10_000);
    const max = 3;
    const registrar = new Registrar({
      realm: 'onair', agents: [{ id: 'a', extension: '1001', password: 'pw' }], clock, maxContactsPerAgent: max,
      minExpires: 60, maxExpires: 3600, digest: { nonceTtlMs: 1e12 },
    });
    let present = false;
    registrar.setDelegate({
      onRegistered: () => { present = true; },
      onUnregistered: () => {
        if (!present) throw new Error('onUnregistered without presence');
        present = false;
      },
    });
    const answers: Answer[] = [];
    registrar.handle(fakeRequest(build([], undefined, 'X', 1, undefined), answers));
    const challenge = answers[0]?.headers[0]?.value ?? '';
    let nc = 0;
    const cseqs = new Map<string, number>([['A', 10], ['B', 10], ['C', 10]]);
    for (const op of ops) {
      if (op.kind === 'advance') {
        clock.advance(op.ms);
      } else {
        const cseq = Math.max(1, (cseqs.get(op.callId) ?? 10) + op.cseqStep);
        cseqs.set(op.callId, Math.max(cseq, cseqs.get(op.callId) ?? 0));
        const contacts = op.kind === 'star' ? ['*']
          : op.contacts.map((c) => `<sip:1001@127.0.0.1:${c.port}>${c.expires !== undefined ? `;expires=${c.expires}` : ''}${c.q !== undefined ? `;q=${c.q}` : ''}`);
        const auth = answerChallenge(challenge, { username: '1001', password: 'pw', method: 'REGISTER', uri: URI }, ++nc);
        if (!auth.ok) throw new Error(auth.reason);
        const before = registrar.lookup('a').map((b) => `${b.uri.port}/${b.expiresAt}/${b.cseq}`);
        answers.length = 0;
        registrar.handle(fakeRequest(build(contacts, op.expires, op.callId, cseq, auth.header), answers));
        const answer = answers[0];
        if (answer === undefined) throw new Error('no answer');
        statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
        const now = registrar.lookup('a');
        if (answer.status === 200) {
          const listed = answer.headers.filter((h) => h.name === 'Contact').length;
          if (listed !== now.length) throw new Error(`200 lists ${listed}, holds ${now.length}`);
        } else {
          if (![400, 403, 423, 500].includes(answer.status)) throw new Error(`unexpected ${answer.status}`);
          const after = now.map((b) => `${b.uri.port}/${b.expiresAt}/${b.cseq}`);
          if (after.join() !== before.join()) throw new Error(`rejected ${answer.status} changed the bindings`);
        }
      }
      const list = registrar.lookup('a');
      if (list.length > max) throw new Error(`${list.length} bindings`);
      for (const b of list) if (b.expiresAt <= clock.now()) throw new Error('ended binding listed');
      for (let i = 1; i < list.length; i++) {
        const p = list[i - 1]!;
        const c = list[i]!;
        if (p.q < c.q || (p.q === c.q && p.refreshedAt < c.refreshedAt)) throw new Error('lookup order');
      }
      if (present !== registrar.isRegistered('a')) throw new Error(`events say ${present}, registrar says ${!present}`);
      checked++;
    }
    registrar.close();
  }), { numRuns: 300 });
  t.ok(checked > 1000, `invariants checked after ${checked} steps`);
  for (const s of [200, 400, 403, 423, 500]) t.ok((statuses.get(s) ?? 0) > 0, `the sequences reach ${s} (${statuses.get(s) ?? 0} times)`);
});
