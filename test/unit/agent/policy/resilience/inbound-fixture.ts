/**
 * A node with local workloads and Services whose TrafficPolicies carry rate limits and adaptive
 * concurrency, for the destination side's resilience tests.
 */
import { DEFAULT_ADAPTIVE_CONCURRENCY, type RateLimitRule } from '../../../../../src/mesh/resilience.js';
import type { NodeSnapshot, ServiceInfo, TrafficPolicyInfo, WorkloadInfo } from '../../../../../src/mesh/types.js';
import { WorkloadIndex } from '../../../../../src/agent/state/workload-index.js';

export function workload(name: string, address: string, node = 'node1'): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: { app: name }, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}

export function rule(requests: number, periodMs: number, more: Partial<RateLimitRule> = {}): RateLimitRule {
  return { requests, periodMs, perSource: false, sources: [], headers: [], ...more };
}

export function trafficPolicy(name: string, sections: Partial<TrafficPolicyInfo>): TrafficPolicyInfo {
  return { policy: `demo/${name}`, balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false, ...sections };
}

/** A Service `demo/<name>` selecting `backends` with port `port` -> `targetPort`. */
export function service(name: string, backends: readonly WorkloadInfo[], port: number, targetPort: number, policy?: TrafficPolicyInfo): ServiceInfo {
  return {
    key: `demo/${name}`, name, namespace: 'demo', vips: [`10.96.0.${10 + name.length}`],
    ports: [{ name: 'http', port, targetPort, appProtocol: 'http' }],
    endpoints: backends.map((w) => ({ workload: w.uid, address: w.addresses[0] as string, node: w.node, nodeAddress: w.nodeAddress, meshed: true, identity: w.identity, targetPorts: { [port]: targetPort } })),
    ...(policy === undefined ? {} : { trafficPolicy: policy }),
  };
}

export function indexOf(services: readonly ServiceInfo[], local: readonly WorkloadInfo[], remote: readonly WorkloadInfo[] = []): WorkloadIndex {
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [...local], workloads: [...local, ...remote], services: [...services],
  };
  return new WorkloadIndex(snapshot);
}

export const ADAPTIVE = DEFAULT_ADAPTIVE_CONCURRENCY;
