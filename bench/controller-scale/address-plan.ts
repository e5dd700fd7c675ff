/**
 * The controller-scale bench's addresses. Every cluster address (node, Service cluster IP, pod)
 * lies in 198.18.0.0/15, the project's test range (RFC 2544): 131,072 addresses, enough for
 * 1,000 nodes, 10,000 Services and 100,000 pods. Each simulated agent dials the controller from
 * its own loopback address (127.0.0.0/8 is all loopback on Linux), so the controller's limit of
 * connections per source address holds as it is. Pure.
 *
 * @module
 */

import { MeshletError } from '../../src/mesh/errors.js';

/** Sizes of the simulated cluster. */
export interface ClusterSize {
  readonly agents: number;
  readonly pods: number;
  readonly services: number;
}

/**
 * 198.18.0.0/24 is left out (lab gateways live there in other tests); in every /24 the .0 and
 * .255 are skipped, so no address looks like a network or broadcast address to a reader.
 */
const FIRST_BLOCK = 1;
const BLOCKS = 512;
const HOSTS_PER_BLOCK = 254;

/** Addresses the plan can hand out: 511 blocks of 254. */
export const ADDRESS_CAPACITY = (BLOCKS - FIRST_BLOCK) * HOSTS_PER_BLOCK;

/** Source addresses the agents can dial from: 127.1.0.1 onwards, below 127.255.255.255. */
export const MAX_SOURCE_ADDRESSES = 254 * 65_536;

/** Where each kind of address starts, as an offset into the plan: nodes, then Services, then pods. */
export interface AddressPlan {
  readonly node: (i: number) => string;
  readonly service: (s: number) => string;
  /** The pod with global index `p`. */
  readonly pod: (p: number) => string;
  /** The loopback address simulated agent `i` dials the controller from. */
  readonly agentSource: (i: number) => string;
}

/** The nth address of the plan (0-based), in 198.18.0.0/15. */
export function planAddress(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n >= ADDRESS_CAPACITY) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `address ${n} of the bench's plan is outside 0..${ADDRESS_CAPACITY - 1}`);
  }
  const block = FIRST_BLOCK + Math.floor(n / HOSTS_PER_BLOCK);
  const host = (n % HOSTS_PER_BLOCK) + 1;
  return `198.${18 + (block >> 8)}.${block & 255}.${host}`;
}

/** The loopback source of agent `i`: 127.1.0.1, 127.1.0.2, ... (the .0 and .255 skipped). */
export function agentSourceAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_SOURCE_ADDRESSES) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `agent ${i} has no loopback source address (0..${MAX_SOURCE_ADDRESSES - 1})`);
  }
  const host = (i % 254) + 1;
  const rest = Math.floor(i / 254);
  return `127.${1 + (rest >> 8)}.${rest & 255}.${host}`;
}

/** Addresses a cluster of `size` needs. */
export function addressesNeeded(size: ClusterSize): number {
  return size.agents + size.services + size.pods;
}

/** The plan for `size`; throws MESHLET_ERR_CONFIG_INVALID when it does not fit in 198.18.0.0/15. */
export function addressPlan(size: ClusterSize): AddressPlan {
  const needed = addressesNeeded(size);
  if (needed > ADDRESS_CAPACITY) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${size.agents} nodes, ${size.services} Services and ${size.pods} pods need ${needed} addresses; 198.18.0.0/15 gives the bench ${ADDRESS_CAPACITY}`);
  }
  const inRange = (kind: string, i: number, count: number): void => {
    if (!Number.isInteger(i) || i < 0 || i >= count) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${kind} ${i} is outside the bench's 0..${count - 1}`);
  };
  return {
    node: (i) => (inRange('node', i, size.agents), planAddress(i)),
    service: (s) => (inRange('Service', s, size.services), planAddress(size.agents + s)),
    pod: (p) => (inRange('pod', p, size.pods), planAddress(size.agents + size.services + p)),
    agentSource: (i) => (inRange('agent', i, size.agents), agentSourceAddress(i)),
  };
}
