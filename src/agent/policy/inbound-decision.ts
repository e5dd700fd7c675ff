/**
 * The inbound policy decision, pure: whether a connection (or one HTTP request) arriving for
 * `address:port` (by tunnel, in-process from our outbound side, or captured plaintext) may reach
 * a workload of this node. `InboundProxy` and `InboundHttp` carry it out.
 */
import { inboundPolicies, NO_INBOUND_POLICIES } from './resilience/inbound-policies.js';
import type { AuthzAttributes, AuthzRequestAttributes, AuthzVerdict } from '../../mesh/authz/types.js';
import { HTTP_PROTOCOLS } from '../../mesh/port-protocol.js';
import type { WorkloadInfo } from '../../mesh/types.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import type { ErrorKind } from './respond.js';

/** Every refusal of the mesh's own rules is a policy denial: `respond` says its status (403), outcome and flag. */
const DENIED = 'policy_denied' satisfies ErrorKind;
/** A refusal of an AuthorizationPolicy: the same answer, its own metric reason (`policy`). */
const AUTHZ_DENIED = 'authz_denied' satisfies ErrorKind;

/**
 * How the connection arrived, and who sent it:
 * - `mtls`: a tunnel stream; `peerIdentity` is the client certificate's SPIFFE ID, `localIdentity`
 *   the identity it asked for by SNI, `sourceAddress` the application's address the peer agent
 *   claims (`forwarded: for=`), trusted only when it is an address of a workload with the peer's
 *   identity (see {@link trustedSourceAddress});
 * - `local`: this node's own outbound side, the source workload known in-process;
 * - `plaintext`: captured on the inbound port, no identity; the address is the kernel's.
 */
export type InboundVia = (
  | { readonly kind: 'mtls'; readonly localIdentity: string; readonly peerIdentity: string; readonly sourceAddress?: string | undefined }
  | { readonly kind: 'local'; readonly sourceIdentity: string; readonly sourceAddress: string }
  | { readonly kind: 'plaintext'; readonly sourceAddress: string }
) & {
  /** The server name of the application's TLS ClientHello, when it was read (`connection.sni`). */
  readonly sni?: string | undefined;
};

/** The outcome of the inbound policy check. */
export type InboundDecision =
  | {
      readonly allow: true;
      readonly workload: WorkloadInfo;
      /** What authorization said (audits to log); its inputs, to check the connection again when policies change. */
      readonly authz: AuthzVerdict;
      readonly attributes: AuthzAttributes;
      /**
       * A connection only: serve it as HTTP and check each request (an L7 rule may decide
       * them: see `canTerminate`); else its bytes are spliced and its verdict is final.
       */
      readonly terminate: boolean;
      /** The mode to evaluate the connection in again when the policies change. */
      readonly recheckMode: 'connection-http' | 'connection-opaque';
    }
  | {
      readonly allow: false;
      readonly reason: string;
      readonly kind: ErrorKind;
      /** Set when an AuthorizationPolicy refused it. */
      readonly authz?: AuthzVerdict;
      readonly attributes?: AuthzAttributes;
    };

/**
 * Inbound policy. The target must be a meshed workload on this node (never an arbitrary
 * address: the agent is no open relay; the index holds no address the address policy refuses,
 * such as loopback, link-local or the node's own), and never one of the agent's own ports on
 * any address (admin, metrics, readiness, capture, tunnel); an mTLS caller must have asked (by
 * SNI) for the identity the target really has; plaintext is refused in STRICT mode. Then the
 * workload's AuthorizationPolicies: one HTTP request (`request` given) in `request` mode; a
 * connection in `connection-opaque` mode (its bytes are not parsed, so L7 rules fail closed),
 * except when the caller can terminate HTTP, the workload's policies have L7 rules and the port
 * is declared HTTP (http, http2, grpc): then in `connection-http` mode, and when an L7 rule may
 * still decide its requests (`deferred`) the connection is to be terminated (`terminate`).
 * @param agentPorts the agent's own ports, which no inbound connection is ever delivered to
 * @param canTerminate the caller can serve the connection as HTTP (an `InboundTerminator`)
 */
export function decideInbound(
  index: WorkloadIndex,
  target: { readonly address: string; readonly port: number },
  via: InboundVia,
  agentPorts: ReadonlySet<number>,
  request?: AuthzRequestAttributes,
  canTerminate = false,
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
  const attributes = inboundAttributes(index, target, via, request);
  const policies = index.authzOf(workload);
  const httpPort = request === undefined && canTerminate && HTTP_PROTOCOLS.has(index.targetPortProtocol(workload, port));
  const http = httpPort && policies.hasL7;
  const authz = policies.evaluate(attributes, request !== undefined ? 'request' : http ? 'connection-http' : 'connection-opaque');
  if (!authz.allowed) return { allow: false, kind: AUTHZ_DENIED, reason: `authorization: ${authz.reason}`, authz, attributes };
  // A final connection-http verdict is the connection-opaque one (no L7 rule could decide):
  // such a connection is spliced, and checked again as opaque.
  // Rate limits and adaptive concurrency count requests: a connection to a port they govern is
  // served as HTTP too, or it would pass them as bytes.
  const limited = httpPort && inboundPolicies(index, workload.uid, port) !== NO_INBOUND_POLICIES;
  const terminate = (http && authz.deferred === true) || limited;
  return { allow: true, workload, authz, attributes, terminate, recheckMode: terminate ? 'connection-http' : 'connection-opaque' };
}

/** What authorization evaluates for a connection (or request) that arrived by `via`. */
export function inboundAttributes(
  index: WorkloadIndex,
  target: { readonly address: string; readonly port: number },
  via: InboundVia,
  request?: AuthzRequestAttributes,
): AuthzAttributes {
  const principal = via.kind === 'mtls' ? via.peerIdentity : via.kind === 'local' ? via.sourceIdentity : undefined;
  const sourceIp = via.kind === 'mtls' ? trustedSourceAddress(index, via.peerIdentity, via.sourceAddress) : via.sourceAddress;
  return {
    ...(principal === undefined ? {} : { sourcePrincipal: principal }),
    ...(sourceIp === undefined || sourceIp === '' ? {} : { sourceIp }),
    destinationIp: target.address,
    destinationPort: target.port,
    ...(via.sni === undefined ? {} : { sni: via.sni }),
    ...(request === undefined ? {} : { request }),
  };
}

/**
 * The source address a peer agent claims for its application, when the snapshot says it is an
 * address of a workload with the peer's own identity; else undefined: a peer agent (or a
 * workload's stolen certificate) could otherwise pick any address to pass an `ipBlocks` rule.
 * An address rule then matches nothing (its `not*` form matches: fail closed for DENY).
 */
export function trustedSourceAddress(index: WorkloadIndex, peerIdentity: string, claimed: string | undefined): string | undefined {
  if (claimed === undefined) return undefined;
  const owner = index.byAddress.get(claimed);
  return owner !== undefined && owner.identity === peerIdentity ? claimed : undefined;
}
