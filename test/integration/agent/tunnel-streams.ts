/** What the in-process tunnel tests share: a backend that digests what it got, and CONNECT stream helpers. */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import type net from 'node:net';

/** Reads to EOF, then answers `{"n":<bytes>,"sha256":...}` and half-closes. */
export function digestBackend(sock: net.Socket): void {
  const h = createHash('sha256');
  let n = 0;
  sock.on('data', (c: Buffer) => {
    h.update(c);
    n += c.length;
  });
  sock.on('end', () => sock.end(JSON.stringify({ n, sha256: h.digest('hex') })));
  sock.on('error', () => undefined);
}

/** The CONNECT status. */
export function status(stream: ClientHttp2Stream): Promise<number> {
  return new Promise((resolve, reject) => {
    stream.once('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => resolve(h[':status'] ?? 0));
    stream.once('error', reject);
  });
}

/** Everything the stream yields until its end. */
export function readAll(stream: ClientHttp2Stream): Promise<string> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return once(stream, 'end').then(() => Buffer.concat(chunks).toString());
}
