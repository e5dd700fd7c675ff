/**
 * Per-workload limits on a node's agent (issue 18): how many connections one local workload may
 * have open through the agent at once, so one workload's flood of connections cannot take the
 * descriptors and the event loop every other workload on the node needs; and how many bytes per
 * second its outbound connections may move. Pure decisions; the outbound proxy counts and
 * refuses, the splice pauses (docs/workload-limits.md).
 */
import type { WorkloadInfo } from '../../mesh/types.js';

/**
 * Descriptors one proxied connection holds at most: the workload's socket and the upstream
 * socket (a tunnelled one shares its session's socket, so it holds fewer).
 */
export const DESCRIPTORS_PER_CONNECTION = 2;

/**
 * One workload may hold at most 1/4 of the connections the agent's descriptors allow by default:
 * a node runs several workloads, and three more floods of the same size still leave the agent
 * its listeners, tunnel sessions, certificates and log files (each needs a descriptor, and
 * EMFILE would fail every workload at once).
 */
export const DEFAULT_WORKLOAD_SHARE = 4;

/**
 * The open-files limit assumed when it cannot be read (not Linux): the common `ulimit -n` of a
 * container runtime's default is far higher (1,048,576), so this errs on the strict side.
 */
export const FALLBACK_OPEN_FILES = 65_536;

/** The default cap of a workload that sets no `meshlet.io/max-connections`, for an agent whose open-files limit is `openFiles`. */
export function defaultMaxConnections(openFiles: number | undefined): number {
  const files = openFiles ?? FALLBACK_OPEN_FILES;
  return Math.max(1, Math.floor(files / DESCRIPTORS_PER_CONNECTION / DEFAULT_WORKLOAD_SHARE));
}

/** The workload's cap on the whole agent: its annotation's, else the default. */
export function workloadCap(workload: WorkloadInfo, defaultCap: number): number {
  return workload.limits?.maxConnections ?? defaultCap;
}

/**
 * One data-path process's part of an agent-wide cap. The kernel spreads a workload's connections
 * over the workers' SO_REUSEPORT listeners by a hash of each connection's addresses and ports (a
 * new source port each time), so each worker sees about 1/`workers` of them; each admits at most
 * `floor(cap / workers)`, so the agent never holds more than `cap` (when `cap >= workers`; below
 * that each worker admits one, at most `workers` in all). The price: an uneven spread refuses a
 * little before the cap. No message between processes per connection: a lease round trip per
 * accept would cost the hot path more than the precision is worth.
 */
export function processCap(cap: number, workers: number): number {
  return Math.max(1, Math.floor(cap / Math.max(1, workers)));
}

/** Whether one more connection of a workload with `open` connections open in this process fits under `cap` (this process's part). */
export function admitsConnection(open: number, cap: number): boolean {
  return open < cap;
}

/**
 * One data-path process's part of a workload's `meshlet.io/max-bandwidth` (bits per second),
 * in bytes per second: the same even split as {@link processCap}, since the kernel spreads the
 * workload's connections over the workers the same way. A workload with one bulk connection
 * therefore gets `1/workers` of its limit (docs/workload-limits.md says so).
 */
export function processBandwidthBytes(bitsPerSecond: number, workers: number): number {
  return bitsPerSecond / 8 / Math.max(1, workers);
}

/**
 * The burst of a workload's byte bucket: 100 ms of its rate, so a request and its answer pass
 * at the speed of the path rather than being spread out; at least 64 KiB (one socket read or
 * one tunnel frame), so a slow limit does not pause after every chunk. The bucket starts full.
 */
export const BANDWIDTH_BURST_MS = 100;
export const MIN_BANDWIDTH_BURST_BYTES = 64 * 1024;

/** The burst (capacity, bytes) of a bucket of `bytesPerSecond`. */
export function bandwidthBurstBytes(bytesPerSecond: number): number {
  return Math.max(MIN_BANDWIDTH_BURST_BYTES, Math.ceil((bytesPerSecond * BANDWIDTH_BURST_MS) / 1000));
}

/**
 * The lowest rate a share limit sets, bytes per second (one socket read a second): a workload
 * over its share is slowed, never stopped.
 */
export const MIN_SHARE_BYTES_PER_SECOND = 64 * 1024;

/**
 * How fast a binding share rate is loosened while the workload is within its share, per
 * interval: it probes back up until it meets its share again (or stops being bound and is
 * lifted), so a neighbour that goes quiet gives the capacity back within a few seconds.
 */
export const SHARE_RATE_GROWTH = 1.25;

/**
 * The cut aims this much below the share, so the next interval's measure (the workload's CPU
 * follows its bytes only roughly) lands under it rather than on it.
 */
export const SHARE_CUT_MARGIN = 0.9;

/** What one usage interval of a data-path process says about a workload with `meshlet.io/max-agent-share`. */
export interface ShareInput {
  /** Its `meshlet.io/max-agent-share`, percent (1..100) of the process (one core's event loop). */
  readonly limitPercent: number;
  /** The interval's length, seconds (at least one). */
  readonly elapsedSeconds: number;
  /** The process's CPU attributed to the workload over the interval (`workload-usage.ts`), seconds. */
  readonly cpuSeconds: number;
  /** Bytes its connections moved in the process over the interval, both ways. */
  readonly bytes: number;
  /** Whether another local workload moved bytes or opened a connection in the process over the interval. */
  readonly othersActive: boolean;
  /** The share rate in force, bytes per second; undefined: not engaged. */
  readonly rate: number | undefined;
  /** Whether the rate in force held one of its sources during the interval (it was binding). */
  readonly bound: boolean;
}

/**
 * The next rate of a workload's share limit in one data-path process, bytes per second, or
 * undefined to lift it. Pure.
 *
 * The share is of the process's capacity (one core's event loop): a workload at 0.6 cores of
 * attributed CPU uses 60% of it. The limit holds only while another local workload is active
 * (alone, a workload may use the whole agent: nobody waits for it). Over its share, the rate is
 * cut to the bytes per second it moved scaled by share over use (its CPU follows its bytes in
 * the cost model), a little under (`SHARE_CUT_MARGIN`), never above the rate in force and
 * never below {@link MIN_SHARE_BYTES_PER_SECOND}. Within its share, a binding rate is loosened
 * by {@link SHARE_RATE_GROWTH} and a rate that held nothing is lifted. A workload whose cost is
 * all connections opened (no bytes) is not slowed by a byte rate; the connection cap is the
 * limit for that.
 */
export function nextShareRate(i: ShareInput): number | undefined {
  if (i.limitPercent >= 100 || !i.othersActive || !(i.elapsedSeconds > 0)) return undefined;
  const share = i.limitPercent / 100;
  const use = i.cpuSeconds / i.elapsedSeconds;
  if (use > share) {
    if (!(i.bytes > 0)) return i.rate;
    const cut = Math.max(MIN_SHARE_BYTES_PER_SECOND, (i.bytes / i.elapsedSeconds) * (share / use) * SHARE_CUT_MARGIN);
    return i.rate === undefined ? cut : Math.min(i.rate, cut);
  }
  if (i.rate === undefined || !i.bound) return undefined;
  return i.rate * SHARE_RATE_GROWTH;
}
