/**
 * An in-process tunnel server for the limit tests: a TunnelServer + InboundProxy on
 * 127.0.0.1:0 with the limits the test asks for, a backend that digests or never reads, the
 * limit counts and the warn lines it logged, and raw HTTP/2 clients with certificates issued
 * here (of any lifetime).
 */
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls, { type SecureContext } from 'node:tls';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { ConnectionTable } from '../../../src/agent/proxy/connection-table.js';
import { IdentityManager, type CertificateSigner, type IdentityCredentials } from '../../../src/agent/identity/manager.js';
import { sniForIdentity } from '../../../src/agent/identity/sni.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import type { TunnelLimitReason, TunnelServerLimits } from '../../../src/agent/proxy/tunnel/limits.js';
import { TunnelPool, type TunnelPoolOptions } from '../../../src/agent/proxy/tunnel/pool.js';
import { TunnelServer } from '../../../src/agent/proxy/tunnel/server.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { certificateInfo, createCsr } from '../../../src/mesh/x509.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { digestBackend } from './tunnel-streams.js';

export const TD = 'cluster.local';
export const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
export const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;

const silent = pino({ level: 'silent' });

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** What the backend does with a connection. */
export type BackendMode = 'digest' | 'stall';

export interface LimitsRig {
  readonly tunnel: TunnelServer;
  readonly tunnelPort: number;
  readonly backendPort: number;
  /** Connections the backend accepted so far (each one an upstream socket the agent opened). */
  readonly backend: { accepted: number; readonly open: Set<net.Socket> };
  readonly table: ConnectionTable;
  readonly limitCounts: Map<TunnelLimitReason, number>;
  /** Log lines at warn or above, parsed. */
  readonly warnings: Array<Record<string, unknown>>;
  readonly ca: CertificateAuthority;
  /** Credentials for `identity`, with a certificate valid for `ttlSeconds`. */
  issue(identity: string, ttlSeconds?: number): IdentityCredentials;
  /** A raw HTTP/2 session to the tunnel port as the holder of `creds`. */
  connect(creds: IdentityCredentials, opts?: { localAddress?: string; peerMaxConcurrentStreams?: number; port?: number }): ClientHttp2Session;
  /** A CONNECT stream to the backend on `session`. */
  connectStream(session: ClientHttp2Session): ClientHttp2Stream;
  /** A pool (node A's client side) towards this server. */
  pool(opts?: Partial<TunnelPoolOptions>): TunnelPool;
  readonly clientIds: IdentityManager;
}

function signerFor(ca: CertificateAuthority): CertificateSigner {
  return { sign: async (csrPem, identity) => ({ chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
}

function serverWorkload(address: string): WorkloadInfo {
  return {
    uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: [address], node: 'nodeb',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

/** The server under test, torn down with `t`. */
export async function limitsRig(t: Teardown, limits: Partial<TunnelServerLimits>, mode: BackendMode = 'digest'): Promise<LimitsRig> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-limits-'));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger: silent });
  const backendState = { accepted: 0, open: new Set<net.Socket>() };
  const backend = net.createServer({ allowHalfOpen: true }, (sock) => {
    backendState.accepted += 1;
    backendState.open.add(sock);
    sock.on('close', () => backendState.open.delete(sock));
    sock.on('error', () => undefined);
    // 'stall': the workload never reads (its socket stays paused; the kernel buffers fill).
    if (mode === 'digest') digestBackend(sock);
    else sock.pause();
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const backendPort = (backend.address() as AddressInfo).port;
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [serverWorkload('127.0.0.1')], workloads: [serverWorkload('127.0.0.1')], services: [],
  };
  // Workloads on 127.0.0.1: only in-process tests accept loopback workload addresses.
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  const serverIds = new IdentityManager({ signer: signerFor(ca), logger: silent });
  await serverIds.reconcile(new Set([SERVER_ID]));
  const table = new ConnectionTable(silent);
  const warnings: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line) as Record<string, unknown>) });
  const limitCounts = new Map<TunnelLimitReason, number>();
  // The tunnel port is the agent's own: the inbound side must never dial it.
  const agentPorts = new Set<number>();
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts });
  const tunnel = new TunnelServer({
    identities: serverIds,
    logger,
    onStream: (s, r) => inbound.onTunnelStream(s, r),
    onLimit: (reason) => void limitCounts.set(reason, (limitCounts.get(reason) ?? 0) + 1),
    limits,
  });
  const tunnelPort = (await tunnel.listen(0, '127.0.0.1')).port;
  agentPorts.add(tunnelPort);
  const clientIds = new IdentityManager({ signer: signerFor(ca), logger: silent });
  const sessions = new Set<ClientHttp2Session>();
  const pools = new Set<TunnelPool>();
  t.teardown(() => {
    for (const p of pools) p.destroy();
    for (const s of sessions) s.destroy();
    tunnel.destroy();
    for (const s of backendState.open) s.destroy();
    backend.close();
    serverIds.close();
    clientIds.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const issue = (identity: string, ttlSeconds?: number): IdentityCredentials => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
    const chainPem = ca.sign(createCsr({ identity, privateKeyPem: privateKey }), { identity, ttlSeconds }).chainPem;
    const info = certificateInfo(chainPem);
    const secureContext: SecureContext = tls.createSecureContext({ key: privateKey, cert: chainPem, ca: ca.trustBundlePem });
    return { identity, chainPem, trustBundlePem: ca.trustBundlePem, serial: info.serial, notBefore: info.notBefore, notAfter: info.notAfter, secureContext, sni: sniForIdentity(identity) };
  };
  return {
    tunnel,
    tunnelPort,
    backendPort,
    backend: backendState,
    table,
    limitCounts,
    warnings,
    ca,
    clientIds,
    issue,
    connect(creds, opts = {}) {
      const session = http2.connect(`https://127.0.0.1:${opts.port ?? tunnelPort}`, {
        peerMaxConcurrentStreams: opts.peerMaxConcurrentStreams ?? 100,
        createConnection: () =>
          tls.connect({
            host: '127.0.0.1',
            port: opts.port ?? tunnelPort,
            ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
            servername: sniForIdentity(SERVER_ID),
            secureContext: creds.secureContext,
            ALPNProtocols: ['h2'],
            rejectUnauthorized: true,
            checkServerIdentity: () => undefined,
          }),
      });
      session.on('error', () => undefined);
      sessions.add(session);
      return session;
    },
    connectStream(session) {
      const s = session.request({ ':method': 'CONNECT', ':authority': `127.0.0.1:${backendPort}` }, { endStream: false });
      s.on('error', () => undefined);
      return s;
    },
    pool(opts = {}) {
      const p = new TunnelPool({ identities: clientIds, logger: silent, tunnelPort, ...opts });
      pools.add(p);
      return p;
    },
  };
}

/** How a CONNECT stream ended up: its status, or the RST code it was closed with. */
export function outcome(stream: ClientHttp2Stream): Promise<{ status?: number; rstCode?: number }> {
  return new Promise((resolve) => {
    stream.once('response', (h) => resolve({ status: Number(h[':status']) }));
    stream.once('close', () => resolve({ rstCode: stream.rstCode ?? -1 }));
  });
}

/** Resolves when `cond()` holds, checking on every `everyMs`; rejects after `withinMs` with `what`. */
export async function until(cond: () => boolean, what: string, withinMs = 60_000, everyMs = 20): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
