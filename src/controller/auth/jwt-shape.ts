/**
 * Whether a bearer token is structurally a JWT (a JWS compact serialization), checked before
 * anything is spent on it: no signature is verified here (that is the API server's TokenReview),
 * only the shape every Kubernetes ServiceAccount token has.
 */

/**
 * Longest JWT accepted. Projected ServiceAccount tokens are about 1 KiB (a few claims, an RS256
 * or ES256 signature); 4 KiB leaves room for long names and bounds what a caller makes the
 * controller decode and forward to the API server.
 */
export const MAX_JWT_LENGTH = 4096;

/** Three non-empty base64url parts (RFC 7515, 7.1), no padding. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** True when `token` is three base64url parts whose first two decode to JSON objects, the header naming a real algorithm. */
export function isStructuralJwt(token: string): boolean {
  if (token.length > MAX_JWT_LENGTH || !JWS_COMPACT.test(token)) return false;
  const [header, claims] = token.split('.');
  const h = jsonObject(header);
  if (h === undefined || typeof h['alg'] !== 'string' || h['alg'] === '' || h['alg'].toLowerCase() === 'none') return false;
  return jsonObject(claims) !== undefined;
}

function jsonObject(part: string | undefined): Record<string, unknown> | undefined {
  if (part === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
