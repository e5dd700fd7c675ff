/**
 * The node agent: the control plane (snapshots, keys and certificates, capture rules, drift
 * checks, readiness) and its data path, either in this process (`workers: 1`, a
 * {@link DataPlane}) or in N worker processes sharing the listeners through SO_REUSEPORT
 * ({@link WorkerDataPath}). Drains on shutdown.
 */
import type { ProcessResilience } from './admin/resilience-rows.js';
import type http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { NodeSnapshot } from '../mesh/types.js';
import type { AgentConfig } from './config.js';
import type { ConnectionTable } from './proxy/connection-table.js';
import { DataPlane, EMPTY_SNAPSHOT } from './proxy/data-plane.js';
import type { ConnectionRow, DataPath, EndpointRow, ListenerAddresses, WorkerInfo } from './proxy/data-path.js';
import { IdentityManager, type CertificateSigner } from './identity/manager.js';
import type { BackoffOptions } from '../ops/backoff.js';
import { LogLevels } from './admin/log-levels.js';
import { AgentMetrics } from './admin/metrics.js';
import type { CapturedAddresses } from './proxy/outbound.js';
import { sourcePreservation, type SourcePreservation } from './proxy/upstream-dial.js';
import { Readiness } from './admin/readiness.js';
import type { SnapshotStore } from './control/snapshot-store.js';
import { WorkerDataPath } from './workers/data-path.js';
import type { WorkerPool } from './workers/pool.js';
import { TicketKeys } from './identity/ticket-keys.js';
import { indexAddressOptions } from './proxy/node-addresses.js';
import { WorkloadIndex, type RefusedEntry } from './state/workload-index.js';
import { SaveCoalescer } from './control/save-coalescer.js';
import { createLocalHttpServer } from '../ops/http-limits.js';
import { listen, type InheritedFd } from '../ops/listen.js';
import { MeshletError } from '../mesh/errors.js';
import { libc } from '../ops/libc.js';
import { ListenerSockets } from './handover/listener-sockets.js';
import { HandoverServer, type TakeoverPhase } from './handover/handover-server.js';
import { requestTakeover, type Takeover } from './handover/handover-client.js';
import type { HeldListeners } from './proxy/data-path.js';

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
export interface BoundAddresses extends ListenerAddresses {
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
  /** Backoff between attempts of a failed certificate issuance (default `ISSUE_RETRY_BACKOFF`). */
  readonly issueRetryBackoff?: BackoffOptions;
  /** The component loggers (default: made from `logger`); the admin API changes their levels. */
  readonly logLevels?: LogLevels;
  /** How often the capture rules are checked for drift (default 60 s; 0: only on request). */
  readonly driftCheckMs?: number;
  /** The worker entry script (default: workers/main.js); for tests. */
  readonly workerEntry?: string;
  /**
   * Where the last good snapshot is kept across restarts (controller mode). Given: `start()`
   * loads it before binding and serves with it until the controller answers, and the newest
   * snapshot applied with {@link Agent.applySnapshot} is saved to it: at once, then at most once
   * per interval (`SAVE_INTERVAL_MS`, longer when a save is slow), and at the drain.
   */
  readonly snapshotStore?: SnapshotStore;
  /** A captured connection's source and original destination (default: the kernel's); in-process data path only, for tests on loopback. */
  readonly captured?: (socket: Socket) => CapturedAddresses;
  /**
   * The upgrade handover at `config.handoverSocket` (default off; `meshlet agent` turns it on). On: `start()`
   * first asks an agent already serving the node for its listening sockets, and this agent
   * later hands its own to the next one.
   */
  readonly handover?: boolean;
  /** Told when this agent has handed its listeners to a new agent (the caller stops its admin and metrics servers and its controller link). */
  readonly onHandedOver?: () => void;
}

/** How often a taking-over agent looks whether only its listeners still block readiness. */
const TAKEOVER_POLL_MS = 50;

