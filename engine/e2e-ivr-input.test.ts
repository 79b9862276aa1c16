/**
 * End to end, IVR input (issue 16) with real sipp peers: a caller on number 300 keys a six-digit
 * order number (SIP INFO digits, then #) into the flow's collect step; the agent's phone gets it in
 * its INVITE (the sipp agent fails the call unless X-Onair-Var-orderNumber carries six digits), and
 * the CRM's CDR carries it in `variables`.
 */
import t from 'tap';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { demoConfig } from './config/index.ts';
import { SCENARIOS, callersFile, startE2e, startSippAgents, waitForCdrs, within } from './testing/engine-rig.ts';

t.test('an order number keyed on the phone reaches the agent\'s screen pop and the CDR', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  const demo = demoConfig();
  const { rig, sipps } = await startE2e(t, {
    flows: {
      ...demo.flows,
      'order-number': [
        { collect: { into: 'orderNumber', prompt: 'enter-order', minDigits: 6, maxDigits: 12, interDigitTimeoutSeconds: 5 } },
        { queue: 'orders' },
      ],
    },
    numbers: { ...demo.numbers, '300': { flow: 'order-number', programme: 'evening-show' } },
  });
  const agents = await startSippAgents(rig, ['1001'], 200, 1, { timeoutSec: 40, scenario: 'agent-answer-order.xml' });
  sipps.add(agents.answer);
  const caller = '+4930750000001';
  const run = sipps.run({
    scenario: path.join(SCENARIOS, 'caller-info-digits.xml'), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 30,
    args: ['-s', '300', '-d', '1000', '-inf', callersFile(rig, [`${caller};2;0;2;6;1;2`], 'order-callers.csv')],
  });
  const result = await within(run, 40_000, 'the caller');
  t.equal(result.successful, 1, `the caller keyed and was served (stderr: ${result.stderr.slice(0, 300)})`);
  const phone = await within(agents.answer.done, 15_000, 'the agent phone');
  t.equal(phone.successful, 1, `the agent's INVITE carried the order number (stderr: ${phone.stderr.slice(0, 300)})`);
  const [cdr] = await waitForCdrs(rig, 1);
  t.match(cdr, { caller, outcome: 'answered', agent: '1001', dialled: '300', variables: { orderNumber: '202612' } });
});
