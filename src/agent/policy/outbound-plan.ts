/**
 * What to do with a captured outbound connection, decided from the snapshot alone: a pure
 * function, so every branch is tested without sockets or root (`OutboundProxy` only carries the
 * plan out). The rule it keeps: **never plaintext for a meshed workload.** Bytes go out
 * unencrypted only when the snapshot positively says the destination is not meshed; whatever
 * the agent cannot tunnel or hand over in-process is refused (reset), not passed through.
 */
import type { ServiceInfo, SocketAddress, WorkloadInfo } from '../../mesh/types.js';
import type { ConnectionOutcome } from './outcomes.js';
import type { EndpointPicker, WorkloadIndex } from '../state/workload-index.js';

/** A captured connection's plan. */
export type OutboundPlan =
  /** Reset the application's connection; nothing is dialled. */
  | {
      readonly kind: 'refuse';
      readonly outcome: Extract<ConnectionOutcome, 'no_route' | 'denied'>;
      readonly reason: string;
      /** Why, for the throttled warning and tests. */
      readonly why: 'no-snapshot' | 'unidentified-source' | 'no-endpoints' | 'meshed-endpoint-unknown';
      readonly source?: WorkloadInfo;
      readonly service?: ServiceInfo;
    }
  /** Plain TCP to `address:port`: the destination is not meshed. */
  | {
      readonly kind: 'direct';
      readonly mode: 'passthrough' | 'plaintext';
      readonly address: string;
      readonly port: number;
      readonly source?: WorkloadInfo;
      readonly service?: ServiceInfo;
    }
  /** A meshed workload on this node: handed to the inbound side in-process. */
  | { readonly kind: 'local'; readonly source: WorkloadInfo; readonly workload: WorkloadInfo; readonly address: string; readonly port: number; readonly service?: ServiceInfo }
  /** A meshed workload on another node: through an mTLS tunnel (refused there if no certificate can be had). */
  | { readonly kind: 'tunnel'; readonly source: WorkloadInfo; readonly workload: WorkloadInfo; readonly address: string; readonly port: number; readonly service?: ServiceInfo };

/** True once the agent holds a snapshot (persisted or live): the empty one has no version. */
export function hasSnapshot(index: WorkloadIndex): boolean {
  return index.snapshot.version !== '';
}

/**
 * Plans a connection from `source` (the captured socket's peer address) to `dst` (its original
 * destination). `pick` chooses a Service VIP's endpoint (a `BalancerRegistry`'s pick; a test
 * passes a fixed one); it is called only for an identified source dialling a VIP.
 */
export function planOutbound(index: WorkloadIndex, source: string, dst: SocketAddress, pick: EndpointPicker): OutboundPlan {
  if (!hasSnapshot(index)) {
    // The rules outlive the agent (fail closed), so this may be a meshed workload's traffic.
    return { kind: 'refuse', outcome: 'no_route', why: 'no-snapshot', reason: 'no snapshot yet: captured traffic is refused until the first one' };
  }
  const workload = index.localWorkload(source);
  if (workload === undefined) return planUnidentified(index, source, dst);
  const target = index.resolveOutbound(dst.address, dst.port, pick);
  switch (target.kind) {
    case 'no-endpoints':
      return { kind: 'refuse', outcome: 'no_route', why: 'no-endpoints', reason: `service ${target.service.key} has no endpoints for this port`, source: workload, service: target.service };
    case 'passthrough':
      return { kind: 'direct', mode: 'passthrough', address: target.address, port: target.port, source: workload };
    case 'plaintext':
      if (target.endpoint.meshed) {
        return {
          kind: 'refuse', outcome: 'no_route', why: 'meshed-endpoint-unknown', source: workload, service: target.service,
          reason: `endpoint ${target.endpoint.workload} of service ${target.service.key} is meshed but not in the snapshot: refused rather than sent in plaintext`,
        };
      }
      return { kind: 'direct', mode: 'plaintext', address: target.address, port: target.port, source: workload, service: target.service };
    case 'meshed': {
      const plan = { source: workload, workload: target.workload, address: target.address, port: target.port };
      const service = target.service === undefined ? {} : { service: target.service };
      return target.local ? { kind: 'local', ...plan, ...service } : { kind: 'tunnel', ...plan, ...service };
    }
  }
}

/**
 * A source that is not a meshed workload of this node (capture rules lag a snapshot that dropped
 * it, or a persisted snapshot older than a new pod): without an identity nothing can be tunnelled,
 * so it may only go where the snapshot says nothing is meshed.
 */
function planUnidentified(index: WorkloadIndex, source: string, dst: SocketAddress): OutboundPlan {
  if (index.meshedDestination(dst.address, dst.port)) {
    return {
      kind: 'refuse', outcome: 'denied', why: 'unidentified-source',
      reason: `source ${source} is not a meshed workload of this node and the destination is meshed: refused rather than sent in plaintext`,
    };
  }
  return { kind: 'direct', mode: 'passthrough', address: dst.address, port: dst.port };
}
