/**
 * The agent's data path as the control plane sees it: the listener set (declared here, once),
 * and {@link DataPath}, which the in-process {@link DataPlane} (`workers: 1`) and the worker
 * pool (`workers/data-path.ts`, `workers` >= 2) both implement, so the agent never asks which
 * one it has.
 */
import type { AddressInfo } from 'node:net';
import type { IdentityCredentials } from '../identity/manager.js';
import type { MetricsJson } from '../admin/metrics.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import type { EndpointRow } from './endpoint-rows.js';
import type { ProcessResilience } from '../admin/resilience-rows.js';

export type { EndpointRow } from './endpoint-rows.js';

/**
 * The data path's listeners: two capture ports (outbound :15001, inbound :15006; each on IPv4
 * and, where the host has it, IPv6) and the tunnel port (:15008, one socket). `C` is what a
 * capture port has (addresses, fds, ...), `T` what the tunnel port has.
 */
export interface Listeners<C, T = C> {
  readonly outbound: C;
  readonly inbound: C;
  readonly tunnel: T;
}

/** What the data path's listeners bound. */
export type ListenerAddresses = Listeners<AddressInfo[], AddressInfo>;

/** Listening sockets made elsewhere (SO_REUSEPORT), by fd: one set per worker. */
export type ListenerFds = Listeners<readonly number[], number>;

/**
 * The agent's listening sockets, opened or adopted from the agent it replaces
 * (`handover/listener-sockets.ts`), as the data path serves them.
 */
export interface HeldListeners {
  /** Set 0's addresses. */
  readonly addresses: () => ListenerAddresses;
  /** The sets worker `index` of `workers` serves, as descriptors this process may give away (the callee's server owns them). */
  readonly setsFor: (index: number, workers: number) => ListenerFds[];
  /** Whether the capture ports listen on IPv6 too. */
  readonly ipv6: boolean;
}

/** An `/connections` row: a live connection with its bytes and age, and which process holds it. */
export type ConnectionRow = Record<string, string | number>;

/** A data-path worker's facts for `/config_dump`. */
export interface WorkerInfo {
  readonly index: number;
  readonly pid: number | null;
  readonly serving: boolean;
  readonly restarts: number;
}

/** How a drain ended: the connections it waited for, and whether some were closed at the deadline. */
export interface DrainResult {
  readonly drained: number;
  readonly forced: boolean;
}

/** The data path, in this process or in worker processes. */
export interface DataPath {
  /** Serves the agent's listening sockets; resolves with their addresses. */
  start(listeners: HeldListeners): Promise<ListenerAddresses>;
  /** Puts a snapshot's lookup tables in force for new connections. */
  setSnapshot(index: WorkloadIndex): void;
  /** Replaces the tunnel server's TLS session ticket keys (a rotation). */
  setTicketKeys(keys: Buffer): void;
  /**
   * Present when the data path holds its own copy of each credential with its key (worker
   * processes); the identity manager then reports every issuance and departure.
   */
  readonly credentials?: {
    issued(creds: IdentityCredentials, keyPem: string): void;
    forgotten(identity: string): void;
  };
  /** Live connections as `/connections` rows (`worker` is the pid of the process that holds each). */
  connectionRows(): Promise<ConnectionRow[]>;
  /** Service ports' endpoints with their per-request balancing state, per process (`/endpoints`). */
  endpointRows(): Promise<EndpointRow[]>;
  /** Every data-path process's live resilience state, one block per process (`/resilience`). */
  resilienceRows(): Promise<ProcessResilience[]>;
  /** The worker processes (empty when the data path runs in the agent's process). */
  workers(): WorkerInfo[];
  /** Passes a log-level change on to processes with their own loggers (validated by the caller). */
  setLogLevel(level: string, component: string | undefined): void;
  /** Present when the data path's metrics live in other processes: their registries, for a scrape. */
  readonly remoteMetrics?: () => Promise<MetricsJson[]>;
  /** How many processes serve the listeners now (0 before start, while draining, or when every worker died). */
  serving(): number;
  /** Stops accepting, lets connections finish until the deadline, closes the rest. Idempotent. */
  drain(deadlineMs: number): Promise<DrainResult>;
  /** Closes now, also in the middle of a drain. Idempotent. */
  destroy(): Promise<unknown>;
}
