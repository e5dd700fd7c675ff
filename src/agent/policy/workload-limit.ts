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
