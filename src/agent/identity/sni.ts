/**
 * The tunnel server name (SNI) of an identity, in a module of its own so the data path (and
 * every worker process) can use it without loading the certificate code: a worker does not
 * load node-forge at all (1.2 MiB less heap, about 2 MiB less RSS per worker, measured after
 * importing `worker-runtime.js` and a full GC).
 */
import { createHash } from 'node:crypto';

/**
 * The tunnel server name for an identity. A digest, not the identity itself: SNI travels in
 * the clear, and a digest keeps service-account names off the wire and inside DNS limits.
 */
export function sniForIdentity(identity: string): string {
  return `${createHash('sha256').update(identity).digest('hex').slice(0, 32)}.id.meshlet`;
}
