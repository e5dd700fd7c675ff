/**
 * The one module of address text helpers: `host:port` formatting, CONNECT authority parsing,
 * RFC 5952 IPv6 text, IPv4-mapped stripping and the `Forwarded: for=` address. Pure (plain strings and numbers in and out), so
 * the agent, the tunnel and the fuzz targets share one behaviour. Whether an address may be a
 * workload's is a separate policy: `workload-address.ts`.
 */
import { isIP } from 'node:net';

/** Formats `address:port`, bracketing IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Parses a CONNECT authority (`1.2.3.4:80`, `[::1]:80`); undefined unless it is exactly that. */
export function parseAuthority(authority: string | undefined): { address: string; port: number } | undefined {
  if (authority === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(authority);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  // The pattern only picks the characters: `0`, `127.1` or `999.1.1.1` must not reach a dial,
  // where getaddrinfo would read them as addresses (found by fuzzing). Brackets hold IPv6 only.
  if (m[1] !== undefined ? isIP(m[1]) !== 6 : isIP(m[2] ?? '') !== 4) return undefined;
  return { address: (m[1] ?? m[2]) as string, port };
}

/** Strips the IPv4-mapped prefix a dual-stack socket reports (`::ffff:10.0.0.1` is `10.0.0.1`). */
export function plainAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** RFC 5952 text: lowercase, no leading zeros, the first longest run (2+) of zero words as `::`. */
export function formatIpv6(words: readonly number[]): string {
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

/**
 * The original client address a peer agent put in `Forwarded: for="addr:port"` (RFC 7239),
 * for the access log; policy reads it only where the snapshot ties the address to the peer's own
 * identity (`trustedSourceAddress` in the agent's inbound decision): it is the peer's claim.
 */
export function forwardedFor(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value.length > 128) return undefined;
  const m = /(?:^|[;,\s])for="?([0-9a-fA-F.:[\]]+)"?/.exec(value);
  return m?.[1];
}
