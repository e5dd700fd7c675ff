/**
 * A balancer from an algorithm name and its options: what a TrafficPolicy's load-balancer field
 * will be compiled into. `balancerSpecProblems` lists every bad field (for the object validator,
 * which names file, object and field); `createBalancer` refuses a bad spec with all of them.
 */
import { MeshletError } from '../../../mesh/errors.js';
import type { EndpointInfo } from '../../../mesh/types.js';
import type { ServicePortEntry } from '../../state/workload-index.js';
import type { BalancerFactory } from '../balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { DEFAULT_MAGLEV_TABLE_SIZE, MaglevBalancer } from './maglev.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { DEFAULT_MAX_RING_SIZE, RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { Balancer, BalancerAlgorithm, BalancerOptions } from './tracked-balancer.js';

/** The algorithm when a Service names none (Envoy's and Istio's LEAST_REQUEST). */
export const DEFAULT_ALGORITHM: BalancerAlgorithm = 'least-request';

export const ALGORITHMS: readonly BalancerAlgorithm[] = ['round-robin', 'least-request', 'peak-ewma', 'ring-hash', 'maglev'];

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

/** A balancer for `spec` over `endpoints`; throws MESHLET_ERR_CONFIG_INVALID listing every bad field. */
export function createBalancer(spec: BalancerSpec, endpoints: readonly EndpointInfo[], opts: BalancerOptions): Balancer {
  const bad = balancerSpecProblems(spec);
  if (bad.length > 0) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `invalid load balancer: ${bad.join('; ')}`, { details: bad });
  switch (spec.algorithm) {
    case 'round-robin':
      return new RoundRobinBalancer(endpoints, opts);
    case 'least-request':
      return new LeastRequestBalancer(endpoints, { ...opts, choiceCount: spec.choiceCount });
    case 'peak-ewma':
      return new PeakEwmaBalancer(endpoints, { ...opts, defaultRttMs: spec.ewmaDefaultRttMs, decayMs: spec.ewmaDecayMs });
    case 'ring-hash':
      return new RingHashBalancer(endpoints, { ...opts, pointsPerEndpoint: spec.ringPointsPerEndpoint, maxRingSize: spec.maxRingSize });
    case 'maglev':
      return new MaglevBalancer(endpoints, { ...opts, tableSize: spec.maglevTableSize });
  }
}

/**
 * A {@link BalancerFactory} for a `BalancerRegistry`: each Service port gets the balancer its
 * spec names (the TrafficPolicy targeting the Service, or {@link DEFAULT_ALGORITHM}).
 */
export function balancerFactory(specOf: (entry: ServicePortEntry) => BalancerSpec, opts: BalancerOptions): BalancerFactory {
  return (entry) => createBalancer(specOf(entry), entry.endpoints, opts);
}
