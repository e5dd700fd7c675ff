/**
 * Per local workload: the bytes the agent moved for it and an estimate of the agent CPU it
 * took (issue 18: "workload X is using N% of the agent"). Nothing is counted per chunk: the
 * data-path metrics' sweep (every 5 s and at each scrape) hands over what each connection
 * moved since the last sweep and which connections are new, and every {@link MIN_SETTLE_MS} or
 * more the process's CPU time over that interval (`process.cpuUsage`) is split between the
 * workloads in proportion to a cost model: the bytes each moved, plus a fixed byte-equivalent
 * per connection opened ({@link CONNECTION_COST_BYTES}) and per data segment on the workload's
 * socket ({@link SEGMENT_COST_BYTES}: the kernel's count, `TCP_INFO`, read at the same sweep,
 * so a workload of many small messages is charged for them). The split is an estimate;
 * docs/performance.md ("Fairness") has the figures. CPU no workload moved bytes in (timers, the control plane in this process) is left
 * unattributed; the process's whole CPU is exported beside it so a share can be taken.
 *
 * The local workload of a connection is its source for outbound connections and its
 * destination for inbound ones. With worker processes each worker attributes its own CPU and
 * the primary sums the series at scrape.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from '../../ops/prom.js';
import { workloadParts } from './istio-labels.js';
import type { Direction } from '../policy/outcomes.js';

/**
 * Bytes one connection opened is worth in the cost model: from the bench (docs/performance.md),
 * an agent spends about 390 µs of CPU per connection set up (`connect-rate`: 0.78 s per 1,000
 * for both agents) and about 2.6 ns per byte in bulk (`bulk-8`: 5.6 s per GiB for both), so one
 * connection costs what about 150 KB cost.
 */
export const CONNECTION_COST_BYTES = 150_000;

/**
 * Bytes one data segment (on the workload's socket, either way) is worth in the cost model: a
 * message costs the agent a read, a write and their bookkeeping whatever its size. From the
 * bench: `http-rps` (1 KiB answers, 64 keep-alive connections) costs about 24 µs of one agent's
 * CPU per request, two data segments on the pod's socket and ~1.2 KB (3 µs at 2.6 ns a byte),
 * so about 10 µs a segment, what about 4,000 bytes cost in bulk. Without it a flood of small
 * requests was charged as the few bytes it moves and under-estimated several-fold beside a bulk
 * flow (docs/performance.md, "A share limit on the flood").
 */
export const SEGMENT_COST_BYTES = 4_000;

/**
 * The CPU is split at most this often: a scrape right after a sweep would otherwise split a few
 * milliseconds of CPU, and the usage gauges would jump with every scrape.
 */
export const MIN_SETTLE_MS = 1000;

/** The clocks of the split: this process's CPU seconds (user + system) and a monotonic time in ms; tests pass their own. */
export interface UsageClocks {
  readonly cpuSeconds: () => number;
  readonly nowMs: () => number;
}

/** This process's user + system CPU time, seconds. */
export function processCpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * `cpuSeconds` split in proportion to the weights (0 or negative weights get nothing); empty
 * when no weight is positive (nothing to attribute it to). Pure.
 */
export function splitCpu(cpuSeconds: number, weights: ReadonlyMap<string, number>): Map<string, number> {
  let total = 0;
  for (const w of weights.values()) if (w > 0) total += w;
  const out = new Map<string, number>();
  if (total <= 0 || !(cpuSeconds > 0)) return out;
  for (const [k, w] of weights) if (w > 0) out.set(k, (cpuSeconds * w) / total);
  return out;
}

/** One workload in a settled interval ({@link UsageInterval}). */
export interface WorkloadInterval {
  /** The process's CPU attributed to it, seconds. */
  readonly cpuSeconds: number;
  /** Bytes its connections moved, both ways. */
  readonly bytes: number;
  /** Its weight in the split: bytes, plus {@link CONNECTION_COST_BYTES} per connection opened and {@link SEGMENT_COST_BYTES} per data segment. */
  readonly weight: number;
}

