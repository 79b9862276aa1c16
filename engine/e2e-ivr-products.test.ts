/**
 * End to end, IVR product introductions (issue 17, docs/shop.md): a sipp caller of the demo
 * programme hears the shop's products as a menu — a steamer the prompt set has no recording of
 * (its name and description spoken by the run-time prompts, espeak-ng) and the demo wok (its
 * recorded name) — picks the steamer, hears its description, list price and promotion price, and
 * presses 1 for an agent: the agent's phone gets the product in the call's variables (the screen
 * pop's X-Onair-Var headers) and the CDR's `played` shows the exact prompt sequence.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { requirePeer } from './testing/index.ts';
import { demoConfig } from './config/index.ts';
import { callersFile, shopIvrRig, startSippAgents, waitForCdrs, within } from './testing/engine-rig.ts';
import { keysCallerScenario } from './testing/keys-caller.ts';
import { DEMO_PROGRAMME } from '../crm-adapter/shop/index.ts';

const toOrders = { queue: 'orders' };

t.test('a caller hears the products by menu, picks one, hears its description and price, and reaches an agent with it', async (t) => {
  if (!requirePeer(t, 'sipp')) return;
  if (!requirePeer(t, 'espeak-ng') || !requirePeer(t, 'sox')) return;
  const { dir, shop, sipps, start } = await shopIvrRig(t, 'onair-products-');
  const now = Date.now();
  await shop.store.upsertProducts([{
    sku: 'STEAMER', nameZh: '竹蒸笼', nameEn: 'Bamboo steamer', priceFen: 12900, stock: 50,
    ivrZh: '三层竹蒸笼，手工编织。', ivrEn: 'A three tier bamboo steamer, woven by hand.', active: true,
  }]);
  const promo = await shop.store.addPromotion({
    sku: 'STEAMER', kind: 'price', title: 'steamer 99', priceFen: 9900, giftSku: null, programme: DEMO_PROGRAMME, airing: null,
    startsAt: now - 60_000, endsAt: now + 3_600_000,
  });
  if (!promo.ok) throw new Error(promo.reason);

  const demo = demoConfig();
  const rig = await start({
    flows: {
      ...demo.flows,
      products: [
        { products: { max: 2, agent: toOrders, failed: toOrders } },
        toOrders,
      ],
    },
    numbers: { ...demo.numbers, 312: { flow: 'products', programme: DEMO_PROGRAMME } },
  });
  const agents = await startSippAgents(rig, ['1001'], 200, 1, { timeoutSec: 60 });
  sipps.add(agents.answer);

  // 1 during the list (barge-in) picks the steamer, 1 during its description asks for an agent.
  const caller = sipps.run({
    scenario: keysCallerScenario(dir, '11', 30_000, { hangUpAfterMs: 2500 }), target: `127.0.0.1:${rig.sipPort}`, transport: 'u1', calls: 1, timeoutSec: 60,
    args: ['-s', '312', '-d', '5000', '-inf', callersFile(rig, ['+8613900000078'], 'products-caller.csv')],
  });
  const r = await within(caller, 70_000, 'the products caller');
  t.equal(r.successful, 1, `picked a product and talked to an agent (stderr: ${r.stderr.slice(0, 300)})`);

  const [cdr] = await waitForCdrs(rig, 1, 15_000);
  t.match(cdr, {
    outcome: 'answered', queue: 'orders', agent: '1001', dialled: '312',
    variables: { productResult: 'found', productCount: '2', productSku: 'STEAMER', productName: 'Bamboo steamer', productPriceFen: '9900' },
  }, 'agent 1001 answered the caller, whose variables (sent on the offer as X-Onair-Var-*) carry the product picked');
  const played = cdr?.played ?? [];
  const tts = played.filter((p) => p.startsWith('tts/'));
  t.equal(tts.length, 2, `the steamer's name and description are run-time prompts: ${JSON.stringify(played)}`);
  const [name, description] = tts;
  for (const p of tts) t.ok(existsSync(path.join(dir, 'tts', `${p!.slice(4)}.wav`)), `${p} rendered into media.tts.dir`);
  const en = (names: string[]): string[] => names.map((x) => `en/${x}`);
  const expected = [
    ...en(['products-intro']),
    'en/product-for', name, 'en/product-press', 'en/numbers/1',
    ...en(['product-for', 'products/wok-01', 'product-press', 'numbers/2']),
    // the steamer: its description, "the price is" 129 yuan, "at the special price of" 99 yuan, "press 1 for an agent"
    description, ...en(['product-price', 'numbers/1', 'numbers/hundred', 'numbers/20', 'numbers/9', 'money/yuan']),
    ...en(['promotion-price', 'numbers/90', 'numbers/9', 'money/yuan', 'product-agent']),
  ];
  t.same(played.slice(0, expected.length), expected, 'the list, then the product with both prices, then the agent prompt');
  t.not(name, description);
});
