/**
 * The node agent: binds the capture and tunnel listeners, applies snapshots (lookup tables,
 * certificates, capture rules), and drains on shutdown.
 */
import http from 'node:http';
import net, { type AddressInfo, type Server } from 'node:net';
import type { Logger } from 'pino';
import type { NodeSnapshot } from '../mesh/types.js';
import { AccessLogSampler } from './access-log.js';
import type { AgentConfig } from './config.js';
import { ConnectionTable } from './connection-table.js';
import { IdentityManager, type CertificateSigner } from './identity-manager.js';
import { InboundProxy } from './inbound.js';
import { LogLevels } from './log-levels.js';
import { AgentMetrics } from './metrics.js';
import { OutboundProxy } from './outbound.js';
import { Readiness } from './readiness.js';
import { TunnelPool } from './tunnel-client.js';
import { TunnelServer } from './tunnel-server.js';
import { WorkloadIndex } from './workload-index.js';
import { listen } from '../ops/listen.js';

/** Applies capture rules for the node's meshed workload addresses (iptables in production). */
export interface CaptureRules {
  apply(workloadAddresses: readonly string[]): Promise<void>;
  /** Removes every capture rule (fail-open shutdown). */
  clean(): Promise<void>;
  /** Compares the rules in the kernel with the ones last applied (for `/iptables` and the drift metric). */
  verify?(): Promise<CaptureDrift>;
}

/** What a capture-rule check found; `detail` is the rule manager's own report. */
export interface CaptureDrift {
  readonly inSync: boolean;
  readonly detail: unknown;
}

/** What `start()` actually bound (tests use port 0). */
export interface BoundAddresses {
  readonly outbound: AddressInfo[];
  readonly inbound: AddressInfo[];
  readonly tunnel: AddressInfo;
  readonly readiness: AddressInfo;
}

/** Options of {@link Agent}. */
export interface AgentOptions {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly signer: CertificateSigner;
  /** null: the agent applies no rules (tests on loopback, or rules managed elsewhere). */
  readonly capture: CaptureRules | null;
  /** Delay before a snapshot whose certificates or rules failed is applied again (default 5 s). */
  readonly retryMs?: number;
  /** The component loggers (default: made from `logger`); the admin API changes their levels. */
  readonly logLevels?: LogLevels;
  /** How often the capture rules are checked for drift (default 60 s; 0: only on request). */
  readonly driftCheckMs?: number;
}

const EMPTY_SNAPSHOT: NodeSnapshot = {
  version: '',
  node: '',
  nodeAddress: '',
  trustDomain: '',
  localWorkloads: [],
  workloads: [],
  services: [],
};

/** One node agent. */
export class Agent {
  readonly readiness: Readiness;
  readonly identities: IdentityManager;
  readonly connections: ConnectionTable;
  readonly tunnels: TunnelPool;
  readonly metrics: AgentMetrics;
  readonly logLevels: LogLevels;
  private readonly config: AgentConfig;
  private readonly logger: Logger;
  private readonly capture: CaptureRules | null;
  private readonly retryMs: number;
  private readonly tunnelServer: TunnelServer;
  private readonly outbound: OutboundProxy;
  private readonly inbound: InboundProxy;
  private readonly servers: Server[] = [];
  private healthServer: http.Server | undefined;
  private index = new WorkloadIndex(EMPTY_SNAPSHOT);
  private applying: Promise<void> = Promise.resolve();
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private forceDrain: () => void = () => undefined;
  private appliedAtMs: number | undefined;
  private bound: BoundAddresses | undefined;
  private lastDrift: CaptureDrift | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  private readonly driftCheckMs: number;

