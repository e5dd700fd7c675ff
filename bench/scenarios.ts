/**
 * What the harness measures: each scenario's id, title, one-line meaning and metrics. Pure;
 * `bench-runner.ts` runs them and `report-markdown.ts` turns them into tables.
 *
 * @module
 */

import { CONNECT_CONCURRENCY, HTTP_BODY_BYTES, HTTP_CONNECTIONS, L7_FIXED_CONNECTIONS, L7_FIXED_RATE, LATENCY_MESSAGE_BYTES, type BenchOptions } from './bench-options.js';
import { AGENT_PATHS, L7_PATHS, type Comparison, type MetricSpec, type PathName } from './bench-types.js';
import { ADDED_TIME_PATHS } from './added-time.js';
import { RESILIENCE_SCENARIO_ID } from './resilience-policy.js';
import { RESILIENCE_MEASURES, RESILIENCE_METRICS, RESILIENCE_TITLE } from './resilience-report.js';
import { NOISY_METRICS, NOISY_NEIGHBOUR_ID, NOISY_NEIGHBOUR_MEASURES, NOISY_NEIGHBOUR_TITLE } from './noisy-neighbour-report.js';
import { TRACING_SCENARIO_ID } from './tracing-policy.js';
import { TRACING_MEASURES, TRACING_METRICS, TRACING_TITLE } from './tracing-report.js';

/** A scenario before it has run. */
export interface ScenarioSpec {
  readonly id: string;
  readonly title: string;
  readonly measures: string;
  readonly metrics: readonly MetricSpec[];
  readonly notApplicable: Readonly<Partial<Record<PathName, string>>>;
  /** Paths it runs on (absent: the L4 paths). */
  readonly paths?: readonly PathName[];
  /** What its ratios and checks compare (absent: meshlet against the TCP pair). */
  readonly compare?: Comparison;
  /** Column names that differ from the paths' usual ones. */
  readonly labels?: Readonly<Partial<Record<PathName, string>>>;
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

/**
 * The agents' own pauses over a latency run (`agent-pauses.ts`): where a tail beyond the
 * kernel's comes from. Meshlet paths only; HAProxy exports nothing comparable.
 */
const AGENT_PAUSE_METRICS: readonly MetricSpec[] = [
  { key: 'loopP99Us', label: 'agent event-loop delay p99 (worse node)', unit: 'µs', better: 'lower', digits: 0, onlyPaths: AGENT_PATHS },
  { key: 'loopMaxUs', label: 'agent event-loop delay max (worse node)', unit: 'µs', better: 'lower', digits: 0, onlyPaths: AGENT_PATHS },
  { key: 'gcMsPerS', label: 'agent GC pauses per second of run (both nodes)', unit: 'ms/s', better: 'lower', digits: 2, onlyPaths: AGENT_PATHS },
  { key: 'gcMeanUs', label: 'agent mean GC pause', unit: 'µs', better: 'lower', digits: 0, onlyPaths: AGENT_PATHS },
  { key: 'gcMinorSharePct', label: 'agent GC pause time in minor (young-generation) pauses', unit: '%', better: 'lower', digits: 0, onlyPaths: AGENT_PATHS },
  { key: 'gcMinorMeanUs', label: 'agent mean minor GC pause', unit: 'µs', better: 'lower', digits: 0, onlyPaths: AGENT_PATHS },
];

/** Each proxy hop's added time per message, from captures (`added-time.ts`, `--added-time`). */
const ADDED_TIME_METRICS: readonly MetricSpec[] = [
  { key: 'hopP50Us', label: 'added per proxy hop, p50 (captured)', unit: 'µs', better: 'lower', digits: 0, onlyPaths: ADDED_TIME_PATHS },
  { key: 'hopP90Us', label: 'added per proxy hop, p90', unit: 'µs', better: 'lower', digits: 0, onlyPaths: ADDED_TIME_PATHS },
  { key: 'hopP99Us', label: 'added per proxy hop, p99', unit: 'µs', better: 'lower', digits: 0, onlyPaths: ADDED_TIME_PATHS },
  { key: 'hopP999Us', label: 'added per proxy hop, p99.9', unit: 'µs', better: 'lower', digits: 0, onlyPaths: ADDED_TIME_PATHS },
  { key: 'hopMaxUs', label: 'added per proxy hop, max', unit: 'µs', better: 'lower', digits: 0, onlyPaths: ADDED_TIME_PATHS },
];

function latency(rate: number, addedTime: boolean): ScenarioSpec {
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
      ...AGENT_PAUSE_METRICS,
      ...(addedTime ? ADDED_TIME_METRICS : []),
    ],
    notApplicable: {},
  };
}

