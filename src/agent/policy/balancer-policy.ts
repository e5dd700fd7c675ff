/**
 * Balancers chosen by TrafficPolicy: the {@link BalancerFactory} a `BalancerRegistry` is built
 * with, reading each Service's policy (and this node's zone) from the index in force. Without a
 * policy a Service port gets {@link DEFAULT_ALGORITHM} (least request, power of two choices) and
 * no locality preference. Pure: the index getter and the balancer env are injected.
 */
import { DEFAULT_ALGORITHM, type BalancerSpec, type HashKeySource } from '../../mesh/load-balancer.js';
import type { EndpointInfo, TrafficPolicyInfo } from '../../mesh/types.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { BalancerFactory } from './balancer.js';
import { createBalancer } from './balancers/create-balancer.js';
import type { Locality } from './balancers/endpoint-table.js';
import type { BalancerEnv } from './balancers/tracked-balancer.js';

const DEFAULT_SPEC: BalancerSpec = Object.freeze({ algorithm: DEFAULT_ALGORITHM });
const NO_HASH_KEYS: readonly HashKeySource[] = Object.freeze([]);
const endpointZone = (e: EndpointInfo): string | undefined => e.zone;

/** The locality a policy asks for on this node: its zone first, when both are known. */
export function localityOf(policy: TrafficPolicyInfo | undefined, nodeZone: string | undefined): Locality | undefined {
  if (policy?.preferLocalZone !== true || nodeZone === undefined) return undefined;
  return { zone: nodeZone, zoneOf: endpointZone };
}

/**
 * A factory for `new BalancerRegistry(policyBalancerFactory(() => index, env))`: each Service
 * port gets the algorithm of its Service's TrafficPolicy, with locality when it prefers the
 * local zone (source zone: this node's; an endpoint's zone: its node's).
 */
export function policyBalancerFactory(indexOf: () => WorkloadIndex | undefined, env: BalancerEnv): BalancerFactory {
  return (entry) => {
    const index = indexOf();
    const policy = index?.trafficPolicyOf(entry.service.key);
    const locality = localityOf(policy, index?.zone);
    const opts = locality === undefined ? { env } : { env, locality };
    return createBalancer(policy?.balancer ?? DEFAULT_SPEC, entry.endpoints, opts);
  };
}

/** Where a request's consistent-hash key comes from for `entry` (empty: no key). Use with `hashKeyOf`. */
export function hashKeySourcesOf(index: WorkloadIndex, entry: ServicePortEntry): readonly HashKeySource[] {
  return index.trafficPolicyOf(entry.service.key)?.hashKeys ?? NO_HASH_KEYS;
}

/**
 * Service port keys whose balancer must be made afresh when `next` replaces `prev`: the
 * Service's TrafficPolicy changed (or came or went), or this node's zone did. Give them to
 * `BalancerRegistry.forget` before `apply(next)`; a balancer's state survives otherwise. When
 * `next` was derived from `prev` (`WorkloadIndex.derive`) and the zone is the same, only the
 * Service ports that changed are looked at (a changed policy is a changed Service): the cost
 * of the change, not of every Service port.
 */
export function balancersToRebuild(prev: WorkloadIndex | undefined, next: WorkloadIndex): string[] {
  if (prev === undefined) return [];
  const zoneChanged = prev.zone !== next.zone;
  const changed = zoneChanged ? undefined : next.serviceEntriesChangedSince(prev);
  const out: string[] = [];
  for (const entry of changed?.added ?? next.serviceEntries) {
    const before = prev.trafficPolicyOf(entry.service.key);
    const after = next.trafficPolicyOf(entry.service.key);
    const differs = JSON.stringify(before) !== JSON.stringify(after);
    if (differs || (zoneChanged && (before?.preferLocalZone === true || after?.preferLocalZone === true))) out.push(entry.key);
  }
  return out;
}
