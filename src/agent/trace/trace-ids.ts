/**
 * Random trace and span ids, as lowercase hex. Random bytes are drawn from the CSPRNG in blocks
 * (one `randomFillSync` per {@link POOL_BYTES}), not per id: a system call per request would cost
 * more than the rest of the span.
 */
import { randomFillSync } from 'node:crypto';

/** 4 KiB: 170 requests' worth of ids (8 + 16 bytes each) per refill. */
const POOL_BYTES = 4096;

const pool = Buffer.allocUnsafe(POOL_BYTES);
let offset = POOL_BYTES;

function take(n: number): string {
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + n);
  offset += n;
  return hex;
}

/** A new 16-byte trace id (never all zeros, which W3C reserves for "invalid"). */
export function newTraceId(): string {
  const id = take(16);
  return id === '00000000000000000000000000000000' ? newTraceId() : id;
}

/** A new 8-byte span id (never all zeros). */
export function newSpanId(): string {
  const id = take(8);
  return id === '0000000000000000' ? newSpanId() : id;
}
