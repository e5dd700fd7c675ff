/**
 * Two agents in-process on 127.0.0.1, each with its own tracer, for the tracing tests: the
 * source agent (OutboundHttp, fed a client's socket as a captured connection to Service
 * `demo/web`) reaches the destination agent (TunnelServer + InboundHttp) over a real mTLS
 * tunnel, which delivers to an HTTP/1.1 workload that records the trace headers it got.
 * Certificates come from the real CA. Both tracers export to the collector the test sets.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import type { RequestRecord, UpstreamCall } from '../../../src/agent/http/exchange.js';
import { InboundHttp } from '../../../src/agent/http/inbound-http.js';
import { OutboundHttp } from '../../../src/agent/http/outbound-http.js';
import { HttpUpstreams } from '../../../src/agent/http/upstream-pool.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { TunnelServer } from '../../../src/agent/proxy/tunnel/server.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { ExportCounters, ExportLimits, DropReason } from '../../../src/agent/trace/span-exporter.js';
import { Tracer } from '../../../src/agent/trace/tracer.js';
import type { NodeSnapshot, OtlpProtocol, ServiceInfo, TelemetryData, WorkloadInfo } from '../../../src/mesh/types.js';

const TD = 'cluster.local';
export const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
export const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;
const logger = pino({ level: 'silent' });

type Teardown = { teardown(fn: () => void | Promise<void>): void };

const client: WorkloadInfo = {
  uid: 'Pod/demo/client', kind: 'Pod', name: 'client', namespace: 'demo', addresses: ['127.0.0.2'], node: 'nodea', nodeAddress: '198.18.0.11',
  serviceAccount: 'client', identity: CLIENT_ID, labels: { app: 'client', version: 'v1' }, tlsMode: 'STRICT', namedPorts: [],
};
const server: WorkloadInfo = {
  uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: ['127.0.0.1'], node: 'nodeb', nodeAddress: '127.0.0.1',
  serviceAccount: 'server', identity: SERVER_ID, labels: { app: 'server', version: 'v2' }, tlsMode: 'STRICT', namedPorts: [],
};

/** What the workload got. */
export interface Seen {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
}

/** Spans dropped and exported, as the tracers counted them (both agents together). */
export interface Counts {
  dropped: Record<DropReason, number>;
  exported: number;
}

export interface TracingRig {
  /** The source agent's tracer (node `nodea`) and the destination's (`nodeb`). */
  readonly source: Tracer;
  readonly destination: Tracer;
  readonly records: RequestRecord[];
  readonly seen: Seen[];
  readonly counts: Counts;
  /** Sets the mesh-wide Telemetry (both agents). */
  telemetry(collector: string, samplingPercentage: number, protocol?: OtlpProtocol): void;
  /** A request from the client workload to `web.demo` through both agents. */
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
}

