/**
 * The load-balancer part of the model: the algorithms a TrafficPolicy can name, their tuning
 * (`BalancerSpec`), the limits on it and where a consistent-hash key comes from. Plain data and
 * pure checks, here rather than in the agent's `policy/balancers/` so that object validation
 * (`objects/traffic-policy.ts`) and the snapshot decoder check a policy with the very rules the
 * balancers are built with (`createBalancer` refuses the same specs).
 */

/** The algorithms a TrafficPolicy can name. */
export type BalancerAlgorithm = 'round-robin' | 'least-request' | 'peak-ewma' | 'ring-hash' | 'maglev';

/** The algorithm when a Service names none (Envoy's and Istio's LEAST_REQUEST). */
export const DEFAULT_ALGORITHM: BalancerAlgorithm = 'least-request';

export const ALGORITHMS: readonly BalancerAlgorithm[] = ['round-robin', 'least-request', 'peak-ewma', 'ring-hash', 'maglev'];

/** Envoy's default Maglev table size (a prime; the paper wants M much larger than N, ~100x or more). */
export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;

/**
 * Envoy's cap on the ring: 8M points (12 bytes each here, about 100 MB). Past it every endpoint's
 * points are scaled down alike (then keys move more than 1/N on a change).
 */
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;

/**
 * Limits on what a policy may ask for. More choices than 16 only approach a full scan at more
 * cost per pick; Envoy caps the ring at 8M points (about 100 MB here) and Maglev's table at
 * 5,000,011 slots (20 MB, and a build long enough to stall the data path).
 */
export const MAX_CHOICE_COUNT = 16;
export const MAX_RING_SIZE = DEFAULT_MAX_RING_SIZE;
/** Beyond 65,536 points per endpoint the shares are no more even, only the ring larger. */
export const MAX_RING_POINTS_PER_ENDPOINT = 65_536;
export const MAX_MAGLEV_TABLE_SIZE = 5_000_011;
/** A decay beyond an hour would keep a latency peak for the life of most endpoints. */
export const MAX_EWMA_DECAY_MS = 3_600_000;

/** The algorithm and its tuning; fields that do not apply to the algorithm are ignored. */
export interface BalancerSpec {
  readonly algorithm: BalancerAlgorithm;
  readonly choiceCount?: number | undefined;
  readonly ewmaDefaultRttMs?: number | undefined;
  readonly ewmaDecayMs?: number | undefined;
  readonly ringPointsPerEndpoint?: number | undefined;
  readonly maxRingSize?: number | undefined;
  readonly maglevTableSize?: number | undefined;
}

/** One place a consistent-hash key can come from (Envoy's `hash_policy` entries). */
export type HashKeySource =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'cookie'; readonly name: string }
  | { readonly kind: 'source-ip' };

function isPrime(n: number): boolean {
  if (n < 2 || !Number.isInteger(n)) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}

const intIn = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;
const positive = (v: number, hi: number): boolean => Number.isFinite(v) && v > 0 && v <= hi;

/** Every problem of `spec`, as `field: value (why)`; empty when it is good. */
export function balancerSpecProblems(spec: BalancerSpec): string[] {
  const bad: string[] = [];
  const check = (field: keyof BalancerSpec, v: number | undefined, ok: (v: number) => boolean, why: string): void => {
    if (v !== undefined && !ok(v)) bad.push(`${field}: ${v} (${why})`);
  };
  if (!ALGORITHMS.includes(spec.algorithm)) bad.push(`algorithm: ${String(spec.algorithm)} (one of ${ALGORITHMS.join(', ')})`);
  check('choiceCount', spec.choiceCount, (v) => intIn(v, 2, MAX_CHOICE_COUNT), `an integer from 2 to ${MAX_CHOICE_COUNT}`);
  check('ewmaDefaultRttMs', spec.ewmaDefaultRttMs, (v) => positive(v, MAX_EWMA_DECAY_MS), 'positive milliseconds');
  check('ewmaDecayMs', spec.ewmaDecayMs, (v) => positive(v, MAX_EWMA_DECAY_MS), `positive milliseconds up to ${MAX_EWMA_DECAY_MS}`);
  check('ringPointsPerEndpoint', spec.ringPointsPerEndpoint, (v) => intIn(v, 1, MAX_RING_POINTS_PER_ENDPOINT), `an integer from 1 to ${MAX_RING_POINTS_PER_ENDPOINT}`);
  check('maxRingSize', spec.maxRingSize, (v) => intIn(v, 1, MAX_RING_SIZE), `an integer from 1 to ${MAX_RING_SIZE}`);
  check('maglevTableSize', spec.maglevTableSize, (v) => v <= MAX_MAGLEV_TABLE_SIZE && isPrime(v), `a prime up to ${MAX_MAGLEV_TABLE_SIZE}, e.g. ${DEFAULT_MAGLEV_TABLE_SIZE}`);
  return bad;
}
