/**
 * Per-workload connection caps on real loopback sockets through OutboundProxy (issue 18): two
 * local workloads, `a` (127.0.0.2) and `b` (127.0.0.3), dial the same Service; `a`'s excess over
 * its `meshlet.io/max-connections` is reset at once (UO, `workload_limit`) while `b` still
 * connects; a closed connection makes room again; the default cap applies without an
 * annotation; a flood of connections from `a` cannot pass its cap. And `meshlet.io/max-bandwidth`:
 * on a stopped clock, `a`'s flood stops at its bucket's burst while `b` is still echoed, and a
 * raised limit lets the rest through whole.
 */
import { EventEmitter, once } from 'node:events';
import net, { type AddressInfo, type Socket } from 'node:net';
import { pino } from 'pino';
import t, { type Test } from 'tap';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import type { IdentitySource } from '../../../src/agent/identity/manager.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy, type WorkloadLimitOptions } from '../../../src/agent/proxy/outbound.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { OutboundHttp } from '../../../src/agent/http/outbound-http.js';
import type { UpstreamCall } from '../../../src/agent/http/exchange.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { plainAddress } from '../../../src/mesh/address.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { closedSocket, echoBackend, plainEndpoint, VIP, WAIT_MS, workload } from './tcp-rig.js';
import { BandwidthLimiter, type ThrottleClock } from '../../../src/agent/proxy/bandwidth-throttle.js';

const silent = pino({ level: 'silent' });
const A = '127.0.0.2';
const B = '127.0.0.3';

interface Rig {
  readonly proxy: OutboundProxy;
  readonly port: number;
  /** A second capture port whose connections were bound for the Service's HTTP port (81). */
  readonly httpPort: number;
  readonly refused: string[];
  /** Closed outbound records by source workload uid. */
  readonly closed: Map<string, ConnectionRecord[]>;
  readonly events: EventEmitter;
}

async function rig(t: Test, a: WorkloadInfo, backendPort: number, limits: Omit<WorkloadLimitOptions, 'refused'>): Promise<Rig> {
  const b = workload('b', B);
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [a, b], workloads: [a, b],
    services: [{
      key: 'demo/web', name: 'web', namespace: 'demo', vips: [VIP],
      ports: [{ port: 80, targetPort: 80 }, { port: 81, targetPort: 81, appProtocol: 'http' }],
      endpoints: [{ ...plainEndpoint('web', backendPort), targetPorts: { 80: backendPort, 81: backendPort } }],
    }],
  };
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  const closed = new Map<string, ConnectionRecord[]>();
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const table = new ConnectionTable(silent, {
    observer: {
      onClosed: (rec: ConnectionRecord) => {
        if (rec.direction !== 'outbound') return;
        const key = rec.sourceWorkload ?? '-';
        closed.set(key, [...(closed.get(key) ?? []), rec]);
        events.emit('closed');
      },
    },
  });
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts: new Set() });
  const identities = { get: () => undefined, ensure: async () => { throw new Error('no tunnel here'); }, getBySni: () => undefined } as unknown as IdentitySource;
  const tunnels = new TunnelPool({ identities, logger: silent, tunnelPort: 1 });
  const refused: string[] = [];
  // The L7 side: no request in these tests gets past the cap, so no upstream is ever called.
  const none = (): UpstreamCall => { throw new Error('no upstream call in this test'); };
  const http7 = new OutboundHttp({ logger: silent, index: () => index, balancers: new BalancerRegistry(), tunnel: () => Promise.reject(new Error('no tunnel here')), local: none, plaintext: none });
  let httpPort = 0;
  const proxy = new OutboundProxy({
    logger: silent, table, index: () => index, inbound, tunnels, ownPorts: new Set(), http: http7,
    // Loopback has no REDIRECT: the source is the client's bound address, the destination the
    // VIP, at the HTTP port for connections to the second capture port.
    captured: (s) => ({ source: plainAddress(s.remoteAddress), destination: { address: VIP, port: s.localPort === httpPort ? 81 : 80, family: 4 } }),
    workloadLimits: { ...limits, refused: (w) => void refused.push(w) },
  });
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => proxy.onConnection(s));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  const httpCapture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => proxy.onConnection(s));
  httpCapture.listen(0, '127.0.0.1');
  await once(httpCapture, 'listening');
  httpPort = (httpCapture.address() as AddressInfo).port;
  t.teardown(() => {
    tunnels.destroy();
    capture.close();
    httpCapture.close();
  });
  return { proxy, port: (capture.address() as AddressInfo).port, httpPort, refused, closed, events };
}

