/**
 * The consistent-hash function equals MurmurHash3 x86_32 over the key's UTF-16LE bytes (checked
 * against a byte-wise reference written from the algorithm's description), and spreads keys evenly.
 */
import t from 'tap';
import { murmur3 } from '../../../../../src/agent/policy/balancers/murmur3.js';
import { seededRandom } from '../../../../../src/agent/policy/balancers/seeded-random.js';

/** Byte-wise MurmurHash3 x86_32, the textbook way. */
function reference(bytes: Uint8Array, seed: number): number {
  const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));
  let h = seed | 0;
  const blocks = bytes.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    let k = (bytes[4 * i] as number) | ((bytes[4 * i + 1] as number) << 8) | ((bytes[4 * i + 2] as number) << 16) | ((bytes[4 * i + 3] as number) << 24);
    k = Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
    h = (Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const tail = blocks * 4;
  const rest = bytes.length & 3;
  if (rest >= 3) k ^= (bytes[tail + 2] as number) << 16;
  if (rest >= 2) k ^= (bytes[tail + 1] as number) << 8;
  if (rest >= 1) {
    k ^= bytes[tail] as number;
    h ^= Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
  }
  h ^= bytes.length;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

t.test('equals the textbook MurmurHash3 of the UTF-16LE bytes', async (t) => {
  // Known value of the textbook algorithm: murmur3_32("", 0) = 0, ("", 1) = 0x514E28B7.
  t.equal(reference(new Uint8Array(0), 1), 0x514e28b7, 'the reference is right');
  t.equal(murmur3('', 1), 0x514e28b7);
  const keys = ['', 'a', 'ab', 'abc', 'session=42', '10.0.0.7', 'Ünïcödé ✓', 'x'.repeat(101)];
  for (const k of keys) for (const seed of [0, 1, 0x9e3779b9]) t.equal(murmur3(k, seed), reference(Buffer.from(k, 'utf16le'), seed), `${JSON.stringify(k)} seed ${seed}`);
});

t.test('spreads keys evenly over 16 buckets', async (t) => {
  const rnd = seededRandom(1);
  const buckets = new Array<number>(16).fill(0);
  for (let i = 0; i < 32_000; i++) {
    const h = murmur3(`user-${Math.floor(rnd() * 1e9)}`);
    buckets[h % 16] = (buckets[h % 16] ?? 0) + 1;
  }
  for (const b of buckets) t.ok(Math.abs(b - 2000) < 200, `${b} near 2000`);
});
