/**
 * What both ends of the L7 lab's traffic share (`http-peer.ts` clients, `http-peer-server.ts`
 * servers): deterministic bodies and their hashes, small WebSocket frames, the gRPC echo service
 * (JSON messages, no .proto).
 */
import { createHash, randomBytes } from 'node:crypto';
import type * as grpc from '@grpc/grpc-js';

export type Json = Record<string, unknown>;

export const HTTP_PORT = 8080;
export const GRPC_PORT = 9090;
export const BANNER_PORT = 7000;

/** Deterministic bytes (xorshift), so both ends can hash the same stream without sending it twice. */
function block(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}
const CHUNK = block(11, 64 * 1024);

export function chunkOf(left: number): Buffer {
  return left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
}

export function expectedHash(total: number): string {
  const h = createHash('sha256');
  for (let left = total; left > 0; left -= CHUNK.length) h.update(chunkOf(left));
  return h.digest('hex');
}

/** The error codes of the GOAWAY frames in a server's bytes (HTTP/2 frames, no preface). */
export function goawayCodes(bytes: Buffer): number[] {
  const codes: number[] = [];
  for (let at = 0; at + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    if (bytes[at + 3] === 0x7 && at + 9 + 8 <= bytes.length) codes.push(bytes.readUInt32BE(at + 9 + 4));
    at += 9 + length;
  }
  return codes;
}

/** Writes `total` deterministic bytes with backpressure, then ends the stream. */
export function writeBytes(w: NodeJS.WritableStream, total: number): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const c = chunkOf(left);
      left -= c.length;
      if (!w.write(c)) {
        w.once('drain', pump);
        return;
      }
    }
    w.end();
  };
  pump();
}

export const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One WebSocket frame (FIN, payload under 126 bytes): masked from a client, plain from a server. */
export function wsFrame(payload: Buffer, mask: boolean): Buffer {
  if (payload.length > 125) throw new Error('frame too long for this peer');
  if (!mask) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (key[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), key, masked]);
}

/** Whole small frames out of `buf`: their (unmasked) payloads and the bytes left over. */
export function wsParse(buf: Buffer): { payloads: Buffer[]; rest: Buffer } {
  const payloads: Buffer[] = [];
  let at = 0;
  while (at + 2 <= buf.length) {
    const len = (buf[at + 1] as number) & 0x7f;
    const masked = ((buf[at + 1] as number) & 0x80) !== 0;
    const start = at + 2 + (masked ? 4 : 0);
    if (start + len > buf.length) break;
    const p = Buffer.from(buf.subarray(start, start + len));
    if (masked) for (let i = 0; i < len; i++) p[i] = (p[i] as number) ^ (buf[at + 2 + (i % 4)] as number);
    payloads.push(p);
    at = start + len;
  }
  return { payloads, rest: buf.subarray(at) };
}


/** Messages are JSON in buffers: no .proto needed. */
const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): Json => JSON.parse(b.toString('utf8')) as Json,
};
export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Unary: {
    path: '/meshlet.test.Echo/Unary',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  Count: {
    path: '/meshlet.test.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};
