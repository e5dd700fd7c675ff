/**
 * MeshletError codes as gRPC statuses. The code itself also travels in the trailing metadata
 * `x-meshlet-error-code`, so the agent can branch on the same code the controller raised.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { isMeshletError, type MeshletErrorCode } from '../../mesh/errors.js';

/** Trailing metadata key carrying the MeshletError code of a failed call. */
export const ERROR_CODE_METADATA = 'x-meshlet-error-code';

const STATUS_OF: Partial<Record<MeshletErrorCode, status>> = {
  MESHLET_ERR_UNAUTHENTICATED: status.UNAUTHENTICATED,
  // The credentials could not be checked (TokenReview down): not the caller's fault, retry.
  MESHLET_ERR_AUTH_UNAVAILABLE: status.UNAVAILABLE,
  MESHLET_ERR_RATE_LIMITED: status.RESOURCE_EXHAUSTED,
  MESHLET_ERR_CERT_NOT_AUTHORIZED: status.PERMISSION_DENIED,
  // A CSR that does not parse, verify, or ask for exactly the identity requested.
  MESHLET_ERR_CERT: status.INVALID_ARGUMENT,
  MESHLET_ERR_CONFIG_INVALID: status.INVALID_ARGUMENT,
  MESHLET_ERR_CLOSED: status.UNAVAILABLE,
};

/** The gRPC status for a MeshletError code (INTERNAL for codes an agent cannot act on). */
export function grpcStatusOf(code: MeshletErrorCode): status {
  return STATUS_OF[code] ?? status.INTERNAL;
}

/**
 * The error a handler answers with. A MeshletError keeps its message (they are written to be
 * read); anything else becomes a bare INTERNAL, so no stack or path leaks to a caller.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  if (!isMeshletError(err)) return { code: status.INTERNAL, details: 'internal error in the controller', metadata };
  metadata.set(ERROR_CODE_METADATA, err.code);
  return { code: grpcStatusOf(err.code), details: err.message, metadata };
}

/** A status error for a protocol violation by the caller (not a MeshletError). */
export function statusError(code: status, details: string): Partial<ServiceError> {
  return { code, details, metadata: new Metadata() };
}
