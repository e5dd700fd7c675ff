/**
 * The rig of the destination-side resilience tests: the real InboundHttp (HttpUpstreams, an
 * InboundGate feeding a real ResilienceMetrics) over a WorkloadIndex whose Service carries a
 * TrafficPolicy, and a real HTTP/1.1 workload on 127.0.0.1 that counts what reaches it and, in
 * `slowUnderLoad` mode, answers later the more requests it has in flight (a server that queues).
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Test } from 'tap';
import type { HeaderMap, RequestRecord, UpstreamResponse } from '../../../src/agent/http/exchange.js';
import { InboundHttp, type InboundSource } from '../../../src/agent/http/inbound-http.js';
import { HttpUpstreams } from '../../../src/agent/http/upstream-pool.js';
import { InboundGate } from '../../../src/agent/http/inbound-gate.js';
import type { RateLimiter } from '../../../src/agent/policy/resilience/rate-limit.js';
import { ResilienceMetrics } from '../../../src/agent/proxy/resilience-metrics.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { ResiliencePolicy } from '../../../src/mesh/resilience.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const logger = pino({ level: 'silent' });
/** Slow mode's latency floor: timers, not the CPU, make the latency (a busy host skews less). */
const BASE_MS = 5;
export const SERVER_ID = 'spiffe://cluster.local/ns/demo/sa/server';
export const ALICE = 'spiffe://cluster.local/ns/demo/sa/alice';
export const BOB = 'spiffe://cluster.local/ns/demo/sa/bob';

export const mtlsFrom = (identity: string): InboundSource => ({ kind: 'mtls', identity, localIdentity: SERVER_ID, address: '127.0.0.9:5555' });

/** What a test drives. */
export interface Rig {
  readonly inbound: InboundHttp;
  readonly gate: InboundGate;
  readonly registry: Registry;
  readonly records: RequestRecord[];
  readonly index: WorkloadIndex;
  /** Request bodies the workload received (non-empty ones). */
  readonly bodies: string[];
  /** Requests the workload received. */
  readonly reached: () => number;
  readonly port: number;
  /** Slow mode: latency of 5 ms plus this per request in flight (ms); 0: answers after {@link fixedMs}. */
  slowMsPerInFlight: number;
  /** Latency of every request (ms) when not in slow mode; 0 (the default): answers at once. */
  fixedMs: number;
  /** One GET through `call` (the same-node and terminated way in): the response, body read. */
  get(source: InboundSource, headers?: HeaderMap): Promise<{ res: UpstreamResponse; body: string }>;
  /** The value of a metric series, 0 when absent. */
  metric(name: string, labels: Record<string, string>): Promise<number>;
}

/** The rig, its workload selected by Service `demo/server` (port 80 -> the workload's port) with `sections`. */
export async function rig(t: Test, sections: ResiliencePolicy, limiter?: RateLimiter): Promise<Rig> {
  let received = 0;
  const bodies: string[] = [];
  let inFlight = 0;
  const state = { slow: 0, fixed: 0 };
  const workloadServer = http.createServer((req, res) => {
    received++;
    inFlight++;
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.once('end', () => {
      if (body !== '') bodies.push(body);
    });
    setTimeout(() => {
      inFlight--;
      res.end('ok');
    }, state.slow === 0 ? state.fixed : BASE_MS + state.slow * inFlight);
  });
  workloadServer.keepAliveTimeout = 60_000;
  workloadServer.listen(0, '127.0.0.1');
  await once(workloadServer, 'listening');
  const port = (workloadServer.address() as AddressInfo).port;
  const server: WorkloadInfo = {
    uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: ['127.0.0.1'], node: 'nodeb',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: { app: 'server' }, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: 'cluster.local', localWorkloads: [server], workloads: [server],
    services: [{
      key: 'demo/server', name: 'server', namespace: 'demo', vips: ['10.96.0.20'], ports: [{ name: 'http', port: 80, targetPort: port, appProtocol: 'http' }],
      endpoints: [{ workload: server.uid, address: '127.0.0.1', node: 'nodeb', nodeAddress: '127.0.0.1', meshed: true, identity: SERVER_ID, targetPorts: { 80: port } }],
      trafficPolicy: { policy: 'demo/limits', balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false, ...sections },
    }],
  };
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  const registry = new Registry();
  const metrics = new ResilienceMetrics(registry);
  const gate = new InboundGate({ metrics, ...(limiter === undefined ? {} : { limiter }) });
  metrics.watchLimits(() => gate.limits());
  const records: RequestRecord[] = [];
  const upstreams = new HttpUpstreams({ logger });
  const inbound = new InboundHttp({ logger, index: () => index, agentPorts: new Set(), upstreams, gate, observer: { onRequest: (r) => void records.push(r) } });
  t.teardown(() => {
    upstreams.destroy();
    workloadServer.closeAllConnections();
    workloadServer.close();
  });
  const r: Rig = {
    inbound, gate, registry, records, port, index, bodies, reached: () => received,
    get slowMsPerInFlight() {
      return state.slow;
    },
    set slowMsPerInFlight(v: number) {
      state.slow = v;
    },
    get fixedMs() {
      return state.fixed;
    },
    set fixedMs(v: number) {
      state.fixed = v;
    },
    async get(source, headers = {}) {
      const call = inbound.call(source, { address: '127.0.0.1', port }, { method: 'GET', path: '/', authority: 'server.demo', proto: 'HTTP/1.1', headers }, { endStream: true });
      call.body.end();
      const res = await call.response;
      return { res, body: await text(res.body) };
    },
    async metric(name, labels) {
      const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
      const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
      return v?.value ?? 0;
    },
  };
  return r;
}

async function text(body: Readable): Promise<string> {
  let s = '';
  for await (const c of body) s += (c as Buffer).toString();
  return s;
}