/**
 * Where the snapshot in force came from: none yet (captured traffic is refused), the state
 * directory (a restart while the controller is away; readiness still waits for a live one), or
 * the controller or static YAML.
 */
export type SnapshotSource = 'none' | 'persisted' | 'live';

/** Refused snapshot entries remembered as logged; a bound on memory, not a limit anyone meets. */
const MAX_REFUSED_LOGGED = 10_000;
/** Refused entries shown in one log line (the rest are counted). */
const MAX_REFUSED_LINES = 20;

/**
 * Least time between two saves of the persisted snapshot: a restart while the controller is
 * down then starts from a snapshot at most this much older than the last one applied (the
 * agent resyncs from the controller when it answers). At least 10 times the save's own
 * duration, so encoding the whole view (about 1.5 s at 100,000 pods) takes at most a tenth of
 * the agent's time under a stream of changes.
 */
const SAVE_INTERVAL_MS = 5_000;
const SAVE_COST_FACTOR = 10;

/** Components whose loggers live in the data path (made here too, so the admin API knows them). */
const DATA_PATH_COMPONENTS = ['access', 'inbound', 'outbound', 'tunnel-client', 'tunnel-server'];

/** One node agent. */
export class Agent {
  readonly readiness: Readiness;
  private readonly workerWaiters = new Set<() => void>();
  readonly identities: IdentityManager;
  readonly metrics: AgentMetrics;
  readonly logLevels: LogLevels;
  private readonly config: AgentConfig;
  private readonly logger: Logger;
  private readonly capture: CaptureRules | null;
  private readonly retryMs: number;
  /** The data path: in this process (`workers: 1`) or in worker processes (`workers` >= 2). */
  private readonly dataPath: DataPath;
  /** The in-process data plane's connection table (`workers: 1`); see {@link connections}. */
  private readonly table: ConnectionTable | undefined;
  private healthServer: http.Server | undefined;
  private index = new WorkloadIndex(EMPTY_SNAPSHOT);
  private source: SnapshotSource = 'none';
  private readonly store: SnapshotStore | undefined;
  /** Saves of the newest live snapshot to {@link store}, coalesced (see {@link SAVE_INTERVAL_MS}). */
  private readonly saves: SaveCoalescer<NodeSnapshot> | undefined;
  /** The local identities last handed to the certificates' reconcile, while it has not failed. */
  private reconciled: { readonly identities: ReadonlySet<string>; readonly done: Promise<void> } | undefined;
  /** Refused snapshot entries already logged (see {@link reportRefused}). */
  private readonly refusedLogged = new Set<string>();
  private applying: Promise<void> = Promise.resolve();
  private draining: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The retry {@link retryTimer} will run, until it has. */
  private pendingRetry: (() => void) | undefined;
  private forceDrain: () => void = () => undefined;
  private appliedAtMs: number | undefined;
  private bound: BoundAddresses | undefined;
  private lastDrift: CaptureDrift | undefined;
  private driftTimer: NodeJS.Timeout | undefined;
  private readonly driftCheckMs: number;
  private readonly ticketKeys: TicketKeys;
  private sockets: ListenerSockets | undefined;
  private handoverServer: HandoverServer | undefined;
  /** A new agent has this agent's sockets and is starting (readiness answers 503 meanwhile). */
  private handingOver = false;
  /** A new agent serves this agent's sockets: it drains and applies nothing more. */
  private handedOver = false;
  private readonly handoverOn: boolean;
  /** The data listeners are served (after a takeover: once the old agent was told); readiness follows the workers from then on. */
  private dataServed = false;
  private markServed: () => void = () => undefined;
  /** Resolves once the data listeners are served (at once without a takeover; after it, once the old agent was told). */
  readonly serving: Promise<void> = new Promise((resolve) => (this.markServed = resolve));
  private readonly onHandedOver: (() => void) | undefined;
  /** Whether workloads see their clients' addresses (probed at start; shown in `/ready`). */
  readonly sourcePreservation: SourcePreservation;

