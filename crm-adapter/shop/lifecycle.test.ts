/** The order life-cycle table: every status × action pair is either the table's step or refused with a typed code. */
import t from 'tap';
import { ACTION_SIDES, nextStatus, ORDER_ACTIONS, ORDER_STATUSES, ORDER_TRANSITIONS, salesMayEdit } from './index.ts';

t.test('the happy path and its branches', async (t) => {
  const walk = (steps: [Parameters<typeof nextStatus>[1], string][]): void => {
    let s: (typeof ORDER_STATUSES)[number] = 'ordered';
    for (const [action, to] of steps) {
      const r = nextStatus(s, action, 'staff');
      t.match(r, { ok: true, to }, `${s} --${action}--> ${to}`);
      if (r.ok) s = r.to;
    }
  };
  walk([['review', 'reviewed'], ['ship', 'shipped'], ['deliver', 'delivered'], ['settle', 'settled']]);
  walk([['review', 'reviewed'], ['ship', 'shipped'], ['refuse', 'refused'], ['return', 'returned']]);
  walk([['review', 'reviewed'], ['ship', 'shipped'], ['deliver', 'delivered'], ['exchange', 'exchanged'], ['ship', 'shipped']]);
});

t.test('every pair outside the table is refused with a code', async (t) => {
  for (const s of ORDER_STATUSES) {
    for (const a of ORDER_ACTIONS) {
      const r = nextStatus(s, a, 'staff');
      const to = ORDER_TRANSITIONS[s][a];
      if (to !== undefined) t.same(r, { ok: true, to });
      else t.match(r, { ok: false, code: a === 'edit' ? 'SHOP_ERR_LOCKED' : 'SHOP_ERR_ILLEGAL_TRANSITION' }, `${s} ${a}`);
    }
  }
});

t.test('the sales side edits and cancels before shipping, nothing else', async (t) => {
  for (const a of ORDER_ACTIONS) {
    const mayDo = ACTION_SIDES[a].includes('sales');
    t.equal(nextStatus('ordered', a, 'sales').ok && ORDER_TRANSITIONS.ordered[a] !== undefined, mayDo && ORDER_TRANSITIONS.ordered[a] !== undefined, a);
  }
  t.same(ORDER_STATUSES.filter(salesMayEdit), ['ordered', 'reviewed']);
  t.match(nextStatus('reviewed', 'edit', 'sales'), { ok: true, to: 'ordered' }, 'an edit after review goes back to review');
});
