/**
 * A TrafficPolicy's L4 limits and faults on real loopback sockets through OutboundProxy:
 * `circuitBreaker.maxConnections` refuses the N+1-th open connection at once (UO) and admits
 * again once one closes; `timeout.tcpIdleMs` resets a connection with no byte either way (SI);
 * `tcpFault` resets its share of 2,000 connections (FI) and delays connections it draws.
 */
import net from 'node:net';
import t from 'tap';
import { seededRandom } from '../../../src/agent/policy/balancers/seeded-random.js';
import { client, closedSocket, echoBackend, held, nextRecord, oneShot, plainEndpoint, tcpRig, trafficPolicy } from './tcp-rig.js';
import { DEFAULT_CIRCUIT_BREAKER } from '../../../src/mesh/resilience.js';

t.test('maxConnections: the N+1-th connection is refused at once; one closing makes room', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('web', backend.port)], policy: trafficPolicy({ circuitBreaker: { ...DEFAULT_CIRCUIT_BREAKER, maxConnections: 3 } }) });
  const open = [await held(rig), await held(rig), await held(rig)];
  t.teardown(() => { for (const s of open) s.destroy(); });
  t.equal(rig.proxy.openConnections.get('demo/web|80'), 3, 'three counted');
  const accepted = backend.accepted;
  const refused = await oneShot(rig);
  t.equal(refused.reply, '', 'nothing came back');
  t.equal(refused.error, 'ECONNRESET', 'the client was reset');
  t.equal(refused.failure, 'overflow');
  t.equal(refused.flag, 'UO');
  t.equal(backend.accepted, accepted, 'nothing was dialled for it');
  t.same(rig.counted.overflow, ['demo/web max_connections']);
  // Refused at once: far below any connect or idle timer (generous for a busy machine).
  t.ok(refused.ms < 5000, `refused in ${Math.round(refused.ms)} ms`);
  const first = open.shift();
  first?.end();
  if (first !== undefined) await closedSocket(first);
  await waitFor(() => rig.proxy.openConnections.get('demo/web|80') === 2);
  t.equal((await nextRecord(rig)).failure, undefined, 'the held connection closed cleanly');
  const again = await oneShot(rig);
  t.equal(again.reply, 'HELLO', 'room again after a close');
  t.equal(again.failure, undefined);
  t.equal(rig.proxy.openConnections.get('demo/web|80'), 2, 'the one-shot connection was released');
});

t.test('attack: 50 connections at once against maxConnections 5: exactly 5 held, 45 refused at once', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('web', backend.port)], policy: trafficPolicy({ circuitBreaker: { ...DEFAULT_CIRCUIT_BREAKER, maxConnections: 5 } }) });
  // Held open (no end): the first five admitted stay, so the count of refusals is exact.
  const clients = Array.from({ length: 50 }, () => net.connect(rig.capturePort, '127.0.0.1'));
  t.teardown(() => { for (const c of clients) c.destroy(); });
  let answered = 0;
  for (const c of clients) {
    c.on('error', () => undefined);
    c.once('data', () => void answered++);
    c.write('hello');
  }
  const refused = await Promise.all(Array.from({ length: 45 }, () => nextRecord(rig)));
  t.same([...new Set(refused.map((r) => r.failure))], ['overflow'], '45 records, each an overflow');
  await waitFor(() => answered === 5);
  t.equal(rig.proxy.openConnections.get('demo/web|80'), 5, 'five open');
  t.equal(backend.accepted, 5, 'five dialled');
  t.equal(rig.counted.overflow.length, 45);
  for (const c of clients) c.destroy();
  await waitFor(() => rig.proxy.openConnections.get('demo/web|80') === 0);
  t.equal(rig.proxy.openConnections.size, 0, 'every count released');
});

t.test('tcpIdleMs: a connection with no byte either way is reset after it (SI)', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('web', backend.port)], policy: trafficPolicy({ timeout: { tcpIdleMs: 400 } }) });
  const ended = await oneShot(rig, { end: false });
  t.equal(ended.reply, 'HELLO', 'it worked first');
  t.equal(ended.failure, 'idle_timeout');
  t.equal(ended.flag, 'SI');
  t.ok(ended.ms >= 400, `not before the idle timeout (${Math.round(ended.ms)} ms)`);
  t.ok(ended.ms < 10_000, 'long before the default hour');
});

t.test('tcpFault reset: its share of 2,000 connections, each refused at once (FI)', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('web', backend.port)], policy: trafficPolicy({ tcpFault: { resetPercent: 30 } }), random: seededRandom(42) });
  const N = 2000;
  let reset = 0;
  let served = 0;
  const flags = new Set<string>();
  // In batches: 2,000 at once would only measure the accept queue.
  for (let i = 0; i < N; i += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, () => client(rig)));
    for (const r of batch) if (r.reply === 'HELLO') served++;
    for (const rec of await Promise.all(batch.map(() => nextRecord(rig)))) {
      if (rec.failure !== 'fault_abort') continue;
      reset++;
      flags.add(`${rec.responseFlag}`);
    }
  }
  // Binomial(2000, 0.3): sd 20.5; 5 sd either way (about 1 in 3 million to fall outside by chance).
  t.ok(reset >= 497, `${reset} of ${N} reset: not under 30% - 5 sd`);
  t.ok(reset <= 703, `${reset} of ${N} reset: not over 30% + 5 sd`);
  t.equal(reset + served, N, 'every other connection was served');
  t.same([...flags], ['FI']);
  t.equal(rig.counted.fault.length, reset, 'each reset counted');
  t.equal(backend.accepted, served, 'a reset connection dials nothing');
});

t.test('tcpFault delay: the connection is made after the delay', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('web', backend.port)], policy: trafficPolicy({ tcpFault: { resetPercent: 0, delay: { ms: 300, percent: 100 } } }) });
  const ended = await oneShot(rig);
  t.equal(ended.reply, 'HELLO');
  t.equal(ended.failure, undefined);
  t.ok(ended.ms >= 300, `after the delay (${Math.round(ended.ms)} ms)`);
  t.same(rig.counted.fault, ['demo/web delay']);
});

t.test('no L4 policy: nothing is counted or refused', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('web', backend.port)] });
  const open = [await held(rig), await held(rig)];
  t.teardown(() => { for (const s of open) s.destroy(); });
  t.equal(rig.proxy.openConnections.size, 0);
  t.equal((await oneShot(rig)).reply, 'HELLO');
});

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
