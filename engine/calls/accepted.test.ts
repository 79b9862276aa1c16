/**
 * "Nothing accepted is ever lost" (issue 19): a caller is answered (200) only once the journal
 * holds the call, so a kill -9 right after the 200 always leaves a row that recovery turns into
 * a CDR and a callback task. The failover bench lost 1 CDR of 1,392 before this: a caller
 * answered in the last group commit before the kill, whose arrival row was never committed
 * (docs/bench.md, "Failover"). On the rig of testing.ts (the real SQLite store) with its journal
 * write held back, as a loaded PostgreSQL writer holds it.
 */
import t from 'tap';
import { CallRig } from './testing.ts';

/** Hold the rig's journal arrivals until `release()`; `fail` makes them reject instead (a fenced node). */
function holdArrivals(r: CallRig, fail = false): { release: () => void } {
  const journal = r.store.journal;
  const real = journal.arrived.bind(journal);
  let release = (): void => {};
  const gate = new Promise<void>((resolve) => { release = resolve; });
  journal.arrived = async (...args: Parameters<typeof real>) => {
    if (fail) throw new Error('HA_ERR_FENCED: lease epoch is 8, this node wrote at 7: the write is refused');
    await gate;
    return real(...args);
  };
  return { release: () => release() };
}

t.test('the caller gets its 200 only after the journal committed its arrival', async (t) => {
  const r = new CallRig({ logLevel: 'silent' });
  t.teardown(() => r.close());
  const held = holdArrivals(r);
  const { callId: sipCallId } = r.invite();
  await r.settle();
  const id = r.of('call.arrived').find((e) => e.sipCallId === sipCallId)!.callId;
  t.notOk(r.responses(sipCallId).some((m) => m.status === 200), 'no 200 while the arrival is not in the journal');
  t.equal(await r.store.journal.get(id), null, 'a kill -9 now leaves nothing to recover: the caller must not have been accepted');
  held.release();
  await r.settle();
  t.ok(r.responses(sipCallId).some((m) => m.status === 200), 'answered once the row is committed');
  t.not(await r.store.journal.get(id), null, 'and from then on recovery would find it');
});

t.test('an arrival the journal refuses (fenced, database gone): 503, never a 200 nobody could recover', async (t) => {
  const r = new CallRig({ logLevel: 'silent' });
  t.teardown(() => r.close());
  holdArrivals(r, true);
  const { callId: sipCallId } = r.invite();
  await r.settle();
  t.notOk(r.responses(sipCallId).some((m) => m.status === 200), 'not answered');
  t.equal(r.lastStatus(sipCallId), 503, 'refused: the proxy in front (or the carrier) tries again elsewhere');
  t.same(r.media.calls.filter((c) => c.op === 'play'), [], 'no prompt was played to a caller we did not accept');
});
