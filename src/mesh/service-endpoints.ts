/**
 * Services joined to their endpoints: the Pods and Workload objects of the Service's namespace
 * that its selector matches, meshed or not, with each Service port's target port resolved.
 */
import type { StateWorkload } from './cluster-types.js';
import { mergeSorted } from './snapshot-wire/sorted-merge.js';
import { selectorMatches } from './tls-mode.js';
import type { EndpointInfo, NamedPort, ServiceInfo, ServiceObject, ServicePort } from './types.js';

/**
 * ServiceInfo for every Service that has a cluster IP (headless and ExternalName Services have
 * none: there is no address to capture). `services` and `members` come sorted, and so does
 * the result.
 */
export function buildServices(services: readonly ServiceObject[], members: readonly StateWorkload[]): ServiceInfo[] {
  const index = new SelectorIndex(members);
  const maps: TargetPortMaps = new Map();
  return services.filter((s) => s.clusterIPs.length > 0).map((s) => serviceInfoOf(s, index, maps));
}

/**
 * Target-port maps by content, so endpoints with equal maps share one object. A map is keyed
 * by port number, and V8 stores `{80: 8080}` as a holey array of 81 slots: ~1.2 KB each, 117 MB
 * for the 100,000 endpoints of the bench's cluster when each had its own
 * (docs/controller-scale.md). The state is frozen, so sharing is safe.
 */
export type TargetPortMaps = Map<string, Readonly<Record<number, number>>>;

/** One Service (with a cluster IP) joined to its endpoints among `index`'s workloads. */
export function serviceInfoOf(s: ServiceObject, index: SelectorIndex, maps: TargetPortMaps = new Map()): ServiceInfo {
  const info: ServiceInfo = {
    key: `${s.namespace}/${s.name}`,
    name: s.name,
    namespace: s.namespace,
    vips: s.clusterIPs,
    ports: s.ports,
    endpoints: s.selector === undefined ? [] : endpointsOf(s, s.selector, index.candidates(s.namespace, s.selector), maps),
  };
  return s.opaquePorts === undefined || s.opaquePorts.length === 0 ? info : { ...info, opaquePorts: s.opaquePorts };
}

/**
 * Workloads by namespace and by each `label=value` they carry, each list in `members`' order.
 * A Service looks only at the workloads carrying the rarest of its selector's labels, so a big
 * cluster costs about (Services x workloads a selector matches), not (Services x workloads per
 * namespace): 10,000 Services over 100,000 pods in 10 namespaces spent ~130 s of CPU per
 * rebuild on the namespace scan alone (docs/controller-scale.md).
 */
export class SelectorIndex {
  private readonly byNamespace = new Map<string, StateWorkload[]>();
  /**
   * namespace -> label key -> value -> workloads carrying that label. Nested maps, not one
   * joined key: no separator can make two labels one (a property test found `a`=`b\0x` and
   * `a\0b`=`x` sharing a list, and a workload carrying both listed twice).
   */
  private readonly byLabel = new Map<string, Map<string, Map<string, StateWorkload[]>>>();

  /** `members` sorted by uid (a state's `members`). */
  constructor(members: readonly StateWorkload[]) {
    for (const m of members) {
      push(this.byNamespace, m.namespace, m);
      const keys = this.labelsOf(m.namespace);
      for (const [key, value] of Object.entries(m.labels)) {
        let values = keys.get(key);
        if (values === undefined) keys.set(key, (values = new Map()));
        push(values, value, m);
      }
    }
  }

  /**
   * Adds `m` where its uid sorts, or takes out the workload of its uid (`add` false): the
   * incremental build keeps one index across versions (cluster-state-updater.ts). O(the lists
   * `m` is in).
   */
  update(m: StateWorkload, add: boolean): void {
    const change = (list: readonly StateWorkload[] | undefined): StateWorkload[] => mergeSorted(list ?? [], add ? [] : [m.uid], add ? [m] : [], uidOf);
    this.byNamespace.set(m.namespace, change(this.byNamespace.get(m.namespace)));
    const keys = this.labelsOf(m.namespace);
    for (const [key, value] of Object.entries(m.labels)) {
      let values = keys.get(key);
      if (values === undefined) keys.set(key, (values = new Map()));
      values.set(value, change(values.get(value)));
    }
  }

  private labelsOf(namespace: string): Map<string, Map<string, StateWorkload[]>> {
    let keys = this.byLabel.get(namespace);
    if (keys === undefined) this.byLabel.set(namespace, (keys = new Map()));
    return keys;
  }

  /**
   * Workloads of `namespace` that may match `selector`, in `members`' order: all of them for an
   * empty selector, else those carrying its rarest label (the caller still checks the rest).
   */
  candidates(namespace: string, selector: Readonly<Record<string, string>>): readonly StateWorkload[] {
    const pairs = Object.entries(selector);
    if (pairs.length === 0) return this.byNamespace.get(namespace) ?? [];
    const keys = this.byLabel.get(namespace);
    let best: readonly StateWorkload[] | undefined;
    for (const [key, value] of pairs) {
      const list = keys?.get(key)?.get(value) ?? [];
      if (best === undefined || list.length < best.length) best = list;
    }
    return best ?? [];
  }
}

const uidOf = (m: StateWorkload): string => m.uid;

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

/**
 * The endpoints of one Service, one per backing workload at its first address. A workload is
 * left out of a port whose named targetPort it does not declare (as Kubernetes does), and out
 * of the Service altogether when that leaves it no port.
 */
function endpointsOf(service: ServiceObject, selector: Readonly<Record<string, string>>, members: readonly StateWorkload[], maps: TargetPortMaps): EndpointInfo[] {
  // `members` are candidates from the Service's namespace, sorted by uid.
  const out: EndpointInfo[] = [];
  // Numbers only: one map for every endpoint, whatever its named ports.
  const fixed = service.ports.every((p) => typeof p.targetPort === 'number') ? sharedMap(maps, resolveTargetPorts(service.ports, [])) : undefined;
  for (const m of members) {
    const address = m.addresses[0];
    if (address === undefined || !selectorMatches(selector, m.labels)) continue;
    const targetPorts = fixed ?? sharedMap(maps, resolveTargetPorts(service.ports, m.namedPorts));
    if (service.ports.length > 0 && Object.keys(targetPorts).length === 0) continue;
    let endpoint: EndpointInfo = { workload: m.uid, address, node: m.node, nodeAddress: m.nodeAddress, meshed: m.meshed, targetPorts };
    if (m.meshed) endpoint = { ...endpoint, identity: m.identity };
    out.push(m.zone === undefined ? endpoint : { ...endpoint, zone: m.zone });
  }
  return out;
}

/** The map of `maps` equal to `map` (added when there is none). */
function sharedMap(maps: TargetPortMaps, map: Record<number, number>): Readonly<Record<number, number>> {
  const key = Object.entries(map).join(';');
  const known = maps.get(key);
  if (known !== undefined) return known;
  maps.set(key, map);
  return map;
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
