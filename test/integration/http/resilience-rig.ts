/**
 * A rig for the source agent's per-request resilience: an `OutboundHttp` fed real client
 * connections on 127.0.0.1, whose endpoints (not meshed: the plaintext caller) are scripted
 * in-process: each call is answered by a behaviour chosen per endpoint address (a status after
 * a delay, a hang, a refused connect, a reset), and every call is counted with its head and body.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import { UpstreamError, type RequestHead, type RequestRecord, type UpstreamCall, type UpstreamResponse } from '../../../src/agent/http/exchange.js';
import { OutboundHttp } from '../../../src/agent/http/outbound-http.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { policyBalancerFactory } from '../../../src/agent/policy/balancer-policy.js';
import type { OutlierReporter } from '../../../src/agent/http/outbound-host.js';
import { ResilienceMetrics } from '../../../src/agent/proxy/resilience-metrics.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { RouteInfo } from '../../../src/mesh/routes.js';
import type { EndpointInfo, NodeSnapshot, RoutePolicyData, ServiceInfo, TrafficPolicyInfo, WorkloadInfo } from '../../../src/mesh/types.js';
import { Registry } from 'prom-client';

/** What an endpoint does with one call. */
export type Behaviour =
  | { readonly kind: 'status'; readonly status: number; readonly delayMs?: number; readonly headers?: Record<string, string> }
  | { readonly kind: 'hang' }
  | { readonly kind: 'refuse' }
  | { readonly kind: 'reset'; readonly afterBody?: boolean };

export const OK: Behaviour = { kind: 'status', status: 200 };

/** One call an endpoint received. */
export interface SeenCall {
  readonly address: string;
  readonly head: RequestHead;
  /** performance.now() when the call was made. */
  readonly at: number;
  body: Buffer;
}

const client: WorkloadInfo = {
  uid: 'Pod/demo/client', kind: 'Pod', name: 'client', namespace: 'demo', addresses: ['127.0.0.2'], node: 'node1',
  nodeAddress: '198.18.0.11', serviceAccount: 'client', identity: 'spiffe://cluster.local/ns/demo/sa/client', labels: {}, tlsMode: 'STRICT', namedPorts: [],
};
export const ENDPOINTS = ['127.0.0.3', '127.0.0.4', '127.0.0.5'];
const endpoint = (address: string): EndpointInfo => ({ workload: `Pod/demo/s${address.slice(-1)}`, address, node: 'node2', nodeAddress: '198.18.0.12', meshed: false, targetPorts: { 80: 8080 } });

export interface RigOptions {
  readonly policy?: Omit<TrafficPolicyInfo, 'policy' | 'balancer' | 'hashKeys' | 'preferLocalZone'>;
  readonly routes?: readonly RouteInfo[];
  readonly routePolicies?: readonly RoutePolicyData[];
  /** Endpoints of `demo/shadow` (a mirror's backend). */
  readonly shadow?: readonly string[];
  readonly random?: () => number;
  readonly outliers?: OutlierReporter;
}

