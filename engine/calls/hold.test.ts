/**
 * Hold from the agent's phone on the call-control rig: a re-INVITE with `a=sendonly` unbridges the
 * caller and plays the queue's hold music; `a=sendrecv` bridges again; the CDR's `holdMs` is the
 * time held on the fake clock.
 */
import t from 'tap';
import type { Cdr } from '../../crm-adapter/index.ts';
import { CallRig } from './testing.ts';
import { holdIntent } from './hold.ts';

function sdp(direction: string): string {
  return ['v=0', 'o=phone 1 2 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0', 'm=audio 50000 RTP/AVP 0 101',
    'a=rtpmap:0 PCMU/8000', 'a=rtpmap:101 telephone-event/8000', `a=${direction}`, ''].join('\r\n');
}

t.test('holdIntent reads the offer', async (t) => {
  t.equal(holdIntent(sdp('sendonly')), 'hold');
  t.equal(holdIntent(sdp('inactive')), 'hold');
  t.equal(holdIntent(sdp('sendrecv').replace('c=IN IP4 198.51.100.7', 'c=IN IP4 0.0.0.0')), 'hold', 'RFC 2543 hold');
  t.equal(holdIntent(sdp('sendrecv')), 'resume');
  t.equal(holdIntent(''), 'none', 'no offer says nothing');
});

t.test('the phone holds: the caller hears hold music, is bridged again on resume, and the CDR has holdMs', async (t) => {
  const r = new CallRig();
  t.teardown(() => r.close());
  const phone = r.agent('a1', '2001', 5070);
  const { sip, callId, leg, inv } = await r.answeredCall(phone);
  const bridges = (): number => r.media.calls.filter((c) => c.op === 'bridge').length;
  t.equal(bridges(), 1, 'bridged once on answer');
  r.phoneRequest(inv, phone, 'INVITE', ['Content-Type: application/sdp'], sdp('sendonly'));
  await r.settle();
  t.ok(r.media.calls.some((c) => c.op === 'unbridge' && c.leg === leg), 'the caller leaves the bridge');
  t.same(r.media.lastPrompts(leg), ['hold/music'], 'and hears the queue\'s hold music');
  await r.advance(3000);
  r.phoneRequest(inv, phone, 'INVITE', ['Content-Type: application/sdp'], sdp('sendrecv'));
  await r.settle();
  t.equal(bridges(), 2, 'bridged again on resume');
  await r.advance(1000);
  r.inDialog(sip, 'BYE');
  await r.settle();
  await r.advance(60_000);
  const item = (await r.outbox(callId)).find((i) => i.kind === 'cdr');
  const cdr: Cdr | undefined = item?.kind === 'cdr' ? item.payload : undefined;
  t.match(cdr, { outcome: 'answered', agent: 'a1', holdMs: 3000, transfers: 0 }, 'three seconds on hold');
  t.match(cdr?.legs, [{ kind: 'agent', agent: 'a1', endedBy: 'hangup' }]);
});
