/**
 * The inbound policy decision, pure: whether a connection arriving for `address:port` (by tunnel,
 * in-process from our outbound side, or captured plaintext) may reach a workload of this node.
 * `InboundProxy` carries it out.
 */
import type { WorkloadInfo } from '../../mesh/types.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import type { ErrorKind } from './respond.js';

/** Every refusal here is a policy denial: `respond` says its status (403), outcome and flag. */
const DENIED = 'policy_denied' satisfies ErrorKind;

/** How the connection arrived. */
export type InboundVia = { readonly kind: 'mtls'; readonly localIdentity: string } | { readonly kind: 'local' } | { readonly kind: 'plaintext' };

/** The outcome of the inbound policy check. */
export type InboundDecision =
  | { readonly allow: true; readonly workload: WorkloadInfo }
  | { readonly allow: false; readonly reason: string; readonly kind: ErrorKind };

/**
 * Inbound policy. The target must be a meshed workload on this node (never an arbitrary
 * address: the agent is no open relay; the index holds no address the address policy refuses,
 * such as loopback, link-local or the node's own), and never one of the agent's own ports on
 * any address (admin, metrics, readiness, capture, tunnel); an mTLS caller must have asked (by
 * SNI) for the identity the target really has; plaintext is refused in STRICT mode.
 * @param agentPorts the agent's own ports, which no inbound connection is ever delivered to
 */
export function decideInbound(
  index: WorkloadIndex,
  target: { readonly address: string; readonly port: number },
  via: InboundVia,
  agentPorts: ReadonlySet<number>,
): InboundDecision {
  const { address, port } = target;
  const workload = index.localWorkload(address);
  if (workload === undefined) {
    // Only on refusal: the index already holds no refused address, so the reason is for the log.
    const why = index.addressProblem(address) ?? 'is not a meshed workload on this node';
    return { allow: false, kind: DENIED, reason: `${address} ${why}` };
  }
  if (agentPorts.has(port)) {
    return { allow: false, kind: DENIED, reason: `port ${port} is one of the agent's own ports, never a workload's` };
  }
  if (via.kind === 'mtls' && via.localIdentity !== workload.identity) {
    return {
      allow: false,
      kind: DENIED,
      reason: `tunnel was opened for ${via.localIdentity} but ${address} is ${workload.identity}`,
    };
  }
  if (via.kind === 'plaintext' && workload.tlsMode === 'STRICT') {
    return { allow: false, kind: DENIED, reason: `MeshTLS STRICT: plaintext to ${workload.uid} refused` };
  }
  return { allow: true, workload };
}
