/**
 * A balancer from an algorithm name and its options: what a TrafficPolicy's load-balancer field
 * will be compiled into. `balancerSpecProblems` lists every bad field (for the object validator,
 * which names file, object and field); `createBalancer` refuses a bad spec with all of them.
 */
import { MeshletError } from '../../../mesh/errors.js';
import { balancerSpecProblems, type BalancerSpec } from '../../../mesh/load-balancer.js';
import type { EndpointInfo } from '../../../mesh/types.js';
import type { ServicePortEntry } from '../../state/workload-index.js';
import type { BalancerFactory } from '../balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { MaglevBalancer } from './maglev.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RingHashBalancer } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';
import type { Balancer, BalancerOptions } from './tracked-balancer.js';

// The spec, its limits and its checks live in the model, so that object validation uses them too.
export {
  ALGORITHMS, balancerSpecProblems, DEFAULT_ALGORITHM, MAX_CHOICE_COUNT, MAX_EWMA_DECAY_MS, MAX_MAGLEV_TABLE_SIZE,
  MAX_RING_POINTS_PER_ENDPOINT, MAX_RING_SIZE, type BalancerSpec,
} from '../../../mesh/load-balancer.js';

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