/** What a settle split: the interval's length and each workload that did something in it. */
export interface UsageInterval {
  readonly elapsedMs: number;
  /** The process's CPU over the interval, seconds. */
  readonly cpuSeconds: number;
  readonly workloads: ReadonlyMap<string, WorkloadInterval>;
}

/** What a workload did in the current interval. */
interface Pending {
  outbound: number;
  inbound: number;
  connections: number;
  segments: number;
}

/** The agent's usage by local workload, in a registry. */
export class WorkloadUsage {
  private readonly cpu: Counter<'namespace' | 'workload'>;
  private readonly bytes: Counter<'namespace' | 'workload' | 'direction'>;
  private readonly usage: Gauge<'namespace' | 'workload'>;
  private readonly processUsage: Gauge;
  private readonly throttledSeconds: Counter<'namespace' | 'workload'>;
  private readonly throttledBytes: Counter<'namespace' | 'workload'>;
  private readonly shareRate: Gauge<'namespace' | 'workload'>;
  private readonly clock: () => number;
  private readonly now: () => number;
  /** Workload uid -> what it did since the last settle. */
  private pending = new Map<string, Pending>();
  private lastCpu: number;
  private lastAt: number;

  /**
   * @param beforeCollect called as a scrape collects each of these metrics (the data-path
   * metrics' scrape-time sweep, once per scrape): without it a scrape could read them before
   * the sweep that brings them up to date, wherever they sit in the registry's order.
   */
  constructor(registry: Registry, clocks: UsageClocks = { cpuSeconds: processCpuSeconds, nowMs: () => performance.now() }, beforeCollect?: () => void) {
    const registers = [registry];
    const collect = beforeCollect === undefined ? {} : { collect: beforeCollect };
    this.clock = clocks.cpuSeconds;
    this.now = clocks.nowMs;
    this.lastCpu = this.clock();
    this.lastAt = this.now();
    this.cpu = new Counter({
      name: 'meshlet_workload_agent_cpu_seconds_total',
      help: 'Agent CPU time attributed to each local workload (estimated: the data-path processes\' CPU split by bytes moved plus a fixed cost per connection opened and per data segment)',
      labelNames: ['namespace', 'workload'],
      registers,
      ...collect,
    });
    this.bytes = new Counter({
      name: 'meshlet_workload_bytes_total',
      help: 'Bytes the agent moved for each local workload, by direction of its connections (outbound: it is the source; inbound: it is the destination), both ways of each connection',
      labelNames: ['namespace', 'workload', 'direction'],
      registers,
      ...collect,
    });
    this.usage = new Gauge({
      name: 'meshlet_workload_agent_cpu_usage',
      help: 'Agent CPU attributed to each local workload over the last interval of at least 1 s, in cores (CPU seconds per second)',
      labelNames: ['namespace', 'workload'],
      registers,
      ...collect,
    });
    this.processUsage = new Gauge({
      name: 'meshlet_data_path_cpu_usage',
      help: 'CPU of the data-path processes over the same interval, attributed or not, in cores: a workload\'s share of the agent is its meshlet_workload_agent_cpu_usage over this',
      registers,
      ...collect,
    });
    this.throttledSeconds = new Counter({
      name: 'meshlet_workload_throttled_seconds_total',
      help: 'Time during which a local workload\'s outbound connections had reads paused by its meshlet.io/max-bandwidth or meshlet.io/max-agent-share, summed over the data-path processes (each holds its part of the limit)',
      labelNames: ['namespace', 'workload'],
      registers,
      ...collect,
    });
    this.throttledBytes = new Counter({
      name: 'meshlet_workload_throttled_bytes_total',
      help: 'Bytes of a local workload\'s outbound connections that came beyond its meshlet.io/max-bandwidth or meshlet.io/max-agent-share bucket and were paid for by pausing its reads (delayed, never dropped)',
      labelNames: ['namespace', 'workload'],
      registers,
      ...collect,
    });
    this.shareRate = new Gauge({
      name: 'meshlet_workload_share_limit_bytes_per_second',
      help: 'The rate a local workload\'s meshlet.io/max-agent-share holds its outbound connections to now, bytes per second, summed over the data-path processes (absent: not over its share beside an active neighbour)',
      labelNames: ['namespace', 'workload'],
      registers,
      ...collect,
    });
  }

