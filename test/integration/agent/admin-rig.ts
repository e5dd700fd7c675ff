/**
 * A running agent in-process on 127.0.0.1 (port 0 everywhere) with its admin and metrics
 * servers, a local workload (a digest backend), and a tunnel client standing in for a peer
 * node's agent. Shared by the admin and metrics integration tests.
 */
import { PACKAGE_VERSION } from '../../../src/ops/package-version.js';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { ClientHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AdminServer } from '../../../src/agent/admin/server.js';
import { newAdminToken, writeAdminToken } from '../../../src/agent/admin/token.js';
import { Agent, type CaptureDrift, type CaptureRules } from '../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import { PrometheusServer } from '../../../src/ops/prometheus-server.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { LocalHttpLimits } from '../../../src/ops/http-limits.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { digestBackend } from './tunnel-streams.js';

export const TD = 'cluster.local';
export const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
export const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;

/** Capture rules that apply nothing and report a drift the test chose. */
export class FakeCapture implements CaptureRules {
  drift: CaptureDrift = { inSync: false, detail: { ipv4: { inSync: false, missing: ['-A MESHLET_OUTPUT ...'], unexpected: [] } } };
  verifications = 0;
  /** The addresses of every apply, in order. */
  readonly applied: string[][] = [];
  async apply(addresses: readonly string[]): Promise<void> {
    this.applied.push([...addresses]);
  }
  async clean(): Promise<void> {}
  async verify(): Promise<CaptureDrift> {
    this.verifications += 1;
    return this.drift;
  }
}

export interface AdminRig {
  agent: Agent;
  capture: FakeCapture;
  admin: string;
  /** The admin server's token, and the file it is written to (mode 0600, for the CLI tests). */
  token: string;
  tokenFile: string;
  /** `{ authorization: 'Bearer <token>' }`, for fetch. */
  auth: Record<string, string>;
  metrics: string;
  backendPort: number;
  /** How often `POST /quitquitquit` reached the quit callback. */
  quits: number;
  /** Opens a CONNECT stream from the fake peer (as CLIENT_ID) to `address:port`. */
  connect(address: string, port: number): Promise<ClientHttp2Stream>;
}

function server(address: string): WorkloadInfo {
  return {
    uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: [address], node: 'node1',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** Starts the rig; everything is torn down with the test. */
export async function adminRig(t: Teardown, flags: Record<string, unknown> = {}, adminLimits: Partial<LocalHttpLimits> = {}): Promise<AdminRig> {
  const logger = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-admin-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const signer: CertificateSigner = { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const backend = net.createServer({ allowHalfOpen: true }, digestBackend);
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => void backend.close());
  const config = loadAgentConfig(
    { node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0, loopbackWorkloads: true, ...flags },
    {},
  );
  const capture = new FakeCapture();
  const agent = new Agent({ config, logger, signer, capture, driftCheckMs: 0 });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [server('127.0.0.1')], workloads: [server('127.0.0.1')], services: [],
  };
  await agent.applySnapshot(snapshot);
  const rig = { quits: 0 } as AdminRig;
  const token = newAdminToken();
  const tokenFile = join(dir, 'run', 'admin-token');
  await writeAdminToken(tokenFile, token);
  const admin = new AdminServer({ agent, logger, quit: () => (rig.quits += 1), token, limits: adminLimits, source: { agentVersion: PACKAGE_VERSION } });
  const metrics = new PrometheusServer(agent.metrics.registry, logger);
  t.teardown(() => admin.close());
  t.teardown(() => metrics.close());
  const adminAddr = await admin.start(config.ports.admin, config.adminAddress);
  const metricsAddr = await metrics.start(config.ports.metrics, '127.0.0.1');
  const peerIds = new IdentityManager({ signer, logger });
  const pool = new TunnelPool({ identities: peerIds, logger, tunnelPort: bound.tunnel.port });
  t.teardown(() => {
    pool.destroy();
    peerIds.close();
  });
  return Object.assign(rig, {
    agent,
    capture,
    admin: `http://127.0.0.1:${adminAddr.port}`,
    token,
    tokenFile,
    auth: { authorization: `Bearer ${token}` },
    metrics: `http://127.0.0.1:${metricsAddr.port}/metrics`,
    backendPort: (backend.address() as AddressInfo).port,
    connect: (address: string, port: number) => pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address, port }),
  });
}

/** Waits (bounded: 2 s) until the agent has no live connection, so every close is counted. */
export async function idle(agent: Agent): Promise<void> {
  const table = agent.connections;
  if (table === undefined) throw new Error('idle(): the rig runs the data path in the agent process');
  if (!(await table.waitIdle(2_000))) throw new Error(`still ${table.size} live connections`);
}

export { readAll, status } from './tunnel-streams.js';
