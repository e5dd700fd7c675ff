/**
 * Workload address parsing for capture rules: validate, classify by family, and print each
 * address exactly as `iptables-save` prints it, so rendered rules and saved rules compare as
 * plain strings.
 */
import { isIP } from 'node:net';

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

/**
 * Parses one workload address. Accepts a single unicast IPv4 or IPv6 address; rejects CIDRs,
 * zone ids, unspecified, loopback, multicast, broadcast and IPv4-embedding IPv6 forms
 * (`::ffff:a.b.c.d`, `::a.b.c.d`): none of them can be the address of a pod or a VM, and the
 * embedding forms would print differently from tool to tool.
 */
export function parseWorkloadAddress(value: string): ParsedAddress {
  if (value.includes('%')) return { ok: false, reason: 'zone ids are not allowed in a workload address' };
  const version = isIP(value);
  if (version === 4) return classifyV4(value);
  if (version === 6) return classifyV6(value);
  return { ok: false, reason: 'not an IPv4 or IPv6 address' };
}

function classifyV4(value: string): ParsedAddress {
  const octets = value.split('.').map(Number);
  const [a = 0] = octets;
  if (value === '0.0.0.0') return { ok: false, reason: 'the unspecified address is not a workload address' };
  if (value === '255.255.255.255') return { ok: false, reason: 'the broadcast address is not a workload address' };
  if (a === 127) return { ok: false, reason: 'loopback addresses are not workload addresses' };
  if (a >= 224 && a <= 239) return { ok: false, reason: 'multicast addresses are not workload addresses' };
  const sortKey = octets.map((o) => o.toString(16).padStart(2, '0')).join('');
  return { ok: true, address: { family: 'ipv4', text: octets.join('.'), sortKey } };
}

function classifyV6(value: string): ParsedAddress {
  const words = ipv6Words(value);
  const allZeroPrefix = words.slice(0, 5).every((w) => w === 0);
  if (allZeroPrefix && (words[5] === 0 || words[5] === 0xffff)) {
    return { ok: false, reason: 'unspecified, loopback and IPv4-mapped/compatible IPv6 addresses are not workload addresses' };
  }
  if ((words[0] ?? 0) >> 8 === 0xff) return { ok: false, reason: 'multicast addresses are not workload addresses' };
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

/** RFC 5952 text: lowercase, no leading zeros, the first longest run (2+) of zero words as `::`. */
function formatIpv6(words: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < words.length; ) {
    if (words[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < words.length && words[j] === 0) j += 1;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  const left = hex.slice(0, bestStart).join(':');
  const right = hex.slice(bestStart + bestLen).join(':');
  return `${left}::${right}`;
}
