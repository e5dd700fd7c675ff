/**
 * Addresses and CIDR blocks for AuthorizationPolicy's `ipBlocks`, `remoteIpBlocks` and the
 * `source.ip` / `remote.ip` / `destination.ip` conditions: an address parsed once per evaluation
 * into numbers (no allocation: the caller owns the {@link IpValue}), blocks parsed once per
 * policy. IPv4 blocks sit in one Set of network numbers per prefix length (a lookup per distinct
 * length, however many blocks), /31 and /32 in a sorted array; IPv6 blocks are scanned (lists
 * are short). Several times faster than `node:net` BlockList, which parses the address text again
 * on every check (`bench/authz.ts` measures both).
 *
 * An IPv4-mapped IPv6 address (`::ffff:10.0.0.1`, what a dual-stack socket reports) is read as
 * the IPv4 address, so a block written in IPv4 covers it.
 */

/** A parsed address: `family` 0 when absent or unparseable (then it is in no block). */
export class IpValue {
  family: 0 | 4 | 6 = 0;
  /** IPv4: the address; IPv6: words 0..3 (big-endian 32-bit). */
  w0 = 0;
  w1 = 0;
  w2 = 0;
  w3 = 0;

  /** Parses `text` (undefined: absent) into this value; returns its family. */
  set(text: string | undefined): 0 | 4 | 6 {
    this.family = text === undefined ? 0 : parseInto(text, this);
    return this.family;
  }
}

const HEX = (c: number): number => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1);

/** Dotted quad at text[from..to) as a uint32, or -1. */
function parseV4(text: string, from: number, to: number): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    const start = i;
    let octet = 0;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      octet = octet * 10 + (c - 0x30);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || octet > 255 || (len > 1 && text.charCodeAt(start) === 0x30)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= to || text.charCodeAt(i) !== 0x2e) return -1;
      i++;
    }
  }
  return i === to ? value : -1;
}

/** Scratch for the eight 16-bit groups of an IPv6 address being parsed. */
const groups = new Uint16Array(8);

/** IPv6 text into 8 groups; false when it is not an address (a zone id `%x` is not). */
function parseV6(text: string): boolean {
  const n = text.length;
  if (n < 2 || n > 45) return false;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === 0x3a) {
    if (text.charCodeAt(1) !== 0x3a) return false;
    gap = 0;
    i = 2;
    if (i === n) {
      groups.fill(0);
      return true;
    }
  }
  while (i < n) {
    if (count === 8) return false;
    const start = i;
    let value = 0;
    while (i < n && i - start < 5) {
      const h = HEX(text.charCodeAt(i));
      if (h < 0) break;
      value = value * 16 + h;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 0x2e) {
      // An embedded IPv4 address ends the text: two groups.
      if (count > 6) return false;
      const v4 = parseV4(text, start, n);
      if (v4 < 0) return false;
      groups[count++] = v4 >>> 16;
      groups[count++] = v4 & 0xffff;
      i = n;
      break;
    }
    const len = i - start;
    if (len === 0 || len > 4) return false;
    groups[count++] = value;
    if (i === n) break;
    if (text.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < n && text.charCodeAt(i) === 0x3a) {
      if (gap !== -1) return false;
      gap = count;
      i++;
    } else if (i === n) {
      return false;
    }
  }
  if (gap === -1) return count === 8;
  if (count === 8) return false;
  const move = count - gap;
  for (let k = 0; k < move; k++) groups[7 - k] = groups[count - 1 - k] as number;
  for (let k = gap; k < 8 - move; k++) groups[k] = 0;
  return true;
}

function parseInto(text: string, out: IpValue): 0 | 4 | 6 {
  if (text.includes(':')) {
    if (!parseV6(text)) return 0;
    out.w0 = ((groups[0] as number) << 16 | (groups[1] as number)) >>> 0;
    out.w1 = ((groups[2] as number) << 16 | (groups[3] as number)) >>> 0;
    out.w2 = ((groups[4] as number) << 16 | (groups[5] as number)) >>> 0;
    out.w3 = ((groups[6] as number) << 16 | (groups[7] as number)) >>> 0;
    if (out.w0 === 0 && out.w1 === 0 && out.w2 === 0xffff) {
      out.w0 = out.w3;
      return 4;
    }
    return 6;
  }
  const v4 = parseV4(text, 0, text.length);
  if (v4 < 0) return 0;
  out.w0 = v4;
  return 4;
}

