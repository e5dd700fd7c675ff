/**
 * The agent's data path in N worker processes: each worker inherits its share of the agent's
 * listening sockets (held by the primary: `handover/listener-sockets.ts`), the primary keeps a
 * copy of every credential with its key for the workers, and drives the {@link WorkerPool}.
 */
import { mergeWorkerResilience, type ProcessResilience } from '../admin/resilience-rows.js';
import type { Logger } from 'pino';
import type { NodeSnapshot } from '../../mesh/types.js';
import type { AgentConfig } from '../config.js';
import type { ConnectionRow, DataPath, DrainResult, EndpointRow, HeldListeners, ListenerAddresses, ListenerFds, WorkerInfo } from '../proxy/data-path.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import type { IdentityCredentials, IdentityManager } from '../identity/manager.js';
import type { LogLevels } from '../admin/log-levels.js';
import type { MetricsJson } from '../admin/metrics.js';
import { WorkerPool } from './pool.js';
import { snapshotChange } from './snapshot-change.js';
import type { WireCredentials, WorkerPorts } from './protocol.js';
import { TokenGrants } from './token-grants.js';

/** Options of {@link WorkerDataPath}. */
export interface WorkerDataPathOptions {
  readonly config: AgentConfig;
  readonly logger: Logger;
  readonly logLevels: LogLevels;
  readonly identities: () => IdentityManager;
  readonly snapshot: () => NodeSnapshot;
  readonly onServing: (serving: number) => void;
  readonly onRestart: () => void;
  /** The worker entry (tests may point elsewhere); default main.js beside the pool. */
  readonly entry?: string;
  /** The tunnel's TLS session ticket keys in force (a restarted worker gets the current ones). */
  readonly ticketKeys: () => Buffer;
}

/** Data-path workers and the ports they share. */
export class WorkerDataPath implements DataPath {
  /** The worker processes (the admin API's tap subscribes them). */
  readonly pool: WorkerPool;
  private readonly opts: WorkerDataPathOptions;
  private listeners: HeldListeners | undefined;
  private readonly creds = new Map<string, WireCredentials>();
  private ports: WorkerPorts | undefined;
  /** The snapshot last handed to the workers, its number, and whether its lists are in key order (a change may follow it). */
  private sent: { readonly snapshot: NodeSnapshot; readonly index: WorkloadIndex; readonly seq: number; readonly ordered: boolean } | undefined;
  /** The buckets of the workloads' local rate limits, shared by every worker through leases. */
  private readonly grants = new TokenGrants();
  /** The worker processes hold their own copy of each credential with its key. */
  readonly credentials = {
    issued: (creds: IdentityCredentials, keyPem: string): void => this.credentialsIssued(creds, keyPem),
    forgotten: (identity: string): void => this.credentialsForgotten(identity),
  };
  /** The workers' metrics registries, merged into the primary's scrape. */
  readonly remoteMetrics = (): Promise<MetricsJson[]> => this.metrics();

  constructor(opts: WorkerDataPathOptions) {
    this.opts = opts;
    this.pool = new WorkerPool({
      size: opts.config.workers,
      logger: opts.logger,
      init: (index) => ({
        config: opts.config,
        ports: this.ports as WorkerPorts,
        sets: this.childSets(index),
        levels: opts.logLevels.levels(),
        // The snapshot last handed over, with its number: the changes that follow apply to it.
        snapshot: this.sent?.snapshot ?? opts.snapshot(),
        seq: this.sent?.seq ?? 0,
        credentials: [...this.creds.values()],
        ticketKeys: opts.ticketKeys(),
      }),
      credentials: (req) => this.answer(req),
      tokens: (ask) => this.grants.grant(ask),
      resync: () => ({ type: 'snapshot', snapshot: this.sent?.snapshot ?? opts.snapshot(), seq: this.sent?.seq ?? 0 }),
      listenerFds: (index) => this.parentFds(index),
      onServing: opts.onServing,
      onRestart: opts.onRestart,
      ...(opts.entry === undefined ? {} : { entry: opts.entry }),
    });
  }

  /** Starts every worker on its share of the listeners; resolves when all serve. */
  async start(listeners: HeldListeners): Promise<ListenerAddresses> {
    this.listeners = listeners;
    const a = listeners.addresses();
    this.ports = { outbound: a.outbound[0]?.port ?? 0, inbound: a.inbound[0]?.port ?? 0, tunnel: a.tunnel.port, ipv6: listeners.ipv6 };
    try {
      await this.pool.start();
      return a;
    } catch (err) {
      await this.pool.destroy();
      throw err;
    }
  }

  /** Worker `index`'s sockets in the primary, in the order they are inherited. */
  private parentFds(index: number): number[] {
    const sets = this.listeners?.setsFor(index, this.opts.config.workers) ?? [];
    return sets.flatMap((s) => [...s.outbound, ...s.inbound, s.tunnel]);
  }

