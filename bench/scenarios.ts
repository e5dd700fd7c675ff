/**
 * What the harness measures: each scenario's id, title, one-line meaning and metrics. Pure;
 * `bench-runner.ts` runs them and `report-markdown.ts` turns them into tables.
 *
 * @module
 */

import { CONNECT_CONCURRENCY, HTTP_BODY_BYTES, HTTP_CONNECTIONS, LATENCY_MESSAGE_BYTES, type BenchOptions } from './bench-options.js';
import type { MetricSpec, PathName } from './bench-types.js';

/** A scenario before it has run. */
export interface ScenarioSpec {
  readonly id: string;
  readonly title: string;
  readonly measures: string;
  readonly metrics: readonly MetricSpec[];
  readonly notApplicable: Readonly<Partial<Record<PathName, string>>>;
}

const NO_PROXY = 'no proxy on this path';

const CPU_PER_GIB: MetricSpec = { key: 'cpuPerGiB', label: 'proxy CPU per GiB', unit: 's', better: 'lower', digits: 2, proxyOnly: true };
const PEAK_RSS: MetricSpec = { key: 'peakRssMiB', label: 'proxies peak RSS (sum)', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true };

function bulk(streams: number): ScenarioSpec {
  return {
    id: `bulk-${streams}`,
    title: `Bulk TCP throughput, ${streams} stream${streams > 1 ? 's' : ''}`,
    measures: `iperf3 -P ${streams}, client pod on node1 to server pod on node2; goodput the receiver counted. CPU is both proxies' user+system time over the bytes moved.`,
    metrics: [{ key: 'gbps', label: 'throughput', unit: 'Gbit/s', better: 'higher', digits: 2 }, CPU_PER_GIB, PEAK_RSS],
    notApplicable: {},
  };
}

function latency(rate: number): ScenarioSpec {
  return {
    id: `latency-${rate}`,
    title: `Request/response latency, ${LATENCY_MESSAGE_BYTES} B messages at ${rate.toLocaleString('en-US')}/s`,
    measures: `sockperf under-load over one TCP connection: ${LATENCY_MESSAGE_BYTES}-byte messages sent on a fixed schedule of ${rate}/s whatever the replies do (no coordinated omission), each echoed; round-trip time of every message.`,
    metrics: [
      { key: 'p50Us', label: 'p50', unit: 'µs', better: 'lower', digits: 0 },
      { key: 'p90Us', label: 'p90', unit: 'µs', better: 'lower', digits: 0 },
      { key: 'p99Us', label: 'p99', unit: 'µs', better: 'lower', digits: 0 },
      { key: 'maxUs', label: 'max', unit: 'µs', better: 'lower', digits: 0 },
      { key: 'cpuPer1k', label: 'proxy CPU per 1,000 round trips', unit: 's', better: 'lower', digits: 3, proxyOnly: true },
    ],
    notApplicable: {},
  };
}

/** Every scenario of a run with these options, in report order. */
export function scenarioSpecs(opts: Pick<BenchOptions, 'latencyRates' | 'idleConnections'>): ScenarioSpec[] {
  return [
    bulk(1),
    bulk(8),
    ...opts.latencyRates.map(latency),
    {
      id: 'connect-rate',
      title: 'Connection setup rate',
      measures: `wrk with "Connection: close", ${CONNECT_CONCURRENCY} loops of connect, one HTTP/1.1 exchange (${HTTP_BODY_BYTES} B answer), close; connections per second.`,
      metrics: [
        { key: 'connPerSec', label: 'connections', unit: '/s', better: 'higher', digits: 0 },
        { key: 'cpuPer1k', label: 'proxy CPU per 1,000 connections', unit: 's', better: 'lower', digits: 3, proxyOnly: true },
        PEAK_RSS,
      ],
      notApplicable: {},
    },
    {
      id: 'http-rps',
      title: `HTTP/1.1 requests per second, ${HTTP_CONNECTIONS} connections`,
      measures: `wrk, ${HTTP_CONNECTIONS} keep-alive connections, HAProxy answering ${HTTP_BODY_BYTES} B in the server pod; CPU is both proxies' user+system time per 1,000 requests, RSS the proxies' peak during the run.`,
      metrics: [
        { key: 'rps', label: 'requests', unit: '/s', better: 'higher', digits: 0 },
        { key: 'p50Ms', label: 'latency p50', unit: 'ms', better: 'lower', digits: 2 },
        { key: 'p99Ms', label: 'latency p99', unit: 'ms', better: 'lower', digits: 2 },
        { key: 'cpuPer1k', label: 'proxy CPU per 1,000 requests', unit: 's', better: 'lower', digits: 3, proxyOnly: true },
        PEAK_RSS,
      ],
      notApplicable: {},
    },
    {
      id: 'idle-memory',
      title: `Proxy memory idle and with ${opts.idleConnections.toLocaleString('en-US')} idle connections`,
      measures: `RSS (VmRSS) of each node's proxy: right after start, idle after the load scenarios, and holding ${opts.idleConnections} idle client connections open through it; per connection is the growth of both proxies over the connections held.`,
      metrics: [
        { key: 'rssStartNode1', label: 'node1 proxy at start', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssStartNode2', label: 'node2 proxy at start', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssIdleNode1', label: 'node1 proxy idle after load', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssIdleNode2', label: 'node2 proxy idle after load', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssHeldNode1', label: 'node1 proxy holding the connections', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssHeldNode2', label: 'node2 proxy holding the connections', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'held', label: 'connections held', unit: '', better: 'higher', digits: 0, proxyOnly: true },
        { key: 'perConnKiB', label: 'growth per connection (both proxies)', unit: 'KiB', better: 'lower', digits: 1, proxyOnly: true },
      ],
      notApplicable: { direct: NO_PROXY },
    },
  ];
}
