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
}
