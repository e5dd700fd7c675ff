// Original file: proto/meshlet/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One node's snapshot as the change from the version the agent last acknowledged: only to an
 * agent whose Hello listed `cluster_encoding` in `delta_encodings`. Applied to the agent's view
 * of `from_version`, it gives exactly the full Snapshot of `version`. The delta bytes are the
 * same for every node at the same `from_version`; the node part is per node: its name, address
 * and trust bundle whole, its local workloads whole or, to an agent whose Hello listed the
 * capability "meshlet.local-workloads-change.v1", as the change from `from_version`'s set.
 */
export interface SnapshotDelta {
  /**
   * The new version (as Snapshot.version).
   */
  'version'?: (string);
  /**
   * The version it applies to: the agent's held version, else the agent NACKs with resync.
   */
  'fromVersion'?: (string);
  /**
   * How `cluster_delta` is encoded: "meshlet.cluster-delta.v1+json+gzip".
   */
  'clusterEncoding'?: (string);
  /**
   * The encoded change of the cluster view from `from_version` to `version`.
   */
  'clusterDelta'?: (Buffer | Uint8Array | string);
  /**
   * The node part of the Snapshot of `version`: as Snapshot fields 4 to 8, except that
   * `local_workload_uids` is empty when `local_workloads_as_change` is set.
   */
  'node'?: (string);
  'nodeAddress'?: (string);
  'localWorkloadUids'?: (string)[];
  'trustBundlePem'?: (string);
  'publishedAtMs'?: (number | string | Long);
  /**
   * Set: the local workloads are the set the agent holds for `from_version`, without
   * `local_workload_uids_removed` (each must be held), with `local_workload_uids_added` (each
   * must not be held, and must name a workload of the new view on `node`). Unset: they are
   * `local_workload_uids`, whole. Only to an agent that listed the capability.
   */
  'localWorkloadsAsChange'?: (boolean);
  'localWorkloadUidsAdded'?: (string)[];
  'localWorkloadUidsRemoved'?: (string)[];
}

/**
 * One node's snapshot as the change from the version the agent last acknowledged: only to an
 * agent whose Hello listed `cluster_encoding` in `delta_encodings`. Applied to the agent's view
 * of `from_version`, it gives exactly the full Snapshot of `version`. The delta bytes are the
 * same for every node at the same `from_version`; the node part is per node: its name, address
 * and trust bundle whole, its local workloads whole or, to an agent whose Hello listed the
 * capability "meshlet.local-workloads-change.v1", as the change from `from_version`'s set.
 */
export interface SnapshotDelta__Output {
  /**
   * The new version (as Snapshot.version).
   */
  'version': (string);
  /**
   * The version it applies to: the agent's held version, else the agent NACKs with resync.
   */
  'fromVersion': (string);
  /**
   * How `cluster_delta` is encoded: "meshlet.cluster-delta.v1+json+gzip".
   */
  'clusterEncoding': (string);
  /**
   * The encoded change of the cluster view from `from_version` to `version`.
   */
  'clusterDelta': (Buffer);
  /**
   * The node part of the Snapshot of `version`: as Snapshot fields 4 to 8, except that
   * `local_workload_uids` is empty when `local_workloads_as_change` is set.
   */
  'node': (string);
  'nodeAddress': (string);
  'localWorkloadUids': (string)[];
  'trustBundlePem': (string);
  'publishedAtMs': (number);
  /**
   * Set: the local workloads are the set the agent holds for `from_version`, without
   * `local_workload_uids_removed` (each must be held), with `local_workload_uids_added` (each
   * must not be held, and must name a workload of the new view on `node`). Unset: they are
   * `local_workload_uids`, whole. Only to an agent that listed the capability.
   */
  'localWorkloadsAsChange': (boolean);
  'localWorkloadUidsAdded': (string)[];
  'localWorkloadUidsRemoved': (string)[];
}
