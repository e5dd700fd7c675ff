/**
 * The agent's lookup tables, built once per snapshot: workloads by address, Services by
 * VIP and port, with a round-robin cursor per Service port. The data path only reads them.
 */
import type { EndpointInfo, NodeSnapshot, ServiceInfo, ServicePort, WorkloadInfo } from '../mesh/types.js';

/** Where a captured outbound connection goes. */
export type OutboundTarget =
  /** A meshed workload: through a tunnel (other node) or handed to our inbound side (this node). */
  | {
      readonly kind: 'meshed';
      readonly address: string;
      readonly port: number;
      readonly workload: WorkloadInfo;
      readonly service?: ServiceInfo;
      readonly local: boolean;
    }
  /**
   * A Service endpoint with no meshed workload in the snapshot: plaintext, straight to it, unless
   * `endpoint.meshed` says it is meshed after all (its workload missing from the view): then the
   * connection is refused, never sent in plaintext (see `outbound-plan.ts`).
   */
  | { readonly kind: 'plaintext'; readonly address: string; readonly port: number; readonly service: ServiceInfo; readonly endpoint: EndpointInfo }
  /** A Service VIP with no endpoint for that port. */
  | { readonly kind: 'no-endpoints'; readonly service: ServiceInfo }
  /** Not the mesh's business: passed through unchanged to where the workload dialled. */
  | { readonly kind: 'passthrough'; readonly address: string; readonly port: number };

interface ServicePortEntry {
  readonly service: ServiceInfo;
  readonly port: ServicePort;
  /** Endpoints that have a target port for this Service port. */
  readonly endpoints: readonly EndpointInfo[];
  cursor: number;
}

/** Immutable lookup tables for one snapshot; only the round-robin cursors move. */
export class WorkloadIndex {
  readonly snapshot: NodeSnapshot;
  readonly localByAddress: ReadonlyMap<string, WorkloadInfo>;
  readonly byAddress: ReadonlyMap<string, WorkloadInfo>;
  readonly byUid: ReadonlyMap<string, WorkloadInfo>;
  /** Identities of the local workloads, for certificates and the tunnel server's SNI. */
  readonly localIdentities: ReadonlySet<string>;
  private readonly servicePorts: Map<string, ServicePortEntry>;

  constructor(snapshot: NodeSnapshot) {
    this.snapshot = snapshot;
    this.localByAddress = indexByAddress(snapshot.localWorkloads);
    this.byAddress = indexByAddress(snapshot.workloads);
    this.byUid = new Map(snapshot.workloads.map((w) => [w.uid, w]));
    this.localIdentities = new Set(snapshot.localWorkloads.map((w) => w.identity));
    this.servicePorts = new Map();
    for (const service of snapshot.services) {
      for (const port of service.ports) {
        const endpoints = service.endpoints.filter((e) => e.targetPorts[port.port] !== undefined);
        for (const vip of service.vips) {
          this.servicePorts.set(serviceKey(vip, port.port), { service, port, endpoints, cursor: 0 });
        }
      }
    }
  }

  /** The meshed workload on this node that owns `address`, if any. */
  localWorkload(address: string): WorkloadInfo | undefined {
    return this.localByAddress.get(address);
  }

  /** Resolves an original destination into where the connection should go. */
  resolveOutbound(address: string, port: number): OutboundTarget {
    const entry = this.servicePorts.get(serviceKey(address, port));
    if (entry !== undefined) return this.pickEndpoint(entry);
    const workload = this.byAddress.get(address);
    if (workload !== undefined) {
      return { kind: 'meshed', address, port, workload, local: workload.node === this.snapshot.node };
    }
    return { kind: 'passthrough', address, port };
  }

  /**
   * Whether a connection to `address:port` would reach a meshed workload: the address of one, or
   * a Service VIP:port with a meshed endpoint. Moves no round-robin cursor.
   */
  meshedDestination(address: string, port: number): boolean {
    if (this.byAddress.has(address)) return true;
    const entry = this.servicePorts.get(serviceKey(address, port));
    return entry !== undefined && entry.endpoints.some((e) => e.meshed);
  }

  /** Round robin over the Service port's endpoints. */
  private pickEndpoint(entry: ServicePortEntry): OutboundTarget {
    const n = entry.endpoints.length;
    if (n === 0) return { kind: 'no-endpoints', service: entry.service };
    const endpoint = entry.endpoints[entry.cursor % n] as EndpointInfo;
    entry.cursor = (entry.cursor + 1) % n;
    const targetPort = endpoint.targetPorts[entry.port.port] as number;
    const workload = endpoint.meshed ? this.byUid.get(endpoint.workload) : undefined;
    if (workload === undefined) {
      return { kind: 'plaintext', address: endpoint.address, port: targetPort, service: entry.service, endpoint };
    }
    return {
      kind: 'meshed',
      address: endpoint.address,
      port: targetPort,
      workload,
      service: entry.service,
      local: workload.node === this.snapshot.node,
    };
  }
}

function indexByAddress(workloads: readonly WorkloadInfo[]): Map<string, WorkloadInfo> {
  const map = new Map<string, WorkloadInfo>();
  for (const w of workloads) for (const a of w.addresses) map.set(a, w);
  return map;
}

function serviceKey(address: string, port: number): string {
  return `${address}|${port}`;
}