/** Waits (bounded, event-driven) until `cond` holds. */
async function until(r: Rig, cond: () => boolean): Promise<void> {
  const deadline = performance.now() + WAIT_MS;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error('condition not met in time');
    await once(r.events, 'closed', { signal: AbortSignal.timeout(50) }).catch(() => undefined);
  }
}

/** A connection from `from` held open once its `hello` came back. */
async function held(r: Rig, from: string, t: Test): Promise<Socket> {
  const sock = net.connect({ port: r.port, host: '127.0.0.1', localAddress: from });
  t.teardown(() => void sock.destroy());
  sock.on('error', () => undefined);
  sock.write('hello');
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no reply within ${WAIT_MS} ms`)), WAIT_MS);
    sock.once('data', () => { clearTimeout(timer); resolve(); });
    sock.once('close', () => { clearTimeout(timer); reject(new Error('closed before the reply')); });
  });
  return sock;
}

/** One connection from `from` that sends `hello` and ends: what came back and how it ended. */
async function oneShot(r: Rig, from: string): Promise<{ reply: string; error: string | undefined }> {
  const sock = net.connect({ port: r.port, host: '127.0.0.1', localAddress: from });
  let reply = '';
  let error: string | undefined;
  sock.on('data', (d) => void (reply += d.toString()));
  sock.on('error', (err: NodeJS.ErrnoException) => void (error = err.code ?? err.message));
  sock.end('hello');
  await closedSocket(sock);
  return { reply, error };
}

const records = (r: Rig, uid: string): ConnectionRecord[] => r.closed.get(uid) ?? [];

/** A backend that counts the bytes reaching it and answers a lone "hello" (workload b's probe) with "HELLO". */
async function countingBackend(t: Test): Promise<{ received: number; readonly arrived: EventEmitter; readonly port: number }> {
  const arrived = new EventEmitter();
  const counts = { received: 0, arrived, port: 0 };
  const backend = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      if (d.toString() === 'hello') s.write('HELLO');
      else counts.received += d.length;
      arrived.emit('data');
    });
    s.on('end', () => s.end());
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => void backend.close());
  counts.port = (backend.address() as AddressInfo).port;
  return counts;
}

t.test('the excess of a workload over its max-connections is refused; another workload still connects', async (t) => {
  const backend = await echoBackend(t);
  const a = { ...workload('a', A), limits: { maxConnections: 3 } };
  const r = await rig(t, a, backend.port, { defaultMaxConnections: 1000, workers: 1 });
  const open = [await held(r, A, t), await held(r, A, t), await held(r, A, t)];
  t.equal(r.proxy.workloadConnections.get('Pod/demo/a'), 3, 'three counted for a');
  const accepted = backend.accepted;
  const refused = await oneShot(r, A);
  t.equal(refused.reply, '', 'nothing came back');
  t.equal(refused.error, 'ECONNRESET', 'the client was reset');
  await until(r, () => records(r, 'Pod/demo/a').length === 1);
  const rec = records(r, 'Pod/demo/a')[0];
  t.equal(rec?.failure, 'workload_limit');
  t.equal(rec?.responseFlag, 'UO');
  t.match(rec?.reason, 'Pod/demo/a has 3 connections open through this agent process, its part of meshlet.io/max-connections');
  t.equal(backend.accepted, accepted, 'nothing was dialled for it');
  t.same(r.refused, ['Pod/demo/a'], 'counted once, by workload');
  const other = await oneShot(r, B);
  t.equal(other.reply, 'HELLO', 'b is served meanwhile');
  t.equal(other.error, undefined);
  const first = open.shift() as Socket;
  first.end();
  await closedSocket(first);
  await until(r, () => r.proxy.workloadConnections.get('Pod/demo/a') === 2);
  const again = await oneShot(r, A);
  t.equal(again.reply, 'HELLO', 'room again after a close');
  t.same(r.refused, ['Pod/demo/a'], 'no new refusal');
});

t.test('without an annotation the default cap applies (and protects the node)', async (t) => {
  const backend = await echoBackend(t);
  const r = await rig(t, workload('a', A), backend.port, { defaultMaxConnections: 2, workers: 1 });
  await held(r, A, t);
  await held(r, A, t);
  const refused = await oneShot(r, A);
  t.equal(refused.error, 'ECONNRESET');
  await until(r, () => records(r, 'Pod/demo/a').length === 1);
  t.match(records(r, 'Pod/demo/a')[0]?.reason, 'its part of the default per-workload cap');
  t.equal((await oneShot(r, B)).reply, 'HELLO', "b's own default is untouched by a's connections");
});

t.test('with 2 workers each process admits half the cap', async (t) => {
  const backend = await echoBackend(t);
  const r = await rig(t, { ...workload('a', A), limits: { maxConnections: 4 } }, backend.port, { defaultMaxConnections: 1000, workers: 2 });
  await held(r, A, t);
  await held(r, A, t);
  t.equal((await oneShot(r, A)).error, 'ECONNRESET', 'the third in this process is refused');
  t.same(r.refused, ['Pod/demo/a']);
});

t.test('attack: 300 connections at once from a workload capped at 5: 5 held, 295 refused, b unaffected', async (t) => {
  const backend = await echoBackend(t);
  const r = await rig(t, { ...workload('a', A), limits: { maxConnections: 5 } }, backend.port, { defaultMaxConnections: 1000, workers: 1 });
  const clients = Array.from({ length: 300 }, () => net.connect({ port: r.port, host: '127.0.0.1', localAddress: A }));
  t.teardown(() => { for (const c of clients) c.destroy(); });
  let answered = 0;
  for (const c of clients) {
    c.on('error', () => undefined);
    c.once('data', () => void answered++);
    c.write('hello');
  }
  await until(r, () => records(r, 'Pod/demo/a').length === 295);
  t.same([...new Set(records(r, 'Pod/demo/a').map((rec) => rec.failure))], ['workload_limit'], 'each closed one was refused by the cap');
  await until(r, () => answered === 5);
  t.equal(r.proxy.workloadConnections.get('Pod/demo/a'), 5, 'five open');
  t.equal(backend.accepted, 5, 'five dialled');
  t.equal(r.refused.length, 295);
  const quiet = await oneShot(r, B);
  t.equal(quiet.reply, 'HELLO', 'b connects during the flood');
  for (const c of clients) c.destroy();
  await until(r, () => r.proxy.workloadConnections.get('Pod/demo/a') === 0);
  t.equal(r.proxy.workloadConnections.size, 0, 'every count released');
});

t.test('the cap counts HTTP connections too, and refuses before any HTTP is parsed', async (t) => {
  const backend = await echoBackend(t);
  const r = await rig(t, { ...workload('a', A), limits: { maxConnections: 2 } }, backend.port, { defaultMaxConnections: 1000, workers: 1 });
  await held(r, A, t);
  // An HTTP connection that sends nothing yet: admitted and counted while protocol detection waits.
  const pending = net.connect({ port: r.httpPort, host: '127.0.0.1', localAddress: A });
  t.teardown(() => void pending.destroy());
  pending.on('error', () => undefined);
  await until(r, () => r.proxy.workloadConnections.get('Pod/demo/a') === 2);
  t.equal(r.proxy.workloadConnections.get('Pod/demo/a'), 2, 'the HTTP connection is counted');
  const sock = net.connect({ port: r.httpPort, host: '127.0.0.1', localAddress: A });
  let reply = '';
  let error: string | undefined;
  sock.on('data', (d) => void (reply += d.toString()));
  sock.on('error', (err: NodeJS.ErrnoException) => void (error = err.code ?? err.message));
  sock.write('GET / HTTP/1.1\r\nHost: web\r\n\r\n');
  await closedSocket(sock);
  t.equal(reply, '', 'no HTTP answer: refused before the request was read');
  t.equal(error, 'ECONNRESET');
  await until(r, () => records(r, 'Pod/demo/a').length === 1);
  t.equal(records(r, 'Pod/demo/a')[0]?.failure, 'workload_limit');
  t.same(r.refused, ['Pod/demo/a']);
});

t.test('attack: a flood from a workload with max-bandwidth stops at its burst on a stopped clock; another workload flows; a raised limit lets the rest through', async (t) => {
  const counting = await countingBackend(t);
  const { arrived } = counting;
  // The clock never moves by itself: only the test fires the throttle's timer.
  let now = 0;
  const timers: Array<() => void> = [];
  const clock: ThrottleClock = { now: () => now, after: (_ms, fn) => void timers.push(fn) };
  const bandwidth = new BandwidthLimiter(1, clock);
  const a = { ...workload('a', A), limits: { maxBandwidth: 8_000_000 } };
  const r = await rig(t, a, counting.port, { defaultMaxConnections: 1000, workers: 1, bandwidth });
  const total = 2 * 1024 * 1024;
  const sock = net.connect({ port: r.port, host: '127.0.0.1', localAddress: A });
  t.teardown(() => void sock.destroy());
  sock.on('error', () => undefined);
  sock.write(Buffer.alloc(total, 7));
  // The first bytes, then until nothing more arrives for 200 ms (bounded).
  await once(arrived, 'data', { signal: AbortSignal.timeout(WAIT_MS) });
  const deadline = performance.now() + WAIT_MS;
  while (performance.now() < deadline && (await once(arrived, 'data', { signal: AbortSignal.timeout(200) }).then(() => true, () => false)));
  // The burst is 100,000 bytes (100 ms of 1,000,000 bytes/s); a stream may pass one chunk beyond it.
  t.ok(counting.received <= 100_000 + 2 * 65_536, `a's flood stopped at its bucket: ${counting.received} of ${total} bytes arrived on a stopped clock`);
  t.ok(counting.received >= 65_536, `the burst went through at once (${counting.received})`);
  t.ok((bandwidth.get('Pod/demo/a')?.heldCount ?? 0) > 0, `a source of a is held (${String(bandwidth.get('Pod/demo/a')?.heldCount)})`);
  const other = await oneShot(r, B);
  t.equal(other.reply, 'HELLO', 'b, on the same proxy, is answered meanwhile');
  // A raised limit (a new snapshot) makes a full bucket at the new rate; the timer lets a go.
  bandwidth.apply(new Map([['Pod/demo/a', { ...a, limits: { maxBandwidth: 1e15 } }]]));
  now += 1;
  for (const fn of timers.splice(0)) fn();
  while (counting.received < total && performance.now() < deadline + WAIT_MS) await once(arrived, 'data', { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  t.equal(counting.received, total, 'every byte arrived: held, never dropped');
  const counts: number[] = [];
  bandwidth.drain((_uid, c) => counts.push(c.throttledBytes));
  t.ok((counts[0] ?? 0) > 0, `the bytes beyond the bucket were counted (${String(counts[0])})`);
});

t.test('attack: a workload with max-agent-share flows freely until over its share beside a neighbour, is then held at its bucket, and is let go when the neighbour leaves', async (t) => {
  const counting = await countingBackend(t);
  const { arrived } = counting;
  const clock: ThrottleClock = { now: () => 0, after: () => undefined };
  const bandwidth = new BandwidthLimiter(1, clock);
  const a = { ...workload('a', A), limits: { maxAgentShare: 20 } };
  const r = await rig(t, a, counting.port, { defaultMaxConnections: 1000, workers: 1, bandwidth });
  const sock = net.connect({ port: r.port, host: '127.0.0.1', localAddress: A });
  t.teardown(() => void sock.destroy());
  sock.on('error', () => undefined);
  const waitFor = async (n: number): Promise<void> => {
    const deadline = performance.now() + WAIT_MS;
    while (counting.received < n && performance.now() < deadline) await once(arrived, 'data', { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
  };
  const quietFor200ms = async (): Promise<void> => {
    const deadline = performance.now() + WAIT_MS;
    while (performance.now() < deadline && (await once(arrived, 'data', { signal: AbortSignal.timeout(200) }).then(() => true, () => false)));
  };
  const mib = 1024 * 1024;
  sock.write(Buffer.alloc(2 * mib, 1));
  await waitFor(2 * mib);
  t.equal(counting.received, 2 * mib, 'not engaged: 2 MiB flow on a stopped clock (nothing is charged)');
  // The usage settle: a took 90% of the process while b was active.
  bandwidth.adjustShares({ elapsedMs: 1000, cpuSeconds: 0.95, workloads: new Map([
    ['Pod/demo/a', { cpuSeconds: 0.9, bytes: 1_000_000, weight: 1_000_000 }],
    ['Pod/demo/b', { cpuSeconds: 0.05, bytes: 5_000, weight: 5_000 }],
  ]) });
  const rate = bandwidth.get('Pod/demo/a')?.shareBytesPerSecond ?? 0;
  t.ok(rate > 0, `engaged at ${rate} bytes/s`);
  t.ok(rate < 1_000_000 * (20 / 90), `below its share of what it moved (${rate})`);
  const before = counting.received;
  sock.write(Buffer.alloc(2 * mib, 2));
  await quietFor200ms();
  const passed = counting.received - before;
  // The burst is 64 KiB at this rate (the floor); a stream may pass a chunk or two beyond it.
  t.ok(passed <= 64 * 1024 + 2 * 65_536, `held at its bucket on a stopped clock: ${passed} of ${2 * mib} bytes`);
  t.ok((bandwidth.get('Pod/demo/a')?.heldCount ?? 0) > 0, 'a source of a is held');
  const other = await oneShot(r, B);
  t.equal(other.reply, 'HELLO', 'b, on the same proxy, is answered meanwhile');
  // The next settle: b did nothing; a alone is never limited, and its held sources go at once.
  bandwidth.adjustShares({ elapsedMs: 1000, cpuSeconds: 0.1, workloads: new Map([['Pod/demo/a', { cpuSeconds: 0.1, bytes: passed, weight: passed }]]) });
  t.equal(bandwidth.get('Pod/demo/a')?.shareBytesPerSecond, undefined, 'lifted');
  await waitFor(4 * mib);
  t.equal(counting.received, 4 * mib, 'every byte arrived without the timer: held, never dropped');
});
