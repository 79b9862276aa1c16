/** The binding store on a real SQLite file and on PostgreSQL: survives a reopen, drops lapsed bindings, refreshes in place. */
import t from 'tap';
import type { StoredBinding } from './index.ts';
import { eachBackend } from './backends.ts';

const T0 = 1_700_000_000_000;

function binding(agentId: string, contact: string, expiresAt: number, over: Partial<StoredBinding> = {}): StoredBinding {
  return {
    agentId, contact, source: { transport: 'UDP', address: '192.0.2.10', port: 5062 }, expiresAt,
    callId: `reg-${agentId}`, cseq: 1, instanceId: null, registeredAt: T0, ...over,
  };
}

// Every case runs on SQLite and on PostgreSQL (backends.ts).
void eachBackend(t, (t, backend) => {
  t.test('bindings survive a restart; lapsed ones are dropped on load', async (t) => {
    const first = await backend.open({}, 'restart');
    const bindings = await backend.bindings(first, T0);
    const a = binding('1001', 'sip:1001@192.0.2.10:5062', T0 + 3600_000, { instanceId: '<urn:uuid:00000000-0000-0000-0000-000000000001>' });
    const b = binding('1002', 'sip:1002@[2001:db8::2]:5070;transport=tcp', T0 + 60_000, { source: { transport: 'TCP', address: '2001:db8::2', port: 40001 } });
    const lapsed = binding('1003', 'sip:1003@192.0.2.13', T0 + 10_000);
    await Promise.all([bindings.upsert(a), bindings.upsert(b), bindings.upsert(lapsed)]);
    await first.close();

    const second = await backend.open({}, 'restart');
    t.teardown(() => second.close());
    const reopened = await backend.bindings(second, T0 + 20_000);
    t.same(await reopened.load(T0 + 20_000), [a, b], 'the live bindings, every field as stored');
    const left = await backend.rows<{ n: number }>(second, 'SELECT count(*) AS n FROM agent_bindings');
    t.equal(left[0]?.n, 2, 'the lapsed row is deleted, not only skipped');
    t.same(await reopened.load(T0 + 60_000), [a], 'a binding is live until (not at) its expiry');
    const versions = await backend.rows<{ version: number }>(second, "SELECT version FROM schema_migrations WHERE component = 'bindings'");
    t.same(versions.map((v) => v.version), [1, 2], 'migrated once, as its own component (2: Path)');
  });

  t.test('the Path of a registration (RFC 3327) is stored and read back; none reads back as none', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const bindings = await backend.bindings(store, T0);
    const via = binding('1001', 'sip:1001@10.0.0.5:5060', T0 + 60_000, { path: '<sip:127.0.0.1:5060;lr;received=sip:192.0.2.7:40000>, <sip:core.example;lr>' });
    const direct = binding('1002', 'sip:1002@192.0.2.10:5062', T0 + 60_000);
    await Promise.all([bindings.upsert(via), bindings.upsert(direct)]);
    t.same(await bindings.load(T0), [via, direct]);
    await bindings.upsert({ ...via, path: null });
    t.same((await bindings.load(T0))[0], binding('1001', 'sip:1001@10.0.0.5:5060', T0 + 60_000), 'a refresh without Path clears it');
  });

  t.test("times from the registrar's monotonic clock (fractional ms) are stored", async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const bindings = await backend.bindings(store, T0);
    await bindings.upsert(binding('1001', 'sip:1001@192.0.2.10:5062', T0 + 3600_000.6199, { registeredAt: T0 + 0.25 }));
    const [b] = await bindings.load(T0);
    t.ok(b !== undefined && Math.abs(b.expiresAt - (T0 + 3600_000.6199)) < 1 && Math.abs(b.registeredAt - T0) < 1, 'kept to the millisecond');
  });

  t.test('upsert refreshes the binding of the same agent and Contact; remove forgets it', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const bindings = await backend.bindings(store, T0);
    const contact = 'sip:1001@192.0.2.10:5062';
    await bindings.upsert(binding('1001', contact, T0 + 60_000));
    await bindings.upsert(binding('1001', 'sip:1001@192.0.2.11', T0 + 60_000));
    const refreshed = binding('1001', contact, T0 + 120_000, { cseq: 7, source: { transport: 'TLS', address: '192.0.2.10', port: 5063 } });
    await bindings.upsert(refreshed);
    await bindings.upsert(binding('1002', contact, T0 + 60_000));
    const live = await bindings.load(T0);
    t.equal(live.length, 3, 'agent and Contact together are the key');
    t.same(live.find((x) => x.agentId === '1001' && x.contact === contact), refreshed);
    await bindings.remove('1001', contact);
    await bindings.remove('1001', 'sip:never-registered@192.0.2.1');
    t.same((await bindings.load(T0)).map((x) => `${x.agentId} ${x.contact}`), ['1001 sip:1001@192.0.2.11', `1002 ${contact}`]);
  });

  t.test('a write the table refuses rejects its promise and leaves the others', async (t) => {
    const store = await backend.open();
    t.teardown(() => store.close());
    const bindings = await backend.bindings(store, T0);
    const good = binding('1001', 'sip:1001@192.0.2.10', T0 + 60_000);
    const bad = binding('1002', 'sip:1002@192.0.2.10', T0 + 60_000, { source: { transport: 'UDP', address: '192.0.2.10', port: 0 } });
    const [g, b] = await Promise.allSettled([bindings.upsert(good), bindings.upsert(bad)]);
    t.equal(g.status, 'fulfilled');
    t.equal(b.status, 'rejected', 'port 0 is no source a REGISTER came from');
    t.same(await bindings.load(T0), [good]);
  });
});
