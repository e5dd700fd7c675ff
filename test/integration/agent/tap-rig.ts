/**
 * A running agent for the tap tests, on 127.0.0.1 (port 0 everywhere, no root): a client
 * workload (127.0.0.2) and a server workload (127.0.0.1) on this node, an HTTP Service
 * `demo/web` (127.0.0.9:80) in front of the server's HTTP backend, a TCP backend reached
 * through the tunnel by a fake peer agent (as CLIENT_ID), and the admin API with its token
 * file for the CLI. In-process, every captured connection is taken for client -> web (the
 * original destination is injected); with `workers`, only the tunnel path is available.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { ClientHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { AdminServer, type AdminServerOptions } from '../../../src/agent/admin/server.js';
import { newAdminToken, writeAdminToken } from '../../../src/agent/admin/token.js';
import { Agent } from '../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { CLIENT_ID, SERVER_ID, TD } from './admin-rig.js';
import { digestBackend } from './tunnel-streams.js';

export { CLIENT_ID, SERVER_ID };

type Teardown = { teardown(fn: () => void | Promise<void>): void };

export interface TapRig {
  agent: Agent;
  adminServer: AdminServer;
  admin: string;
  tokenFile: string;
  auth: Record<string, string>;
  /** The outbound capture port (in-process: every connection to it goes client -> demo/web). */
  outboundPort: number;
  /** The TCP backend the fake peer's CONNECT reaches. */
  backendPort: number;
  /** A CONNECT stream from the fake peer (as CLIENT_ID) to the TCP backend, on a tunnel connection of its own. */
  connect(): Promise<ClientHttp2Stream>;
}

function workload(name: string, address: string, identity: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node: 'node1',
    nodeAddress: '127.0.0.1', serviceAccount: name, identity, labels: { app: name }, tlsMode: 'STRICT', namedPorts: [],
  };
}

/** Starts the rig; everything is torn down with the test. */
export async function tapRig(t: Teardown, opts: { workers?: number; tap?: AdminServerOptions['tap'] } = {}): Promise<TapRig> {
  const logger = pino({ level: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-tap-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const signer: CertificateSigner = { sign: async (csr, identity) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const tcp = net.createServer({ allowHalfOpen: true }, digestBackend);
  tcp.listen(0, '127.0.0.1');
  const web = http.createServer((req, res) => {
    req.resume();
    res.statusCode = Number(/\/status\/(\d+)/.exec(req.url ?? '')?.[1] ?? 200);
    res.end('ok');
  });
  web.listen(0, '127.0.0.1');
  await Promise.all([once(tcp, 'listening'), once(web, 'listening')]);
  t.teardown(() => void tcp.close());
  t.teardown(() => {
    web.closeAllConnections();
    web.close();
  });
  const webPort = (web.address() as AddressInfo).port;
  const config = loadAgentConfig(
    {
      node: 'node1', config: '/unused', bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0, adminPort: 0, metricsPort: 0,
      loopbackWorkloads: true, ...(opts.workers === undefined ? {} : { workers: opts.workers }),
    },
    {},
  );
  const inProcess = (opts.workers ?? 1) <= 1;
  const agent = new Agent({
    config, logger, signer, capture: null,
    ...(inProcess ? { captured: () => ({ source: '127.0.0.2', destination: { address: '127.0.0.9', port: 80, family: 4 } }) } : {}),
  });
  t.teardown(() => agent.destroy());
  const bound = await agent.start();
  const client = workload('client', '127.0.0.2', CLIENT_ID);
  const server = workload('server', '127.0.0.1', SERVER_ID);
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [client, server], workloads: [client, server],
    services: [{
      key: 'demo/web', name: 'web', namespace: 'demo', vips: ['127.0.0.9'], ports: [{ name: 'http', port: 80, targetPort: webPort }],
      endpoints: [{ workload: server.uid, address: '127.0.0.1', node: 'node1', nodeAddress: '127.0.0.1', meshed: true, identity: SERVER_ID, targetPorts: { 80: webPort } }],
    }],
  };
  await agent.applySnapshot(snapshot);
  const token = newAdminToken();
  const tokenFile = join(dir, 'run', 'admin-token');
  await writeAdminToken(tokenFile, token);
  const adminServer = new AdminServer({ agent, logger, quit: () => undefined, token, ...(opts.tap === undefined ? {} : { tap: opts.tap }) });
  t.teardown(() => adminServer.close());
  const adminAddr = await adminServer.start(0, '127.0.0.1');
  const peerIds = new IdentityManager({ signer, logger });
  t.teardown(() => peerIds.close());
  const backendPort = (tcp.address() as AddressInfo).port;
  return {
    agent,
    adminServer,
    admin: `http://127.0.0.1:${adminAddr.port}`,
    tokenFile,
    auth: { authorization: `Bearer ${token}` },
    outboundPort: bound.outbound[0]?.port as number,
    backendPort,
    connect: async () => {
      const pool = new TunnelPool({ identities: peerIds, logger, tunnelPort: bound.tunnel.port });
      t.teardown(() => pool.destroy());
      return pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: backendPort });
    },
  };
}

/** One CONNECT through the agent: sends `payload`, reads the backend's digest to the end. */
export async function tunnelRoundTrip(rig: TapRig, payload = 'hello'): Promise<string> {
  const stream = await rig.connect();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.end(payload);
  await once(stream, 'end');
  return Buffer.concat(chunks).toString();
}

/** One HTTP request through the agent's outbound port (client -> demo/web), its status and body. */
export function request(rig: TapRig, path: string, agent?: http.Agent): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: rig.outboundPort, path, headers: { host: 'web.demo' }, ...(agent === undefined ? {} : { agent }) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/**
 * Waits until `check` holds, polling every 50 ms (for what has no event of its own). The bound
 * is generous (30 s) so that a loaded machine does not fail a test whose agent is fine.
 */
export async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}
