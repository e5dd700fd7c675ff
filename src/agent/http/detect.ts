/**
 * Protocol detection over the first bytes of a captured connection: pure, no I/O (the socket
 * side is `sniff.ts`). It answers as early as the bytes allow: `'need-more'` while the bytes
 * are still a prefix of something we recognise, a final answer as soon as they are not.
 *
 * What is recognised (everything else is `'opaque'` and keeps today's byte splice):
 * - `'http1'`: a complete HTTP/1.x request line, `METHOD SP request-target SP HTTP/1.0|1.1 CRLF`.
 *   The whole line up to CRLF is required (not only `GET /`), because the next consumer is
 *   Node's HTTP parser, which answers 400 to anything else: a text protocol that merely starts
 *   like HTTP (Redis inline `GET /key`, a bespoke `POST x`) must stay opaque, not be broken.
 *   Clients write the request line in one go, so waiting for its end costs no time.
 * - `'h2'`: the HTTP/2 client connection preface (RFC 9113 §3.4), all 24 bytes.
 * - `'tls'`: a TLS handshake record header (0x16 0x03 0x00..0x04): HTTPS from the application.
 *   The agent does not terminate the application's TLS; the caller splices it like opaque bytes.
 */

/** The answer for a byte prefix. */
export type Detected = 'http1' | 'h2' | 'tls' | 'opaque' | 'need-more';

/**
 * How many bytes detection looks at before it gives up and answers `'opaque'`: the longest
 * request line it will wait for. 8 KiB is what nginx (`large_client_header_buffers 8k`) and
 * Apache (`LimitRequestLine 8190`) accept, and half of Node's 16 KiB header limit, so a
 * request line Node would accept is almost always seen whole; a longer one still works, as
 * opaque TCP (no L7 features), never as an error.
 */
export const DEFAULT_SNIFF_MAX_BYTES = 8 * 1024;

/** The HTTP/2 client connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * Methods detection accepts: exactly the methods Node's HTTP parser (llhttp) accepts for a
 * request, which is the consumer of a detected connection (a unit test pins this list against
 * `http.METHODS`). A list, not "any RFC 9110 token": (1) a token that llhttp does not know
 * would be answered 400 by Node, breaking a connection that opaque TCP would have carried;
 * (2) a list decides at the first byte that cannot start a method (`GX` is opaque at once),
 * so non-HTTP protocols are released without waiting. It covers the IANA-registered methods
 * in common use (RFC 9110's eight, PATCH, WebDAV, CalDAV, QUERY) and PURGE. `PRI` is not here:
 * it is the HTTP/2 preface. Methods are case-sensitive (RFC 9110 §9.1): memcached's `get k`
 * stays opaque.
 */
export const HTTP1_METHODS: readonly string[] = Object.freeze([
  'ACL', 'BIND', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET', 'HEAD', 'LINK', 'LOCK',
  'M-SEARCH', 'MERGE', 'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MOVE', 'NOTIFY', 'OPTIONS',
  'PATCH', 'POST', 'PROPFIND', 'PROPPATCH', 'PURGE', 'PUT', 'QUERY', 'REBIND', 'REPORT',
  'SEARCH', 'SOURCE', 'SUBSCRIBE', 'TRACE', 'UNBIND', 'UNLINK', 'UNLOCK', 'UNSUBSCRIBE',
]);

const METHODS = HTTP1_METHODS.map((m) => Buffer.from(m, 'latin1'));
const SP = 0x20;
const CR = 0x0d;
const LF = 0x0a;
/** What follows the request-target's SP: `HTTP/1.`, a minor digit (-1 here: `0` or `1`), CRLF. */
const VERSION_TAIL: readonly number[] = [...Buffer.from('HTTP/1.', 'latin1'), -1, CR, LF];

/** TLS record header: content type handshake (22), then major version 3. */
const TLS_HANDSHAKE = 0x16;
const TLS_MAJOR = 0x03;
/** Highest record-layer minor version seen in a ClientHello (SSL 3.0 = 0 .. TLS 1.3 = 4). */
const TLS_MAX_MINOR = 0x04;

/**
 * Classifies the first bytes of a connection. Pure; call it again with more bytes while it
 * answers `'need-more'`. Once `bytes` reaches `maxBytes` without a decision, the answer is
 * `'opaque'` (the bound on what detection buffers).
 */
export function classify(bytes: Buffer, maxBytes: number = DEFAULT_SNIFF_MAX_BYTES): Detected {
  if (bytes.length === 0) return 'need-more';
  const tls = classifyTls(bytes);
  if (tls !== 'opaque') return tls;
  const h2 = classifyH2(bytes);
  if (h2 === 'h2') return h2;
  const h1 = classifyHttp1(bytes);
  if (h1 === 'http1') return h1;
  if (h1 === 'opaque' && h2 === 'opaque') return 'opaque';
  return bytes.length >= maxBytes ? 'opaque' : 'need-more';
}

function classifyTls(b: Buffer): Detected {
  if (b[0] !== TLS_HANDSHAKE) return 'opaque';
  if (b.length < 2) return 'need-more';
  if (b[1] !== TLS_MAJOR) return 'opaque';
  if (b.length < 3) return 'need-more';
  return (b[2] as number) <= TLS_MAX_MINOR ? 'tls' : 'opaque';
}

function classifyH2(b: Buffer): Detected {
  const n = Math.min(b.length, H2_PREFACE.length);
  if (b.compare(H2_PREFACE, 0, n, 0, n) !== 0) return 'opaque';
  return n === H2_PREFACE.length ? 'h2' : 'need-more';
}

/** The request line grammar, one byte at a time; `'need-more'` when the bytes end inside it. */
function classifyHttp1(b: Buffer): Detected {
  const method = methodEnd(b);
  if (method === 'opaque' || method === 'need-more') return method;
  // b[method] is the SP after the method; the request-target follows: 1+ non-space, non-control bytes.
  let i = method + 1;
  const targetStart = i;
  for (; i < b.length; i++) {
    const c = b[i] as number;
    if (c === SP) break;
    if (c < 0x21 || c === 0x7f) return 'opaque';
  }
  if (i >= b.length) return 'need-more';
  if (i === targetStart) return 'opaque';
  return versionAndEnd(b, i + 1);
}

/**
 * Index of the SP that ends a known method, `'need-more'` while `b` is a prefix of one, or
 * `'opaque'`. Methods that are prefixes of others (`LINK`/`UNLINK` are not, `M-SEARCH` is not)
 * are fine: the SP decides.
 */
function methodEnd(b: Buffer): number | 'need-more' | 'opaque' {
  let prefix = false;
  for (const m of METHODS) {
    const n = Math.min(b.length, m.length);
    if (b.compare(m, 0, n, 0, n) !== 0) continue;
    if (b.length <= m.length) {
      prefix = true;
      continue;
    }
    if (b[m.length] === SP) return m.length;
  }
  return prefix ? 'need-more' : 'opaque';
}

/** ` HTTP/1.0\r\n` or ` HTTP/1.1\r\n` from `at` (the byte after the target's SP). */
function versionAndEnd(b: Buffer, at: number): Detected {
  for (let k = 0; k < VERSION_TAIL.length; k++) {
    const c = b[at + k];
    if (c === undefined) return 'need-more';
    const want = VERSION_TAIL[k] as number;
    if (want === -1 ? c !== 0x30 && c !== 0x31 : c !== want) return 'opaque';
  }
  return 'http1';
}