export async function tracingRig(t: Teardown, limits: Partial<ExportLimits> = { batchDelayMs: 20 }): Promise<TracingRig> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-trace-'));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const signer: CertificateSigner = { sign: async (csrPem, identity) => ({ chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const seen: Seen[] = [];
  const workload = http.createServer((req, res) => {
    seen.push({ path: req.url ?? '', headers: req.headers });
    req.resume();
    res.statusCode = req.url === '/fail' ? 503 : 200;
    res.end('ok');
  });
  workload.listen(0, '127.0.0.1');
  await once(workload, 'listening');
  const workloadPort = (workload.address() as AddressInfo).port;

  const web: ServiceInfo = {
    key: 'demo/web', name: 'web', namespace: 'demo', vips: ['10.96.0.10'], ports: [{ port: 80, targetPort: workloadPort }],
    endpoints: [{ workload: server.uid, address: '127.0.0.1', node: 'nodeb', nodeAddress: '127.0.0.1', meshed: true, identity: SERVER_ID, targetPorts: { 80: workloadPort } }],
  };
  const snapshot = (node: string, nodeAddress: string, local: WorkloadInfo): NodeSnapshot => ({
    version: 'v1', node, nodeAddress, trustDomain: TD, localWorkloads: [local], workloads: [client, server], services: [web],
  });
  const srcIndex = new WorkloadIndex(snapshot('nodea', '198.18.0.11', client), { allowLoopback: true });
  const dstIndex = new WorkloadIndex(snapshot('nodeb', '127.0.0.1', server), { allowLoopback: true });

  const counts: Counts = { dropped: { queue_full: 0, export_failed: 0 }, exported: 0 };
  const counters: ExportCounters = { dropped: (r, n) => void (counts.dropped[r] += n), exported: (n) => void (counts.exported += n) };
  const tracerOf = (node: string, index: WorkloadIndex): Tracer => new Tracer({ node, rootNamespace: 'meshlet-system', workload: (uid) => index.byUid.get(uid), counters, limits });
  const source = tracerOf('nodea', srcIndex);
  const destination = tracerOf('nodeb', dstIndex);
  const records: RequestRecord[] = [];
  const observe = (tracer: Tracer) => ({ onRequest: (r: RequestRecord) => { records.push(r); tracer.onRequest(r); } });

  const serverIds = new IdentityManager({ signer, logger });
  await serverIds.reconcile(new Set([SERVER_ID]));
  const upstreams = new HttpUpstreams({ logger });
  const inbound = new InboundHttp({ logger, index: () => dstIndex, agentPorts: new Set(), upstreams, observer: observe(destination), tracer: destination });
  const tunnel = new TunnelServer({
    identities: serverIds, logger,
    onStream: (s) => s.respond({ ':status': 500 }, { endStream: true }),
    onRequest: (s, r) => inbound.onTunnelRequest(s, r),
    onUpgrade: (s, r) => inbound.upgrade(s, r),
  });
  const bound = await tunnel.listen(0, '127.0.0.1');
  const clientIds = new IdentityManager({ signer, logger });
  const pool = new TunnelPool({ identities: clientIds, logger, tunnelPort: bound.port });
  const fail = (): UpstreamCall => {
    throw new Error('only the tunnel in this rig');
  };
  const outbound = new OutboundHttp({
    logger, index: () => srcIndex, balancers: new BalancerRegistry(),
    tunnel: (identity, target, headers, endStream) => pool.request(identity, target, headers, endStream),
    local: fail, plaintext: fail, observer: observe(source), tracer: source,
  });
  const entry = srcIndex.serviceEntries[0];
  if (entry === undefined) throw new Error('no Service entry');
  const capture = net.createServer({ pauseOnConnect: true }, (s: Socket) => {
    outbound.serve(s, { source: client, sourceAddress: `127.0.0.2:${s.remotePort ?? 0}`, sourceIp: '127.0.0.2', entry, onClose: () => undefined }, 'http1');
  });
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  const capturePort = (capture.address() as AddressInfo).port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  t.teardown(async () => {
    agent.destroy();
    outbound.destroy();
    capture.close();
    await Promise.all([source.close(), destination.close()]);
    pool.destroy();
    tunnel.destroy();
    upstreams.destroy();
    workload.closeAllConnections();
    workload.close();
    serverIds.close();
    clientIds.close();
    rmSync(dir, { recursive: true, force: true });
  });

  return {
    source, destination, records, seen, counts,
    telemetry(collector, samplingPercentage, protocol) {
      const mesh: TelemetryData[] = [{ namespace: 'meshlet-system', name: 'mesh', creationTimestamp: 0, tracing: { collector, samplingPercentage, ...(protocol === undefined ? {} : { protocol }) } }];
      source.configure(mesh);
      destination.configure(mesh);
    },
    get: (path, headers = {}) =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: capturePort, path, agent, headers: { host: 'web.demo', ...headers } }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      }),
  };
}