  /** The same sets as the worker sees them: stdio 0-3 are taken (ignore, out, err, ipc), its sockets follow from fd 4. */
  private childSets(index: number): ListenerFds[] {
    let next = 4;
    return (this.listeners?.setsFor(index, this.opts.config.workers) ?? []).map((s) => ({
      outbound: s.outbound.map(() => next++),
      inbound: s.inbound.map(() => next++),
      tunnel: next++,
    }));
  }

  /** Takes an issued or renewed certificate with its key and passes it to every worker. */
  private credentialsIssued(creds: IdentityCredentials, keyPem: string): void {
    const wire: WireCredentials = {
      identity: creds.identity, chainPem: creds.chainPem, keyPem, trustBundlePem: creds.trustBundlePem,
      serial: creds.serial, notBefore: creds.notBefore, notAfter: creds.notAfter, sni: creds.sni,
    };
    this.creds.set(creds.identity, wire);
    this.pool.broadcast({ type: 'credentials', credentials: wire });
  }

  /** Drops a departed identity here and in every worker. */
  private credentialsForgotten(identity: string): void {
    this.creds.delete(identity);
    this.pool.broadcast({ type: 'forget', identity });
  }

  /** A worker asks for credentials that are not there yet: issue them (or wait for the issuance). */
  private async answer(req: { identity?: string; sni?: string }): Promise<WireCredentials> {
    const identities = this.opts.identities();
    let creds: IdentityCredentials;
    if (req.identity !== undefined) creds = await identities.ensure(req.identity);
    else {
      const pending = identities.ensureBySni(req.sni ?? '');
      if (pending === undefined) throw new Error(`no local identity for server name ${req.sni ?? ''}`);
      creds = await pending;
    }
    const wire = this.creds.get(creds.identity);
    if (wire === undefined) throw new Error(`credentials for ${creds.identity} were dropped (its workload left)`);
    return wire;
  }

  /**
   * Hands the new snapshot to every worker (each derives its own lookup tables): as the change
   * from the one handed over before when that one's lists are in key order and the change is
   * small, else whole.
   */
  setSnapshot(index: WorkloadIndex): void {
    // The primary's buckets follow the snapshot first: a worker that has the new one asks for its rules.
    this.grants.setIndex(index);
    const before = this.sent;
    const seq = (before?.seq ?? 0) + 1;
    // The lists' changes the index derive found (no second walk), else a walk when the lists are in order.
    const known = before === undefined ? undefined : index.listChangesSince(before.index);
    const change = before !== undefined && (known !== undefined || before.ordered) ? snapshotChange(before.snapshot, index.snapshot, before.seq, seq, known) : undefined;
    this.sent = { snapshot: index.snapshot, index, seq, ordered: index.derivable };
    this.pool.broadcast(change === undefined ? { type: 'snapshot', snapshot: index.snapshot, seq } : { type: 'snapshot-change', change });
  }

  /** Hands rotated ticket keys to every worker. */
  setTicketKeys(keys: Buffer): void {
    this.pool.broadcast({ type: 'ticket-keys', keys });
  }

  /** Passes a log-level change on (already validated by the primary's own LogLevels). */
  setLogLevel(level: string, component: string | undefined): void {
    this.pool.broadcast(component === undefined ? { type: 'log-level', level } : { type: 'log-level', level, component });
  }

  /** Every worker's live connections. */
  async connectionRows(): Promise<ConnectionRow[]> {
    const answers = await this.pool.query('connections');
    return answers.flatMap((a) => (Array.isArray(a) ? (a as ConnectionRow[]) : []));
  }

  /** Every worker's endpoints with its own balancing state (each worker balances its own requests). */
  async endpointRows(): Promise<EndpointRow[]> {
    const answers = await this.pool.query('endpoints');
    return answers.flatMap((a) => (Array.isArray(a) ? (a as EndpointRow[]) : []));
  }

  /** Every worker's live resilience state, each answer checked (a malformed one is logged and left out). */
  async resilienceRows(): Promise<ProcessResilience[]> {
    const answers = await this.pool.query('resilience');
    return mergeWorkerResilience(answers, (why) => this.opts.logger.warn({ why }, 'worker resilience answer refused'));
  }

  /** Every worker's metrics registry, for the primary's scrape. */
  private async metrics(): Promise<MetricsJson[]> {
    const answers = await this.pool.query('metrics');
    return answers.filter((a): a is MetricsJson => Array.isArray(a));
  }

  /** How many workers serve now. */
  serving(): number {
    return this.pool.serving;
  }

  /** Each worker's pid, state and restarts. */
  workers(): WorkerInfo[] {
    return this.pool.info();
  }

  /** Drains every worker; the workers' connections and whether any was closed at the deadline (the agent closes its sockets). */
  drain(deadlineMs: number): Promise<DrainResult> {
    return this.pool.drain(deadlineMs);
  }

  /** Closes every worker now. */
  async destroy(): Promise<void> {
    await this.pool.destroy();
  }
}
