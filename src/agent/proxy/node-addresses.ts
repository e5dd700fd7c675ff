/**
 * This host's own addresses, for the address policy: the agent runs in the node's network
 * namespace, so every address configured on an interface here (the node IP, a CNI bridge's
 * gateway address, docker0, ...) reaches the node itself, never a workload.
 */
import { networkInterfaces } from 'node:os';
import type { AddressPolicyOptions } from '../../mesh/workload-address.js';
import type { AgentConfig } from '../config.js';

/** Every address of every interface of this network namespace (loopback included). */
export function hostAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}

/**
 * The address policy options of a workload index on this host: the host's addresses, and
 * loopback workloads only when the configuration is a test's (`loopbackWorkloads`). Read again
 * for each snapshot: interfaces come and go (a CNI bridge appears with the first pod).
 */
export function indexAddressOptions(config: Pick<AgentConfig, 'loopbackWorkloads'>): AddressPolicyOptions {
  return { nodeAddresses: hostAddresses(), allowLoopback: config.loopbackWorkloads };
}
