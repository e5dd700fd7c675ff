/**
 * Deterministic address plan of a lab. Everything comes from 198.18.0.0/15 (RFC 2544, reserved
 * for benchmarks, so nothing can collide with a real network), except the link-local pod
 * gateway:
 *
 * - fabric 198.18.0.0/24: node i (0-based, topology order) is 198.18.0.(10+i)
 * - node i's pods 198.18.(i+1).0/24: its j-th pod (topology order) is 198.18.(i+1).(10+j)
 * - Service k (topology order) gets the VIP 198.19.0.0 + 10 + k
 *
 * The same topology always gets the same plan. Pure.
 *
 * @module
 */

import { MESH_DISABLED, MESH_LABEL } from '../mesh/types.js';
import type { LabMeshTLS, LabNamespace, LabServicePort, LabTopology } from './topology.js';
import { fabricNetnsName, memberNetnsName } from './topology.js';
import { validateLabTopology } from './topology-validate.js';

/** The fabric subnet: one address per node on the bridge. */
export const FABRIC_CIDR = '198.18.0.0/24';
/** The range Service VIPs come from; no interface carries it, so only capture rules reach it. */
export const SERVICE_CIDR = '198.19.0.0/16';
/** Gateway every pod routes through; carried by the node side of every pod veth (as Calico does). */
export const POD_GATEWAY = '169.254.1.1';
/**
 * The lab controller's address: on the fabric bridge itself (in the fabric namespace), in the
 * nodes' /24 below the node addresses, so every node reaches it directly.
 */
export const CONTROLLER_ADDRESS = '198.18.0.2';
/** First host number used in each subnet; .1-.9 stay free for hand-made test addresses. */
const FIRST_HOST = 10;

/** A node as built: its namespace, fabric address and pod subnet. */
export interface NodePlan {
  readonly name: string;
  /** 0-based position in the topology; drives every address of the node. */
  readonly index: number;
  readonly netns: string;
  /** Fabric address (the node's InternalIP and tunnel address). */
  readonly address: string;
  /** The node's pod subnet, `198.18.(i+1).0/24`. */
  readonly podCidr: string;
  /** Name of the node's veth end in the fabric namespace (enslaved to `br0`). */
  readonly fabricIface: string;
  readonly labels?: Readonly<Record<string, string>>;
}

/** A pod as built: its namespace, address and the node-side veth name. */
export interface PodPlan {
  readonly name: string;
  readonly namespace: string;
  readonly node: string;
  /** 0-based position among the pods of its node. */
  readonly index: number;
  readonly netns: string;
  readonly address: string;
  /** Node-side end of the pod's veth (the pod side is always `eth0`). */
  readonly hostIface: string;
  readonly serviceAccount: string;
  /** Pod labels, with `meshlet.io/mesh: disabled` added for `meshDisabled` pods. */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A Service port with its target port resolved to the default when absent. */
export interface ServicePortPlan extends LabServicePort {
  readonly targetPort: number;
}

/** A Service with its VIP. */
export interface ServicePlan {
  readonly name: string;
  readonly namespace: string;
  readonly vip: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePortPlan[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** The resolved lab: every name and address the builder and the YAML writer use. */
export interface LabPlan {
  readonly lab: string;
  readonly fabricNetns: string;
  readonly nodes: readonly NodePlan[];
  readonly pods: readonly PodPlan[];
  readonly services: readonly ServicePlan[];
  readonly namespaces: readonly LabNamespace[];
  readonly meshTLS: readonly LabMeshTLS[];
}

/** Dotted quad of a 32-bit unsigned number. */
export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** 32-bit unsigned number of a dotted quad; throws on anything else. */
export function ipv4ToInt(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new RangeError(`not an IPv4 address: ${JSON.stringify(ip)}`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** True when `ip` lies in `cidr` (IPv4 only). */
export function ipv4InCidr(ip: string, cidr: string): boolean {
  const [base = '', bitsText = '32'] = cidr.split('/');
  const bits = Number(bitsText);
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === ((ipv4ToInt(base) & mask) >>> 0);
}

const BENCH_BASE = ipv4ToInt('198.18.0.0');
const SERVICE_BASE = ipv4ToInt('198.19.0.0');

/** Fabric address of node `i`. */
export function nodeAddressAt(i: number): string {
  return intToIpv4(BENCH_BASE + FIRST_HOST + i);
}

/** Pod subnet of node `i`. */
export function podCidrAt(i: number): string {
  return `${intToIpv4(BENCH_BASE + (i + 1) * 256)}/24`;
}

/** Address of the `j`-th pod of node `i`. */
export function podAddressAt(i: number, j: number): string {
  return intToIpv4(BENCH_BASE + (i + 1) * 256 + FIRST_HOST + j);
}

/** VIP of the `k`-th Service. */
export function serviceVipAt(k: number): string {
  return intToIpv4(SERVICE_BASE + FIRST_HOST + k);
}

/**
 * Validates a topology and resolves it into a {@link LabPlan}. Throws `MESHLET_ERR_LAB` when
 * the topology is invalid.
 */
export function planLab(t: LabTopology): LabPlan {
  validateLabTopology(t, `lab ${JSON.stringify(t.name)}`);
  const nodes: NodePlan[] = t.nodes.map((n, i) => ({
    name: n.name,
    index: i,
    netns: memberNetnsName(t.name, n.name),
    address: nodeAddressAt(i),
    podCidr: podCidrAt(i),
    fabricIface: n.name,
    ...(n.labels === undefined ? {} : { labels: { ...n.labels } }),
  }));
  const nodeIndex = new Map(nodes.map((n) => [n.name, n.index]));
  const perNode = new Map<string, number>();
  const pods: PodPlan[] = t.pods.map((p) => {
    const i = nodeIndex.get(p.node) ?? 0;
    const j = perNode.get(p.node) ?? 0;
    perNode.set(p.node, j + 1);
    const labels = { ...(p.labels ?? {}), ...(p.meshDisabled === true ? { [MESH_LABEL]: MESH_DISABLED } : {}) };
    return {
      name: p.name,
      namespace: p.namespace,
      node: p.node,
      index: j,
      netns: memberNetnsName(t.name, p.name),
      address: podAddressAt(i, j),
      hostIface: `veth${j}`,
      serviceAccount: p.serviceAccount ?? 'default',
      labels,
      ...(p.annotations === undefined ? {} : { annotations: { ...p.annotations } }),
    };
  });
  const services: ServicePlan[] = t.services.map((s, k) => ({
    name: s.name,
    namespace: s.namespace,
    vip: serviceVipAt(k),
    selector: { ...s.selector },
    ports: s.ports.map((port) => ({ ...port, targetPort: port.targetPort ?? port.port })),
    ...(s.annotations === undefined ? {} : { annotations: { ...s.annotations } }),
  }));
  return {
    lab: t.name,
    fabricNetns: fabricNetnsName(t.name),
    nodes,
    pods,
    services,
    namespaces: t.namespaces.map((n) => ({ name: n.name, labels: { ...n.labels } })),
    meshTLS: [...(t.meshTLS ?? [])],
  };
}
