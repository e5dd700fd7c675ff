/**
 * A data-path worker process: told its configuration, snapshot and credentials by the primary
 * (`init`), it opens its own SO_REUSEPORT listeners on the agent's ports, reports them bound,
 * and serves until told to drain or destroy, or until the primary goes away.
 */
import type { LevelWithSilent, Logger } from 'pino';
import { createRootLogger } from '../../ops/root-logger.js';
import { Registry } from '../../ops/prom.js';
import { RuntimePauses } from '../../ops/runtime-pauses.js';
import { registerProcessMemory } from '../../ops/process-memory.js';
import type { NodeSnapshot } from '../../mesh/types.js';
import { DataPathMetrics } from '../proxy/data-path-metrics.js';
import { DataPlane } from '../proxy/data-plane.js';
import { LogLevels } from '../admin/log-levels.js';
import { processResilience } from '../admin/resilience-rows.js';
import { WorkerIdentities } from '../identity/worker-identities.js';
import { isSnapshotChange, isWireCredentials, type FromWorker, type ToWorker, type WireCredentials } from './protocol.js';
import { applySnapshotChange, type SnapshotChange } from './snapshot-change.js';
import { WorkloadIndex, type ListChanges } from '../state/workload-index.js';
import { indexAddressOptions } from '../proxy/node-addresses.js';
import type { AgentConfig } from '../config.js';
import { TICKET_KEY_BYTES } from '../identity/ticket-keys.js';
import { LeasedRateLimiter } from './rate-lease.js';
import { TapBatcher } from '../tap/tap-batcher.js';
import { isTapFilter, type TapFilter } from '../tap/tap-filter.js';

type Init = Extract<ToWorker, { type: 'init' }>;

/** The IPC end a worker talks through (the `process` object of a forked child). */
export interface WorkerChannel {
  send(message: FromWorker, callback?: (err: Error | null) => void): void;
  exit(code: number): void;
}

/** Filters a `tap` message may carry: the primary caps its subscribers far below this. */
const MAX_TAP_FILTERS = 64;

/** How long a worker waits for the primary to answer a credentials request. */
const ASK_TIMEOUT_MS = 35_000;

