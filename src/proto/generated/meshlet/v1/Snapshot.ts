// Original file: proto/meshlet/v1/agent.proto

import type { Long } from '@grpc/proto-loader';

/**
 * One node's snapshot. The cluster-wide part (every meshed workload, every Service with its
 * endpoints) is the same for every node of a version, so it travels as opaque bytes encoded once
 * per version and reused for every node; only the fields after it are per node.
 */
export interface Snapshot {
  /**
   * Opaque, a new one for every new cluster state.
   */
  'version'?: (string);
  /**
   * How `cluster` is encoded, e.g. "meshlet.cluster.v1+json+gzip". An agent NACKs encodings it
   * does not know.
   */
  'clusterEncoding'?: (string);
  /**
   * The encoded cluster view of this version: identical bytes for every node.
   */
  'cluster'?: (Buffer | Uint8Array | string);
  /**
   * The node this snapshot is for.
   */
  'node'?: (string);
  /**
   * The node's tunnel address ("" while its Node object is unknown).
   */
  'nodeAddress'?: (string);
  /**
   * uids (`<kind>/<namespace>/<name>`) of the meshed workloads scheduled on this node; each
   * must name a workload of the cluster view that runs on `node`.
   */
  'localWorkloadUids'?: (string)[];
  /**
   * The roots agents verify peers with (PEM).
   */
  'trustBundlePem'?: (string);
  /**
   * When the controller accepted this state (ms since the epoch), for push-latency figures.
   */
  'publishedAtMs'?: (number | string | Long);
}

/**
 * One node's snapshot. The cluster-wide part (every meshed workload, every Service with its
 * endpoints) is the same for every node of a version, so it travels as opaque bytes encoded once
 * per version and reused for every node; only the fields after it are per node.
 */
export interface Snapshot__Output {
  /**
   * Opaque, a new one for every new cluster state.
   */
  'version': (string);
  /**
   * How `cluster` is encoded, e.g. "meshlet.cluster.v1+json+gzip". An agent NACKs encodings it
   * does not know.
   */
  'clusterEncoding': (string);
  /**
   * The encoded cluster view of this version: identical bytes for every node.
   */
  'cluster': (Buffer);
  /**
   * The node this snapshot is for.
   */
  'node': (string);
  /**
   * The node's tunnel address ("" while its Node object is unknown).
   */
  'nodeAddress': (string);
  /**
   * uids (`<kind>/<namespace>/<name>`) of the meshed workloads scheduled on this node; each
   * must name a workload of the cluster view that runs on `node`.
   */
  'localWorkloadUids': (string)[];
  /**
   * The roots agents verify peers with (PEM).
   */
  'trustBundlePem': (string);
  /**
   * When the controller accepted this state (ms since the epoch), for push-latency figures.
   */
  'publishedAtMs': (number);
}
