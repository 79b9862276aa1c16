/**
 * Path (RFC 3327) at the registrar: what a REGISTER's Path must be to be stored (path.ts), the
 * 200 that echoes it only to a UA that supports it (§5.3), the binding that keeps it in both
 * stores across a restart, and the INVITE target built from it (the Path as the Route set, the
 * first hop as the destination).
 */
import t from 'tap';
import { parseNameAddrListInto, SipHeaders, type NameAddr } from '../sip/index.ts';
import { eachBackend } from '../store/backends.ts';
import { MAX_PATH_ENTRIES, phoneTarget, readPath } from './index.ts';
import { RawPhone, startRegistrar } from './testkit.ts';

const UDP = { transport: 'UDP' as const, address: '127.0.0.1', port: 5999 };

function headers(lines: [string, string][]): SipHeaders {
  const h = new SipHeaders();
  for (const [name, value] of lines) h.append(name, value);
  return h;
}

function nameAddrs(text: string): NameAddr[] {
  const out: NameAddr[] = [];
  if (!parseNameAddrListInto(text, out)) throw new Error(`bad name-addr list ${text}`);
  return out;
}

t.test('readPath: loose-routing SIP URIs, starting at the sending proxy, bounded', async (t) => {
  t.same(readPath(headers([]), UDP), { ok: true, path: [] }, 'no Path: an empty one');
  const one = readPath(headers([['Path', '<sip:127.0.0.1:5999;lr;received=sip:192.0.2.7:40000>']]), UDP);
  t.ok(one.ok && one.path.length === 1 && one.path[0]!.uri.params.get('received') === 'sip:192.0.2.7:40000', "Kamailio's add_path_received form");
  const two = readPath(headers([['Path', '<sip:127.0.0.1:5999;lr>, <sip:edge.example;lr>'], ['Path', '<sip:core.example;lr>']]), UDP);
  t.same(two.ok ? two.path.map((p) => p.uri.host) : [], ['127.0.0.1', 'edge.example', 'core.example'], 'several values and fields, in order');
  t.same(readPath(headers([['Path', '<sip:127.0.0.1:5999>']]), UDP), { ok: false, reason: 'Path Must Be Loose Routing' });
  t.same(readPath(headers([['Path', '<sip:192.0.2.99;lr>']]), UDP), { ok: false, reason: 'Path Must Start At The Sending Proxy' },
    'a first hop elsewhere than the sender would aim our INVITEs at a third host');
  t.same(readPath(headers([['Path', '<sip:proxy.example;lr>']]), UDP), { ok: false, reason: 'Path Must Start At The Sending Proxy' }, 'a name is not the source address');
  t.same(readPath(headers([['Path', '<tel:+4930123;lr>']]), UDP), { ok: false, reason: 'Invalid Path' });
  t.same(readPath(headers([['Path', '<sip:127.0.0.1;lr']]), UDP), { ok: false, reason: 'Invalid Path' }, 'malformed');
  const many = Array.from({ length: MAX_PATH_ENTRIES + 1 }, (_, i) => `<sip:127.0.0.${i + 1};lr>`).join(', ');
  t.same(readPath(headers([['Path', many]]), UDP), { ok: false, reason: 'Path Too Long' }, 'more entries than the bound');
  t.same(readPath(headers([['Path', `<sip:127.0.0.1;lr;x=${'a'.repeat(1100)}>`]]), UDP), { ok: false, reason: 'Path Too Long' }, 'more text than the bound');
});

