/**
 * The data path of one process: the capture listeners (:15001 outbound, :15006 inbound), the
 * tunnel listener (:15008), the tunnel pool and the connection table, over the snapshot in
 * force. The agent runs one in its own process (`workers: 1`), or each worker process runs
 * one on SO_REUSEPORT sockets of the same ports.
 */
import net, { type AddressInfo, type Server } from 'node:net';
import type { NodeSnapshot } from '../../mesh/types.js';
import { AccessLogSampler } from './access-log.js';
import type { AgentConfig } from '../config.js';
import { ConnectionTable, connectionBytes } from './connection-table.js';
import type { DataPathMetrics } from './data-path-metrics.js';
import type { RequestObserver, RequestRecord } from '../http/exchange.js';
import { RequestLog } from '../http/request-log.js';
import type { IdentitySource } from '../identity/manager.js';
import { agentPortSet, InboundProxy } from './inbound.js';
import { dialMode, sourcePreservation } from './upstream-dial.js';
import { InboundHttp } from '../http/inbound-http.js';
import { InboundTerminator } from '../http/inbound-terminate.js';
import { InboundGate } from '../http/inbound-gate.js';
import { HttpUpstreams } from '../http/upstream-pool.js';
import { OutboundHttp } from '../http/outbound-http.js';
import { BalancerRegistry } from '../policy/balancer.js';
import { OutlierRegistry } from './outlier-registry.js';
import { balancersToRebuild, hashKeySourcesOf, policyBalancerFactory } from '../policy/balancer-policy.js';
import { hashKeyOf } from '../policy/balancers/hash-key.js';
import type { LogLevels } from '../admin/log-levels.js';
import { OutboundProxy, type CapturedAddresses } from './outbound.js';
import { TunnelPool } from './tunnel/pool.js';
import { WindowGovernor } from './tunnel/window-governor.js';
import { TunnelServer } from './tunnel/server.js';
import { indexAddressOptions } from './node-addresses.js';
import { WorkloadIndex } from '../state/workload-index.js';
import { listen } from '../../ops/listen.js';
import type { ConnectionRow, DataPath, DrainResult, EndpointRow, HeldListeners, ListenerAddresses, ListenerFds, WorkerInfo } from './data-path.js';
import { MeshletError } from '../../mesh/errors.js';
import { endpointRows } from './endpoint-rows.js';
import { processResilience, type ProcessResilience } from '../admin/resilience-rows.js';
import { TapPoint } from '../tap/tap-point.js';
import { Tracer } from '../trace/tracer.js';
import { ROOT_NAMESPACE } from '../../mesh/snapshot.js';
import { defaultMaxConnections } from '../policy/workload-limit.js';
import { openFilesLimit } from '../../ops/open-files-limit.js';
import { BandwidthLimiter } from './bandwidth-throttle.js';

export type { ListenerFds } from './data-path.js';

/** Options of {@link DataPlane}. */
export interface DataPlaneOptions {
  readonly config: AgentConfig;
  readonly logLevels: LogLevels;
  readonly identities: IdentitySource;
  readonly metrics: DataPathMetrics;
  /** The agent's own ports (connections to them are never proxied); default: the configured ones. */
  readonly ownPorts?: readonly number[];
  /** TLS session ticket keys of the tunnel server (shared by the agent's workers; see `ticket-keys.ts`). */
  readonly ticketKeys?: Buffer;
  /** A captured connection's source and original destination (default: the kernel's); for tests on loopback. */
  readonly captured?: (socket: net.Socket) => CapturedAddresses;
}

export const EMPTY_SNAPSHOT: NodeSnapshot = {
  version: '',
  node: '',
  nodeAddress: '',
  trustDomain: '',
  localWorkloads: [],
  workloads: [],
  services: [],
};

