// Original file: proto/meshlet/v1/agent.proto


export interface SignResponse {
  /**
   * The leaf, then any intermediates (PEM).
   */
  'chainPem'?: (string);
  /**
   * The roots to verify peers with (PEM).
   */
  'trustBundlePem'?: (string);
}

export interface SignResponse__Output {
  /**
   * The leaf, then any intermediates (PEM).
   */
  'chainPem': (string);
  /**
   * The roots to verify peers with (PEM).
   */
  'trustBundlePem': (string);
}
