/**
 * Feeding and answering an HTTP/1.x stream outside Node's request/response objects, for the
 * destination agent's terminator (`inbound-terminate.ts`): a Buffer-writing adapter for streams
 * that are not sockets, a raw refusal, and the replayed head of a declined h2c upgrade.
 */
import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';

/**
 * A Duplex in front of a stream that is not a socket (a tunnel `ServerHttp2Stream`), for Node's
 * HTTP/1 server, which writes its response heads as strings: Node 20 corrupts string writes to
 * an Http2Stream that are queued behind others (pipelined responses arrive with 16 bytes of
 * freed memory in place of `HTTP/1.1 403 For`; the test of pipelining inside a CONNECT stream
 * shows it). This adapter takes strings as Buffers (`decodeStrings`) and passes Buffers on,
 * with backpressure both ways, half-close, and the stream's `setTimeout` (keep-alive idle).
 */
export function bufferWrites(stream: Duplex): Duplex {
  const adapter = new Duplex({
    allowHalfOpen: true,
    read: () => void stream.resume(),
    write: (chunk: Buffer, _enc, cb) => void stream.write(chunk, cb),
    final: (cb) => {
      stream.end();
      cb();
    },
    destroy: (err, cb) => {
      if (!stream.destroyed) stream.destroy(err ?? undefined);
      cb(err);
    },
  });
  adapter.on('error', noop);
  stream.on('data', (chunk: Buffer) => {
    if (!adapter.push(chunk)) stream.pause();
  });
  stream.once('end', () => adapter.push(null));
  stream.once('close', () => adapter.destroy());
  const timed = stream as Duplex & { setTimeout?: (ms: number) => unknown };
  if (typeof timed.setTimeout === 'function') {
    Object.assign(adapter, {
      setTimeout: (ms: number): Duplex => {
        timed.setTimeout?.(ms);
        return adapter;
      },
    });
    stream.on('timeout', () => adapter.emit('timeout'));
  }
  return adapter;
}

/** A raw HTTP/1.1 answer with no body, then the end of the stream. */
export function refuseH1(stream: Duplex, status: string): void {
  if (stream.writable) stream.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  else stream.destroy();
}

/** Headers that made a request an h2c upgrade: the replayed request is a plain HTTP/1.1 one. */
const UPGRADE_ONLY: ReadonlySet<string> = new Set(['connection', 'upgrade', 'http2-settings']);

/**
 * The request head of a declined h2c upgrade as bytes, to parse again as a plain request: its
 * own raw headers minus `Connection`, `Upgrade` and `HTTP2-Settings`. Not `endToEnd`: the body's
 * framing (`Transfer-Encoding`) must stay, or the body bytes that follow would be read as the
 * next request.
 */
export function upgradeReplay(req: Pick<IncomingMessage, 'method' | 'url' | 'httpVersion' | 'rawHeaders'>): Buffer {
  let text = `${req.method ?? 'GET'} ${req.url ?? '/'} HTTP/${req.httpVersion === '1.0' ? '1.0' : '1.1'}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (!UPGRADE_ONLY.has(name.toLowerCase())) text += `${name}: ${raw[i + 1] as string}\r\n`;
  }
  return Buffer.from(`${text}\r\n`, 'latin1');
}

function noop(): void {}
