/** The phase table and its one transition function. */
import t from 'tap';
import { CALL_PHASE_NEXT, CallsError, isEnded, transition, type CallPhase } from './index.ts';

const PHASES = Object.keys(CALL_PHASE_NEXT) as CallPhase[];

t.test('every legal edge moves the phase and returns the old one; every other pair is refused with a stable code', async (t) => {
  let legal = 0;
  for (const from of PHASES) {
    for (const to of PHASES) {
      const call = { phase: from };
      if (CALL_PHASE_NEXT[from].includes(to)) {
        t.equal(transition(call, to), from);
        t.equal(call.phase, to);
        legal++;
      } else {
        let code: string | undefined;
        try {
          transition(call, to);
        } catch (err) {
          code = err instanceof CallsError ? err.code : 'not a CallsError';
        }
        t.equal(code, 'CALLS_ERR_ILLEGAL_TRANSITION', `${from} → ${to} refused`);
        t.equal(call.phase, from, 'a refused change leaves the phase');
      }
    }
  }
  t.equal(legal, 18, 'the table as documented in phase.ts');
});

t.test('ended is terminal and is what isEnded says; every phase can end', async (t) => {
  t.same(CALL_PHASE_NEXT.ended, []);
  for (const p of PHASES) t.equal(isEnded({ phase: p }), p === 'ended');
  for (const p of PHASES) if (p !== 'ended') t.ok(CALL_PHASE_NEXT[p].includes('ended'), `${p} can end`);
  t.ok(CALL_PHASE_NEXT.talking.includes('queued'), 'a talking call goes back to a queue only by a blind transfer (transfer.ts)');
  t.notOk(CALL_PHASE_NEXT.talking.includes('offering'), 'never straight from talking to another phone');
  t.notOk(CALL_PHASE_NEXT.closing.includes('queued'), 'a closing caller is not queued again');
  t.same(CALL_PHASE_NEXT.external, ['queued', 'ended'], 'a call transferred to a number: back to a queue if not reached, else it ends');
});