export class ResilienceRig {
  readonly calls: SeenCall[] = [];
  readonly records: RequestRecord[] = [];
  readonly metrics: ResilienceMetrics;
  readonly registry = new Registry();
  behaviour: (address: string, head: RequestHead, n: number) => Behaviour = () => OK;
  private server!: net.Server;
  private http7!: OutboundHttp;
  private index!: WorkloadIndex;
  port = 0;
  readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly opts: RigOptions = {}) {
    this.metrics = new ResilienceMetrics(this.registry);
  }

  /** Sets the snapshot: `demo/web` (the three endpoints) with the policy, and `demo/shadow`. */
  setPolicy(policy: RigOptions['policy'], routes = this.opts.routes, routePolicies = this.opts.routePolicies): void {
    const web: ServiceInfo = {
      key: 'demo/web', name: 'web', namespace: 'demo', vips: ['127.0.0.9'], ports: [{ port: 80, targetPort: 8080, name: 'http' }], endpoints: ENDPOINTS.map(endpoint),
      ...(policy === undefined ? {} : { trafficPolicy: { policy: 'demo/p', balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: false, ...policy } }),
    };
    const shadow: ServiceInfo = { key: 'demo/shadow', name: 'shadow', namespace: 'demo', vips: ['127.0.0.19'], ports: [{ port: 80, targetPort: 8080, name: 'http' }], endpoints: (this.opts.shadow ?? ['127.0.0.7']).map(endpoint) };
    const snapshot: NodeSnapshot = {
      version: `v${Date.now()}`, node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
      localWorkloads: [client], workloads: [client], services: [web, shadow],
      ...(routePolicies === undefined ? {} : { routePolicies }),
    };
    this.index = new WorkloadIndex(snapshot, { allowLoopback: true });
    this.routes = routes ?? [];
  }

  private routes: readonly RouteInfo[] = [];

  async start(): Promise<void> {
    this.setPolicy(this.opts.policy);
    const balancers = new BalancerRegistry(policyBalancerFactory(() => this.index, { now: () => performance.now(), random: Math.random }));
    const counts = new Map<string, number>();
    this.http7 = new OutboundHttp({
      logger: pino({ level: 'silent' }),
      index: () => this.index,
      balancers,
      tunnel: () => Promise.reject(new UpstreamError('tunnel_failed', 'no tunnel in this rig', true)),
      local: () => {
        throw new Error('no local workloads in this rig');
      },
      plaintext: (target, head) => {
        const n = (counts.get(target.address) ?? 0) + 1;
        counts.set(target.address, n);
        return this.call(target.address, head, this.behaviour(target.address, head, n));
      },
      observer: { onRequest: (rec) => this.records.push(rec) },
      routesOf: () => this.routes,
      metrics: this.metrics,
      ...(this.opts.random === undefined ? {} : { random: this.opts.random }),
      ...(this.opts.outliers === undefined ? {} : { outliers: this.opts.outliers }),
    });
    const entry = () => this.index.serviceEntries.find((e) => e.service.key === 'demo/web');
    this.server = net.createServer({ pauseOnConnect: true, noDelay: true }, (socket: Socket) => {
      const e = entry();
      if (e === undefined) {
        socket.destroy();
        return;
      }
      this.http7.serve(socket, { source: client, sourceAddress: `${socket.remoteAddress}:${socket.remotePort}`, sourceIp: socket.remoteAddress ?? '', entry: e, onClose: () => undefined }, 'http1');
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** A scripted call. */
  private call(address: string, head: RequestHead, b: Behaviour): UpstreamCall {
    const seen: SeenCall = { address, head, at: performance.now(), body: Buffer.alloc(0) };
    this.calls.push(seen);
    const parts: Buffer[] = [];
    let aborted = false;
    let ended = false;
    let onEnd: (() => void) | undefined;
    const body = new Writable({
      write(chunk: Buffer, _enc, cb) {
        parts.push(chunk);
        cb();
      },
      final(cb) {
        seen.body = Buffer.concat(parts);
        ended = true;
        onEnd?.();
        cb();
      },
    });
    const bodyDone = new Promise<void>((resolve) => {
      onEnd = resolve;
      if (ended) resolve();
    });
    let timer: NodeJS.Timeout | undefined;
    const response = new Promise<UpstreamResponse>((resolve, reject) => {
      switch (b.kind) {
        case 'refuse':
          reject(new UpstreamError('connect_refused', `connect ECONNREFUSED ${address}:8080`, true));
          return;
        case 'hang':
          return;
        case 'reset':
          void (b.afterBody === true ? bodyDone : Promise.resolve()).then(() => reject(new UpstreamError('upstream_reset', 'socket hang up', false)));
          return;
        case 'status': {
          const answer = (): void => {
            if (aborted) return;
            const out = new PassThrough();
            out.end(JSON.stringify({ address, n: this.calls.length }));
            resolve({ status: b.status, headers: { 'content-type': 'application/json', 'x-endpoint': address, ...(b.headers ?? {}) }, body: out, trailers: new Promise((r) => out.once('end', () => r({}))) });
          };
          void bodyDone.then(() => {
            if (b.delayMs !== undefined && b.delayMs > 0) timer = setTimeout(answer, b.delayMs);
            else answer();
          });
        }
      }
    });
    response.catch(() => undefined);
    return {
      body,
      response,
      abort: () => {
        aborted = true;
        clearTimeout(timer);
      },
    };
  }

  /** One request; resolves with status, headers and body text. */
  request(path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string; ms: number }> {
    const started = performance.now();
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: this.port, path, method: opts.method ?? 'GET', agent: this.agent, headers: { host: 'web.demo', ...(opts.headers ?? {}) } }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(parts).toString(), ms: performance.now() - started }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    });
  }

  /** `n` requests, `concurrency` at a time; the statuses in order of completion. */
  async many(n: number, concurrency: number, make: (i: number) => Promise<{ status: number }>): Promise<number[]> {
    const statuses: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        statuses.push((await make(i)).status);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return statuses;
  }

  callsTo(address: string): number {
    return this.calls.filter((c) => c.address === address).length;
  }

  reset(): void {
    this.calls.length = 0;
    this.records.length = 0;
  }

  async metricValue(name: string, labels: Record<string, string>): Promise<number> {
    const m = await this.registry.getSingleMetric(name)?.get();
    let sum = 0;
    for (const v of m?.values ?? []) if (Object.entries(labels).every(([k, want]) => v.labels[k] === want)) sum += v.value;
    return sum;
  }

  async close(): Promise<void> {
    this.agent.destroy();
    this.http7.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
export { Readable };
