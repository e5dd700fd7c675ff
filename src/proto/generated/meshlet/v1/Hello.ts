// Original file: proto/meshlet/v1/agent.proto


/**
 * The first message of every stream.
 */
export interface Hello {
  /**
   * The node the agent runs on; must be the node its token proves.
   */
  'node'?: (string);
  /**
   * The agent's software version, for logs and status.
   */
  'agentVersion'?: (string);
  /**
   * The snapshot version the agent holds and serves with ("" for none). When it is the
   * controller's current version, nothing is resent.
   */
  'heldVersion'?: (string);
  /**
   * The `cluster_encoding`s of SnapshotDelta the agent can apply (e.g.
   * "meshlet.cluster-delta.v1+json+gzip"). Empty (an agent before deltas): full Snapshots only.
   */
  'deltaEncodings'?: (string)[];
  /**
   * What else the agent understands, by name. "meshlet.local-workloads-change.v1": a
   * SnapshotDelta may carry the node's local workloads as the change from `from_version`'s set
   * (SnapshotDelta fields 10 to 12). Unknown names are ignored; empty (an agent before them):
   * the local workloads always come whole.
   */
  'capabilities'?: (string)[];
}

/**
 * The first message of every stream.
 */
export interface Hello__Output {
  /**
   * The node the agent runs on; must be the node its token proves.
   */
  'node': (string);
  /**
   * The agent's software version, for logs and status.
   */
  'agentVersion': (string);
  /**
   * The snapshot version the agent holds and serves with ("" for none). When it is the
   * controller's current version, nothing is resent.
   */
  'heldVersion': (string);
  /**
   * The `cluster_encoding`s of SnapshotDelta the agent can apply (e.g.
   * "meshlet.cluster-delta.v1+json+gzip"). Empty (an agent before deltas): full Snapshots only.
   */
  'deltaEncodings': (string)[];
  /**
   * What else the agent understands, by name. "meshlet.local-workloads-change.v1": a
   * SnapshotDelta may carry the node's local workloads as the change from `from_version`'s set
   * (SnapshotDelta fields 10 to 12). Unknown names are ignored; empty (an agent before them):
   * the local workloads always come whole.
   */
  'capabilities': (string)[];
}