/** Every scenario of a run with these options, in report order. */
export function scenarioSpecs(opts: Pick<BenchOptions, 'latencyRates' | 'idleConnections'> & Partial<Pick<BenchOptions, 'addedTime'>>): ScenarioSpec[] {
  return [
    bulk(1),
    bulk(8),
    ...opts.latencyRates.map((rate) => latency(rate, opts.addedTime === true)),
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
    noisyNeighbourScenario(),
    ...l7Scenarios(),
    resilienceScenario(),
    tracingScenario(),
    {
      id: 'idle-memory',
      title: `Proxy memory idle and with ${opts.idleConnections.toLocaleString('en-US')} idle connections`,
      measures: `RSS (VmRSS) of each node's proxy: right after start, idle after the load scenarios, and holding ${opts.idleConnections} idle client connections open through it; per connection is the growth of both proxies over the connections held. Per process: the largest process of each proxy (an agent is its primary and its data-path workers), and the private memory (RssAnon: not the shared pages of the binary) of all its processes. For meshlet, where that private memory is when idle after load: V8's heap (heap_total, and heap_used: what of it live objects take) and the memory outside it (external: Buffers, TLS), summed over each agent's processes, from the agents' own meshlet_process_memory_bytes.`,
      metrics: [
        { key: 'rssStartNode1', label: 'node1 proxy at start', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssStartNode2', label: 'node2 proxy at start', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssIdleNode1', label: 'node1 proxy idle after load', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssIdleNode2', label: 'node2 proxy idle after load', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssHeldNode1', label: 'node1 proxy holding the connections', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        { key: 'rssHeldNode2', label: 'node2 proxy holding the connections', unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
        ...perProcessMemoryMetrics(),
        ...[1, 2].flatMap((n): MetricSpec[] => [
          { key: `heapIdleNode${n}`, label: `node${n} agent idle after load, V8 heap (heap_total)`, unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true, onlyPaths: ['meshlet'] },
          { key: `heapUsedIdleNode${n}`, label: `node${n} agent idle after load, V8 heap in use (heap_used)`, unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true, onlyPaths: ['meshlet'] },
          { key: `extIdleNode${n}`, label: `node${n} agent idle after load, outside the heap (external)`, unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true, onlyPaths: ['meshlet'] },
        ]),
        { key: 'held', label: 'connections held', unit: '', better: 'higher', digits: 0, proxyOnly: true },
        { key: 'perConnKiB', label: 'growth per connection (both proxies)', unit: 'KiB', better: 'lower', digits: 1, proxyOnly: true },
      ],
      notApplicable: { direct: NO_PROXY },
    },
  ];
}

/** The idle-memory rows per process: the largest process's RSS, and the private memory of all of a proxy's processes. */
function perProcessMemoryMetrics(): MetricSpec[] {
  const phases = [['Start', 'at start'], ['Idle', 'idle after load'], ['Held', 'holding the connections']] as const;
  return phases.flatMap(([phase, when]) => [1, 2].flatMap((n): MetricSpec[] => [
    { key: `rss${phase}MaxNode${n}`, label: `node${n} proxy ${when}, largest process`, unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
    { key: `priv${phase}Node${n}`, label: `node${n} proxy ${when}, private (RssAnon)`, unit: 'MiB', better: 'lower', digits: 1, proxyOnly: true },
  ]));
}

/** The L7 scenarios compare meshlet at L7 with HAProxy in HTTP mode; meshlet at L4 is shown beside them. */
const L7_COMPARE: Comparison = { subject: 'meshlet-l7', peer: 'haproxy-http' };
const L7_LABELS: Readonly<Partial<Record<PathName, string>>> = { meshlet: 'meshlet L4' };
const L7_SETUP =
  'meshlet L4: the Service port declared `appProtocol: tcp` (bytes spliced on the tunnel); meshlet L7: the same origin behind a port declared `appProtocol: http` / `http2` (each request parsed, balanced and sent as its own HTTP/2 stream on the tunnel session, one access-log line per request); HAProxy HTTP pair: mode http on both nodes, `balance leastconn` per request, HTTP/2 over mutual TLS between the two (`http-reuse always`), keep-alive to the origin, one log line per request.';

function l7Rps(id: string, title: string, tool: string): ScenarioSpec {
  return {
    id,
    title,
    measures: `${tool}, ${HTTP_CONNECTIONS} keep-alive connections, the origin answering ${HTTP_BODY_BYTES} B; CPU is both proxies' user+system time per 1,000 requests, RSS the proxies' peak during the run. ${L7_SETUP}`,
    metrics: [
      { key: 'rps', label: 'requests', unit: '/s', better: 'higher', digits: 0 },
      { key: 'p50Ms', label: 'latency p50 (closed loop)', unit: 'ms', better: 'lower', digits: 2 },
      { key: 'p99Ms', label: 'latency p99 (closed loop)', unit: 'ms', better: 'lower', digits: 2 },
      { key: 'cpuPer1k', label: 'proxy CPU per 1,000 requests', unit: 's', better: 'lower', digits: 3, proxyOnly: true },
      PEAK_RSS,
    ],
    notApplicable: {},
    paths: L7_PATHS,
    compare: L7_COMPARE,
    labels: L7_LABELS,
  };
}

/** HTTP/1.1 and h2c at 64 connections, and HTTP/1.1 latency at a fixed rate. */
export function l7Scenarios(): ScenarioSpec[] {
  return [
    l7Rps('l7-h1-rps', `L7: HTTP/1.1 requests per second, ${HTTP_CONNECTIONS} connections`, 'wrk'),
    l7Rps('l7-h2-rps', `L7: HTTP/2 (h2c) requests per second, ${HTTP_CONNECTIONS} connections`, 'h2load -m 1 (one stream at a time per connection, so 64 requests in flight as with wrk)'),
    {
      id: `l7-latency-${L7_FIXED_RATE}`,
      title: `L7: HTTP/1.1 latency at ${L7_FIXED_RATE.toLocaleString('en-US')} requests/s`,
      measures: `h2load --h1 --rps: ${L7_FIXED_CONNECTIONS} keep-alive connections each sending ${L7_FIXED_RATE / L7_FIXED_CONNECTIONS} requests/s on a timer (a request due while the previous one is still out waits for it, so a stall longer than ${Math.round((1000 * L7_FIXED_CONNECTIONS) / L7_FIXED_RATE)} ms is partly hidden); each request's time to the end of its response, from h2load's per-request log. ${L7_SETUP}`,
      metrics: [
        { key: 'p50Us', label: 'p50', unit: 'µs', better: 'lower', digits: 0 },
        { key: 'p90Us', label: 'p90', unit: 'µs', better: 'lower', digits: 0 },
        { key: 'p99Us', label: 'p99', unit: 'µs', better: 'lower', digits: 0 },
        { key: 'cpuPer1k', label: 'proxy CPU per 1,000 requests', unit: 's', better: 'lower', digits: 3, proxyOnly: true },
        ...AGENT_PAUSE_METRICS,
      ],
      notApplicable: {},
      paths: L7_PATHS,
      compare: L7_COMPARE,
      labels: L7_LABELS,
    },
  ];
}

/**
 * L7 with every resilience feature configured but not triggering, against none configured: one
 * path (meshlet L7), two runs per round (see `resilience-scenario.ts`); its own section in the
 * report (`resilience-report.ts`).
 */
export function resilienceScenario(): ScenarioSpec {
  return {
    id: RESILIENCE_SCENARIO_ID,
    title: RESILIENCE_TITLE,
    measures: RESILIENCE_MEASURES,
    metrics: RESILIENCE_METRICS,
    notApplicable: {},
    paths: ['meshlet-l7'],
    compare: L7_COMPARE,
    labels: L7_LABELS,
  };
}

/**
 * L7 with tracing off, on at 100% and on at 1% sampling: one path (meshlet L7), three runs per
 * round (see `tracing-scenario.ts`); its own section in the report (`tracing-report.ts`).
 */
export function tracingScenario(): ScenarioSpec {
  return {
    id: TRACING_SCENARIO_ID,
    title: TRACING_TITLE,
    measures: TRACING_MEASURES,
    metrics: TRACING_METRICS,
    notApplicable: {},
    paths: ['meshlet-l7'],
    compare: L7_COMPARE,
    labels: L7_LABELS,
  };
}

/**
 * A quiet pod beside a flooding pod on node1, on the L4 paths (issue 18): its own section in
 * the report, the standard table plus each path against the bar (`noisy-neighbour-report.ts`).
 */
export function noisyNeighbourScenario(): ScenarioSpec {
  return {
    id: NOISY_NEIGHBOUR_ID,
    title: NOISY_NEIGHBOUR_TITLE,
    measures: NOISY_NEIGHBOUR_MEASURES,
    metrics: NOISY_METRICS,
    notApplicable: {},
  };
}
