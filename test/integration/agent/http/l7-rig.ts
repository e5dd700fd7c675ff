/**
 * The destination side of L7 in-process on 127.0.0.1: a TunnelServer whose `onRequest` is an
 * InboundHttp (with HttpUpstreams), a TunnelPool as the source agent, and two workloads on the
 * same local address: an HTTP/1.1 server and an h2c server. Certificates come from the real CA.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../../src/ca/authority.js';
import { IdentityManager, type CertificateSigner } from '../../../../src/agent/identity/manager.js';
import { InboundHttp } from '../../../../src/agent/http/inbound-http.js';
import type { RequestRecord } from '../../../../src/agent/http/exchange.js';
import { HttpUpstreams, type HttpUpstreamsOptions } from '../../../../src/agent/http/upstream-pool.js';
import { TunnelPool } from '../../../../src/agent/proxy/tunnel/pool.js';
import { TunnelServer } from '../../../../src/agent/proxy/tunnel/server.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../../src/mesh/types.js';

export const TD = 'cluster.local';
export const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
export const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;

const logger = pino({ level: 'silent' });

type Teardown = { teardown(fn: () => void | Promise<void>): void };

export type H1Handler = (req: IncomingMessage, res: ServerResponse) => void;
export type H2Handler = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void;
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

function workload(address: string): WorkloadInfo {
  return {
    uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: [address], node: 'nodeb',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

export interface L7Rig {
  readonly pool: TunnelPool;
  readonly tunnel: TunnelServer;
  readonly upstreams: HttpUpstreams;
  readonly h1Port: number;
  readonly h2Port: number;
  /** TCP connections each workload accepted (keep-alive reuse shows here). */
  readonly accepted: { h1: number; h2: number };
  /** Request records, as the observer got them. */
  readonly records: RequestRecord[];
  /** Sets what the workloads answer (default: 200 `ok`). */
  onH1(handler: H1Handler): void;
  onH2(handler: H2Handler): void;
  /** What the HTTP/1.1 workload does with an Upgrade request (default: 426 and close). */
  onUpgrade(handler: UpgradeHandler): void;
  /** A port nothing listens on. */
  closedPort(): Promise<number>;
}

export async function l7Rig(t: Teardown, upstreamOpts: Partial<HttpUpstreamsOptions> = {}): Promise<L7Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-l7-'));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const signer: CertificateSigner = {
    sign: async (csrPem, identity) => ({ chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }),
  };
  let h1Handler: H1Handler = (_req, res) => res.end('ok');
  let h2Handler: H2Handler = (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok');
  };
  let upgradeHandler: UpgradeHandler = (_req, socket) => socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 4\r\nconnection: close\r\n\r\nnope');
  const accepted = { h1: 0, h2: 0 };
  const h1 = http.createServer((req, res) => h1Handler(req, res));
  h1.keepAliveTimeout = 60_000;
  h1.on('connection', () => void accepted.h1++);
  h1.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => upgradeHandler(req, socket, head));
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => h2Handler(stream, headers));
  h2.on('connection', () => void accepted.h2++);
  h1.listen(0, '127.0.0.1');
  h2.listen(0, '127.0.0.1');
  await Promise.all([once(h1, 'listening'), once(h2, 'listening')]);

  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [workload('127.0.0.1')], workloads: [workload('127.0.0.1')], services: [],
  };
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  const serverIds = new IdentityManager({ signer, logger });
  await serverIds.reconcile(new Set([SERVER_ID]));
  const records: RequestRecord[] = [];
  const upstreams = new HttpUpstreams({ logger, ...upstreamOpts });
  const inbound = new InboundHttp({ logger, index: () => index, agentPorts: new Set(), upstreams, observer: { onRequest: (r) => void records.push(r) } });
  const tunnel = new TunnelServer({
    identities: serverIds,
    logger,
    onStream: (s) => s.respond({ ':status': 500 }, { endStream: true }),
    onRequest: (s, r) => inbound.onTunnelRequest(s, r),
    onUpgrade: (s, r) => inbound.upgrade(s, r),
  });
  const bound = await tunnel.listen(0, '127.0.0.1');
  const clientIds = new IdentityManager({ signer, logger });
  const pool = new TunnelPool({ identities: clientIds, logger, tunnelPort: bound.port });
  t.teardown(async () => {
    pool.destroy();
    tunnel.destroy();
    upstreams.destroy();
    h1.closeAllConnections();
    h1.close();
    h2.close();
    serverIds.close();
    clientIds.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    pool,
    tunnel,
    upstreams,
    h1Port: (h1.address() as AddressInfo).port,
    h2Port: (h2.address() as AddressInfo).port,
    accepted,
    records,
    onH1: (h) => void (h1Handler = h),
    onH2: (h) => void (h2Handler = h),
    onUpgrade: (h) => void (upgradeHandler = h),
    closedPort: async () => {
      const probe = net.createServer().listen(0, '127.0.0.1');
      await once(probe, 'listening');
      const port = (probe.address() as AddressInfo).port;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      return port;
    },
  };
}

/** What a request sends through the tunnel. */
export interface Send {
  readonly method?: string;
  readonly path?: string;
  readonly authority?: string;
  readonly proto?: 'HTTP/1.1' | 'HTTP/2' | 'HTTP/1.0';
  readonly port: number;
  readonly address?: string;
  readonly headers?: OutgoingHttpHeaders;
  /** Undefined: no body (END_STREAM on the HEADERS). */
  readonly body?: Buffer | readonly Buffer[];
}

/** Opens the request as the source agent would (`forwarded` from 127.0.0.9:5555). */
export function open(rig: L7Rig, s: Send): Promise<ClientHttp2Stream> {
  const headers: OutgoingHttpHeaders = {
    ':method': s.method ?? 'GET',
    ':path': s.path ?? '/',
    ':authority': s.authority ?? 'server.demo.svc:8080',
    'meshlet-proto': s.proto ?? 'HTTP/1.1',
    forwarded: 'for="127.0.0.9:5555"',
    ...s.headers,
  };
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: s.address ?? '127.0.0.1', port: s.port };
  return rig.pool.request(CLIENT_ID, target, headers, s.body === undefined);
}

/** A whole response read back from a tunnel stream. */
export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly trailers: IncomingHttpHeaders;
}

/** Reads the response of `stream` to its end (the trailers included). */
export function answer(stream: ClientHttp2Stream): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on('response', (h) => {
      if (Number(h[':status']) >= 200) headers = h;
    });
    stream.on('trailers', (h) => (trailers = h));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.once('end', () => resolve({ status: Number(headers[':status']), headers, body: Buffer.concat(chunks), trailers }));
    stream.once('error', reject);
  });
}

/** Sends `s` (writing its body) and reads the whole answer. */
export async function send(rig: L7Rig, s: Send): Promise<Answer> {
  const stream = await open(rig, s);
  const done = answer(stream);
  if (s.body !== undefined) {
    const parts = Buffer.isBuffer(s.body) ? [s.body] : s.body;
    for (const p of parts) stream.write(p);
    stream.end();
  }
  return done;
}

/** Reads a request body whole. */
export async function readBody(req: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