  constructor(opts: AgentOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.capture = opts.capture;
    this.retryMs = opts.retryMs ?? 5_000;
    // Each check runs iptables-save: once a minute finds drift soon enough without costing much.
    this.driftCheckMs = opts.driftCheckMs ?? 60_000;
    this.logLevels = opts.logLevels ?? new LogLevels(opts.logger);
    const log = (component: string): Logger => this.logLevels.child(component);
    this.metrics = new AgentMetrics();
    this.readiness = new Readiness(['listeners', 'snapshot', 'certificates', ...(opts.capture ? ['capture-rules' as const] : [])]);
    this.identities = new IdentityManager({ signer: opts.signer, logger: log('identity') });
    this.connections = new ConnectionTable(log('access'), { sampler: new AccessLogSampler(this.config.accessLog), observer: this.metrics });
    const getIndex = (): WorkloadIndex => this.index;
    this.tunnels = new TunnelPool({
      identities: this.identities,
      logger: log('tunnel-client'),
      tunnelPort: this.config.ports.tunnel,
      onHandshakeError: () => this.metrics.tlsHandshakeFailed('client'),
    });
    this.inbound = new InboundProxy({ logger: log('inbound'), table: this.connections, index: getIndex });
    this.tunnelServer = new TunnelServer({
      identities: this.identities,
      logger: log('tunnel-server'),
      onStream: (stream, req) => this.inbound.onTunnelStream(stream, req),
      onTlsError: () => this.metrics.tlsHandshakeFailed('server'),
    });
    this.outbound = new OutboundProxy({
      logger: log('outbound'),
      table: this.connections,
      index: getIndex,
      inbound: this.inbound,
      tunnels: this.tunnels,
      ownPorts: new Set([this.config.ports.outbound, this.config.ports.inbound, this.config.ports.tunnel]),
    });
    this.metrics.watch({
      openedByDirection: () => this.connections.openedByDirection,
      liveConnections: () => this.connections.list(),
      tunnelSessions: () => this.tunnels.size,
      config: () => ({ version: this.index.snapshot.version, appliedAtMs: this.appliedAtMs }),
      certificates: () => this.identities.list(),
      captureInSync: () => this.lastDrift?.inSync,
    });
  }

  /** When the snapshot in force was applied (epoch ms), undefined before the first. */
  get snapshotAppliedAt(): number | undefined {
    return this.appliedAtMs;
  }

  /** What `start()` bound, undefined before. */
  get listeners(): BoundAddresses | undefined {
    return this.bound;
  }

  /** The last capture-rule check, undefined when none ran (or the agent applies no rules). */
  get captureDrift(): CaptureDrift | undefined {
    return this.lastDrift;
  }

  /** Checks the capture rules for drift now; undefined when the agent applies none or cannot check. */
  async checkCapture(): Promise<CaptureDrift | undefined> {
    if (this.capture?.verify === undefined) return undefined;
    this.lastDrift = await this.capture.verify();
    return this.lastDrift;
  }

  /** The snapshot in force. */
  get snapshot(): NodeSnapshot {
    return this.index.snapshot;
  }

  /** Binds every listener. Capture rules are applied only after this, so nothing is redirected to a closed port. */
  async start(): Promise<BoundAddresses> {
    try {
      return await this.bindAll();
    } catch (err) {
      // Leave nothing half-bound behind a failed start.
      for (const s of this.servers) s.close();
      this.tunnelServer.destroy();
      this.healthServer?.close();
      throw err;
    }
  }

  private async bindAll(): Promise<BoundAddresses> {
    const { ports, bindAddress } = this.config;
    const outbound = await this.bindCapture(ports.outbound, (s) => this.outbound.onConnection(s));
    const inbound = await this.bindCapture(ports.inbound, (s) => this.inbound.onPlaintext(s));
    const tunnel = await this.tunnelServer.listen(ports.tunnel, bindAddress);
    const readiness = await this.bindHealth(ports.readiness);
    this.readiness.release('listeners');
    this.logger.info({ outbound, inbound, tunnel, readiness }, 'listeners bound');
    void this.readiness.whenReady().then(() => this.logger.info({ version: this.index.snapshot.version }, 'agent ready'));
    this.bound = { outbound, inbound, tunnel, readiness };
    this.startDriftChecks();
    return this.bound;
  }

