/**
 * A minimal protocol-buffers writer, enough for the OTLP trace messages (`otlp-encode.ts`):
 * varints, length-delimited strings, bytes and nested messages, fixed64, fixed32 and doubles,
 * into one growing buffer. A nested message reserves one byte for its length and moves its
 * bytes forward in the rare case the length needs more (most attributes are under 128 bytes),
 * so that a whole export request is written in one pass with no intermediate buffers.
 */

/** Protobuf wire types. */
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** Strings shorter than this (in UTF-16 units) are tried as ASCII, with a one-byte length. */
const SHORT_STRING = 128;

/** The value of a lowercase hex digit (ids are validated lowercase hex before they get here). */
function nibble(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

/** Bytes of `n` (a non-negative integer below 2^53) as a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes protobuf fields into a growing buffer; `finish()` returns the bytes. */
export class ProtoWriter {
  private buf: Buffer;
  private pos = 0;

  constructor(initialBytes = 16 * 1024) {
    this.buf = Buffer.allocUnsafe(initialBytes);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private rawVarint(n: number): void {
    this.ensure(10);
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  private tag(field: number, wire: number): void {
    this.rawVarint(field * 8 + wire);
  }

  /** A varint field (uint32, int64 and enums, non-negative, below 2^53). */
  uint(field: number, n: number): void {
    this.tag(field, VARINT);
    this.rawVarint(n);
  }

  /** A bool field. */
  bool(field: number, b: boolean): void {
    this.uint(field, b ? 1 : 0);
  }

  /** A string field, UTF-8. */
  string(field: number, s: string): void {
    // Short ASCII strings (attribute keys, most values) byte by byte: a native write per
    // string costs more than the string (a profile of a 512-span batch).
    if (s.length < SHORT_STRING) {
      this.tag(field, LEN);
      this.ensure(s.length + 1);
      const buf = this.buf;
      const start = this.pos;
      let at = start + 1;
      let i = 0;
      for (; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[at++] = c;
      }
      if (i === s.length) {
        buf[start] = s.length;
        this.pos = at;
        return;
      }
      // Not ASCII: written the general way below, over what was started (the tag stays).
      const len = Buffer.byteLength(s, 'utf8');
      this.pos = start;
      this.rawVarint(len);
      this.ensure(len);
      this.pos += this.buf.write(s, this.pos, len, 'utf8');
      return;
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.tag(field, LEN);
    this.rawVarint(len);
    this.ensure(len);
    this.pos += this.buf.write(s, this.pos, len, 'utf8');
  }

  /** A bytes field given as lowercase hex (trace and span ids, 8 or 16 bytes). */
  hexBytes(field: number, hex: string): void {
    const len = hex.length >>> 1;
    this.tag(field, LEN);
    this.rawVarint(len);
    this.ensure(len);
    const buf = this.buf;
    for (let i = 0; i < len; i++) buf[this.pos + i] = (nibble(hex.charCodeAt(2 * i)) << 4) | nibble(hex.charCodeAt(2 * i + 1));
    this.pos += len;
  }

  /** A fixed64 field. */
  fixed64(field: number, n: bigint): void {
    this.tag(field, FIXED64);
    this.ensure(8);
    this.buf.writeBigUInt64LE(n, this.pos);
    this.pos += 8;
  }

  /** A fixed32 field. */
  fixed32(field: number, n: number): void {
    this.tag(field, FIXED32);
    this.ensure(4);
    this.buf.writeUInt32LE(n >>> 0, this.pos);
    this.pos += 4;
  }

  /** A double field. */
  double(field: number, n: number): void {
    this.tag(field, FIXED64);
    this.ensure(8);
    this.buf.writeDoubleLE(n, this.pos);
    this.pos += 8;
  }

  /** Starts a nested message in `field`; returns the mark {@link end} takes. */
  begin(field: number): number {
    this.tag(field, LEN);
    this.ensure(1);
    const mark = this.pos;
    this.pos += 1;
    return mark;
  }

  /** Ends the nested message begun at `mark`: writes its length in front of it. */
  end(mark: number): void {
    const len = this.pos - mark - 1;
    const size = varintSize(len);
    if (size > 1) {
      this.ensure(size - 1);
      this.buf.copyWithin(mark + size, mark + 1, this.pos);
      this.pos += size - 1;
    }
    let n = len;
    let at = mark;
    while (n >= 0x80) {
      this.buf[at++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[at] = n;
  }

  /** The bytes written (a view of the writer's buffer). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}
