/**
 * Passive health of L4 connections end to end on loopback: the ways a connect fails count as
 * gateway errors (a plaintext connect refused, a same-node workload that refuses the hand-over,
 * a peer agent that cannot reach its workload and answers the CONNECT 503), the endpoint is
 * ejected and skipped by the connection balancer, and it is back in rotation after its time.
 */
import net, { type AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import { CLIENT_ID, limitsRig, SERVER_ID } from './tunnel-limits-rig.js';
import { echoBackend, oneShot, plainEndpoint, tcpRig, trafficPolicy, workload, type TcpRig } from './tcp-rig.js';
import { DEFAULT_PASSIVE_HEALTH, type PassiveHealthPolicy } from '../../../src/mesh/resilience.js';

/** One gateway error ejects; at most half the endpoints; short enough to see the end. */
const HEALTH: PassiveHealthPolicy = { ...DEFAULT_PASSIVE_HEALTH, consecutive5xx: 0, consecutiveGatewayErrors: 1, baseEjectionMs: 1500, maxEjectionPercent: 50, intervalMs: 100 };

/** A port on 127.0.0.1 nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** Round robin over [bad, good]: the first connection fails and ejects, then only the good one answers. */
async function ejectsThenRecovers(t: Test, rig: TcpRig, failure: string): Promise<void> {
  const first = await oneShot(rig);
  // The ejection was made before the client saw its reset: at most this much later.
  const ejectedAt = performance.now();
  t.equal(first.failure, failure, `the bad endpoint fails with ${failure}`);
  t.same(rig.counted.ejected, ['demo/web consecutive_gateway_errors'], 'one gateway error: ejected');
  const during = [await oneShot(rig), await oneShot(rig), await oneShot(rig)];
  t.same(during.map((e) => e.reply), ['HELLO', 'HELLO', 'HELLO'], 'the good endpoint takes every connection while the bad one is out');
  // The registry's own timer ends the ejection; waited for, not guessed (a busy machine may be late).
  while (rig.outliers.describe()[0]?.ejected !== 0) {
    if (performance.now() - ejectedAt > 20_000) throw new Error('the ejection never ended');
    await new Promise((r) => setTimeout(r, 20));
  }
  t.ok(performance.now() - ejectedAt >= 1000, 'not long before its time (1.5 s from the ejection, a little before this clock started)');
  const after = [await oneShot(rig), await oneShot(rig)];
  t.same(after.map((e) => e.failure).sort(), [failure, undefined].sort(), 'back in rotation after its time: tried again');
}

t.test('a refused plaintext connect ejects the endpoint', async (t) => {
  const backend = await echoBackend(t);
  const rig = await tcpRig(t, { endpoints: [plainEndpoint('bad', await closedPort()), plainEndpoint('good', backend.port)], policy: trafficPolicy({ passiveHealth: HEALTH }) });
  await ejectsThenRecovers(t, rig, 'connect_refused');
});

t.test('a same-node workload that refuses the hand-over ejects its endpoint', async (t) => {
  const backend = await echoBackend(t);
  const local = workload('local', '127.0.0.1');
  const bad = { workload: local.uid, address: '127.0.0.1', node: 'node1', nodeAddress: '198.18.0.11', meshed: true, identity: local.identity, targetPorts: { 80: await closedPort() } };
  const rig = await tcpRig(t, { endpoints: [bad, plainEndpoint('good', backend.port)], local: [local], policy: trafficPolicy({ passiveHealth: HEALTH }) });
  await ejectsThenRecovers(t, rig, 'connect_refused');
});

t.test('a peer agent answering 503 (its workload refused) ejects the endpoint', async (t) => {
  const backend = await echoBackend(t);
  const server = await limitsRig(t, {});
  await server.clientIds.ensure(CLIENT_ID);
  const remote = workload('server', '127.0.0.1', 'nodeb', '127.0.0.1');
  // The peer's workload port is closed: the peer agent cannot connect and answers the CONNECT with an error.
  const bad = { workload: remote.uid, address: '127.0.0.1', node: 'nodeb', nodeAddress: '127.0.0.1', meshed: true, identity: SERVER_ID, targetPorts: { 80: await closedPort() } };
  const rig = await tcpRig(t, { endpoints: [bad, plainEndpoint('good', backend.port)], remote: [remote], policy: trafficPolicy({ passiveHealth: HEALTH }), tunnels: server.pool() });
  await ejectsThenRecovers(t, rig, 'tunnel_refused');
});
