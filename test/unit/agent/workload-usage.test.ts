/**
 * Per-workload accounting (issue 18): the agent's CPU split between its local workloads by
 * the bytes their connections moved plus a cost per connection, attributed to the local side
 * (source of an outbound connection, destination of an inbound one), fed by the data-path
 * metrics' sweeps and closes; labelled metrics touched per settle, not per connection.
 */
import t from 'tap';
import type { Socket } from 'node:net';
import { Registry } from 'prom-client';
import type { ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import { DataPathMetrics, localWorkload } from '../../../src/agent/proxy/data-path-metrics.js';
import { CONNECTION_COST_BYTES, MIN_SETTLE_MS, SEGMENT_COST_BYTES, splitCpu, WorkloadUsage } from '../../../src/agent/proxy/workload-usage.js';

/** The value of one sample of a metric whose line matches `match` (undefined when absent). */
function sample(text: string, name: string, match: RegExp): number | undefined {
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name && match.test(line)) return Number(m[3]);
  }
  return undefined;
}

/** Clocks the test moves by hand. */
function clocks(): { cpu: number; now: number; readonly c: { cpuSeconds: () => number; nowMs: () => number } } {
  const state = {
    cpu: 10,
    now: 1000,
    c: { cpuSeconds: () => state.cpu, nowMs: () => state.now },
  };
  return state;
}

t.test('splitCpu: in proportion to the weights, nothing to zero weights or when nothing weighs', async (t) => {
  const out = splitCpu(3, new Map([['a', 2], ['b', 1], ['c', 0]]));
  t.equal(out.get('a'), 2);
  t.equal(out.get('b'), 1);
  t.equal(out.has('c'), false);
  t.equal(splitCpu(3, new Map([['a', 0]])).size, 0);
  t.equal(splitCpu(0, new Map([['a', 5]])).size, 0, 'no CPU spent: nothing to split');
  t.equal(splitCpu(Number.NaN, new Map([['a', 5]])).size, 0, 'a broken clock attributes nothing');
});

t.test('the local workload is the source outbound, the destination inbound', async (t) => {
  t.equal(localWorkload({ direction: 'outbound', sourceWorkload: 'Pod/a/x', destinationWorkload: 'Pod/b/y' }), 'Pod/a/x');
  t.equal(localWorkload({ direction: 'inbound', sourceWorkload: 'Pod/a/x', destinationWorkload: 'Pod/b/y' }), 'Pod/b/y');
});

t.test('a settle splits the interval\'s CPU by bytes and connections, and counts bytes by direction', async (t) => {
  const registry = new Registry();
  const k = clocks();
  const usage = new WorkloadUsage(registry, k.c);
  // flood: 3 MB over one connection; quiet: 30 KB over one connection.
  usage.add('Pod/bench/flood', 'outbound', 0, true);
  usage.add('Pod/bench/flood', 'outbound', 3_000_000, false);
  usage.add('Pod/bench/quiet', 'outbound', 0, true);
  usage.add('Pod/bench/quiet', 'outbound', 30_000, false);
  usage.add('Pod/bench/quiet', 'inbound', 20_000, false);
  usage.add(undefined, 'outbound', 1_000_000, true);
  k.cpu += 2;
  k.now += 2000;
  usage.settle();
  const text = await registry.metrics();
  const floodW = 3_000_000 + CONNECTION_COST_BYTES;
  const quietW = 50_000 + CONNECTION_COST_BYTES;
  const flood = sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="flood"/);
  const quiet = sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="quiet"/);
  t.equal(flood?.toFixed(6), ((2 * floodW) / (floodW + quietW)).toFixed(6), 'the flood\'s part of the 2 s');
  t.equal(quiet?.toFixed(6), ((2 * quietW) / (floodW + quietW)).toFixed(6));
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /namespace="bench",workload="flood"/) !== undefined, true, 'namespace and workload labels');
  t.equal(sample(text, 'meshlet_workload_bytes_total', /workload="quiet",direction="outbound"|direction="outbound".*workload="quiet"/), 30_000);
  t.equal(sample(text, 'meshlet_workload_bytes_total', /workload="quiet",direction="inbound"|direction="inbound".*workload="quiet"/), 20_000);
  t.equal(sample(text, 'meshlet_workload_agent_cpu_usage', /workload="flood"/)?.toFixed(6), (floodW / (floodW + quietW)).toFixed(6), 'cores over the 2 s');
  t.equal(sample(text, 'meshlet_data_path_cpu_usage', /.*/), 1, '2 s of CPU over 2 s');
});

