// Original file: proto/meshlet/v1/agent.proto


/**
 * The agent could not use the snapshot of this version and keeps serving with its last good one.
 */
export interface Nack {
  'version'?: (string);
  /**
   * Why, naming the bad field (logged by the controller, exposed in its status).
   */
  'reason'?: (string);
  /**
   * The agent cannot use deltas from what it holds (a SnapshotDelta from another version than
   * the one it holds, or one it could not decode or apply): it asks for a full Snapshot of the
   * newest state at once. The controller answers with one; it never answers a Nack of a full
   * Snapshot with another push of the same state.
   */
  'resync'?: (boolean);
}

/**
 * The agent could not use the snapshot of this version and keeps serving with its last good one.
 */
export interface Nack__Output {
  'version': (string);
  /**
   * Why, naming the bad field (logged by the controller, exposed in its status).
   */
  'reason': (string);
  /**
   * The agent cannot use deltas from what it holds (a SnapshotDelta from another version than
   * the one it holds, or one it could not decode or apply): it asks for a full Snapshot of the
   * newest state at once. The controller answers with one; it never answers a Nack of a full
   * Snapshot with another push of the same state.
   */
  'resync': (boolean);
}
