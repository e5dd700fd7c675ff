/**
 * One tunnel stream's bulk throughput, in-process on 127.0.0.1: TunnelPool -> TunnelServer ->
 * InboundProxy -> a sink, with real certificates. Isolates the tunnel's own cost (TLS, HTTP/2
 * framing, splicing) from the lab's veths and capture.
 *
 *   node dist/bench/tunnel-throughput.js [--mb 512]
 *
 * Prints one JSON line: MB/s and the negotiated cipher. Compare two settings as whole
 * processes over several runs (hyperfine, or /usr/bin/time in a loop), never one run.
 */
import { once } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { TunnelPool } from '../src/agent/proxy/tunnel/pool.js';
import { CLIENT, flags, startTunnelRig } from './tunnel-rig.js';

const MB = Number(flags(process.argv).get('mb') ?? 512);

let received = 0;
const rig = await startTunnelRig((s) => {
  s.on('data', (c: Buffer) => (received += c.length));
  s.on('end', () => s.end());
});
const pool = new TunnelPool({ identities: rig.clientIds, logger: rig.logger, tunnelPort: rig.tunnelPort });

const stream = await pool.open(CLIENT, rig.target);
await once(stream, 'response');
const chunk = Buffer.alloc(64 * 1024, 7);
const total = MB * 1024 * 1024;
const started = performance.now();
let sent = 0;
await new Promise<void>((resolve) => {
  const pump = (): void => {
    while (sent < total) {
      sent += chunk.length;
      if (!stream.write(chunk)) {
        stream.once('drain', pump);
        return;
      }
    }
    stream.end();
    resolve();
  };
  pump();
});
while (received < total) await new Promise((r) => setTimeout(r, 1));
const seconds = (performance.now() - started) / 1000;
const cipher = (stream.session?.socket as TLSSocket | undefined)?.getCipher?.().standardName ?? 'unknown';
console.log(JSON.stringify({ mb: MB, seconds: Number(seconds.toFixed(3)), mbPerSecond: Math.round(MB / seconds), cipher }));
process.exit(0);