/** One process's data path. */
export class DataPlane implements DataPath {
  /** Stops the metrics' live-byte sweep (its timer) once the data path is drained. */
  private readonly stopMetrics: () => void;
  readonly connections: ConnectionTable;
  /** This process's live traffic for `meshlet tap` (off until the admin API or the primary sets filters). */
  readonly tap = new TapPoint();
  /** Told once per finished HTTP request (both reporters): Istio's request metrics, then the access log. */
  readonly requestObserver: RequestObserver;
  /** Trace propagation and span export, by the snapshot's Telemetry objects (off without one). */
  readonly tracer: Tracer;
  readonly tunnels: TunnelPool;
  /** The receive windows of this process's tunnel sessions, client and server side (fairness between workloads). */
  private readonly windows = new WindowGovernor();
  private readonly config: AgentConfig;
  private readonly logLevels: LogLevels;
  private readonly tunnelServer: TunnelServer;
  private readonly outbound: OutboundProxy;
  private readonly inbound: InboundProxy;
  /** The destination side of L7: tunnel requests (and, later, same-node requests) to local workloads. */
  readonly inboundHttp: InboundHttp;
  /** Serves inbound byte streams as HTTP when L7 authorization rules must see their requests (absent with `--l7 off`). */
  private readonly terminator: InboundTerminator | undefined;
  private readonly upstreams: HttpUpstreams;
  /** The source side of L7 (absent with `l7: off`). */
  readonly outboundHttp: OutboundHttp | undefined;
  /**
   * Per-request balancers of L7, by TrafficPolicy (default least request). L4 connections keep
   * the outbound side's own round robin, as before L7.
   */
  readonly requestBalancers: BalancerRegistry;
  /** Outlier detection (passive health) of this process, L7 and L4. */
  readonly outliers: OutlierRegistry;
  private readonly servers: Server[] = [];
  /** Ports no inbound connection is delivered to: the configured ones, then what was bound. */
  private readonly agentPorts: Set<number>;
  private index = new WorkloadIndex(EMPTY_SNAPSHOT);
  /** The byte buckets of this process's workloads with a `meshlet.io/max-bandwidth` (docs/workload-limits.md). */
  readonly bandwidth: BandwidthLimiter;
  private draining: Promise<DrainResult> | undefined;
  private listening = false;
  private force: () => void = () => undefined;

