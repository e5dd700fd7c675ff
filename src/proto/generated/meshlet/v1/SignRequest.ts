// Original file: proto/meshlet/v1/agent.proto


export interface SignRequest {
  /**
   * PKCS#10 CSR, PEM, whose only URI SAN is `identity`.
   */
  'csrPem'?: (string);
  /**
   * The SPIFFE ID asked for: spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.
   */
  'identity'?: (string);
}

export interface SignRequest__Output {
  /**
   * PKCS#10 CSR, PEM, whose only URI SAN is `identity`.
   */
  'csrPem': (string);
  /**
   * The SPIFFE ID asked for: spiffe://<trust-domain>/ns/<namespace>/sa/<serviceaccount>.
   */
  'identity': (string);
}
