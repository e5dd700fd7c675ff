/**
 * Bytes counted as they flow: a sweep (periodic, and at each scrape) adds what each live
 * connection's counted socket moved since the last one, the close adds the remainder, so a
 * connection's total is counted exactly once; under meshlet's names and Istio's, with the
 * series cap of the `istio_tcp_*` table kept (a refused connection is dropped once).
 */
import t from 'tap';
import type { Socket } from 'node:net';
import { Registry } from 'prom-client';
import { DataPathMetrics } from '../../../src/agent/proxy/data-path-metrics.js';
import type { ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';

/** A counted socket's two counters, set by the test. */
interface FakeCounters {
  bytesRead: number;
  bytesWritten: number;
}

function connection(id: number, counters: FakeCounters, over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id,
    direction: 'inbound',
    startedAt: 0,
    source: '10.0.0.1:40000',
    destination: '10.0.0.2:9080',
    mode: 'tunnel',
    sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/client',
    destinationWorkload: `Pod/demo/server-${id}`,
    destinationIdentity: 'spiffe://cluster.local/ns/demo/sa/server',
    service: 'demo/server',
    securityPolicy: 'mutual_tls',
    // The socket facing the destination: bytesWritten is what was sent toward it.
    counted: counters as unknown as Socket,
    countedFacesDestination: true,
    ends: [],
    ...over,
  };
}

/** The sum of a metric's samples in an exposition, over the samples whose line matches `match`. */
function total(text: string, name: string, match = /.*/): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name && match.test(line)) sum += Number(m[3]);
  }
  return sum;
}

function rig(opts: { istioTcp?: boolean; maxSeries?: number } = {}): { registry: Registry; metrics: DataPathMetrics; live: ConnectionRecord[] } {
  const registry = new Registry();
  const metrics = new DataPathMetrics(registry, opts);
  const live: ConnectionRecord[] = [];
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => live, tunnelSessions: () => 0 });
  return { registry, metrics, live };
}

t.test('a scrape sees a live connection\'s bytes up to that moment; the close adds only the remainder', async (t) => {
  const { registry, metrics, live } = rig();
  t.teardown(() => metrics.close());
  const sock = { bytesRead: 0, bytesWritten: 0 };
  const rec = connection(1, sock);
  live.push(rec);
  sock.bytesWritten = 1000;
  sock.bytesRead = 10;
  let text = await registry.metrics();
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 1000, 'sent so far, at the first scrape');
  t.equal(total(text, 'istio_tcp_received_bytes_total'), 10);
  t.equal(total(text, 'meshlet_tcp_sent_bytes_total'), 1000, 'meshlet\'s own name too');
  t.equal(total(text, 'istio_tcp_connections_closed_total'), 0, 'still open');
  sock.bytesWritten = 5000;
  text = await registry.metrics();
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 5000, 'grown at the next scrape');
  t.equal(total(text, 'istio_tcp_sent_bytes_total', /response_flags="-"/), 5000, 'an open connection\'s bytes have no flag');
  t.equal(total(text, 'meshlet_tcp_received_bytes_total'), 10, 'nothing new received: not counted again');

  live.length = 0;
  rec.responseFlag = 'DC';
  metrics.onClosed(rec, 5300, 40);
  text = await registry.metrics();
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 5300, 'the total once, not the total plus what the sweeps saw');
  t.equal(total(text, 'istio_tcp_received_bytes_total'), 40);
  t.equal(total(text, 'meshlet_tcp_sent_bytes_total'), 5300);
  t.equal(total(text, 'meshlet_tcp_received_bytes_total'), 40);
  t.equal(total(text, 'istio_tcp_sent_bytes_total', /response_flags="DC"/), 300, 'the remainder under the close\'s flag');
  t.equal(total(text, 'istio_tcp_connections_opened_total'), 1, 'opened once: at the first sweep, not again at close');
  t.equal(total(text, 'istio_tcp_connections_closed_total', /response_flags="DC"/), 1);
});