t.test('settles closer than MIN_SETTLE_MS keep the interval open; an idle workload\'s usage drops to 0', async (t) => {
  const registry = new Registry();
  const k = clocks();
  const usage = new WorkloadUsage(registry, k.c);
  usage.add('Pod/bench/flood', 'outbound', 1000, false);
  k.cpu += 1;
  k.now += MIN_SETTLE_MS / 2;
  usage.settle();
  let text = await registry.metrics();
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="flood"/), undefined, 'not split yet');
  k.now += MIN_SETTLE_MS / 2;
  usage.settle();
  text = await registry.metrics();
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="flood"/), 1, 'the whole interval\'s CPU at once');
  k.cpu += 1;
  k.now += MIN_SETTLE_MS;
  usage.add('Pod/bench/quiet', 'outbound', 10, false);
  usage.settle();
  text = await registry.metrics();
  t.equal(sample(text, 'meshlet_workload_agent_cpu_usage', /workload="flood"/), undefined, 'the flood was idle: no usage series');
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="flood"/), 1, 'its total stays');
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="quiet"/), 1);
});

interface FakeCounters {
  bytesRead: number;
  bytesWritten: number;
}

function connection(id: number, counters: FakeCounters, over: Partial<ConnectionRecord>): ConnectionRecord {
  return {
    id,
    direction: 'outbound',
    startedAt: 0,
    source: '198.18.1.10:40000',
    destination: '198.18.2.10:8080',
    mode: 'tunnel',
    securityPolicy: 'mutual_tls',
    counted: counters as unknown as Socket,
    // Outbound: the counted socket faces the source.
    countedFacesDestination: false,
    ends: [],
    ...over,
  };
}

t.test('the data-path metrics attribute the agent\'s CPU to the workload that moved the bytes', async (t) => {
  const registry = new Registry();
  const k = clocks();
  const metrics = new DataPathMetrics(registry, { usageClocks: k.c, istioTcp: false });
  t.teardown(() => metrics.close());
  const live: ConnectionRecord[] = [];
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => live, tunnelSessions: () => 0 });
  const floodSock = { bytesRead: 0, bytesWritten: 0 };
  const quietSock = { bytesRead: 0, bytesWritten: 0 };
  // The flood is outbound from bench/flood; the quiet one is inbound to bench/quiet from a remote client.
  live.push(connection(1, floodSock, { sourceWorkload: 'Pod/bench/flood', destinationWorkload: 'Pod/bench/server' }));
  live.push(connection(2, quietSock, { direction: 'inbound', sourceWorkload: 'Pod/other/client', destinationWorkload: 'Pod/bench/quiet', countedFacesDestination: true }));
  metrics.sweepLive();
  floodSock.bytesRead = 50_000_000;
  quietSock.bytesWritten = 1_000;
  k.cpu += 4;
  k.now += 5000;
  metrics.sweepLive();
  const text = await registry.metrics();
  const flood = sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="flood"/) ?? 0;
  const quiet = sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="quiet"/) ?? 0;
  t.equal(flood > 3.9, true, `the flood took nearly all the CPU (${flood} s of 4)`);
  t.equal(quiet < 0.1, true, `the quiet workload little (${quiet} s)`);
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="server"/), undefined, 'the remote destination is not a local workload here');
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="client"/), undefined, 'nor the remote source');
  t.equal(sample(text, 'meshlet_workload_bytes_total', /workload="quiet"/), 1_000, 'inbound bytes to the destination workload');
  t.equal(sample(text, 'meshlet_workload_bytes_total', /workload="flood"/), 50_000_000);
});