  private startDriftChecks(): void {
    if (this.capture?.verify === undefined || this.driftCheckMs <= 0) return;
    let running = false;
    this.driftTimer = setInterval(() => {
      // Never two checks at once: a slow iptables-save must not pile them up.
      if (running || this.appliedAtMs === undefined) return;
      running = true;
      this.checkCapture()
        .catch((err: Error) => this.logger.warn({ err: err.message }, 'capture rule check failed'))
        .finally(() => (running = false));
    }, this.driftCheckMs);
    this.driftTimer.unref();
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

  private bindHealth(port: number): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      const ready = this.readiness.ready && this.draining === undefined;
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.url === '/healthz/ready' || req.url === '/ready') {
        const body = { ready, pending: this.readiness.pending(), draining: this.draining !== undefined, version: this.index.snapshot.version };
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
      } else {
        res.writeHead(404).end();
      }
    });
    this.healthServer = server;
    return listen(server, { port, host: this.config.bindAddress });
  }

  /**
   * Applies a snapshot. The lookup tables take effect at once; capture rules (in order, one
   * apply at a time) and certificates follow independently, so a signer that is down or slow
   * never holds back the rules, and each releases its own readiness blocker. A failed part
   * is retried until it succeeds or a newer snapshot replaces it.
   */
  applySnapshot(snapshot: NodeSnapshot): Promise<void> {
    const previous = this.index.snapshot.version;
    this.index = new WorkloadIndex(snapshot);
    this.appliedAtMs = Date.now();
    this.readiness.release('snapshot');
    this.logger.info(
      { version: snapshot.version, previous, localWorkloads: snapshot.localWorkloads.length, workloads: snapshot.workloads.length, services: snapshot.services.length },
      'snapshot applied',
    );
    clearTimeout(this.retryTimer);
    const certs = this.reconcileCertificates(this.index);
    const rules = this.capture === null ? Promise.resolve() : this.queueCapture(snapshot);
    return Promise.all([certs, rules]).then(() => undefined);
  }

  private async reconcileCertificates(index: WorkloadIndex): Promise<void> {
    try {
      await this.identities.reconcile(index.localIdentities);
      if (this.index === index) this.readiness.release('certificates');
    } catch (err) {
      this.scheduleRetry(index, `certificates: ${(err as Error).message}`);
      throw err;
    }
  }

  /** Capture-rule applies run one after another, always for the newest snapshot. */
  private queueCapture(snapshot: NodeSnapshot): Promise<void> {
    const capture = this.capture as CaptureRules;
    const index = this.index;
    const next = this.applying.then(async () => {
      if (this.index !== index) return; // a newer snapshot queued its own apply
      try {
        await capture.apply(snapshot.localWorkloads.flatMap((w) => w.addresses));
        this.readiness.release('capture-rules');
      } catch (err) {
        this.scheduleRetry(index, `capture rules: ${(err as Error).message}`);
        throw err;
      }
    });
    this.applying = next.catch(() => undefined);
    return next;
  }

  private scheduleRetry(index: WorkloadIndex, what: string): void {
    if (this.draining !== undefined || this.index !== index) return;
    this.logger.error({ version: index.snapshot.version, err: what }, `snapshot not fully applied; retrying in ${this.retryMs} ms`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (this.index === index && this.draining === undefined) void this.applySnapshot(index.snapshot).catch(() => undefined);
    }, this.retryMs);
    this.retryTimer.unref();
  }

  /**
   * Drains: stop accepting, ask tunnel peers to stop (GOAWAY), let connections finish until the
   * deadline, then abort the rest. Idempotent; capture rules stay (fail closed while down).
   */
  drain(deadlineMs = this.config.drainDeadlineMs): Promise<void> {
    this.draining ??= this.doDrain(deadlineMs);
    return this.draining;
  }

  private async doDrain(deadlineMs: number): Promise<void> {
    const live = this.connections.size;
    this.logger.info({ live, deadlineMs, failureMode: this.config.failureMode }, 'draining');
    clearTimeout(this.retryTimer);
    clearInterval(this.driftTimer);
    if (this.config.failureMode === 'open' && this.capture !== null) {
      // Fail open: lift the rules first, so new connections flow unmeshed instead of being
      // refused by a closing agent; connections already captured finish through the drain.
      await this.applying;
      await this.capture.clean().then(
        () => this.logger.warn('fail-open: capture rules lifted; meshed traffic flows unmeshed until the agent is back'),
        (err: Error) => this.logger.error({ err: err.message }, 'fail-open: capture rules could not be lifted'),
      );
    }
    for (const s of this.servers) s.close();
    this.tunnelServer.close();
    this.tunnels.close();
    const forced = new Promise<boolean>((resolve) => (this.forceDrain = () => resolve(false)));
    const idle = await Promise.race([this.connections.waitIdle(deadlineMs), forced]);
    if (!idle) {
      this.logger.warn({ live: this.connections.size }, 'closing the remaining connections');
      this.connections.abortAll();
    }
    this.tunnels.destroy();
    this.tunnelServer.destroy();
    this.identities.close();
    this.healthServer?.close();
    this.logger.info({ drained: live, forced: !idle }, 'drained');
  }

  /** Closes now, without waiting for connections, also in the middle of a drain. Idempotent. */
  destroy(): Promise<void> {
    const p = this.drain(0);
    this.forceDrain();
    return p;
  }
}
