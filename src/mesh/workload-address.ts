/**
 * The one address policy of meshlet: whether a string may be the address of a workload (a pod, a
 * VM), and its canonical text. Every place an address enters uses it: the object validators, the
 * snapshot wire decoder, the agent's workload index, the inbound dial and the capture-rule
 * builder, so they can never disagree about an address.
 *
 * Why it matters: the agent dials a local workload's address from the node's own network
 * namespace, with the node's privileges. An address that is not a pod's (loopback, the node's
 * own, the cloud metadata service) would make the agent a relay to the node itself (issue 9).
 */
import { isIP } from 'node:net';
import { formatIpv6 } from './address.js';

/** An IP family, named after the iptables tool that handles it. */
export type IpFamily = 'ipv4' | 'ipv6';

/** A validated workload address. */
export interface WorkloadAddress {
  readonly family: IpFamily;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 (what glibc's inet_ntop and iptables-save print). */
  readonly text: string;
  /** Fixed-width hex of the address bytes: sorts addresses numerically as strings. */
  readonly sortKey: string;
}

/** The result of parsing one address: the address, or why it is not a workload address. */
export type ParsedAddress = { readonly ok: true; readonly address: WorkloadAddress } | { readonly ok: false; readonly reason: string };

/** What, beyond the address classes, a caller knows about where it runs. */
export interface AddressPolicyOptions {
  /**
   * The node's own addresses (any form; compared canonically). The agent dials a workload from
   * the node's namespace, so a workload there would be the node itself.
   */
  readonly nodeAddresses?: Iterable<string>;
  /**
   * Accept loopback addresses as workload addresses. Only for in-process tests, where every
   * "workload" is a socket on 127.0.0.1; never in production (see `AgentConfig.loopbackWorkloads`).
   * A loopback address is then not counted as a node address either.
   */
  readonly allowLoopback?: boolean;
}

/** A compiled {@link AddressPolicyOptions}: canonical node addresses, made once. */
export interface AddressPolicy {
  readonly nodeAddresses: ReadonlySet<string>;
  readonly allowLoopback: boolean;
}

/** The policy with no node addresses and no loopback: what the registries and the decoder use. */
export const STRICT_ADDRESS_POLICY: AddressPolicy = Object.freeze({ nodeAddresses: new Set<string>(), allowLoopback: false });

/** Compiles options into a policy (node addresses in canonical form; unparseable ones ignored). */
export function addressPolicy(opts: AddressPolicyOptions = {}): AddressPolicy {
  const nodeAddresses = new Set<string>();
  for (const a of opts.nodeAddresses ?? []) {
    const text = canonicalAddress(a);
    if (text !== undefined) nodeAddresses.add(text);
  }
  return { nodeAddresses, allowLoopback: opts.allowLoopback === true };
}

/** Reasons, one per class, each reading on after the address (`"127.0.0.1" is a loopback ...`). */
export const ADDRESS_REASONS = {
  notIp: 'is not an IPv4 or IPv6 address',
  zone: 'has a zone id (%...): a workload address is global, not tied to a local interface',
  unspecified: 'is the unspecified address (0.0.0.0/8, ::): it means "this host"',
  loopback: "is a loopback address (127.0.0.0/8, ::1): it would reach the node's own services",
  linkLocal: 'is a link-local address (169.254.0.0/16, fe80::/10; 169.254.169.254 is the cloud metadata service)',
  multicast: 'is a multicast address (224.0.0.0/4, ff00::/8)',
  broadcast: 'is the broadcast address 255.255.255.255',
  embedded: 'is an IPv4-mapped or IPv4-compatible IPv6 address (::ffff:a.b.c.d, ::a.b.c.d): write the IPv4 address',
  node: "is one of the node's own addresses",
} as const;

/**
 * Parses one workload address under `policy`. Accepts a single unicast IPv4 or IPv6 address that
 * is none of: unspecified, loopback (unless allowed), link-local, multicast, broadcast,
 * IPv4-embedding IPv6 (`::ffff:a.b.c.d`, `::a.b.c.d`, which also print differently from tool to
 * tool), with a zone id, a CIDR, or one of the node's addresses.
 */
export function parseWorkloadAddress(value: string, policy: AddressPolicy = STRICT_ADDRESS_POLICY): ParsedAddress {
  if (value.includes('%')) return refuse(ADDRESS_REASONS.zone);
  const version = isIP(value);
  const parsed = version === 4 ? classifyV4(value, policy) : version === 6 ? classifyV6(value, policy) : refuse(ADDRESS_REASONS.notIp);
  if (!parsed.ok || policy.nodeAddresses.size === 0 || !policy.nodeAddresses.has(parsed.address.text)) return parsed;
  if (policy.allowLoopback && isLoopbackText(parsed.address)) return parsed;
  return refuse(ADDRESS_REASONS.node);
}

/** Why `value` may not be a workload address, or undefined when it may. */
export function workloadAddressProblem(value: string, policy: AddressPolicy = STRICT_ADDRESS_POLICY): string | undefined {
  const parsed = parseWorkloadAddress(value, policy);
  return parsed.ok ? undefined : parsed.reason;
}

/**
 * The canonical text of any IP address (also of the ones {@link parseWorkloadAddress} refuses),
 * or undefined for a string that is not one. `::FFFF:7F00:1` and `::ffff:127.0.0.1` are the same.
 */
export function canonicalAddress(value: string): string | undefined {
  const version = isIP(value);
  // Already canonical: isIP accepts only dotted decimal without leading zeros. (The agent indexes
  // every workload's addresses with this for deltas: 5,000 pods made 10,000 splits per view.)
  if (version === 4) return value;
  if (version === 6 && !value.includes('%')) return formatIpv6(ipv6Words(value));
  return undefined;
}

function refuse(reason: string): ParsedAddress {
  return { ok: false, reason };
}

function isLoopbackText(address: WorkloadAddress): boolean {
  return address.family === 'ipv4' ? address.text.startsWith('127.') : address.text === '::1';
}

function classifyV4(value: string, policy: AddressPolicy): ParsedAddress {
  const octets = value.split('.').map(Number);
  const [a = 0, b = 0] = octets;
  if (a === 0) return refuse(ADDRESS_REASONS.unspecified);
  if (value === '255.255.255.255') return refuse(ADDRESS_REASONS.broadcast);
  if (a === 127 && !policy.allowLoopback) return refuse(ADDRESS_REASONS.loopback);
  if (a === 169 && b === 254) return refuse(ADDRESS_REASONS.linkLocal);
  if (a >= 224 && a <= 239) return refuse(ADDRESS_REASONS.multicast);
  const sortKey = octets.map((o) => o.toString(16).padStart(2, '0')).join('');
  return { ok: true, address: { family: 'ipv4', text: octets.join('.'), sortKey } };
}

function classifyV6(value: string, policy: AddressPolicy): ParsedAddress {
  const words = ipv6Words(value);
  const first = words[0] ?? 0;
  if (words.slice(0, 5).every((w) => w === 0)) {
    const w5 = words[5] ?? 0;
    const tail = ((words[6] ?? 0) << 16) | (words[7] ?? 0);
    if (w5 === 0 && tail === 0) return refuse(ADDRESS_REASONS.unspecified);
    if (w5 === 0 && tail === 1) {
      if (!policy.allowLoopback) return refuse(ADDRESS_REASONS.loopback);
    } else if (w5 === 0 || w5 === 0xffff) {
      return refuse(ADDRESS_REASONS.embedded);
    }
  }
  if (first >> 8 === 0xff) return refuse(ADDRESS_REASONS.multicast);
  if ((first & 0xffc0) === 0xfe80) return refuse(ADDRESS_REASONS.linkLocal);
  const sortKey = words.map((w) => w.toString(16).padStart(4, '0')).join('');
  return { ok: true, address: { family: 'ipv6', text: formatIpv6(words), sortKey } };
}

/** The eight 16-bit words of an IPv6 address that `isIP` already accepted. */
function ipv6Words(value: string): number[] {
  let text = value.toLowerCase();
  // A trailing dotted quad stands for the last two words.
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = (dotted[2] ?? '').split('.').map(Number);
    text = `${dotted[1] ?? ''}${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headWords = head === '' ? [] : head.split(':');
  const tailWords = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - headWords.length - tailWords.length).fill('0');
  return [...headWords, ...fill, ...tailWords].map((w) => Number.parseInt(w, 16));
}