t.test('a connection opened and closed between sweeps still counts, once', async (t) => {
  const registry = new Registry();
  const k = clocks();
  const metrics = new DataPathMetrics(registry, { usageClocks: k.c, istioTcp: false });
  t.teardown(() => metrics.close());
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => [], tunnelSessions: () => 0 });
  metrics.onClosed(connection(3, { bytesRead: 0, bytesWritten: 0 }, { sourceWorkload: 'Pod/bench/short' }), 700, 300);
  k.cpu += 1;
  k.now += 2000;
  metrics.sweepLive();
  const text = await registry.metrics();
  t.equal(sample(text, 'meshlet_workload_bytes_total', /workload="short"/), 1000);
  t.equal(sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="short"/), 1, 'the only workload active: all of it');
});

t.test('a settle returns the interval it split (the share limits act on it); too soon, nothing', async (t) => {
  const k = clocks();
  const usage = new WorkloadUsage(new Registry(), k.c);
  usage.add('Pod/bench/flood', 'outbound', 0, true);
  usage.add('Pod/bench/flood', 'outbound', 1_000_000, false);
  usage.add('Pod/bench/quiet', 'inbound', 4_000, false);
  k.now += MIN_SETTLE_MS - 1;
  t.equal(usage.settle(), undefined, 'too soon: the interval stays open');
  k.cpu += 0.5;
  k.now += 1;
  const interval = usage.settle();
  t.equal(interval?.elapsedMs, MIN_SETTLE_MS);
  t.equal(interval?.cpuSeconds, 0.5);
  const floodW = 1_000_000 + CONNECTION_COST_BYTES;
  t.strictSame(interval?.workloads.get('Pod/bench/flood'), { cpuSeconds: (0.5 * floodW) / (floodW + 4_000), bytes: 1_000_000, weight: floodW });
  t.strictSame(interval?.workloads.get('Pod/bench/quiet'), { cpuSeconds: (0.5 * 4_000) / (floodW + 4_000), bytes: 4_000, weight: 4_000 });
  k.now += MIN_SETTLE_MS;
  t.equal(usage.settle()?.workloads.size, 0, 'the next interval starts empty');
});

t.test('the sweep hands each settled interval over and reports share-limit rates; the timer sweeps every second only when asked', async (t) => {
  const registry = new Registry();
  const k = clocks();
  const metrics = new DataPathMetrics(registry, { usageClocks: k.c, istioTcp: false });
  t.teardown(() => metrics.close());
  const live: ConnectionRecord[] = [];
  const intervals: number[] = [];
  let rate: number | undefined = 123_456;
  let frequent = false;
  let sweeps = 0;
  metrics.watch({
    openedByDirection: () => ({ outbound: 0, inbound: 0 }),
    liveConnections: () => {
      sweeps += 1;
      return live;
    },
    tunnelSessions: () => 0,
    drainThrottled: (each) => each('Pod/bench/flood', { throttledMs: 0, throttledBytes: 0, ...(rate === undefined ? {} : { shareBytesPerSecond: rate }) }),
    frequentSweeps: () => frequent,
    onUsage: (i) => intervals.push(i.elapsedMs),
  });
  k.now += 1500;
  metrics.sweepLive();
  t.same(intervals, [1500], 'the settled interval reached the source');
  metrics.sweepLive();
  t.same(intervals, [1500], 'a sweep too soon after settles nothing, hands nothing');
  t.equal(sample(await registry.metrics(), 'meshlet_workload_share_limit_bytes_per_second', /workload="flood"/), 123_456, 'the rate in force');
  rate = undefined;
  metrics.sweepLive();
  t.equal(sample(await registry.metrics(), 'meshlet_workload_share_limit_bytes_per_second', /workload="flood"/), undefined, 'lifted: no series');
  const tick = (metrics as unknown as { tick(): void }).tick.bind(metrics);
  sweeps = 0;
  for (let i = 0; i < 4; i += 1) tick();
  t.equal(sweeps, 0, 'without a share limit, four ticks of a second sweep nothing');
  tick();
  t.equal(sweeps, 1, 'the fifth (5 s) does');
  frequent = true;
  for (let i = 0; i < 3; i += 1) tick();
  t.equal(sweeps, 4, 'with a share limit, every tick sweeps');
});