/** The mask of the top `bits` of a 32-bit word (0..32). */
function mask(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}

/** Binary search of a sorted Uint32Array. */
function hasHost(hosts: Uint32Array, address: number): boolean {
  let lo = 0;
  let hi = hosts.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = hosts[mid] as number;
    if (v === address) return true;
    if (v < address) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

/** Thrown for a value that is not an address or CIDR (validation lets none through). */
export class BadIpBlockError extends Error {}

/** `ipBlocks`-style values (addresses and CIDRs, IPv4 and IPv6) compiled. */
export class IpBlocks {
  /**
   * IPv4 blocks /1 to /30: the prefix lengths present, longest first, and per length the network
   * numbers (`address >>> (32 - length)`: at most 30 bits, so V8 keeps them as small integers,
   * never heap numbers, and a lookup allocates nothing).
   */
  private readonly v4Lengths: readonly number[];
  private readonly v4Nets: readonly ReadonlySet<number>[];
  /** IPv4 /31 and /32 blocks as sorted addresses (a /31 is its two), found by binary search. */
  private readonly v4Hosts: Uint32Array;
  /** A /0 IPv4 block: every IPv4 address. */
  private readonly v4All: boolean;
  /** IPv6: [w0, w1, w2, w3, bits] per block, masked. */
  private readonly v6: Float64Array;

  /** Throws {@link BadIpBlockError} naming a value that is not an address or CIDR. */
  constructor(values: readonly string[]) {
    const byLength = new Map<number, Set<number>>();
    const v6: number[] = [];
    const hosts: number[] = [];
    let v4All = false;
    const scratch = new IpValue();
    for (const value of values) {
      const slash = value.indexOf('/');
      const family = scratch.set(slash === -1 ? value : value.slice(0, slash));
      const max = family === 4 ? 32 : 128;
      const bitsText = slash === -1 ? '' : value.slice(slash + 1);
      const bits = slash === -1 ? max : /^[0-9]{1,3}$/.test(bitsText) ? Number(bitsText) : -1;
      if (family === 0 || bits < 0 || bits > max) throw new BadIpBlockError(`not an IP address or CIDR: ${JSON.stringify(value)}`);
      if (family === 4) {
        if (bits === 0) v4All = true;
        else if (bits >= 31) hosts.push((scratch.w0 & mask(bits)) >>> 0, bits === 31 ? ((scratch.w0 & mask(31)) | 1) >>> 0 : scratch.w0);
        else {
          let set = byLength.get(bits);
          if (set === undefined) byLength.set(bits, (set = new Set()));
          set.add(scratch.w0 >>> (32 - bits));
        }
      } else {
        v6.push((scratch.w0 & mask(bits)) >>> 0, (scratch.w1 & mask(bits - 32)) >>> 0, (scratch.w2 & mask(bits - 64)) >>> 0, (scratch.w3 & mask(bits - 96)) >>> 0, bits);
      }
    }
    this.v4Lengths = [...byLength.keys()].sort((a, b) => b - a);
    this.v4Nets = this.v4Lengths.map((l) => byLength.get(l) as Set<number>);
    this.v4Hosts = Uint32Array.from(hosts).sort();
    this.v4All = v4All;
    this.v6 = Float64Array.from(v6);
  }

  /** True when `ip` (parsed) is in one of the blocks; never for an absent address. */
  has(ip: IpValue): boolean {
    if (ip.family === 4) {
      if (this.v4All) return true;
      const lengths = this.v4Lengths;
      for (let i = 0; i < lengths.length; i++) {
        if ((this.v4Nets[i] as ReadonlySet<number>).has(ip.w0 >>> (32 - (lengths[i] as number)))) return true;
      }
      return this.v4Hosts.length > 0 && hasHost(this.v4Hosts, ip.w0);
    }
    if (ip.family !== 6) return false;
    const v6 = this.v6;
    for (let i = 0; i < v6.length; i += 5) {
      const bits = v6[i + 4] as number;
      if (((ip.w0 & mask(bits)) >>> 0) !== v6[i]) continue;
      if (((ip.w1 & mask(bits - 32)) >>> 0) !== v6[i + 1]) continue;
      if (((ip.w2 & mask(bits - 64)) >>> 0) !== v6[i + 2]) continue;
      if (((ip.w3 & mask(bits - 96)) >>> 0) === v6[i + 3]) return true;
    }
    return false;
  }
}