t.test('the periodic sweep counts without a scrape; one scrape sweeps once', async (t) => {
  const { registry, metrics, live } = rig();
  t.teardown(() => metrics.close());
  let reads = 0;
  const sock = {
    bytesWritten: 0,
    get bytesRead(): number {
      reads += 1;
      return 7;
    },
  };
  live.push(connection(1, sock as FakeCounters));
  metrics.sweepLive();
  t.equal(reads, 1, 'the sweep read the socket');
  sock.bytesWritten = 100;
  metrics.sweepLive();
  reads = 0;
  const text = await registry.metrics();
  t.equal(reads, 1, 'every byte metric of the scrape reads one sweep');
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 100);
  t.equal(total(text, 'istio_tcp_received_bytes_total'), 7, 'read 3 times, counted once');
});

t.test('a connection that ends between sweeps: its whole total at close, once', async (t) => {
  const { registry, metrics } = rig();
  t.teardown(() => metrics.close());
  const rec = connection(1, { bytesRead: 0, bytesWritten: 0 });
  metrics.onClosed(rec, 123, 45);
  const text = await registry.metrics();
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 123);
  t.equal(total(text, 'meshlet_tcp_received_bytes_total'), 45);
  t.equal(total(text, 'istio_tcp_connections_opened_total'), 1, 'opened counted at close');
});

t.test('a socket counter that goes back or is not a number adds nothing', async (t) => {
  const { registry, metrics, live } = rig();
  t.teardown(() => metrics.close());
  const sock = { bytesRead: 0, bytesWritten: 500 };
  const rec = connection(1, sock);
  live.push(rec);
  metrics.sweepLive();
  // Queued bytes dropped by a destroy: bytesWritten can read lower (or undefined) afterwards.
  sock.bytesWritten = 200;
  metrics.sweepLive();
  (sock as { bytesWritten: unknown }).bytesWritten = undefined;
  metrics.sweepLive();
  live.length = 0;
  metrics.onClosed(rec, 200, 0);
  const text = await registry.metrics();
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 500, 'what was counted stays counted');
  t.equal(total(text, 'meshlet_tcp_sent_bytes_total'), 500);
});

t.test('istioTcp: false: meshlet\'s bytes still flow live', async (t) => {
  const { registry, metrics, live } = rig({ istioTcp: false });
  t.teardown(() => metrics.close());
  const sock = { bytesRead: 3, bytesWritten: 30 };
  live.push(connection(1, sock));
  const text = await registry.metrics();
  t.equal(total(text, 'meshlet_tcp_sent_bytes_total'), 30);
  t.equal(total(text, 'meshlet_tcp_received_bytes_total'), 3);
  t.notMatch(text, /istio_tcp_/);
});

t.test('the istio_tcp_* cap holds: a connection refused a series is dropped once, live or closed', async (t) => {
  const { registry, metrics, live } = rig({ maxSeries: 1 });
  t.teardown(() => metrics.close());
  const first = connection(1, { bytesRead: 0, bytesWritten: 10 });
  const second = connection(2, { bytesRead: 0, bytesWritten: 20 });
  live.push(first, second);
  const sock2 = second.counted as unknown as FakeCounters;
  for (let i = 0; i < 3; i++) {
    sock2.bytesWritten += 20;
    metrics.sweepLive();
  }
  live.length = 0;
  metrics.onClosed(first, 10, 0);
  metrics.onClosed(second, 80, 0);
  const text = await registry.metrics();
  t.equal(total(text, 'meshlet_metrics_series_dropped_total', /family="istio_tcp"/), 1, 'one connection left out, counted once');
  t.equal(total(text, 'istio_tcp_sent_bytes_total'), 10, 'the first connection\'s series only');
  t.equal(total(text, 'istio_tcp_connections_closed_total'), 1);
  t.equal(total(text, 'meshlet_tcp_sent_bytes_total'), 90, 'meshlet\'s own names count both');
});
