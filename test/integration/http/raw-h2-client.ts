/**
 * An HTTP/2 client that writes frames by hand, for attack tests: Node's http2 client obeys the
 * server's SETTINGS (it queues streams beyond SETTINGS_MAX_CONCURRENT_STREAMS, it grants window
 * as the application reads), so it cannot misbehave. This one sends what it is told and records
 * what the server sent back, per stream, without decoding header blocks (the test needs frame
 * types, flags and error codes, not header values).
 */
import { once } from 'node:events';
import net from 'node:net';

/** Frame types of RFC 9113 section 6 (Node's http2.constants has the flags and codes, not these). */
export const FrameType = Object.freeze({ DATA: 0x0, HEADERS: 0x1, RST_STREAM: 0x3, SETTINGS: 0x4, PING: 0x6, GOAWAY: 0x7, WINDOW_UPDATE: 0x8, CONTINUATION: 0x9 });

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
/** A frame header is 9 bytes: 24-bit length, type, flags, 31-bit stream id. */
const FRAME_HEADER = 9;
/** A frame larger than this from the server is a bug in the test or the server (our SETTINGS keep the 16 KiB default). */
const MAX_FRAME = 16_384;

/** One frame, 9-byte header and payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(FRAME_HEADER);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/**
 * The HPACK block (RFC 7541) of `GET /` over http to `authority`, without touching the dynamic
 * table: `:method GET` (static index 2), `:scheme http` (6) and `:path /` (4) as indexed fields
 * (0x80 | index), then `:authority` (static index 1) as a literal without indexing with an
 * indexed name (0x00 | 1), its value as a plain (not Huffman) string with a 7-bit length.
 */
export function getBlock(authority: string): Buffer {
  const value = Buffer.from(authority, 'latin1');
  if (value.length > 126) throw new Error(`getBlock: authority "${authority}" longer than one length byte allows`);
  return Buffer.concat([Buffer.from([0x82, 0x86, 0x84, 0x01, value.length]), value]);
}

/** What the server sent on one stream. */
export interface StreamSeen {
  /** HEADERS frames (a response head, then trailers). */
  headers: number;
  /** DATA payload bytes. */
  dataBytes: number;
  /** The stream ended (END_STREAM on HEADERS or DATA). */
  ended: boolean;
  /** RST_STREAM error code, when reset. */
  reset?: number;
}

/** A GOAWAY from the server. */
export interface GoawaySeen {
  readonly lastStreamId: number;
  readonly errorCode: number;
}

/** A raw HTTP/2 connection to 127.0.0.1:`port`; frames received are parsed into {@link RawH2Client.streams}. */
export class RawH2Client {
  readonly socket: net.Socket;
  readonly streams = new Map<number, StreamSeen>();
  readonly goaways: GoawaySeen[] = [];
  /** SETTINGS frames from the server that were not ACKs. */
  settings = 0;
  /** DATA bytes on the connection, padding included (what counts against the connection window). */
  dataBytes = 0;
  closed = false;
  /** Set when the server sent something this parser refuses: the test fails on it. */
  error: string | undefined;
  private pending: Buffer = Buffer.alloc(0);

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    // A reset by the server is one of the outcomes under test: `closed` records it.
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
    this.socket.on('data', (chunk: Buffer) => this.onData(chunk));
  }

  /** Resolves once connected; rejects after `timeoutMs` (loopback: only a stuck machine takes long). */
  async connected(timeoutMs = 30_000): Promise<void> {
    await once(this.socket, 'connect', { signal: AbortSignal.timeout(timeoutMs) });
  }

  write(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The connection preface and our SETTINGS (none: every default, a 65,535-byte window). */
  static hello(): Buffer {
    return Buffer.concat([PREFACE, frame(FrameType.SETTINGS, 0, 0)]);
  }

  static settingsAck(): Buffer {
    return frame(FrameType.SETTINGS, FLAG_ACK, 0);
  }

  /** A whole request without a body: one HEADERS frame with END_STREAM | END_HEADERS. */
  static get(streamId: number, authority: string): Buffer {
    return frame(FrameType.HEADERS, FLAG_END_STREAM | FLAG_END_HEADERS, streamId, getBlock(authority));
  }

  /** The streams of `ids` that got a response head. */
  answered(ids: readonly number[]): number[] {
    return ids.filter((id) => (this.streams.get(id)?.headers ?? 0) > 0);
  }

  /** The streams reset with `code`, in order. */
  resetWith(code: number): number[] {
    return [...this.streams].filter(([, s]) => s.reset === code).map(([id]) => id).sort((a, b) => a - b);
  }

  /** Every stream id the server touched and how, for a diagnostic on failure. */
  summary(): Record<string, number> {
    const out: Record<string, number> = { streams: this.streams.size, goaways: this.goaways.length, closed: Number(this.closed) };
    for (const s of this.streams.values()) {
      const key = s.reset !== undefined ? `reset:${s.reset}` : s.ended ? 'ended' : s.headers > 0 ? 'open:answered' : 'open';
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private stream(id: number): StreamSeen {
    let s = this.streams.get(id);
    if (s === undefined) {
      s = { headers: 0, dataBytes: 0, ended: false };
      this.streams.set(id, s);
    }
    return s;
  }

  private onData(chunk: Buffer): void {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    // Bounded: each pass consumes at least one 9-byte header, or stops.
    while (this.pending.length >= FRAME_HEADER) {
      const length = this.pending.readUIntBE(0, 3);
      if (length > MAX_FRAME) {
        this.error = `frame of ${length} bytes`;
        this.socket.destroy();
        return;
      }
      if (this.pending.length < FRAME_HEADER + length) return;
      const type = this.pending[3] as number;
      const flags = this.pending[4] as number;
      const id = this.pending.readUInt32BE(5) & 0x7fffffff;
      const payload = this.pending.subarray(FRAME_HEADER, FRAME_HEADER + length);
      this.pending = this.pending.subarray(FRAME_HEADER + length);
      this.onFrame(type, flags, id, payload);
    }
  }

  private onFrame(type: number, flags: number, id: number, payload: Buffer): void {
    switch (type) {
      case FrameType.HEADERS: {
        const s = this.stream(id);
        s.headers++;
        if ((flags & FLAG_END_STREAM) !== 0) s.ended = true;
        // A response head bigger than one frame would come with CONTINUATION: ours never is.
        if ((flags & FLAG_END_HEADERS) === 0) this.error = `HEADERS on stream ${id} without END_HEADERS`;
        return;
      }
      case FrameType.DATA: {
        const s = this.stream(id);
        s.dataBytes += payload.length;
        this.dataBytes += payload.length;
        if ((flags & FLAG_END_STREAM) !== 0) s.ended = true;
        return;
      }
      case FrameType.RST_STREAM:
        this.stream(id).reset = payload.readUInt32BE(0);
        return;
      case FrameType.GOAWAY:
        this.goaways.push({ lastStreamId: payload.readUInt32BE(0) & 0x7fffffff, errorCode: payload.readUInt32BE(4) });
        return;
      case FrameType.SETTINGS:
        if ((flags & FLAG_ACK) === 0) this.settings++;
        return;
      case FrameType.PING:
        if ((flags & FLAG_ACK) === 0) this.write(frame(FrameType.PING, FLAG_ACK, 0, Buffer.from(payload)));
        return;
      default:
        return;
    }
  }
}
