/**
 * Messages between the controller-scale bench and its agent hosts (child processes over the
 * IPC channel). Plain data.
 *
 * @module
 */

/** One simulated agent. */
export interface HostedAgent {
  readonly index: number;
  readonly node: string;
  readonly token: string;
  /** Loopback address it dials the controller from. */
  readonly source: string;
}

/** Parent -> host. */
export type ToHost =
  | { readonly kind: 'start'; readonly port: number; readonly caPem: string; readonly deltas: boolean; readonly agents: readonly HostedAgent[]; readonly limitMs: number }
  | { readonly kind: 'usage' }
  | { readonly kind: 'close' };

/** Host -> parent. */
export type FromHost =
  | { readonly kind: 'ready' }
  | { readonly kind: 'ack'; readonly index: number; readonly version: string; readonly at: number; readonly publishedAt: number; readonly clusterBytes: number; readonly delta: boolean }
  | { readonly kind: 'usage'; readonly cpuMs: number; readonly rssMb: number; readonly heapUsedMb: number }
  | { readonly kind: 'closed' };
