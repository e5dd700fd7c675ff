/**
 * Least request with the power of two choices (Envoy's LEAST_REQUEST, `choice_count` 2; the
 * default algorithm): two endpoints drawn at random, the one with fewer outstanding requests per
 * unit of weight wins. Draws are weighted when weights differ, so with no load the traffic
 * follows the weights exactly, and under load outstanding requests settle in proportion to them.
 * (Envoy switches to an EDF scheduler with an active-request bias when weights differ; P2C over
 * weighted draws is simpler and keeps one code path.)
 */
import type { EndpointInfo } from '../../../mesh/types.js';
import type { EndpointState } from './endpoint-table.js';
import { TrackedBalancer, type BalancerOptions } from './tracked-balancer.js';

/** Envoy's default `choice_count`: two choices already avoid the worst endpoints (Mitzenmacher). */
export const DEFAULT_CHOICE_COUNT = 2;

export interface LeastRequestOptions extends BalancerOptions {
  /** Endpoints compared per pick (>= 2). */
  readonly choiceCount?: number | undefined;
}

const load = (s: EndpointState): number => s.outstanding / s.weight;

export class LeastRequestBalancer extends TrackedBalancer {
  readonly algorithm = 'least-request' as const;
  private readonly choices: number;

  constructor(endpoints: readonly EndpointInfo[], opts: LeastRequestOptions) {
    super(opts);
    this.choices = opts.choiceCount ?? DEFAULT_CHOICE_COUNT;
    this.update(endpoints);
  }

  protected choose(pool: readonly EndpointState[]): EndpointState {
    return this.powerOfChoices(pool, this.choices, load);
  }
}
