/** Not-ready reason labels (pure): configured reasons, the engine's own, and an unknown code. */
import t from 'tap';
import { reasonLabel } from './messages.ts';

const configured = [{ code: 'break', en: 'Break', zh: '休息' }];

t.test('reason labels in both languages', async (t) => {
  t.equal(reasonLabel('zh-CN', configured, 'break'), '休息');
  t.equal(reasonLabel('en', configured, 'break'), 'Break');
  // Set by the ACD when an offer rings out: never in the configuration, shown translated.
  t.equal(reasonLabel('zh-CN', configured, 'ringNoAnswer'), '未接来电');
  t.equal(reasonLabel('en', configured, 'ringNoAnswer'), 'Missed a call');
  t.equal(reasonLabel('zh-CN', configured, 'rejected'), '拒接来电');
  t.equal(reasonLabel('en', configured, 'lunch'), 'lunch', 'an unknown code is shown as it is');
  t.equal(reasonLabel('en', configured, 'toString'), 'toString', 'no prototype keys');
  t.equal(reasonLabel('en', configured, null), '');
});