  constructor(opts: AgentOptions) {
    this.config = opts.config;
    this.logger = opts.logger;
    this.capture = opts.capture;
    this.retryMs = opts.retryMs ?? 5_000;
    // Each check runs iptables-save: once a minute finds drift soon enough without costing much.
    this.driftCheckMs = opts.driftCheckMs ?? 60_000;
    this.logLevels = opts.logLevels ?? new LogLevels(opts.logger);
    this.store = opts.snapshotStore;
    const store = opts.snapshotStore;
    this.saves = store === undefined ? undefined : new SaveCoalescer({ save: (s) => store.save(s), minIntervalMs: SAVE_INTERVAL_MS, costFactor: SAVE_COST_FACTOR });
    this.handoverOn = opts.handover ?? false;
    this.onHandedOver = opts.onHandedOver;
    const inProcess = this.config.workers <= 1;
    this.sourcePreservation = sourcePreservation(this.config.preserveSource);
    if (this.config.preserveSource === 'on' && !this.sourcePreservation.active) {
      this.logger.warn({ code: 'MESHLET_ERR_TRANSPARENT_SOCKET', reason: this.sourcePreservation.reason }, "source address preservation off: the kernel refused IP_TRANSPARENT (the agent needs CAP_NET_ADMIN); workloads see the agent's address");
    }
    this.metrics = new AgentMetrics({ dataPath: inProcess });
    this.readiness = new Readiness(['listeners', 'snapshot', 'certificates', ...(opts.capture ? ['capture-rules' as const] : [])]);
    this.identities = new IdentityManager({
      signer: opts.signer,
      logger: this.logLevels.child('identity'),
      ...(opts.issueRetryBackoff === undefined ? {} : { retryBackoff: opts.issueRetryBackoff }),
      // Worker processes keep their own copy of each credential (the data path's `credentials`).
      ...(inProcess ? {} : { onIssued: (c, key) => this.dataPath.credentials?.issued(c, key), onForgotten: (id) => this.dataPath.credentials?.forgotten(id) }),
    });
    this.ticketKeys = new TicketKeys((keys) => this.dataPath.setTicketKeys(keys));
    if (inProcess) {
      const plane = new DataPlane({
        config: this.config,
        logLevels: this.logLevels,
        identities: this.identities,
        metrics: this.metrics.dataPath as NonNullable<AgentMetrics['dataPath']>,
        ticketKeys: this.ticketKeys.current,
        ...(opts.captured === undefined ? {} : { captured: opts.captured }),
      });
      this.table = plane.connections;
      this.dataPath = plane;
    } else {
      for (const c of DATA_PATH_COMPONENTS) this.logLevels.child(c);
      this.dataPath = new WorkerDataPath({
        config: this.config,
        logger: this.logLevels.child('workers'),
        logLevels: this.logLevels,
        identities: () => this.identities,
        snapshot: () => this.index.snapshot,
        onServing: (n) => this.onServing(n),
        onRestart: () => this.metrics.workerRestarted(),
        ticketKeys: () => this.ticketKeys.current,
        ...(opts.workerEntry === undefined ? {} : { entry: opts.workerEntry }),
      });
    }
    const remote = this.dataPath.remoteMetrics;
    if (remote !== undefined) this.metrics.mergeWorkers(remote);
    this.metrics.watch({
      config: () => ({ version: this.index.snapshot.version, appliedAtMs: this.appliedAtMs }),
      certificates: () => this.identities.list(),
      captureInSync: () => this.lastDrift?.inSync,
      workersRunning: () => this.dataPath.serving(),
    });
  }

  /**
   * The in-process data path's connection table (for tests that open or wait on connections
   * directly); undefined when the data path runs in worker processes, whose connections are
   * only seen as rows ({@link connectionRows}).
   */
  get connections(): ConnectionTable | undefined {
    return this.table;
  }