  constructor(opts: DataPlaneOptions) {
    this.config = opts.config;
    this.logLevels = opts.logLevels;
    const log = (component: string) => this.logLevels.child(component);
    const metrics = opts.metrics;
    this.bandwidth = new BandwidthLimiter(this.config.workers);
    this.stopMetrics = () => metrics.close();
    const sampler = new AccessLogSampler(this.config.accessLog);
    const tap = this.tap;
    this.connections = new ConnectionTable(log('access'), { sampler, observer: metrics, tap });
    const requestLog = new RequestLog(log('access'), sampler);
    const tracer = (this.tracer = new Tracer({ node: this.config.node, rootNamespace: ROOT_NAMESPACE, workload: (uid) => this.index.byUid.get(uid), counters: metrics.tracing }));
    this.requestObserver = {
      onRequest(rec: RequestRecord): void {
        if (rec.trace !== undefined) tracer.onRequest(rec);
        metrics.requests.onRequest(rec);
        requestLog.onRequest(rec);
        if (tap.active) tap.request(rec);
      },
    };
    const getIndex = (): WorkloadIndex => this.index;
    this.tunnels = new TunnelPool({
      identities: opts.identities,
      logger: log('tunnel-client'),
      tunnelPort: this.config.ports.tunnel,
      onHandshakeError: () => metrics.tlsHandshakeFailed('client'),
      windows: this.windows,
    });
    this.agentPorts = agentPortSet(this.config.ports, opts.ownPorts);
    this.upstreams = new HttpUpstreams({ logger: log('upstream-http') });
    // Rate limits and adaptive concurrency of the local workloads (a worker's runtime swaps in its leases from the primary).
    const inboundGate = new InboundGate({ metrics: metrics.resilience });
    metrics.resilience.watchLimits(() => inboundGate.limits());
    this.inboundHttp = new InboundHttp({ logger: log('inbound-http'), index: getIndex, agentPorts: this.agentPorts, upstreams: this.upstreams, observer: this.requestObserver, gate: inboundGate, tracer });
    // With L7 on, a connection whose workload has L7 authorization rules on a port declared HTTP
    // is served as HTTP here, each request checked; with it off, such rules fail closed.
    this.terminator = this.config.l7 === 'off' ? undefined : new InboundTerminator({ logger: log('inbound-http'), http: this.inboundHttp });
    this.inbound = new InboundProxy({
      logger: log('inbound'),
      table: this.connections,
      index: getIndex,
      agentPorts: this.agentPorts,
      sniTimeoutMs: this.config.protocolDetectionTimeoutMs,
      ...(this.terminator === undefined ? {} : { terminator: this.terminator }),
      // Probed in each data-path process (workers too): the same binary and capabilities, so the
      // same answer as the agent's own probe, which logs it.
      preserveSource: dialMode(sourcePreservation(this.config.preserveSource)),
      onSourceOutcome: (outcome) => metrics.sourceAddress(outcome),
    });
    this.tunnelServer = new TunnelServer({
      identities: opts.identities,
      logger: log('tunnel-server'),
      onStream: (stream, req) => this.inbound.onTunnelStream(stream, req),
      onRequest: (stream, req) => this.inboundHttp.onTunnelRequest(stream, req),
      onUpgrade: (stream, req) => this.inboundHttp.upgrade(stream, req),
      onTlsError: () => metrics.tlsHandshakeFailed('server'),
      onLimit: (reason) => metrics.tunnelLimit(reason),
      windows: this.windows,
      ...(opts.ticketKeys === undefined ? {} : { ticketKeys: opts.ticketKeys }),
    });
    this.requestBalancers = new BalancerRegistry(policyBalancerFactory(getIndex, { now: () => performance.now(), random: Math.random }));
    // Passive health: one detector per Service port with a policy, ejecting in the L7 balancers
    // here and in the L4 ones (the outbound proxy attaches its own).
    this.outliers = new OutlierRegistry({ now: () => performance.now(), onEject: (service, reason) => metrics.resilience.ejected(service, reason) });
    this.outliers.attach(this.requestBalancers);
    metrics.resilience.watchEjected(() => this.outliers.ejectedByService());
    this.outboundHttp = this.config.l7 === 'off' ? undefined : new OutboundHttp({
      logger: log('outbound-http'),
      index: getIndex,
      balancers: this.requestBalancers,
      tunnel: (identity, target, headers, endStream) => this.tunnels.request(identity, target, headers, endStream),
      local: (source, target, head, o) => this.inboundHttp.call({ ...source, kind: 'local' }, target, head, o),
      plaintext: (target, head, o) => this.upstreams.call(target, head, o),
      observer: this.requestObserver,
      tracer,
      metrics: metrics.resilience,
      outliers: this.outliers,
      // Route rate limits take tokens where the destination side's do (in a worker: the primary's leases).
      rateLimiter: () => this.inboundHttp.gate.rateLimiter,
      routesOf: (index, entry) => index.routesOf(entry),
      hashKeyOf: (index, entry, headers, sourceAddress) => {
        const sources = hashKeySourcesOf(index, entry);
        return sources.length === 0 ? undefined : hashKeyOf(sources, { headers, sourceAddress });
      },
    });
    const { ports } = this.config;
    this.outbound = new OutboundProxy({
      logger: log('outbound'),
      table: this.connections,
      index: getIndex,
      inbound: this.inbound,
      tunnels: this.tunnels,
      ownPorts: new Set(opts.ownPorts ?? [ports.outbound, ports.inbound, ports.tunnel]),
      ...(this.outboundHttp === undefined ? {} : { http: this.outboundHttp }),
      outliers: this.outliers,
      resilience: metrics.resilience,
      workloadLimits: {
        defaultMaxConnections: defaultMaxConnections(openFilesLimit()),
        workers: this.config.workers,
        refused: (workload) => metrics.resilience.workloadLimited(workload),
        bandwidth: this.bandwidth,
      },
      sniffTimeoutMs: this.config.protocolDetectionTimeoutMs,
      ...(opts.captured === undefined ? {} : { captured: opts.captured }),
    });
    metrics.watch({
      openedByDirection: () => this.connections.openedByDirection,
      liveConnections: () => this.connections.list(),
      tunnelSessions: () => this.tunnels.size,
      windowShrinks: () => this.windows.shrinks,
      drainThrottled: (each) => this.bandwidth.drain(each),
      frequentSweeps: () => this.bandwidth.hasShareLimits,
      onUsage: (interval) => this.bandwidth.adjustShares(interval),
      index: () => this.index,
    });
  }

  /** The snapshot in force. */
  get snapshot(): NodeSnapshot {
    return this.index.snapshot;
  }

  /** The lookup tables of the snapshot in force. */
  get workloadIndex(): WorkloadIndex {
    return this.index;
  }

