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
}