  /** Live connections as `/connections` rows, from this process or every worker (`worker` is the pid). */
  connectionRows(): Promise<ConnectionRow[]> {
    return this.dataPath.connectionRows();
  }

  /** Service ports' endpoints with their per-request balancing state, per process (`/endpoints`). */
  endpointRows(): Promise<EndpointRow[]> {
    return this.dataPath.endpointRows();
  }

  /** Every data-path process's live resilience state, one block per process (`/resilience`). */
  resilienceRows(): Promise<ProcessResilience[]> {
    return this.dataPath.resilienceRows();
  }

  /** The data-path workers (empty when the data path runs in this process). */
  workers(): WorkerInfo[] {
    return this.dataPath.workers();
  }

  /**
   * Changes a log level here and in every worker.
   * @throws MeshletError MESHLET_ERR_CONFIG_INVALID for an unknown level or component.
   */
  setLogLevel(level: string, component?: string): void {
    this.logLevels.set(level, component);
    this.dataPath.setLogLevel(level, component);
  }

  /**
   * Resolves once `check` holds for the data-path workers: at once, or at the first change in
   * how many serve that makes it hold (a worker died, a restarted one serves). Waiters run right
   * after readiness has followed the change.
   */
  whenWorkers(check: (workers: readonly WorkerInfo[]) => boolean): Promise<void> {
    if (check(this.workers())) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = (): void => {
        if (!check(this.workers())) return;
        this.workerWaiters.delete(waiter);
        resolve();
      };
      this.workerWaiters.add(waiter);
    });
  }

  /** Readiness follows the workers: not ready while none serves (they all died at once). */
  private onServing(serving: number): void {
    if (this.dataServed && this.draining === undefined) {
      if (serving === 0) this.readiness.block('listeners');
      else this.readiness.release('listeners');
    }
    for (const waiter of [...this.workerWaiters]) waiter();
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

  /** Routes of the snapshot in force that this agent does not apply, and why (`WorkloadIndex.refusedRoutes`). */
  get refusedRoutes(): readonly { readonly route: string; readonly reason: string }[] {
    return this.index.refusedRoutes;
  }

  /** The data-path worker processes; undefined when the data path runs in this process. */
  get workerPool(): WorkerPool | undefined {
    return this.dataPath instanceof WorkerDataPath ? this.dataPath.pool : undefined;
  }

  /** The node this agent serves (`--node`). */
  get node(): string {
    return this.config.node;
  }

  /** Where the snapshot in force came from. */
  get snapshotSource(): SnapshotSource {
    return this.source;
  }

  /** An ops port's listening socket (admin, metrics) for `listen({ fd })`, after `start()`: a copy the caller's server owns. */
  opsListener(role: 'admin' | 'metrics'): InheritedFd {
    if (this.sockets === undefined) throw new MeshletError('MESHLET_ERR_CLOSED', 'agent not started');
    return { fd: libc().dupCloexec(this.sockets.opsFd(role)) };
  }

  /** Whether this agent has handed its listeners to a new agent (it then only drains). */
  get handedOff(): boolean {
    return this.handedOver;
  }

  /**
   * Opens the listening sockets, or takes them over from an agent already serving the node
   * (an upgrade: `handover/`), and serves them. Capture rules are applied only after this, so
   * nothing is redirected to a closed port. With a snapshot store, the persisted snapshot is
   * read first and applied right after, so a restart while the controller is down knows its
   * meshed workloads again. A takeover serves the data listeners only once the rest of
   * readiness holds (snapshot, certificates, rules): the old agent serves them until then.
   */
  async start(): Promise<BoundAddresses> {
    const persisted = await this.store?.load({ node: this.config.node, trustDomain: this.config.trustDomain });
    try {
      const takeover = await this.askTakeover();
      const bound = await this.bindAll(takeover);
      // Unless a live snapshot came first; never waits for certificates or rules (they retry).
      if (persisted !== undefined && this.source === 'none') void this.install(persisted, 'persisted').catch(() => undefined);
      return bound;
    } catch (err) {
      // Leave nothing half-bound behind a failed start.
      await this.dataPath.destroy();
      this.healthServer?.close();
      this.sockets?.close();
      throw err;
    }
  }

  /** The listeners of an agent serving this node now, or undefined (none, or the handover failed: logged). */
  private async askTakeover(): Promise<Takeover | undefined> {
    if (!this.handoverOn) return undefined;
    try {
      const takeover = await requestTakeover(this.config.handoverSocket, this.config.node);
      if (takeover === undefined) return undefined;
      this.sockets = ListenerSockets.adopt(this.config, takeover.entries, takeover.fds, Math.max(1, this.config.workers));
      this.logger.info({ listeners: takeover.entries.length, sets: this.sockets.setCount }, 'took the listening sockets over from the agent serving this node');
      return takeover;
    } catch (err) {
      this.logger.error({ code: 'MESHLET_ERR_HANDOVER', err: (err as Error).message }, 'listener handover failed: binding fresh sockets beside the old agent (SO_REUSEPORT); its queued connections may be reset when it stops');
      return undefined;
    }
  }

  private async bindAll(takeover: Takeover | undefined): Promise<BoundAddresses> {
    this.sockets ??= ListenerSockets.open(this.config, Math.max(1, this.config.workers), this.handoverOn);
    const readiness = await this.bindHealth({ fd: libc().dupCloexec(this.sockets.opsFd('readiness')) });
    const { outbound, inbound, tunnel } = takeover === undefined ? await this.serveData() : this.sockets.addresses();
    if (takeover !== undefined) void this.serveAfterTakeover(takeover);
    else {
      this.dataServed = true;
      this.markServed();
      this.readiness.release('listeners');
      await this.startHandoverServer();
    }
    this.logger.info({ outbound, inbound, tunnel, readiness, workers: this.config.workers, takeover: takeover !== undefined }, 'listeners bound');
    void this.readiness.whenReady().then(() => this.logger.info({ version: this.index.snapshot.version }, 'agent ready'));
    this.bound = { outbound, inbound, tunnel, readiness };
    this.startDriftChecks();
    return this.bound;
  }

  /** Serves the data listeners (every set, in this process or the workers). */
  private async serveData(): Promise<ReturnType<ListenerSockets['addresses']>> {
    const sockets = this.sockets as ListenerSockets;
    const inProcess = this.config.workers <= 1;
    const held: HeldListeners = {
      addresses: () => sockets.addresses(),
      ipv6: sockets.ipv6,
      // In this process a Node server owns the fd it listens on: it gets a copy (the agent keeps its own).
      setsFor: (index, workers) => {
        const sets = sockets.setsFor(index, workers);
        if (!inProcess) return sets;
        const dup = (fd: number): number => libc().dupCloexec(fd);
        return sets.map((s) => ({ outbound: s.outbound.map(dup), inbound: s.inbound.map(dup), tunnel: dup(s.tunnel) }));
      },
    };
    return this.dataPath.start(held);
  }

  /** After a takeover: once only the listeners block readiness, serve them, tell the old agent, and listen for the next one. */
  private async serveAfterTakeover(takeover: Takeover): Promise<void> {
    while (this.draining === undefined && this.readiness.pending().some((b) => b !== 'listeners')) {
      await new Promise((resolve) => setTimeout(resolve, TAKEOVER_POLL_MS));
    }
    if (this.draining !== undefined) return takeover.abort();
    try {
      await this.serveData();
      // Told before this agent reports ready: whoever stops the old agent on that (a DaemonSet
      // rollout, `lab upgrade-agent`) finds it already handed over.
      if (!takeover.confirm()) this.logger.warn('the old agent was gone before it could be told: serving the listeners taken over');
      this.dataServed = true;
      this.markServed();
      this.readiness.release('listeners');
      this.logger.info('serving the listeners taken over; the old agent drains');
      await this.startHandoverServer();
    } catch (err) {
      takeover.abort();
      this.logger.error({ code: 'MESHLET_ERR_HANDOVER', err: (err as Error).message }, 'could not serve the listeners taken over; the old agent serves on');
    }
  }

  private async startHandoverServer(): Promise<void> {
    if (!this.handoverOn) return;
    const server = new HandoverServer({
      path: this.config.handoverSocket,
      node: this.config.node,
      logger: this.logger.child({ component: 'handover' }),
      listeners: () => (this.sockets as ListenerSockets).entries(),
      onTakeover: (phase) => this.onTakeover(phase),
    });
    try {
      await server.start();
      // A drain (or a handover) that began while the socket was being bound found no server to
      // close: close it here, or it would hold the process open.
      if (this.draining !== undefined || this.handedOver) {
        server.close();
        return;
      }
      this.handoverServer = server;
    } catch (err) {
      this.logger.error({ code: 'MESHLET_ERR_HANDOVER', path: this.config.handoverSocket, err: (err as Error).message }, 'handover socket not available: an upgrade of this agent will not take its listeners over');
    }
  }

  private onTakeover(phase: TakeoverPhase): void {
    this.handingOver = phase === 'started';
    if (phase !== 'serving') return;
    this.handedOver = true;
    this.saves?.drop();
    this.handoverServer?.close();
    this.onHandedOver?.();
    void this.drain();
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

  private bindHealth(fd: InheritedFd): Promise<AddressInfo> {
    // Any pod can reach this port: connections, timeouts and sizes are bounded (http-limits.ts).
    const { server } = createLocalHttpServer((req, res) => {
      // A new agent starting with this agent's sockets answers for the node: the kubelet's
      // probe of the new pod, which may reach either process, must not pass early on this one.
      const ready = this.readiness.ready && this.draining === undefined && !this.handingOver;
      if (req.url === '/healthz') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      } else if (req.url === '/healthz/ready' || req.url === '/ready') {
        const body = { ready, pending: this.readiness.pending(), draining: this.draining !== undefined, handover: this.handedOver ? 'done' : this.handingOver ? 'in-progress' : 'none', version: this.index.snapshot.version, snapshotSource: this.source };
        res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
      } else {
        res.writeHead(404).end();
      }
    }, { listener: 'readiness', registry: this.metrics.registry, logger: this.logger });
    this.healthServer = server;
    return listen(server, fd);
  }

  /**
   * Applies a snapshot. The lookup tables take effect at once; capture rules (in order, one
   * apply at a time) and certificates follow independently, so a signer that is down or slow
   * never holds back the rules, and each releases its own readiness blocker. A failed part
   * is retried until it succeeds or a newer snapshot replaces it.
   */
  applySnapshot(snapshot: NodeSnapshot): Promise<void> {
    // Saved in the background and coalesced: the disk never holds back the tables, the ACK or
    // the rules, and a stream of one-pod changes does not encode the whole view for each.
    // Handed over: the new agent owns the file (an older snapshot must not overwrite its newer one).
    if (!this.handedOver) this.saves?.offer(snapshot);
    return this.install(snapshot, 'live');
  }

  /** Writes the newest snapshot applied now if its save waits for the coalescing interval (shutdown); resolves when written. */
  flushSnapshotStore(): Promise<void> {
    return this.saves?.flush() ?? Promise.resolve();
  }

  /**
   * Puts a snapshot in force. A persisted one serves the data path (meshed sources refused
   * rather than passed in plaintext, certificates asked for again) but does not release the
   * readiness blocker: that waits for a live snapshot.
   */
  private install(snapshot: NodeSnapshot, source: Exclude<SnapshotSource, 'none'>): Promise<void> {
    // Handed over: the new agent owns the tables' successors and the capture rules.
    if (this.handedOver) return Promise.resolve();
    const before = this.index;
    const previous = before.snapshot.version;
    // Derived from the tables in force when the snapshot shares their unchanged entries (a
    // delta applied to the held view): the cost of the change, not of the cluster.
    this.index = WorkloadIndex.derive(before, snapshot, indexAddressOptions(this.config));
    if (this.index.refused !== before.refused) this.reportRefused(this.index.refused);
    for (const r of this.index.refusedRoutes) this.logger.warn({ code: 'MESHLET_ERR_CONFIG_INVALID', route: r.route, reason: r.reason, version: snapshot.version }, 'route not applied');
    this.source = source;
    this.dataPath.setSnapshot(this.index);
    this.appliedAtMs = Date.now();
    if (source === 'live') this.readiness.release('snapshot');
    this.logger.info(
      { version: snapshot.version, previous, source, localWorkloads: snapshot.localWorkloads.length, workloads: snapshot.workloads.length, services: snapshot.services.length, authorizationPolicies: snapshot.authorizationPolicies?.length ?? 0 },
      'snapshot applied',
    );
    clearTimeout(this.retryTimer);
    this.pendingRetry = undefined;
    const certs = this.reconcileCertificates(this.index);
    const rules = this.capture === null ? Promise.resolve() : this.queueCapture();
    return Promise.all([certs, rules]).then(() => undefined);
  }

  private async reconcileCertificates(index: WorkloadIndex): Promise<void> {
    try {
      await this.reconcileIdentities(index.localIdentities);
      if (this.index === index) this.readiness.release('certificates');
    } catch (err) {
      this.scheduleRetry(index, `certificates: ${(err as Error).message}`);
      throw err;
    }
  }

  /**
   * The certificates' reconcile for `identities`: the one already made for the same set (a
   * derived index keeps the set object while no local identity comes or goes), else a new one.
   * A failed one is forgotten, so a retry reconciles again.
   */
  private reconcileIdentities(identities: ReadonlySet<string>): Promise<void> {
    if (this.reconciled?.identities === identities) return this.reconciled.done;
    const done = this.identities.reconcile(identities);
    const entry = { identities, done };
    this.reconciled = entry;
    done.catch(() => {
      if (this.reconciled === entry) this.reconciled = undefined;
    });
    return done;
  }

  /** Capture-rule applies run one after another, always for the newest snapshot. */
  private queueCapture(): Promise<void> {
    const capture = this.capture as CaptureRules;
    const index = this.index;
    const next = this.applying.then(async () => {
      if (this.index !== index) return; // a newer snapshot queued its own apply
      try {
        // The index's addresses, not the snapshot's: a refused one was dropped there (and logged),
        // by the policy the rule builder applies too, so one bad workload cannot fail every apply.
        await capture.apply(index.localAddresses);
        this.readiness.release('capture-rules');
      } catch (err) {
        this.scheduleRetry(index, `capture rules: ${(err as Error).message}`);
        throw err;
      }
    });
    this.applying = next.catch(() => undefined);
    return next;
  }

  /**
   * Logs each refused entry once (not again for every snapshot that still carries it) and sets
   * the gauge. The set of logged entries is bounded: past the bound it starts over, so a flood
   * of bad entries costs at most one line each per {@link MAX_REFUSED_LOGGED}.
   */
  private reportRefused(refused: readonly RefusedEntry[]): void {
    this.metrics.setRefusedAddresses(refused);
    const fresh = refused.filter((r) => !this.refusedLogged.has(`${r.what}|${r.field}|${r.address}`));
    if (fresh.length === 0) return;
    if (this.refusedLogged.size + fresh.length > MAX_REFUSED_LOGGED) this.refusedLogged.clear();
    for (const r of fresh) this.refusedLogged.add(`${r.what}|${r.field}|${r.address}`);
    this.logger.warn(
      { code: 'MESHLET_ERR_OBJECT_INVALID', refused: fresh.slice(0, MAX_REFUSED_LINES), more: Math.max(0, fresh.length - MAX_REFUSED_LINES) },
      'snapshot entries with addresses that are never a workload address were left out',
    );
  }

  private scheduleRetry(index: WorkloadIndex, what: string): void {
    if (this.draining !== undefined || this.index !== index) return;
    this.logger.error({ version: index.snapshot.version, err: what }, `snapshot not fully applied; retrying in ${this.retryMs} ms`);
    clearTimeout(this.retryTimer);
    const retry = (): void => {
      this.pendingRetry = undefined;
      if (this.index === index && this.draining === undefined) void this.install(index.snapshot, this.source === 'persisted' ? 'persisted' : 'live').catch(() => undefined);
    };
    this.pendingRetry = retry;
    this.retryTimer = setTimeout(retry, this.retryMs);
    this.retryTimer.unref();
  }

  /**
   * The controller is back (the usual cause of a failed certificate request): certificate
   * issuances waiting out their backoff (up to a minute after a long outage) and a scheduled
   * snapshot retry run now. Nothing when neither is waiting.
   */
  retryNow(): void {
    if (this.draining !== undefined) return;
    const issuances = this.identities.retryFailedNow();
    const retry = this.pendingRetry;
    if (issuances === 0 && retry === undefined) return;
    clearTimeout(this.retryTimer);
    this.logger.info({ version: this.index.snapshot.version, issuances, snapshot: retry !== undefined }, 'the controller is back: retrying now');
    retry?.();
  }

  /**
   * Drains: stop accepting, ask tunnel peers to stop (GOAWAY), let connections finish until the
   * deadline, then abort the rest. Idempotent; capture rules stay (fail closed while down).
   */
  drain(deadlineMs = this.config.drainDeadlineMs): Promise<void> {
    if (this.draining === undefined) this.handoverServer?.close();
    this.draining ??= this.doDrain(deadlineMs);
    return this.draining;
  }

  private async doDrain(deadlineMs: number): Promise<void> {
    this.logger.info({ deadlineMs, failureMode: this.config.failureMode, workers: this.config.workers }, 'draining');
    clearTimeout(this.retryTimer);
    // The newest snapshot on disk before the process ends (its save may wait for the coalescing interval).
    const saved = this.saves?.close() ?? Promise.resolve();
    clearInterval(this.driftTimer);
    // Handed over: the rules stay for the new agent, which owns them now.
    if (this.config.failureMode === 'open' && this.capture !== null && !this.handedOver) {
      // Fail open: lift the rules first, so new connections flow unmeshed instead of being
      // refused by a closing agent; connections already captured finish through the drain.
      await this.applying;
      await this.capture.clean().then(
        () => this.logger.warn('fail-open: capture rules lifted; meshed traffic flows unmeshed until the agent is back'),
        (err: Error) => this.logger.error({ err: err.message }, 'fail-open: capture rules could not be lifted'),
      );
    }
    // This process's copies (the data path closes its own as it stops accepting): without a
    // handover the sockets then close, and new connections are refused rather than queued;
    // after one they live on in the new agent.
    this.sockets?.close();
    this.forceDrain = () => void this.dataPath.destroy();
    const result = await this.dataPath.drain(deadlineMs);
    this.identities.close();
    this.ticketKeys.close();
    this.metrics.pauses.stop();
    this.healthServer?.close();
    await saved;
    this.logger.info({ drained: result.drained, forced: result.forced, workers: this.config.workers, handedOver: this.handedOver }, 'drained');
  }

  /** Closes now, without waiting for connections, also in the middle of a drain. Idempotent. */
  destroy(): Promise<void> {
    const p = this.drain(0);
    this.forceDrain();
    return p;
  }
}