  /** Swaps the lookup tables: new connections use them at once, open ones keep their decision. */
  setSnapshot(snapshot: NodeSnapshot | WorkloadIndex): void {
    const next = snapshot instanceof WorkloadIndex ? snapshot : new WorkloadIndex(snapshot, indexAddressOptions(this.config));
    // A changed TrafficPolicy (or zone) makes its Services' balancers afresh; others keep their state.
    this.requestBalancers.forget(balancersToRebuild(this.index, next));
    this.index = next;
    this.outliers.apply(next);
    // A changed meshlet.io/max-bandwidth applies to the workload's open connections too.
    this.bandwidth.apply(next.byUid);
    this.tracer.configure(next.snapshot.telemetry ?? []);
    // Open connections the new AuthorizationPolicies deny are reset (with none, nothing is denied).
    if ((next.snapshot.authorizationPolicies?.length ?? 0) > 0) this.inbound.review(next);
  }

  /** Replaces the tunnel server's TLS session ticket keys (a rotation). */
  setTicketKeys(keys: Buffer): void {
    this.tunnelServer.server.setTicketKeys(keys);
  }

  /**
   * Serves the agent's sockets (all sets: this process is the only one serving), or without
   * them binds the configured ports itself (tests of the data plane alone).
   */
  async start(listeners?: HeldListeners): Promise<ListenerAddresses> {
    if (listeners !== undefined) {
      const bound = await this.listenOnSets(listeners.setsFor(0, 1));
      this.listening = this.draining === undefined;
      return bound;
    }
    try {
      const { ports, bindAddress } = this.config;
      const outbound = await this.bindCapture(ports.outbound, (s) => this.outbound.onConnection(s));
      const inbound = await this.bindCapture(ports.inbound, (s) => this.inbound.onPlaintext(s));
      const tunnel = await this.tunnelServer.listen(ports.tunnel, bindAddress);
      for (const a of [...outbound, ...inbound, tunnel]) this.agentPorts.add(a.port);
      this.listening = this.draining === undefined;
      return { outbound, inbound, tunnel };
    } catch (err) {
      this.closeListeners();
      throw err;
    }
  }

  /** Listens on sockets opened elsewhere (a worker's SO_REUSEPORT sockets); this data plane then owns them. */
  async listenOnFds(fds: ListenerFds): Promise<ListenerAddresses> {
    try {
      const outbound: AddressInfo[] = [];
      for (const fd of fds.outbound) outbound.push(await listen(this.captureServer((s) => this.outbound.onConnection(s)), { fd }));
      const inbound: AddressInfo[] = [];
      for (const fd of fds.inbound) inbound.push(await listen(this.captureServer((s) => this.inbound.onPlaintext(s)), { fd }));
      const tunnel = await listen(this.tunnelServer.server, { fd: fds.tunnel });
      for (const a of [...outbound, ...inbound, tunnel]) this.agentPorts.add(a.port);
      return { outbound, inbound, tunnel };
    } catch (err) {
      this.closeListeners();
      throw err;
    }
  }

  /**
   * Listens on several sets of sockets (a worker serving more than one set: the old agent of an
   * upgrade had more workers). The first set's addresses are reported; the tunnel sockets of the
   * later sets pass their connections to the one tunnel server.
   */
  async listenOnSets(sets: readonly ListenerFds[]): Promise<ListenerAddresses> {
    const [first, ...rest] = sets;
    if (first === undefined) throw new MeshletError('MESHLET_ERR_LISTEN', 'no listener set to serve');
    const bound = await this.listenOnFds(first);
    try {
      for (const set of rest) {
        for (const fd of set.outbound) await listen(this.captureServer((s) => this.outbound.onConnection(s)), { fd });
        for (const fd of set.inbound) await listen(this.captureServer((s) => this.inbound.onPlaintext(s)), { fd });
        // A tls.Server takes connections emitted on it (Node documents this for injected sockets).
        await listen(this.captureServer((s) => this.tunnelServer.server.emit('connection', s), false), { fd: set.tunnel });
      }
    } catch (err) {
      this.closeListeners();
      throw err;
    }
    return bound;
  }

