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
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { ConnectionTable } from '../src/agent/connection-table.js';
import { IdentityManager, type CertificateSigner } from '../src/agent/identity-manager.js';
import { InboundProxy } from '../src/agent/inbound.js';
import { TunnelPool } from '../src/agent/tunnel-client.js';
import { TunnelServer } from '../src/agent/tunnel-server.js';
import { WorkloadIndex } from '../src/agent/workload-index.js';
import { CertificateAuthority } from '../src/ca/authority.js';

const args = new Map<string, string>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), process.argv[i + 1] as string);
const MB = Number(args.get('mb') ?? 512);
setTimeout(() => process.exit(3), 120_000).unref();

const logger = pino({ level: 'silent' });
const TD = 'cluster.local';
const SERVER = `spiffe://${TD}/ns/b/sa/server`;
const CLIENT = `spiffe://${TD}/ns/a/sa/client`;

const dir = mkdtempSync(join(tmpdir(), 'meshlet-tput-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
const signer: CertificateSigner = { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };

let received = 0;
const sink = net.createServer({ allowHalfOpen: true }, (s) => {
  s.on('data', (c: Buffer) => (received += c.length));
  s.on('end', () => s.end());
});
sink.listen(0, '127.0.0.1');
await once(sink, 'listening');
const workload = {
  uid: 'Pod/b/server', kind: 'Pod' as const, name: 'server', namespace: 'b', addresses: ['127.0.0.1'], node: 'n', nodeAddress: '127.0.0.1',
  serviceAccount: 'server', identity: SERVER, labels: {}, tlsMode: 'STRICT' as const, namedPorts: [],
};
const index = new WorkloadIndex({ version: '1', node: 'n', nodeAddress: '127.0.0.1', trustDomain: TD, localWorkloads: [workload], workloads: [workload], services: [] });
const serverIds = new IdentityManager({ signer, logger });
await serverIds.reconcile(new Set([SERVER]));
const inbound = new InboundProxy({ logger, table: new ConnectionTable(logger), index: () => index });
const tunnel = new TunnelServer({ identities: serverIds, logger, onStream: (s, r) => inbound.onTunnelStream(s, r) });
const bound = await tunnel.listen(0, '127.0.0.1');
const pool = new TunnelPool({ identities: new IdentityManager({ signer, logger }), logger, tunnelPort: bound.port });

const stream = await pool.open(CLIENT, { nodeAddress: '127.0.0.1', identity: SERVER, address: '127.0.0.1', port: (sink.address() as AddressInfo).port });
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
