import t from 'tap';
import { literalLookup } from './lookup.ts';

t.test('an IP literal is answered before the lookup returns, with its family (no tick per packet)', async (t) => {
  const cases: [string, number][] = [['127.0.0.1', 4], ['127.0.0.1', 4], ['::1', 6], ['10.1.2.3', 4], ['2001:db8::7', 6]];
  for (const [address, family] of cases) {
    let got: [Error | null, string, number] | undefined;
    literalLookup(address, 4, (err, a, f) => {
      got = [err, a, f];
    });
    t.same(got, [null, address, family], `${address}: answered synchronously`);
  }
});

t.test('anything else is resolved by dns.lookup, as dgram would (not answered in the same call)', async (t) => {
  let answered = false;
  const done = new Promise<void>((resolve) => {
    // /etc/hosts answers it: no network needed.
    literalLookup('localhost', 4, () => {
      answered = true;
      resolve();
    });
  });
  t.notOk(answered, 'a name waits for the resolver');
  await done;
  t.ok(answered, 'and is answered by it');
  let sameAddress = '';
  literalLookup('10.9.8.7', 4, (_err, a) => {
    sameAddress = a;
  });
  t.equal(sameAddress, '10.9.8.7', 'a literal after a name is still answered at once');
});