t.test('data segments weigh in the split: equal bytes, a workload of many small messages is charged more', async (t) => {
  const registry = new Registry();
  const k = clocks();
  const segs = new Map<object, number>();
  const metrics = new DataPathMetrics(registry, {
    usageClocks: k.c,
    istioTcp: false,
    segmentCounts: (sock, out) => {
      const n = segs.get(sock);
      if (n === undefined) return false;
      out.in = n;
      out.out = 0;
      return true;
    },
  });
  t.teardown(() => metrics.close());
  const bulkSock = { bytesRead: 0, bytesWritten: 0 };
  const chattySock = { bytesRead: 0, bytesWritten: 0 };
  const live = [
    connection(1, bulkSock, { sourceWorkload: 'Pod/bench/bulk' }),
    connection(2, chattySock, { sourceWorkload: 'Pod/bench/chatty' }),
  ];
  // The kernel's counters started before the first sweep: that first read is a base, not a delta.
  segs.set(bulkSock, 5);
  segs.set(chattySock, 2 ** 32 - 100);
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => live, tunnelSessions: () => 0 });
  bulkSock.bytesRead = 1;
  chattySock.bytesRead = 1;
  metrics.sweepLive();
  // Then 1 MB each: bulk in 16 segments, chatty in 1,000 (and its 32-bit counter wraps).
  bulkSock.bytesRead += 1_000_000;
  chattySock.bytesRead += 1_000_000;
  segs.set(bulkSock, 5 + 16);
  segs.set(chattySock, 900);
  k.cpu += 1;
  k.now += 5000;
  metrics.sweepLive();
  const text = await registry.metrics();
  const bulk = sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="bulk"/) ?? 0;
  const chatty = sample(text, 'meshlet_workload_agent_cpu_seconds_total', /workload="chatty"/) ?? 0;
  const bulkW = 1_000_001 + CONNECTION_COST_BYTES + 16 * SEGMENT_COST_BYTES;
  const chattyW = 1_000_001 + CONNECTION_COST_BYTES + 1_000 * SEGMENT_COST_BYTES;
  t.equal(bulk.toFixed(6), (bulkW / (bulkW + chattyW)).toFixed(6), 'bulk: its bytes and 16 segments');
  t.equal(chatty.toFixed(6), (chattyW / (bulkW + chattyW)).toFixed(6), 'chatty: its bytes and 1,000 segments (across the counter\'s wrap)');
  t.ok(chatty > 2 * bulk, `the small messages cost more: ${chatty.toFixed(3)} s against ${bulk.toFixed(3)} s`);
});

t.test('a scrape reads the usage metrics after its own sweep, whatever their place in the registry', async (t) => {
  // The usage counters are registered before the byte counters whose collect() sweeps: a scrape
  // right after a throttled transfer read 0 s throttled (a lab test saw it) until the next one.
  const registry = new Registry();
  const k = clocks();
  const metrics = new DataPathMetrics(registry, { usageClocks: k.c, istioTcp: false });
  t.teardown(() => metrics.close());
  let pending: { throttledMs: number; throttledBytes: number; shareBytesPerSecond?: number } | undefined = { throttledMs: 2500, throttledBytes: 1_000_000, shareBytesPerSecond: 42 };
  metrics.watch({
    openedByDirection: () => ({ outbound: 0, inbound: 0 }),
    liveConnections: () => [],
    tunnelSessions: () => 0,
    drainThrottled: (each) => {
      if (pending !== undefined) each('Pod/bench/limited', pending);
      pending = undefined;
    },
  });
  const text = await registry.metrics();
  t.equal(sample(text, 'meshlet_workload_throttled_seconds_total', /workload="limited"/), 2.5, 'the throttled time of this very scrape');
  t.equal(sample(text, 'meshlet_workload_throttled_bytes_total', /workload="limited"/), 1_000_000, 'and its bytes');
  t.equal(sample(text, 'meshlet_workload_share_limit_bytes_per_second', /workload="limited"/), 42, 'and the share rate');
});
