import t from 'tap';
import { notePlayed } from './played.ts';
import { CDR_PLAYED_MAX } from '../../crm-adapter/index.ts';

t.test('prompts in order, numbers as #n, silence left out, a loop once, bounded', async (t) => {
  const played: string[] = [];
  notePlayed(played, { items: [{ kind: 'prompt', name: 'en/you-are-number' }, { kind: 'number', value: 3, lang: 'en' }, { kind: 'silence', ms: 200 }] });
  notePlayed(played, { items: [{ kind: 'prompt', name: 'en/in-queue' }, { kind: 'prompt', name: 'hold/music' }], loop: true, loopFrom: 1 });
  t.same(played, ['en/you-are-number', '#3', 'en/in-queue', 'hold/music']);
  for (let i = 0; i < CDR_PLAYED_MAX; i++) notePlayed(played, { items: [{ kind: 'prompt', name: 'hold/music' }] });
  t.equal(played.length, CDR_PLAYED_MAX, 'a long hold cannot grow the record');
  t.equal(played[0], 'en/you-are-number', 'the first ones are kept');
});
