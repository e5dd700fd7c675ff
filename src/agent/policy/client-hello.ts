/**
 * The server name (SNI) of a TLS ClientHello, read from a connection's first bytes, pure: what
 * authorization's `connection.sni` conditions compare (RFC 8446 4.1.2 and RFC 6066 3). Only the
 * first TLS record is read: a ClientHello fits in one (at most 16 KiB) unless a client splits
 * it, and a split one counts as no server name, as for any client that sends none.
 */

/** The bytes a ClientHello record may take: the 5-byte record header and a 16 KiB fragment. */
export const MAX_CLIENT_HELLO_BYTES = 5 + 16_384;

/** What the first bytes say. */
export type ClientHelloSni =
  /** A ClientHello with a `host_name` server name. */
  | { readonly state: 'sni'; readonly name: string }
  /** Not TLS, no server_name extension, or a malformed or split ClientHello. */
  | { readonly state: 'none' }
  /** A ClientHello record has started and is not complete yet: read more. */
  | { readonly state: 'incomplete' };

const NONE: ClientHelloSni = Object.freeze({ state: 'none' });
const INCOMPLETE: ClientHelloSni = Object.freeze({ state: 'incomplete' });

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
/** A DNS name: at most 253 characters of letters, digits, `-`, `_` and dots. */
const HOST_NAME = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?$/;

/** The server name in `bytes`, the first bytes a client sent (see {@link ClientHelloSni}). */
export function clientHelloSni(bytes: Buffer): ClientHelloSni {
  if (bytes.length === 0) return INCOMPLETE;
  if (bytes[0] !== RECORD_HANDSHAKE) return NONE;
  if (bytes.length < 5) return INCOMPLETE;
  if (bytes[1] !== 3) return NONE;
  const recordLength = bytes.readUInt16BE(3);
  if (recordLength === 0 || recordLength > 16_384) return NONE;
  if (bytes.length < 5 + recordLength) return INCOMPLETE;
  return sniOfHandshake(bytes.subarray(5, 5 + recordLength));
}

/** The server name of a ClientHello handshake message (whole, in one record). */
function sniOfHandshake(h: Buffer): ClientHelloSni {
  if (h.length < 4 || h[0] !== HANDSHAKE_CLIENT_HELLO) return NONE;
  const length = (h[1] as number) * 65536 + h.readUInt16BE(2);
  if (length > h.length - 4) return NONE; // split over records
  const r = new Reader(h.subarray(4, 4 + length));
  // legacy_version (2), random (32), legacy_session_id <0..32>, cipher_suites <2..2^16-2>,
  // legacy_compression_methods <1..2^8-1>, then extensions <8..2^16-1>.
  if (!r.skip(34) || !r.skipVector(1) || !r.skipVector(2) || !r.skipVector(1)) return NONE;
  const extensions = r.vector(2);
  if (extensions === undefined) return NONE;
  while (extensions.left > 0) {
    const type = extensions.u16();
    const body = extensions.vector(2);
    if (type === undefined || body === undefined) return NONE;
    if (type === EXT_SERVER_NAME) return serverName(body);
  }
  return NONE;
}

/** The `host_name` entry of a server_name extension body. */
function serverName(body: Reader): ClientHelloSni {
  const list = body.vector(2);
  if (list === undefined) return NONE;
  while (list.left > 0) {
    const type = list.u8();
    const name = list.vector(2);
    if (type === undefined || name === undefined) return NONE;
    if (type !== NAME_TYPE_HOST) continue;
    const text = name.rest().toString('latin1');
    // RFC 6066: no trailing dot; compared case-insensitively, so kept lowercase.
    return HOST_NAME.test(text) ? { state: 'sni', name: text.toLowerCase() } : NONE;
  }
  return NONE;
}

/** A bounds-checked cursor over a buffer: every read says undefined past the end. */
class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}

  get left(): number {
    return this.b.length - this.at;
  }

  skip(n: number): boolean {
    if (this.left < n) return false;
    this.at += n;
    return true;
  }

  u8(): number | undefined {
    if (this.left < 1) return undefined;
    return this.b[this.at++];
  }

  u16(): number | undefined {
    if (this.left < 2) return undefined;
    const v = this.b.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }

  /** A vector with a `lengthBytes` (1 or 2) length prefix, as a reader of its own. */
  vector(lengthBytes: 1 | 2): Reader | undefined {
    const n = lengthBytes === 1 ? this.u8() : this.u16();
    if (n === undefined || this.left < n) return undefined;
    const v = new Reader(this.b.subarray(this.at, this.at + n));
    this.at += n;
    return v;
  }

  skipVector(lengthBytes: 1 | 2): boolean {
    return this.vector(lengthBytes) !== undefined;
  }

  rest(): Buffer {
    return this.b.subarray(this.at);
  }
}
