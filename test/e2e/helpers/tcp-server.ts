/**
 * A tiny TCP server that tests run inside pods: `node tcp-server.js --port 8080 [--mode sink]`.
 *
 * - `sink` (default): reads until the client half-closes, then answers one JSON line
 *   `{"bytes":N,"sha256":"...","remoteAddress":"...","remotePort":N}` and closes.
 * - `echo`: sends back everything it receives and closes when the client does.
 *
 * It prints JSON lines on stdout: `{"event":"listening","port":N}` once it listens, then
 * `{"event":"connection",...}` after each connection (bytes, hash, peer), so a test can check
 * what the server saw (for example the source address). It runs until killed.
 *
 * @module
 */

import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    host: { type: 'string', default: '0.0.0.0' },
    mode: { type: 'string', default: 'sink' },
  },
});
const mode = values.mode === 'echo' ? 'echo' : 'sink';

function report(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function handle(socket: Socket): void {
  const hash = createHash('sha256');
  let bytes = 0;
  const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort, localAddress: socket.localAddress, localPort: socket.localPort };
  socket.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
    if (mode === 'echo') socket.write(chunk);
  });
  socket.on('end', () => {
    const digest = hash.digest('hex');
    if (mode === 'sink') socket.end(`${JSON.stringify({ bytes, sha256: digest, ...peer })}\n`);
    else socket.end();
    report({ event: 'connection', mode, bytes, sha256: digest, ...peer });
  });
  socket.on('error', (err: NodeJS.ErrnoException) => report({ event: 'error', code: err.code, message: err.message, ...peer }));
}

const server = createServer({ allowHalfOpen: true }, handle);
server.on('error', (err: NodeJS.ErrnoException) => {
  report({ event: 'fatal', code: err.code, message: err.message });
  process.exit(1);
});
server.listen(Number(values.port), values.host, () => {
  const addr = server.address();
  report({ event: 'listening', port: typeof addr === 'object' && addr !== null ? addr.port : Number(values.port), mode });
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
