/**
 * Which address the inbound side connects to a workload from: the client's (source address
 * preservation) or the agent's own. Pure: a decision over the snapshot, so every trust rule is
 * tested without sockets or root.
 *
 * The trust boundary: the agent only connects from an address the mesh ties to the verified
 * peer. A tunnel's claimed address (`Forwarded: for=`) is the peer agent's word, so it is used
 * only when the snapshot says it belongs to a workload with the peer certificate's identity,
 * scheduled on the peer's node; otherwise any node could make a workload see a connection from
 * any address it likes (and pass the workload's NetworkPolicies and per-client limits as that
 * address). A same-node or plaintext connection's source is what the kernel saw on the captured
 * socket.
 */
import { plainAddress } from '../../mesh/address.js';
import { canonicalAddress } from '../../mesh/workload-address.js';
import type { WorkloadIndex } from '../state/workload-index.js';

/** Why a connection goes out from the agent's own address; a stable label and log value. */
export type SourceFallbackReason =
  /** Preservation is off by configuration. */
  | 'disabled'
  /** The process may not make transparent sockets (no CAP_NET_ADMIN): EPERM. */
  | 'not_permitted'
  /** The tunnel request carried no (parseable) client address. */
  | 'no_claim'
  /** The claimed address is no workload's in the snapshot. */
  | 'unknown_source'
  /** The claimed address is a workload's with another identity than the peer's certificate. */
  | 'identity_mismatch'
  /** The claimed workload runs on another node than the tunnel peer. */
  | 'node_mismatch'
  /** The client and the workload are not of one IP family. */
  | 'family_mismatch'
  /** The client is the workload itself (a hairpin): its replies would never leave its namespace. */
  | 'hairpin'
  /** The transparent socket could not be made for another reason (bind failed, ...). */
  | 'socket_error';

/** Every reason, for metrics that start at zero and for docs tests. */
export const SOURCE_FALLBACK_REASONS: readonly SourceFallbackReason[] = [
  'disabled', 'not_permitted', 'no_claim', 'unknown_source', 'identity_mismatch', 'node_mismatch', 'family_mismatch', 'hairpin', 'socket_error',
];

/** How a connection reached the inbound side, with what it says about its client. */
export type SourceVia =
  /** From a peer agent's tunnel: its verified identity and node address, and its claim. */
  | { readonly kind: 'mtls'; readonly peerIdentity: string; readonly peerAddress: string; readonly claimed: string | undefined }
  /** Captured on this node (same-node via the outbound side, or plaintext): the kernel's source address and port. */
  | { readonly kind: 'local' | 'plaintext'; readonly address: string; readonly port: number };

/** The decision: connect from `address`, or from the agent's own address and why. */
export type SourceChoice =
  | { readonly preserve: true; readonly address: string }
  | { readonly preserve: false; readonly reason: SourceFallbackReason };

/**
 * The address to connect to `destination` from, by the rules above. `enabled` false (off by
 * configuration or not permitted) is decided by the caller and passed as `off`.
 */
export function chooseSource(index: WorkloadIndex, via: SourceVia, destination: string, off?: 'disabled' | 'not_permitted'): SourceChoice {
  if (off !== undefined) return { preserve: false, reason: off };
  let address: string;
  if (via.kind === 'mtls') {
    const claimed = via.claimed === undefined ? undefined : canonical(via.claimed);
    if (claimed === undefined) return { preserve: false, reason: 'no_claim' };
    const owner = index.byAddress.get(claimed);
    if (owner === undefined) return { preserve: false, reason: 'unknown_source' };
    if (owner.identity !== via.peerIdentity) return { preserve: false, reason: 'identity_mismatch' };
    if (owner.nodeAddress === '' || canonical(owner.nodeAddress) !== canonical(via.peerAddress)) return { preserve: false, reason: 'node_mismatch' };
    address = claimed;
  } else {
    const seen = canonical(via.address);
    if (seen === undefined) return { preserve: false, reason: 'no_claim' };
    address = seen;
  }
  const target = canonical(destination);
  // Canonical text: IPv6 and only IPv6 has a colon.
  if (target === undefined || address.includes(':') !== target.includes(':')) return { preserve: false, reason: 'family_mismatch' };
  if (address === target) return { preserve: false, reason: 'hairpin' };
  return { preserve: true, address };
}

/** Canonical text, IPv4-mapped IPv6 (a dual-stack socket's view) read as the IPv4 address. */
function canonical(address: string): string | undefined {
  return canonicalAddress(plainAddress(address));
}
