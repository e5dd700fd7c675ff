/**
 * Names and shapes both ends of the agent API agree on: the snapshot wire format, shared by the
 * encoder (`encode.ts`) and the decoder (`decode.ts`), and the
 * controller's identity.
 */
import type { AuthorizationPolicyData } from '../authz/types.js';
import type { ClusterState } from '../cluster-types.js';
import type { RouteData } from '../routes.js';
import type { RoutePolicyData, TelemetryData } from '../types.js';

/** The `cluster_encoding` this code writes and reads. A new layout gets a new name. */
export const CLUSTER_ENCODING = 'meshlet.cluster.v1+json+gzip';

/** The format name inside the JSON, checked on decode: the bytes say what they are. */
export const CLUSTER_VIEW_FORMAT = 'meshlet.cluster.v1';

/**
 * Largest decompressed cluster view an agent accepts: 256 MiB, about 100 times what 5,000
 * pods and 500 Services take, and a bound on what a corrupt or hostile gzip stream can make
 * the agent allocate.
 */
export const MAX_CLUSTER_VIEW_BYTES = 256 * 1024 * 1024;

/** The cluster-wide part of every node's snapshot of one version, encoded once. */
export interface EncodedClusterView {
  readonly version: string;
  readonly encoding: string;
  readonly bytes: Uint8Array;
}

/** A snapshot as it travels (the `Snapshot` message less the trust bundle and the timestamp). */
export interface SnapshotWire {
  readonly version: string;
  readonly clusterEncoding: string;
  readonly cluster: Uint8Array;
  readonly node: string;
  readonly nodeAddress: string;
  readonly localWorkloadUids: readonly string[];
}

/**
 * What a cluster view holds: the node-independent part of a snapshot. A ClusterState fits (its
 * `nodes` give the zones); a NodeSnapshot gives `routes`, `authorizationPolicies` and its own
 * zone as `nodeZones`.
 */
export type ClusterView = Pick<ClusterState, 'trustDomain' | 'workloads' | 'services'> & {
  readonly routes?: readonly RouteData[] | undefined;
  /** Every AuthorizationPolicy; absent: none. */
  readonly authorizationPolicies?: readonly AuthorizationPolicyData[] | undefined;
  /** TrafficPolicies attached to routes, sorted by route key; absent: none. */
  readonly routePolicies?: readonly RoutePolicyData[] | undefined;
  /** Telemetry objects, sorted by namespace/name; absent: none. */
  readonly telemetry?: readonly TelemetryData[] | undefined;
  readonly nodes?: ReadonlyMap<string, { readonly zone?: string }>;
  /** Zone by node name, when `nodes` is not given. */
  readonly nodeZones?: Readonly<Record<string, string>>;
};

/** Namespace of the controller's identity (the mesh's root namespace). */
export const CONTROLLER_NAMESPACE = 'meshlet-system';
/** Service account of the controller's identity. */
export const CONTROLLER_SERVICE_ACCOUNT = 'meshlet-controller';

/**
 * The SPIFFE ID the controller's TLS certificate carries and agents insist on:
 * `spiffe://<trust-domain>/ns/meshlet-system/sa/meshlet-controller`.
 */
export function controllerIdentity(trustDomain: string): string {
  return `spiffe://${trustDomain}/ns/${CONTROLLER_NAMESPACE}/sa/${CONTROLLER_SERVICE_ACCOUNT}`;
}
