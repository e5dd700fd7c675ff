/**
 * Services joined to their endpoints: the Pods and Workload objects of the Service's namespace
 * that its selector matches, meshed or not, with each Service port's target port resolved.
 */
import type { StateWorkload } from './cluster-types.js';
import { selectorMatches } from './tls-mode.js';
import type { EndpointInfo, NamedPort, ServiceInfo, ServiceObject, ServicePort } from './types.js';

/**
 * ServiceInfo for every Service that has a cluster IP (headless and ExternalName Services have
 * none: there is no address to capture). `services` and `members` come sorted, and so does
 * the result.
 */
export function buildServices(services: readonly ServiceObject[], members: readonly StateWorkload[]): ServiceInfo[] {
  // Grouped once by namespace: a Service only looks at its own namespace's workloads, so a big
  // cluster costs (Services x workloads per namespace), not (Services x all workloads).
  const byNamespace = new Map<string, StateWorkload[]>();
  for (const m of members) {
    const list = byNamespace.get(m.namespace);
    if (list === undefined) byNamespace.set(m.namespace, [m]);
    else list.push(m);
  }
  return services
    .filter((s) => s.clusterIPs.length > 0)
    .map((s) => {
      const info: ServiceInfo = {
        key: `${s.namespace}/${s.name}`,
        name: s.name,
        namespace: s.namespace,
        vips: s.clusterIPs,
        ports: s.ports,
        endpoints: endpointsOf(s, byNamespace.get(s.namespace) ?? []),
      };
      return s.opaquePorts === undefined || s.opaquePorts.length === 0 ? info : { ...info, opaquePorts: s.opaquePorts };
    });
}

/**
 * The endpoints of one Service, one per backing workload at its first address. A workload is
 * left out of a port whose named targetPort it does not declare (as Kubernetes does), and out
 * of the Service altogether when that leaves it no port.
 */
function endpointsOf(service: ServiceObject, members: readonly StateWorkload[]): EndpointInfo[] {
  // `members` are the workloads of the Service's namespace, sorted by uid.
  const selector = service.selector;
  if (selector === undefined) return [];
  const out: EndpointInfo[] = [];
  for (const m of members) {
    const address = m.addresses[0];
    if (address === undefined || !selectorMatches(selector, m.labels)) continue;
    const targetPorts = resolveTargetPorts(service.ports, m.namedPorts);
    if (service.ports.length > 0 && Object.keys(targetPorts).length === 0) continue;
    let endpoint: EndpointInfo = { workload: m.uid, address, node: m.node, nodeAddress: m.nodeAddress, meshed: m.meshed, targetPorts };
    if (m.meshed) endpoint = { ...endpoint, identity: m.identity };
    out.push(m.zone === undefined ? endpoint : { ...endpoint, zone: m.zone });
  }
  return out;
}

/** Target port per Service port: a number as is, a name through the workload's named ports. */
export function resolveTargetPorts(ports: readonly ServicePort[], namedPorts: readonly NamedPort[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const p of ports) {
    if (typeof p.targetPort === 'number') {
      out[p.port] = p.targetPort;
      continue;
    }
    const named = namedPorts.find((n) => n.name === p.targetPort);
    if (named !== undefined) out[p.port] = named.port;
  }
  return out;
}
