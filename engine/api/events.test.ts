import t from 'tap';
import { EventHub, type EventSocket } from './events.ts';
import { createMetrics } from './metrics.ts';
import { FakeEngine } from './testkit.ts';
import type { QueueView } from './types.ts';
import { agentJson, queueViews } from './views.ts';

/** A socket that records what it is sent; `bufferedAmount` and `readyState` are set by the test. */
class FakeSocket implements EventSocket {
  readyState = 1;
  bufferedAmount = 0;
  sent: string[] = [];
  pings = 0;
  closedWith: number | null = null;
  terminated = false;
  private readonly handlers = new Map<string, Array<(err: Error) => void>>();
  send(data: string): void {
    this.sent.push(data);
  }
  ping(): void {
    this.pings++;
  }
  close(code?: number): void {
    this.closedWith = code ?? 1000;
    this.readyState = 3;
    this.fire('close');
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
    this.fire('close');
  }
  on(event: string, listener: (err: Error) => void): void {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), listener]);
  }
  fire(event: string): void {
    for (const l of this.handlers.get(event) ?? []) l(new Error(event));
  }
  types(): string[] {
    return this.sent.map((s) => (JSON.parse(s) as { type: string }).type);
  }
}

function hub(queues: () => QueueView[] = () => [], opts = {}) {
  const metrics = createMetrics({ defaultMetrics: false });
  const engine = new FakeEngine(metrics);
  const h = new EventHub(queues, metrics, { queueUpdateMs: 0, pingIntervalMs: 0, now: () => 1234, ...opts });
  return { h, metrics, engine };
}

t.test('a client far behind is dropped instead of buffering without bound', async (t) => {
  const { h, metrics } = hub(() => [], { maxBufferedBytes: 1000 });
  const slow = new FakeSocket();
  const fast = new FakeSocket();
  h.add(slow, null);
  h.add(fast, null);
  const event = { type: 'callback.created', at: 1, callbackId: 1, callId: 'c', caller: '+1', queue: 'orders' } as const;
  h.publish(event);
  slow.bufferedAmount = 990;
  h.publish(event);
  t.equal(slow.terminated, true, 'cut without a close handshake');
  t.equal(h.size, 1);
  t.equal(slow.sent.length, 2, 'hello and the first event only');
  t.equal(fast.sent.length, 3);
  t.match(await metrics.render(), /^onair_api_event_clients_dropped_total 1$/m);
});

t.test('a client that does not answer pings is dropped', async (t) => {
  const { h } = hub();
  const quiet = new FakeSocket();
  const lively = new FakeSocket();
  h.add(quiet, null);
  h.add(lively, null);
  const ping = (h as unknown as { ping(): void }).ping.bind(h);
  ping();
  t.equal(quiet.pings, 1);
  lively.fire('pong');
  ping();
  t.equal(quiet.terminated, true);
  t.equal(lively.terminated, false);
  t.equal(lively.pings, 2);
  t.equal(h.size, 1);
});

t.test('sockets that are closing are skipped; close() ends everything', async (t) => {
  const { h } = hub();
  const a = new FakeSocket();
  h.add(a, null);
  a.readyState = 2;
  h.publish({ type: 'callback.created', at: 1, callbackId: 1, callId: 'c', caller: '+1', queue: 'orders' });
  t.equal(a.sent.length, 1, 'only hello');
  const b = new FakeSocket();
  h.add(b, '1001');
  h.close();
  h.close();
  t.equal(b.closedWith, 1001, 'going away');
  t.equal(h.size, 0);
  const late = new FakeSocket();
  h.add(late, null);
  t.equal(late.closedWith, 1001, 'no new clients after close');
  t.equal(late.sent.length, 0);
});

t.test('queue updates: full picture on connect, then only changes', async (t) => {
  const { engine } = hub();
  let views = queueViews(engine.snapshot, engine.queueInfo, engine.agents(), () => ({ entered: 0, rejected: 0, callbacks: 0 }));
  const { h } = hub(() => views, { queueUpdateMs: 60_000 });
  t.teardown(() => h.close());
  const a = new FakeSocket();
  h.add(a, '1001');
  t.same(a.types(), ['hello', 'queue.update', 'queue.update'], 'agent-filtered clients get queue figures too');
  h.pushQueueUpdates();
  t.equal(a.sent.length, 3, 'nothing changed, nothing sent');
  views = views.map((q) => (q.id === 'vip' ? { ...q, waiting: 5 } : q));
  const b = new FakeSocket();
  h.add(b, null);
  t.equal(b.sent.length, 3, 'a new client gets the current figures');
  h.pushQueueUpdates();
  t.equal(a.sent.length, 4, 'the change reaches the older client');
  t.equal(b.sent.length, 4, 'and the newer one: the diff is shared');
  t.same(JSON.parse(a.sent[3]!), { type: 'queue.update', at: 1234, queue: views[1] });
});

t.test('views: agents and queues from ACD words to wire words', async (t) => {
  const engine = new FakeEngine();
  const a = { ...engine.agent('1001')!, pendingStatus: 'notReady' as const, state: 'wrapUp' as const };
  const json = agentJson(a);
  t.equal(json.pendingStatus, 'not_ready');
  t.equal(json.state, 'wrap_up');
  t.notOk('idleSince' in json, 'monotonic-clock fields stay inside');
  const views = queueViews(engine.snapshot, [], engine.agents(), () => ({ entered: 0, rejected: 0, callbacks: 0 }));
  t.equal(views.length, 2, 'a queue without configured facts is still listed');
  t.same(views[0]!.agents.byState, { idle: 0, reserved: 0, on_call: 0, wrap_up: 0 }, 'no skill known, no agents counted');
});
