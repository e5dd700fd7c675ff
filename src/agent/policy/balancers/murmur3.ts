/**
 * The hash of consistent hashing: MurmurHash3 x86_32 (Appleby), fast in JS with `Math.imul` and
 * no allocation. It reads the string's UTF-16 code units two to a 32-bit block, which makes it
 * exactly MurmurHash3 of the string's UTF-16LE bytes (not of its UTF-8 bytes, so other libraries
 * give other values for the same text; that does not matter, only meshlet agents hash these keys,
 * all the same way) and saves encoding each key. 64-bit hashes (xxHash, FNV-1a 64) would need BigInt in JS, several times slower;
 * where 32 bits are too few (Maglev's offset and skip) two seeds give two independent hashes.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86_32 of `text`'s UTF-16LE bytes with `seed`; an unsigned 32-bit integer. */
export function murmur3(text: string, seed = 0): number {
  let h = seed | 0;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    let k = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  if (i < n) {
    let k = text.charCodeAt(i);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= n * 2;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