  /** Before each sweep's throttle report: share rates not reported again are gone (their limit lifted, their throttle forgotten). */
  beginThrottleReport(): void {
    this.shareRate.reset();
  }

  /**
   * `workload` (uid) had reads paused for `seconds` and `bytes` beyond its bucket since the last
   * call (at each sweep), and its share limit holds it to `shareBytesPerSecond` now (undefined: not).
   */
  throttled(workload: string, seconds: number, bytes: number, shareBytesPerSecond?: number): void {
    const [namespace, workload_] = workloadParts(workload);
    if (seconds > 0) this.throttledSeconds.inc({ namespace, workload: workload_ }, seconds);
    if (bytes > 0) this.throttledBytes.inc({ namespace, workload: workload_ }, bytes);
    if (shareBytesPerSecond !== undefined) this.shareRate.set({ namespace, workload: workload_ }, shareBytesPerSecond);
  }

  /**
   * A connection of `workload` (its local workload's uid) moved `bytes` (both ways) and
   * `segments` data segments on its socket since the last sweep; `opened`: first seen now.
   * Counted (bytes and CPU) at the next settle.
   */
  add(workload: string | undefined, direction: Direction, bytes: number, opened: boolean, segments = 0): void {
    if (workload === undefined) return;
    let p = this.pending.get(workload);
    if (p === undefined) this.pending.set(workload, (p = { outbound: 0, inbound: 0, connections: 0, segments: 0 }));
    p[direction] += bytes;
    p.segments += segments;
    if (opened) p.connections += 1;
  }

  /**
   * After a sweep: counts the bytes handed over, and once {@link MIN_SETTLE_MS} have passed
   * since the last split, splits this process's CPU over that time between the workloads and
   * returns the interval (the share limits act on it); undefined when it is too soon.
   */
  settle(): UsageInterval | undefined {
    // One labelled increment per workload and settle, never per connection.
    const at = this.now();
    const elapsedMs = at - this.lastAt;
    if (elapsedMs < MIN_SETTLE_MS) return undefined;
    const cpu = this.clock();
    const spent = Math.max(0, cpu - this.lastCpu);
    this.lastCpu = cpu;
    this.lastAt = at;
    const weights = new Map<string, number>();
    for (const [uid, p] of this.pending) {
      const [namespace, workload] = workloadParts(uid);
      if (p.outbound > 0) this.bytes.inc({ namespace, workload, direction: 'outbound' }, p.outbound);
      if (p.inbound > 0) this.bytes.inc({ namespace, workload, direction: 'inbound' }, p.inbound);
      weights.set(uid, p.outbound + p.inbound + p.connections * CONNECTION_COST_BYTES + p.segments * SEGMENT_COST_BYTES);
    }
    const pending = this.pending;
    this.pending = new Map();
    const shares = splitCpu(spent, weights);
    // Workloads idle over this interval read 0, not their last busy figure.
    this.usage.reset();
    for (const [uid, seconds] of shares) {
      const [namespace, workload] = workloadParts(uid);
      this.cpu.inc({ namespace, workload }, seconds);
      this.usage.set({ namespace, workload }, seconds / (elapsedMs / 1000));
    }
    this.processUsage.set(spent / (elapsedMs / 1000));
    const workloads = new Map<string, WorkloadInterval>();
    for (const [uid, p] of pending) workloads.set(uid, { cpuSeconds: shares.get(uid) ?? 0, bytes: p.outbound + p.inbound, weight: weights.get(uid) ?? 0 });
    return { elapsedMs, cpuSeconds: spent, workloads };
  }
}
