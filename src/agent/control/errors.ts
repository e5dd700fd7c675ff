/**
 * gRPC failures of the controller connection as MeshletErrors. The controller puts its own
 * error code in the trailing metadata `x-meshlet-error-code`; without one (a proxy, an older
 * controller, a transport failure) the gRPC status decides.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { ERROR_CODES, MeshletError, type MeshletErrorCode } from '../../mesh/errors.js';

/** Trailing metadata key carrying the controller's MeshletError code. */
export const ERROR_CODE_METADATA = 'x-meshlet-error-code';

const CODE_OF_STATUS: Partial<Record<status, MeshletErrorCode>> = {
  [status.UNAUTHENTICATED]: 'MESHLET_ERR_UNAUTHENTICATED',
  [status.PERMISSION_DENIED]: 'MESHLET_ERR_CERT_NOT_AUTHORIZED',
  [status.INVALID_ARGUMENT]: 'MESHLET_ERR_CERT',
};

function isErrorCode(value: unknown): value is MeshletErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/** The MeshletError for a failed call; `what` says what the agent was doing. */
export function fromServiceError(err: ServiceError, what: string): MeshletError {
  const carried = err.metadata?.get(ERROR_CODE_METADATA)[0];
  // MESHLET_ERR_CLOSED from the controller means a part of it shut down; to the agent that is
  // the controller failing, not the agent's own client being closed.
  const usable = isErrorCode(carried) && carried !== 'MESHLET_ERR_CLOSED' ? carried : undefined;
  const code = usable ?? CODE_OF_STATUS[err.code] ?? 'MESHLET_ERR_CONTROLLER';
  const name = status[err.code] ?? String(err.code);
  return new MeshletError(code, `${what}: controller answered ${name}: ${err.details}`, { cause: err });
}