/** The worker's state, driven by the primary's messages. */
export class WorkerRuntime {
  private readonly channel: WorkerChannel;
  private plane: DataPlane | undefined;
  private identities: WorkerIdentities | undefined;
  private logLevels: LogLevels | undefined;
  private registry: Registry | undefined;
  private nextAsk = 1;
  private readonly asks = new Map<number, { resolve: (c: WireCredentials) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private stopping = false;
  private config: AgentConfig | undefined;
  /** The snapshot this worker holds and its number (a change applies to that number only). */
  private held: { readonly snapshot: NodeSnapshot; readonly seq: number } | undefined;
  /** A resync was asked for and the whole snapshot has not come yet: changes are dropped meanwhile. */
  private resyncAsked = false;
  /** Whether the worker's identities were told the wanted set once (then only when it changes). */
  private wantedSet = false;
  /** Rate-limit tokens leased from the primary, which owns the buckets (a limit holds across workers). */
  readonly rateLimiter: LeasedRateLimiter;
  /** This worker's tap events, batched for the primary (`meshlet tap`). */
  private readonly tapBatcher: TapBatcher;

  constructor(channel: WorkerChannel) {
    this.channel = channel;
    this.rateLimiter = new LeasedRateLimiter((ask) => this.channel.send({ type: 'tokens', ...ask }));
    this.tapBatcher = new TapBatcher((batch, done) => this.channel.send({ type: 'tap-events', ...batch }, () => done()));
  }

  /** Handles one message from the primary. */
  onMessage(msg: ToWorker): void {
    switch (msg.type) {
      case 'init':
        void this.init(msg);
        return;
      case 'snapshot':
        this.resyncAsked = false;
        this.hold(msg.snapshot, msg.seq);
        return;
      case 'snapshot-change':
        this.onChange(msg.change);
        return;
      case 'credentials':
        if (isWireCredentials(msg.credentials)) this.identities?.put(msg.credentials);
        return;
      case 'forget':
        this.identities?.forget(msg.identity);
        return;
      case 'ticket-keys':
        if (msg.keys.byteLength === TICKET_KEY_BYTES) this.plane?.setTicketKeys(Buffer.from(msg.keys));
        return;
      case 'log-level':
        try {
          this.logLevels?.set(msg.level, msg.component);
        } catch (err) {
          // A component of the primary only (identity, admin, ...): nothing of it runs here.
          this.logLevels?.root.debug({ err: (err as Error).message }, 'log level not changed in this worker');
        }
        return;
      case 'reply':
        this.onReply(msg);
        return;
      case 'granted':
        this.rateLimiter.onGrant(msg);
        return;
      case 'query':
        void this.answer(msg.id, msg.what);
        return;
      case 'tap':
        this.setTap(msg.filters);
        return;
      case 'drain':
        void this.stop(this.plane?.drain(msg.deadlineMs));
        return;
      case 'destroy':
        void this.stop(this.plane?.destroy());
        return;
    }
  }

  /** The primary is gone (its IPC channel closed): nobody renews keys or answers; stop now. */
  onDisconnect(): void {
    this.stopping = true;
    this.logLevels?.root.error('the agent primary process went away: worker exiting');
    void (this.plane?.destroy() ?? Promise.resolve()).finally(() => this.channel.exit(1));
  }

  private async init(msg: Init): Promise<void> {
    const root = workerLogger(msg);
    this.logLevels = new LogLevels(root);
    for (const [component, level] of Object.entries(msg.levels.components)) this.logLevels.child(component).level = level;
    this.registry = new Registry();
    new RuntimePauses(this.registry);
    registerProcessMemory(this.registry, `worker-${msg.index}`);
    const metrics = new DataPathMetrics(this.registry);
    this.identities = new WorkerIdentities((req) => this.ask(req));
    for (const c of msg.credentials) this.identities.put(c);
    const { ports } = msg;
    this.plane = new DataPlane({
      config: msg.config,
      logLevels: this.logLevels,
      identities: this.identities,
      metrics,
      ownPorts: [ports.outbound, ports.inbound, ports.tunnel],
      ...(msg.ticketKeys.byteLength === TICKET_KEY_BYTES ? { ticketKeys: Buffer.from(msg.ticketKeys) } : {}),
    });
    this.plane.inboundHttp.gate.useLimiter(this.rateLimiter);
    this.config = msg.config;
    this.hold(msg.snapshot, msg.seq);
    try {
      const bound = await this.plane.listenOnSets(msg.sets);
      root.debug({ bound }, 'worker listening');
      this.channel.send({ type: 'bound', ...bound });
    } catch (err) {
      root.error({ err: (err as Error).message }, 'worker could not serve its listeners');
      this.channel.send({ type: 'bind-failed', error: (err as Error).message }, () => this.channel.exit(1));
    }
  }

  /** Taps with the subscribers' filters (from the primary: checked cheaply; a bad list turns the tap off). */
  private setTap(filters: unknown): void {
    const ok = Array.isArray(filters) && filters.length <= MAX_TAP_FILTERS && filters.every(isTapFilter);
    const list: readonly TapFilter[] = ok ? (filters as TapFilter[]) : [];
    if (list.length === 0) this.tapBatcher.clear();
    this.plane?.tap.set(list, this.tapBatcher);
  }

  /**
   * Applies a change to the snapshot held; one that applies to another (this worker restarted
   * or missed one: it cannot tell) or is malformed makes it ask for the whole snapshot, once.
   */
  private onChange(change: SnapshotChange): void {
    if (this.resyncAsked) return;
    const held = this.held;
    if (held === undefined || !isSnapshotChange(change) || change.fromSeq !== held.seq) {
      this.resyncAsked = true;
      this.logLevels?.root.warn({ held: held?.seq ?? null, fromSeq: (change as Partial<SnapshotChange> | undefined)?.fromSeq ?? null }, 'snapshot change for another snapshot than the one held: asking for the whole one');
      this.channel.send({ type: 'resync', seq: held?.seq ?? 0 });
      return;
    }
    const applied = applySnapshotChange(held.snapshot, change);
    this.hold(applied.snapshot, change.seq, applied.lists);
  }

  private hold(snapshot: NodeSnapshot, seq: number, known?: ListChanges): void {
    this.held = { snapshot, seq };
    if (this.plane === undefined || this.config === undefined) return; // before 'init': the init message carries the snapshot
    // Derived from the tables in force (the change shares every unchanged entry with them),
    // under the agent's address policy (node addresses, loopback).
    const before = this.plane.workloadIndex;
    this.plane.setSnapshot(WorkloadIndex.derive(before, snapshot, indexAddressOptions(this.config), known));
    // The same set object while no local identity comes or goes (O(identities) otherwise).
    const wanted = this.plane.workloadIndex.localIdentities;
    if (wanted !== before.localIdentities || !this.wantedSet) this.identities?.setWanted(wanted);
    this.wantedSet = true;
  }

  private ask(req: { readonly identity: string } | { readonly sni: string }): Promise<WireCredentials> {
    const id = this.nextAsk++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asks.delete(id);
        reject(new Error(`the agent primary did not answer within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      timer.unref();
      this.asks.set(id, { resolve, reject, timer });
      this.channel.send({ type: 'need-credentials', id, ...req });
    });
  }

  private onReply(msg: Extract<ToWorker, { type: 'reply' }>): void {
    const ask = this.asks.get(msg.id);
    if (ask === undefined) return;
    this.asks.delete(msg.id);
    clearTimeout(ask.timer);
    if (msg.credentials !== undefined && isWireCredentials(msg.credentials)) ask.resolve(msg.credentials);
    else ask.reject(new Error(msg.error ?? 'the agent primary sent no credentials'));
  }

  private async answer(id: number, what: string): Promise<void> {
    try {
      let value: unknown;
      if (what === 'connections') value = this.plane?.rows(process.pid) ?? [];
      else if (what === 'endpoints') value = this.plane?.lbRows(process.pid) ?? [];
      else if (what === 'resilience') value = this.plane === undefined ? { worker: process.pid, servicePorts: [], adaptiveLimits: [] } : processResilience(this.plane, process.pid);
      else if (what === 'metrics') value = (await this.registry?.getMetricsAsJSON()) ?? [];
      else if (what === 'tunnels') value = this.plane?.tunnels.size ?? 0;
      else throw new Error(`unknown query ${what}`);
      this.channel.send({ type: 'answer', id, value });
    } catch (err) {
      this.channel.send({ type: 'answer', id, error: (err as Error).message });
    }
  }

  private async stop(done: Promise<{ drained: number; forced: boolean }> | undefined): Promise<void> {
    if (this.stopping && done === undefined) return;
    this.stopping = true;
    const result = (await done) ?? { drained: 0, forced: false };
    // Exit once the primary has the answer (the send callback), not before.
    this.channel.send({ type: 'drained', ...result }, () => this.channel.exit(0));
  }
}

/** The primary's JSON lines (one write per line), with `worker` in the base bindings. */
function workerLogger(msg: Init): Logger {
  return createRootLogger(msg.levels.root as LevelWithSilent, { node: msg.config.node, worker: msg.index });
}
