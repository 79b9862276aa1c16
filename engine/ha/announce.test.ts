/**
 * The takeover's announcement (engine/ha/announce.ts): the gate keeps the sources of the OPTIONS
 * it refused, bounded and forgetting quiet ones; the announcement is one OPTIONS to each with the
 * epoch. End to end with Kamailio: engine/ha/kamailio.e2e.test.ts.
 */
import t from 'tap';
import type { Endpoint, IncomingRequest, RequestOptions, SipResponse } from '../sip/index.ts';
import { ACTIVE_HEADER, Probers, announceActive, standbyGate } from './index.ts';

const at = (port: number): Endpoint => ({ transport: 'UDP', address: '127.0.0.1', port });

t.test('probers: the most recent few, quiet ones forgotten', async (t) => {
  const p = new Probers({ max: 2, forgetMs: 1000 });
  p.seen(at(1), 0);
  p.seen(at(2), 100);
  p.seen(at(1), 200);
  t.same(p.recent(300), [at(2), at(1)], 'one entry per source, oldest first');
  p.seen(at(3), 300);
  t.same(p.recent(300), [at(1), at(3)], 'bounded: the least recent goes');
  t.same(p.recent(1250), [at(3)], 'a source quiet for longer than forgetMs is not told');
});

t.test('the gate keeps the sources of the OPTIONS it refuses, not of the ones it lets through', async (t) => {
  let accepting = false;
  const list = new Probers();
  const passed: string[] = [];
  const gate = standbyGate({ onRequest: (r) => passed.push(r.request.method) }, { accepting: () => accepting }, 2, () => [], { list, now: () => 5 });
  const statuses: number[] = [];
  const req = (method: string, port: number): IncomingRequest => ({
    request: { method }, inbound: { source: at(port) }, respond: (status: number) => { statuses.push(status); return true; },
  }) as unknown as IncomingRequest;
  gate.onRequest!(req('OPTIONS', 7));
  gate.onRequest!(req('REGISTER', 8));
  accepting = true;
  gate.onRequest!(req('OPTIONS', 9));
  t.same(statuses, [503, 503], 'refused while not accepting');
  t.same(passed, ['OPTIONS'], 'passed once accepting');
  t.same(list.recent(5), [at(7)], 'only the refused OPTIONS is a prober');
});

t.test('announceActive: one OPTIONS per prober with the epoch, results per prober', async (t) => {
  const sent: RequestOptions[] = [];
  const ua = {
    request: async (o: RequestOptions): Promise<SipResponse | 'timeout'> => {
      sent.push(o);
      return o.destination?.port === 2 ? 'timeout' : ({ status: 200 } as SipResponse);
    },
  };
  const told = await announceActive(ua, [at(1), at(2)], 8);
  t.same(told.map((x) => x.result), [200, 'timeout']);
  t.same(sent.map((o) => [o.method, o.target, o.destination?.port, o.headers]), [
    ['OPTIONS', 'sip:127.0.0.1:1', 1, [{ name: ACTIVE_HEADER, value: 'epoch=8' }]],
    ['OPTIONS', 'sip:127.0.0.1:2', 2, [{ name: ACTIVE_HEADER, value: 'epoch=8' }]],
  ]);
  t.same(await announceActive(ua, [], 9), [], 'nobody probed: nothing sent');
});
