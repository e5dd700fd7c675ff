/**
 * Issue 9 finding 11: a spliced connection that moves no byte for its idle timeout is reset
 * both ways (a vanished peer cannot hold it and its upstream socket forever); one that keeps
 * moving bytes, however slowly, is not.
 */
import t from 'tap';
import { once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { splice, spliceIdleTimeouts, SPLICE_IDLE_TIMEOUT_MS, type SpliceOutcome } from '../../../src/agent/proxy/splice.js';

/** client <-> [splice(accepted, upstream, idle)] <-> server on loopback. */
async function chain(t: { teardown(fn: () => void): void }, idleTimeoutMs: number): Promise<{ client: Socket; server: Socket; outcome: Promise<SpliceOutcome> }> {
  const backend = net.createServer({ allowHalfOpen: true });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const serverSide = once(backend, 'connection') as Promise<[Socket]>;
  let resolveOutcome!: (o: SpliceOutcome) => void;
  const outcome = new Promise<SpliceOutcome>((r) => (resolveOutcome = r));
  const proxy = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
    const upstream = net.connect({ port: (backend.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    upstream.once('connect', () => splice(accepted, upstream, resolveOutcome, { idleTimeoutMs }));
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const client = net.connect({ port: (proxy.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => undefined);
  const [server] = await serverSide;
  server.on('error', () => undefined);
  t.teardown(() => {
    client.destroy();
    server.destroy();
    proxy.close();
    backend.close();
  });
  return { client, server, outcome };
}

t.test('the default idle timeout is generous (one hour, like Envoy)', async (t) => {
  t.equal(SPLICE_IDLE_TIMEOUT_MS, 3_600_000);
});

t.test('an idle spliced connection is reset both ways after the idle timeout', async (t) => {
  const before = spliceIdleTimeouts();
  const { client, server, outcome } = await chain(t, 300);
  const started = performance.now();
  client.write('hello');
  const [got] = (await once(server, 'data')) as [Buffer];
  t.equal(got.toString(), 'hello', 'bytes flow first');
  const closed = (s: Socket): Promise<unknown> => new Promise((r) => s.once('close', r));
  const [o] = await Promise.all([outcome, closed(client), closed(server)]);
  t.equal(o.idle, true, 'the outcome says idle timeout');
  t.equal(o.reset, true, 'a reset, not a clean close');
  t.ok(performance.now() - started >= 300, 'not before the timeout');
  t.equal(spliceIdleTimeouts() - before, 1, 'counted once');
});

t.test('a connection that keeps moving bytes is not idle, however long it lives', async (t) => {
  const { client, server, outcome } = await chain(t, 300);
  let echoed = 0;
  server.on('data', (c: Buffer) => {
    echoed += c.length;
    server.write(c);
  });
  let closedEarly = false;
  void outcome.then(() => (closedEarly = true));
  // A byte every 100 ms for 1.2 s: four idle timeouts long, never 300 ms quiet.
  for (let i = 0; i < 12; i++) {
    client.write('x');
    await once(client, 'data');
    await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(echoed, 12, 'every byte went through');
  t.equal(closedEarly, false, 'still open');
  client.end();
  server.end();
  const o = await outcome;
  t.equal(o.reset, false, 'closed cleanly at the end');
});

t.test('idleTimeoutMs 0 turns the idle timeout off', async (t) => {
  const { client, server, outcome } = await chain(t, 0);
  let closed = false;
  void outcome.then(() => (closed = true));
  client.write('a');
  await once(server, 'data');
  // A negative check: no event marks "no timer fired", so wait longer than the shortest idle
  // timeout the other tests use (300 ms) and see that nothing closed.
  await new Promise((r) => setTimeout(r, 400));
  t.equal(closed, false, 'no timer, no reset');
});