t.test('phoneTarget: the Path as the Route set and its first hop as the destination; without one, the NAT rule', async (t) => {
  const uri = nameAddrs('<sip:1001@10.0.0.5:5060>')[0]!.uri;
  const kam = { transport: 'UDP' as const, address: '127.0.0.1', port: 5999 };
  const via = phoneTarget({ uri, source: kam, path: nameAddrs('<sip:127.0.0.1:5999;lr;received=sip:192.0.2.7:40000>, <sip:127.0.0.1:6000;lr>') });
  t.same(via.source, kam, 'to the proxy that sent the REGISTER');
  t.same(via.route, ['<sip:127.0.0.1:5999;lr;received=sip:192.0.2.7:40000>', '<sip:127.0.0.1:6000;lr>'], 'every Path entry, in order');
  t.equal(via.uri, uri, 'the Request-URI stays the Contact (loose routing)');
  const nat = phoneTarget({ uri, source: { transport: 'UDP', address: '192.0.2.7', port: 40000 }, path: [] });
  t.same([nat.source, nat.route], [{ transport: 'UDP', address: '192.0.2.7', port: 40000 }, undefined], 'no Path, Contact behind NAT: the source');
  const direct = phoneTarget({ uri, source: { transport: 'UDP', address: '10.0.0.5', port: 40000 }, path: [] });
  t.same(direct.source, { transport: 'UDP', address: '10.0.0.5', port: 5060 }, 'no Path, Contact on the source address: the Contact');
});

// The registrar on each store: the Path of a REGISTER is stored with its binding and comes back after a restart.
void eachBackend(t, (t, backend) => {
  t.test('a REGISTER with Path: stored with the binding, echoed per Supported, restored with it', async (t) => {
    const store = await backend.open({}, 'path');
    t.teardown(() => store.close());
    const bindings = await backend.bindings(store, 1_000_000);
    const first = await startRegistrar({ bindings });
    t.teardown(() => first.close());
    const phone = await RawPhone.open(first.udp);
    t.teardown(() => phone.close());
    // The phone stands for the proxy: the first Path entry must be the address the REGISTER comes from.
    const path = `<sip:127.0.0.1:${phone.port};lr;received=sip:192.0.2.7:40000>`;
    const plain = await phone.register({ user: '1001', callId: 'pa1', cseq: 1, contacts: ['<sip:1001@10.0.0.5:5060>'], expires: 600, headers: [`Path: ${path}`] });
    t.equal(plain.status, 200);
    t.equal(plain.headers.get('Path'), undefined, 'no Supported: path, no Path in the 200');
    const echoed = await phone.register({
      user: '1002', callId: 'pa2', cseq: 1, contacts: ['<sip:1002@10.0.0.6:5060>'], expires: 600, headers: [`Path: ${path}`, 'Supported: path'],
    });
    t.equal(echoed.headers.get('Path'), path, 'Supported: path: the Path comes back in the 200');
    const refused = await phone.register({
      user: '1003', callId: 'pa3', cseq: 1, contacts: ['<sip:1003@10.0.0.7:5060>'], expires: 600, headers: ['Path: <sip:192.0.2.99;lr>'],
    });
    t.same([refused.status, refused.reason], [400, 'Path Must Start At The Sending Proxy'], 'a Path that does not start at the sender is refused');
    t.equal(first.registrar.isRegistered('a1003'), false, 'and nothing is bound');
    const live = first.registrar.bindingFor('1001')!;
    t.same(phoneTarget(live).route, [path], 'INVITEs to the phone carry the Path as their Route');
    t.equal(first.registrar.isContactSource('a1001', { transport: 'UDP', address: '127.0.0.1', port: phone.port }), false,
      "the proxy's address is no proof of which phone behind it sent a request (contract C3: no feature codes through it)");
    first.registrar.close();
    // The registrar writes without waiting (a failed write is logged): commit what it issued.
    await store.writer.flush();

    // A restart (or the standby taking over): the registrar loads the bindings with their Path.
    const rows = await backend.rows<{ agent_id: string; path: string | null }>(store, 'SELECT agent_id, path FROM agent_bindings ORDER BY agent_id');
    t.same(rows, [{ agent_id: 'a1001', path }, { agent_id: 'a1002', path }], 'the Path is in the table');
    const second = await startRegistrar({ bindings: await backend.bindings(store, 1_000_000) }, 1_060_000);
    t.teardown(() => second.close());
    t.equal(await second.registrar.restore(), 2);
    const restored = second.registrar.bindingFor('1001')!;
    const target = phoneTarget(restored);
    t.same(target.route, [path], 'restored with its Path');
    t.same(target.source, { transport: 'UDP', address: '127.0.0.1', port: phone.port }, 'to the proxy, not to the Contact');
  });
});
