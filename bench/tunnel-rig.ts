/**
 * The in-process tunnel the `tunnel-*` tools measure: a real CA, a TunnelServer with an
 * InboundProxy in front of a sink on 127.0.0.1 standing in for a workload, and the client
 * side's credentials. Both ends run in the calling process.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino, type Logger } from 'pino';
import { ConnectionTable } from '../src/agent/proxy/connection-table.js';
import { IdentityManager, type CertificateSigner } from '../src/agent/identity/manager.js';
import { InboundProxy } from '../src/agent/proxy/inbound.js';
import type { TunnelTarget } from '../src/agent/proxy/tunnel/pool.js';
import { TunnelServer } from '../src/agent/proxy/tunnel/server.js';
import { WorkloadIndex } from '../src/agent/state/workload-index.js';
import { CertificateAuthority } from '../src/ca/authority.js';

const TD = 'cluster.local';
/** The identity of the sink ("server") workload. */
export const SERVER = `spiffe://${TD}/ns/b/sa/server`;
/** The identity the client side speaks as. */
export const CLIENT = `spiffe://${TD}/ns/a/sa/client`;

/** A tunnel server up on 127.0.0.1 and what a client needs to reach it. */
export interface TunnelRig {
  readonly logger: Logger;
  /** The client side's credentials, CLIENT already issued. */
  readonly clientIds: IdentityManager;
  readonly tunnelPort: number;
  /** Where a CONNECT to the sink goes. */
  readonly target: TunnelTarget;
}

/** `--name value` pairs of the command line. */
export function flags(argv: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 2; i + 1 < argv.length; i += 2) out.set((argv[i] as string).replace(/^--/, ''), argv[i + 1] as string);
  return out;
}

/** Starts the rig; `onSink` handles each connection the tunnel delivers to the sink. Cleans up at exit. */
export async function startTunnelRig(onSink: (s: net.Socket) => void): Promise<TunnelRig> {
  // A tool, not a server: it never runs longer than two minutes.
  setTimeout(() => process.exit(3), 120_000).unref();
  const logger = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-tunnel-bench-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const signer: CertificateSigner = { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const sink = net.createServer({ allowHalfOpen: true }, onSink);
  sink.listen(0, '127.0.0.1');
  await once(sink, 'listening');
  const workload = {
    uid: 'Pod/b/server', kind: 'Pod' as const, name: 'server', namespace: 'b', addresses: ['127.0.0.1'], node: 'n', nodeAddress: '127.0.0.1',
    serviceAccount: 'server', identity: SERVER, labels: {}, tlsMode: 'STRICT' as const, namedPorts: [],
  };
  const index = new WorkloadIndex({ version: '1', node: 'n', nodeAddress: '127.0.0.1', trustDomain: TD, localWorkloads: [workload], workloads: [workload], services: [] }, { allowLoopback: true });
  const serverIds = new IdentityManager({ signer, logger });
  await serverIds.reconcile(new Set([SERVER]));
  const clientIds = new IdentityManager({ signer, logger });
  await clientIds.ensure(CLIENT);
  const inbound = new InboundProxy({ logger, table: new ConnectionTable(logger), index: () => index, agentPorts: new Set() });
  const tunnel = new TunnelServer({ identities: serverIds, logger, onStream: (s, r) => inbound.onTunnelStream(s, r) });
  const bound = await tunnel.listen(0, '127.0.0.1');
  const target = { nodeAddress: '127.0.0.1', identity: SERVER, address: '127.0.0.1', port: (sink.address() as AddressInfo).port };
  return { logger, clientIds, tunnelPort: bound.port, target };
}
