// Original file: proto/meshlet/v1/agent.proto


/**
 * The agent applied the snapshot of this version.
 */
export interface Ack {
  'version'?: (string);
}

/**
 * The agent applied the snapshot of this version.
 */
export interface Ack__Output {
  'version': (string);
}
