/**
 * `timeout.connectMs` on loopback, without root: a blackhole is a listening socket nobody
 * accepts from, its accept queue filled first, so the kernel drops further SYNs and a connect
 * hangs (for minutes without a timeout). A plaintext connect and a tunnel stream (its session's
 * TCP connect hangs the same way) each end in `connect_timeout` (UF) near the policy's bound and
 * count as a gateway error for passive health; a tunnel that answers within it works.
 */
import net from 'node:net';
import t from 'tap';
import { closeSocketFd, openReuseportSocket } from '../../../src/agent/workers/reuseport-socket.js';
import { CLIENT_ID, limitsRig, SERVER_ID } from './tunnel-limits-rig.js';
import { echoBackend, oneShot, plainEndpoint, tcpRig, trafficPolicy, workload } from './tcp-rig.js';
import { DEFAULT_PASSIVE_HEALTH } from '../../../src/mesh/resilience.js';

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** A port on 127.0.0.1 whose connects hang: listening with a backlog of 0, never accepted, its queue full. */
async function blackhole(t: Teardown): Promise<number> {
  const listener = openReuseportSocket({ host: '127.0.0.1', port: 0, listen: true, backlog: 0 });
  const fillers: net.Socket[] = [];
  t.teardown(() => {
    for (const f of fillers) f.destroy();
    closeSocketFd(listener.fd);
  });
  // Connect until one does not complete: the accept queue is then full (a few at most).
  for (let i = 0; i < 16; i++) {
    const f = net.connect(listener.port, '127.0.0.1');
    f.on('error', () => undefined);
    fillers.push(f);
    const connected = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 300);
      f.once('connect', () => { clearTimeout(timer); resolve(true); });
    });
    if (!connected) return listener.port;
  }
  throw new Error('the blackhole accept queue never filled');
}

t.test('a plaintext connect to a blackhole ends at the connect timeout (UF), a gateway error for passive health', async (t) => {
  const port = await blackhole(t);
  const backend = await echoBackend(t);
  const health = { ...DEFAULT_PASSIVE_HEALTH, consecutive5xx: 0, consecutiveGatewayErrors: 2, maxEjectionPercent: 50 };
  const rig = await tcpRig(t, {
    endpoints: [plainEndpoint('hole', port), plainEndpoint('web', backend.port)],
    policy: trafficPolicy({ timeout: { connectMs: 300 }, passiveHealth: health }),
  });
  // Round robin: the hole first, then the backend, then the hole again (its second failure).
  const first = await oneShot(rig);
  t.equal(first.failure, 'connect_timeout');
  t.equal(first.flag, 'UF');
  t.equal(first.error, 'ECONNRESET', 'the client is reset');
  t.ok(first.ms >= 300, `not before the bound (${Math.round(first.ms)} ms)`);
  // The kernel's own SYN retries would take minutes; generous for a busy machine.
  t.ok(first.ms < 5000, `bounded by connectMs (${Math.round(first.ms)} ms)`);
  t.equal((await oneShot(rig)).reply, 'HELLO', 'the other endpoint works');
  t.equal((await oneShot(rig)).failure, 'connect_timeout');
  t.same(rig.counted.ejected, ['demo/web consecutive_gateway_errors'], 'two gateway errors in a row: ejected');
  const after = await Promise.all([oneShot(rig), oneShot(rig), oneShot(rig)].map((p) => p.then((e) => e.reply)));
  t.same(after, ['HELLO', 'HELLO', 'HELLO'], 'the blackhole is skipped while ejected');
});

t.test('a tunnel whose session cannot connect ends at the connect timeout, not the 5 s handshake timeout', async (t) => {
  const port = await blackhole(t);
  const server = await limitsRig(t, {});
  await server.clientIds.ensure(CLIENT_ID);
  const remote = workload('server', '127.0.0.1', 'nodeb', '127.0.0.1');
  const endpoint = { workload: remote.uid, address: '127.0.0.1', node: 'nodeb', nodeAddress: '127.0.0.1', meshed: true, identity: SERVER_ID, targetPorts: { 80: server.backendPort } };
  const rig = await tcpRig(t, { endpoints: [endpoint], remote: [remote], policy: trafficPolicy({ timeout: { connectMs: 300 } }), tunnels: server.pool({ tunnelPort: port }) });
  const ended = await oneShot(rig);
  t.equal(ended.failure, 'connect_timeout');
  t.equal(ended.flag, 'UF');
  t.ok(ended.ms >= 300, `not before the bound (${Math.round(ended.ms)} ms)`);
  t.ok(ended.ms < 4000, `before the pool's own 5 s handshake timeout (${Math.round(ended.ms)} ms)`);
});

t.test('a tunnel answered within the connect timeout carries the connection', async (t) => {
  const server = await limitsRig(t, {});
  await server.clientIds.ensure(CLIENT_ID);
  const remote = workload('server', '127.0.0.1', 'nodeb', '127.0.0.1');
  const endpoint = { workload: remote.uid, address: '127.0.0.1', node: 'nodeb', nodeAddress: '127.0.0.1', meshed: true, identity: SERVER_ID, targetPorts: { 80: server.backendPort } };
  const rig = await tcpRig(t, { endpoints: [endpoint], remote: [remote], policy: trafficPolicy({ timeout: { connectMs: 10_000, tcpIdleMs: 60_000 } }), tunnels: server.pool() });
  const ended = await oneShot(rig);
  t.equal(ended.failure, undefined);
  t.match(ended.reply, /"n":5/, 'the backend got the five bytes');
});
