/**
 * A tiny TCP client that tests run inside pods:
 * `node tcp-client.js --host H --port P [--bytes N] [--mode sink|echo] [--timeout-ms T]`.
 *
 * It sends N bytes (a deterministic pattern), half-closes, and checks the answer: in `sink`
 * mode the server's JSON line must carry the same byte count and SHA-256, in `echo` mode the
 * bytes that come back must hash the same. It prints one JSON line
 * `{"ok":true|false,"bytesSent":N,"sha256":"...","connectMs":N,"totalMs":N,"server":{...},"error":{code,message}}`
 * and exits 0 when ok, 1 otherwise. The whole run is bounded by `--timeout-ms` (default 5 s).
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    port: { type: 'string', default: '8080' },
    bytes: { type: 'string', default: '65536' },
    mode: { type: 'string', default: 'sink' },
    'timeout-ms': { type: 'string', default: '5000' },
  },
});
const total = Number(values.bytes);
const mode = values.mode === 'echo' ? 'echo' : 'sink';
const started = Date.now();

/** 64 KiB of a fixed pattern, sent as often as needed: the same N bytes every run. */
const CHUNK = Buffer.alloc(65536, 0);
for (let i = 0; i < CHUNK.length; i++) CHUNK[i] = (i * 31 + 7) & 255;

function finish(result: Record<string, unknown>, ok: boolean): never {
  process.stdout.write(`${JSON.stringify({ ok, totalMs: Date.now() - started, ...result })}\n`);
  process.exit(ok ? 0 : 1);
}

if (values.host === undefined) finish({ error: { code: 'USAGE', message: '--host is required' } }, false);

const sent = createHash('sha256');
const received = createHash('sha256');
let receivedBytes = 0;
let reply = '';
let connectMs = -1;

const timer = setTimeout(() => finish({ connectMs, error: { code: 'ETIMEDOUT', message: `no result after ${values['timeout-ms']} ms` } }, false), Number(values['timeout-ms']));
timer.unref();

const socket = connect({ host: values.host ?? '', port: Number(values.port), allowHalfOpen: true });
socket.on('connect', () => {
  connectMs = Date.now() - started;
  let left = total;
  const writeMore = (): void => {
    while (left > 0) {
      const chunk = CHUNK.subarray(0, Math.min(left, CHUNK.length));
      left -= chunk.length;
      sent.update(chunk);
      if (!socket.write(chunk)) return void socket.once('drain', writeMore);
    }
    socket.end();
  };
  writeMore();
});
socket.on('data', (chunk: Buffer) => {
  if (mode === 'echo') {
    receivedBytes += chunk.length;
    received.update(chunk);
  } else reply += chunk.toString('utf8');
});
socket.on('error', (err: NodeJS.ErrnoException) => finish({ connectMs, error: { code: err.code, message: err.message } }, false));
socket.on('end', () => {
  const sha256 = sent.digest('hex');
  if (mode === 'echo') {
    const echoed = received.digest('hex');
    finish({ connectMs, bytesSent: total, sha256, bytesReceived: receivedBytes, echoedSha256: echoed }, echoed === sha256 && receivedBytes === total);
  }
  try {
    const server = JSON.parse(reply) as { bytes?: unknown; sha256?: unknown };
    finish({ connectMs, bytesSent: total, sha256, server }, server.bytes === total && server.sha256 === sha256);
  } catch {
    finish({ connectMs, bytesSent: total, sha256, error: { code: 'BAD_REPLY', message: `server replied ${JSON.stringify(reply.slice(0, 200))}` } }, false);
  }
});
