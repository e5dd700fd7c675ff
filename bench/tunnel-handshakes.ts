/**
 * Tunnel session set-up cost, in-process on 127.0.0.1: opens N tunnel sessions one after the
 * other (each: TLS 1.3 handshake with client certificates + HTTP/2 + one CONNECT round trip,
 * then close), with TLS session resumption on (the default) or off (`--tickets 0`), and prints
 * sessions per second, CPU per session and how many resumed.
 *
 *   node dist/bench/tunnel-handshakes.js [--sessions 300] [--tickets 0]
 *
 * Both ends run in this one process, so CPU per session is the client's plus the server's.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
const SESSIONS = Math.min(10_000, Math.max(1, Number(args.get('sessions') ?? 300)));
const TICKETS = Number(args.get('tickets') ?? 4096);
setTimeout(() => process.exit(3), 120_000).unref();

const logger = pino({ level: 'silent' });
const TD = 'cluster.local';
const SERVER = `spiffe://${TD}/ns/b/sa/server`;
const CLIENT = `spiffe://${TD}/ns/a/sa/client`;
const dir = mkdtempSync(join(tmpdir(), 'meshlet-hs-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
const signer: CertificateSigner = { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };

const sink = net.createServer({ allowHalfOpen: true }, (s) => {
  s.resume();
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
const clientIds = new IdentityManager({ signer, logger });
await clientIds.ensure(CLIENT);
const inbound = new InboundProxy({ logger, table: new ConnectionTable(logger), index: () => index });
const tunnel = new TunnelServer({ identities: serverIds, logger, onStream: (s, r) => inbound.onTunnelStream(s, r) });
const bound = await tunnel.listen(0, '127.0.0.1');
let resumed = 0;
let handshakes = 0;
const pool = new TunnelPool({ identities: clientIds, logger, tunnelPort: bound.port, maxTickets: TICKETS, onHandshake: (r) => void ((resumed += r ? 1 : 0), (handshakes += 1)) });
const target = { nodeAddress: '127.0.0.1', identity: SERVER, address: '127.0.0.1', port: (sink.address() as AddressInfo).port };

const cpu0 = process.cpuUsage();
const started = performance.now();
for (let i = 0; i < SESSIONS; i += 1) {
  const stream = await pool.open(CLIENT, target);
  await once(stream, 'response');
  // Taken now: a closed stream no longer knows its session.
  const session = stream.session;
  stream.end();
  stream.resume();
  await once(stream, 'close');
  session?.close();
  if (session !== undefined && !session.closed) await once(session, 'close');
}
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    sessions: SESSIONS,
    tickets: TICKETS > 0,
    handshakes,
    resumed,
    perSecond: Math.round(SESSIONS / seconds),
    cpuMsPerSession: Number(((cpu.user + cpu.system) / 1000 / SESSIONS).toFixed(3)),
  }),
);
process.exit(0);
