/**
 * The seams between the controller's parts: the registry (objects -> validated cluster state),
 * the agent API server (per-node snapshots, certificate signing) and authentication. Each part
 * is built and tested on its own against these interfaces; `controller.ts` wires them.
 */
import type { ClusterState } from '../mesh/cluster-types.js';

/** A cluster state the controller has accepted, with its version. */
export interface PublishedState {
  /** Monotonic, opaque to agents; a new state always has a new version. */
  readonly version: string;
  readonly state: ClusterState;
  /** When it was published (ms since the epoch), for push-latency metrics. */
  readonly publishedAt: number;
}

/** The stream of accepted cluster states, debounced. */
export interface StateFeed {
  /** The newest accepted state, or undefined before the first valid one. */
  current(): PublishedState | undefined;
  /** Calls `fn` on every newly accepted state; returns the unsubscribe function. */
  subscribe(fn: (s: PublishedState) => void): () => void;
}

/** Who is calling the agent API. */
export interface AgentPrincipal {
  /** The node the caller proved it runs on. Node authorization is keyed by this. */
  readonly node: string;
  /** How it proved it: `join-token` or `kubernetes-token`. */
  readonly method: 'join-token' | 'kubernetes-token';
}

/** Checks an agent's credentials (gRPC metadata values) and names its node. */
export interface AgentAuthenticator {
  /**
   * @param credentials - `authorization` (`Bearer <token>`) and `x-meshlet-node` metadata
   * @throws MeshletError MESHLET_ERR_UNAUTHENTICATED when the credentials do not hold
   */
  authenticate(credentials: { readonly authorization?: string; readonly node?: string }): Promise<AgentPrincipal>;
}

/** What the controller answers to a CSR. */
export interface SignedChain {
  /** Leaf first, then intermediates. */
  readonly chainPem: string;
  /** Roots agents verify peers with. */
  readonly trustBundlePem: string;
}

/** Signs workload CSRs for a node, only for identities of workloads scheduled on it. */
export interface NodeCertificateSigner {
  /**
   * @throws MeshletError MESHLET_ERR_CERT_NOT_AUTHORIZED when no workload with `identity` is
   *   scheduled on `node` (logged with both), MESHLET_ERR_CERT for a bad CSR
   */
  sign(node: string, csrPem: string, identity: string): Promise<SignedChain>;
}