  private captureServer(onConnection: (s: net.Socket) => void, pauseOnConnect = true): Server {
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect, noDelay: true }, onConnection);
    this.servers.push(server);
    return server;
  }

  /** Binds a capture port on the configured IPv4 address and, when the host has IPv6, on `::`. */
  private async bindCapture(port: number, onConnection: (s: net.Socket) => void): Promise<AddressInfo[]> {
    const bound: AddressInfo[] = [];
    const hosts = this.config.bindAddress === '0.0.0.0' ? ['0.0.0.0', '::'] : [this.config.bindAddress];
    for (const host of hosts) {
      const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, onConnection);
      try {
        bound.push(await listen(server, { port: bound[0]?.port ?? port, host, ipv6Only: host === '::' }));
        this.servers.push(server);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (host === '::' && (code === 'EAFNOSUPPORT' || code === 'EADDRNOTAVAIL')) continue;
        // Port 0 (tests): the IPv4 listener's random port may be taken on IPv6; IPv4 suffices.
        if (host === '::' && port === 0 && code === 'EADDRINUSE') continue;
        throw err;
      }
    }
    return bound;
  }

  private closeListeners(): void {
    for (const s of this.servers) s.close();
    this.tunnelServer.destroy();
  }

  /** The L7 balancers' endpoints as `/endpoints` rows (the {@link DataPath} view: this process's pid). */
  endpointRows(): Promise<EndpointRow[]> {
    return Promise.resolve(this.lbRows(process.pid));
  }

  /** The L7 balancers' endpoints with their state; `worker` says which process balances them. */
  lbRows(worker: number, now = performance.now()): EndpointRow[] {
    const zones = new Map<string, string>();
    for (const s of this.index.snapshot.services) for (const e of s.endpoints) if (e.zone !== undefined) zones.set(e.address, e.zone);
    return endpointRows(this.requestBalancers, worker, now, (address) => zones.get(address));
  }

  /** This process's live resilience state (the data path runs in the agent's process). */
  resilienceRows(): Promise<ProcessResilience[]> {
    return Promise.resolve([processResilience(this, process.pid)]);
  }

  /** Live connections as `/connections` rows, oldest first (the {@link DataPath} view: this process's pid). */
  connectionRows(): Promise<ConnectionRow[]> {
    return Promise.resolve(this.rows(process.pid));
  }

  /** This process's serving count for readiness: 1 from start until the drain. */
  serving(): number {
    return this.listening ? 1 : 0;
  }

  /** No worker processes: the data path runs here. */
  workers(): WorkerInfo[] {
    return [];
  }

  /** Nothing to pass on: this process's loggers are the caller's own {@link LogLevels}. */
  setLogLevel(): void {
    // The components' loggers are children of the shared LogLevels, already changed.
  }

  /** Live connections as `/connections` rows, oldest first; `worker` says which process holds them. */
  rows(worker: number, now = performance.now()): ConnectionRow[] {
    return this.connections.list().map((rec) => {
      const bytes = connectionBytes(rec);
      return {
        id: rec.id,
        worker,
        direction: rec.direction,
        mode: rec.mode,
        source: rec.source,
        destination: rec.destination,
        sourceWorkload: rec.sourceWorkload ?? '',
        sourceIdentity: rec.sourceIdentity ?? '',
        destinationWorkload: rec.destinationWorkload ?? '',
        destinationIdentity: rec.destinationIdentity ?? '',
        service: rec.service ?? '',
        securityPolicy: rec.securityPolicy,
        bytesSent: bytes.sent,
        bytesReceived: bytes.received,
        ageSeconds: Math.round((now - rec.startedAt) / 100) / 10,
      };
    });
  }

  /**
   * Drains: stop accepting, ask tunnel peers to stop (GOAWAY), let connections finish until the
   * deadline, then abort the rest. Idempotent.
   */
  drain(deadlineMs: number): Promise<DrainResult> {
    this.listening = false;
    this.draining ??= this.doDrain(deadlineMs);
    return this.draining;
  }

  private async doDrain(deadlineMs: number): Promise<DrainResult> {
    const live = this.connections.size;
    for (const s of this.servers) s.close();
    this.tunnelServer.close();
    this.tunnels.close();
    this.windows.close();
    this.outboundHttp?.drain();
    this.terminator?.close();
    const forced = new Promise<boolean>((resolve) => (this.force = () => resolve(false)));
    const idle = await Promise.race([this.connections.waitIdle(deadlineMs), forced]);
    if (!idle) {
      this.logLevels.root.warn({ live: this.connections.size }, 'closing the remaining connections');
      this.connections.abortAll();
    }
    this.tunnels.destroy();
    this.outliers.close();
    // The last spans go out (bounded by the export timeout); the rest are dropped and counted.
    await this.tracer.close();
    this.outboundHttp?.destroy();
    this.terminator?.destroy();
    this.tunnelServer.destroy();
    this.upstreams.destroy();
    // No connection is left: the live-byte sweep has nothing more to count.
    this.stopMetrics();
    return { drained: live, forced: !idle };
  }

  /** Closes now, also in the middle of a drain. Idempotent. */
  destroy(): Promise<DrainResult> {
    const p = this.drain(0);
    this.force();
    return p;
  }
}
