/**
 * Reading an agent's credentials from its gRPC metadata, and the error every authenticator
 * raises. Messages say why a credential failed and never contain the credential.
 */
import { createHash } from 'node:crypto';
import { MeshletError } from '../../mesh/errors.js';

/**
 * Longest bearer token accepted. Kubernetes projected tokens are about 1 KiB; the bound keeps a
 * hostile caller from making the controller hash or forward megabytes.
 */
export const MAX_TOKEN_LENGTH = 8192;

/** RFC 6750 `b64token` characters; anything else is not a token we issue or accept. */
const TOKEN_CHARS = /^[A-Za-z0-9\-._~+/]+=*$/;

/** A MESHLET_ERR_UNAUTHENTICATED error with `why` (which must not contain the token). */
export function unauthenticated(why: string, cause?: unknown): MeshletError {
  return new MeshletError('MESHLET_ERR_UNAUTHENTICATED', why, cause === undefined ? {} : { cause });
}

/**
 * The token of an `authorization: Bearer <token>` value. Throws MESHLET_ERR_UNAUTHENTICATED
 * when it is missing, not a Bearer credential, empty, too long or has characters a token never has.
 */
export function bearerToken(authorization: string | undefined): string {
  if (authorization === undefined || authorization.trim() === '') throw unauthenticated('no authorization metadata: send "authorization: Bearer <token>"');
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(authorization);
  if (match === null) throw unauthenticated('the authorization metadata is not a single "Bearer <token>" credential');
  const token = match[1] as string;
  if (token.length > MAX_TOKEN_LENGTH) throw unauthenticated(`the bearer token is longer than ${MAX_TOKEN_LENGTH} characters`);
  if (!TOKEN_CHARS.test(token)) throw unauthenticated('the bearer token has characters outside the token alphabet');
  return token;
}

/** SHA-256 of a token, as raw bytes: what is stored and compared, never the token itself. */
export function tokenDigest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}
