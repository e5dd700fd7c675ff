/**
 * The primary's side of the data-path workers: forks them (`child_process.fork`, same Node
 * binary and execArgv, structured-clone IPC), hands each the snapshot and credentials before
 * it binds, answers their credential requests, asks them for connections and metrics, restarts
 * one that dies (with capped backoff), and drains or destroys them all.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import { Backoff } from '../../ops/backoff.js';
import { hasOldSpaceFlag, heapCapFor, readOwnMemoryMax } from '../../ops/heap-cap.js';
import type { Listeners, WorkerInfo } from '../proxy/data-path.js';
import { parseWorkerMessage, type FromWorker, type ToWorker, type WireAddress, type WorkerQuery } from './protocol.js';
import type { LeaseAsk, LeaseGrant } from './rate-lease.js';
import type { TapFilter } from '../tap/tap-filter.js';
import type { TapBatch } from '../tap/tap-batcher.js';

/** What the pool tells the tap of each batch a worker sends (already checked by parseWorkerMessage). */
export type TapBatchListener = (batch: TapBatch, worker: number) => void;

/** What a worker needs when it (re)starts: built fresh each time from the primary's state. */
export type WorkerInit = Omit<Extract<ToWorker, { type: 'init' }>, 'type' | 'index'>;

/** Options of {@link WorkerPool}. */
export interface WorkerPoolOptions {
  readonly size: number;
  readonly logger: Logger;
  readonly init: (index: number) => WorkerInit;
  /** The primary's listening sockets worker `index` inherits (at fds 4, 5, ... in the worker, in this order). */
  readonly listenerFds?: (index: number) => readonly number[];
  /** Answers a worker's request for credentials (by identity or server name). */
  readonly credentials: (req: { identity?: string; sni?: string }) => Promise<Extract<ToWorker, { type: 'reply' }>['credentials']>;
  /** Told whenever the number of workers serving changes. */
  readonly onServing: (serving: number) => void;
  /** Told when a worker died and will be started again. */
  readonly onRestart: () => void;
  /** Grants rate-limit tokens to a worker (the primary's buckets); absent: every ask gets `unknown`. */
  readonly tokens?: (ask: LeaseAsk) => LeaseGrant;
  /** The whole snapshot for a worker that asks for it again (`resync`); absent: the ask is ignored. */
  readonly resync?: () => ToWorker;
  /** The worker entry (default: main.js beside this file). */
  readonly entry?: string;
  /** A worker that has not bound by then has failed its start. */
  readonly startTimeoutMs?: number;
  /** The text of the agent's cgroup `memory.max` (default: read it; undefined: none). */
  readonly memoryMax?: () => string | undefined;
}

/** What a worker bound. */
export type WorkerBound = Listeners<readonly WireAddress[], WireAddress>;

interface Slot {
  readonly index: number;
  child: ChildProcess | undefined;
  serving: boolean;
  restarts: number;
  /** Delays between restarts of this worker (the one Backoff: doubling, jittered, capped). */
  readonly backoff: Backoff;
  startedAt: number;
  timer: NodeJS.Timeout | undefined;
  exited: Promise<void>;
}

const QUERY_TIMEOUT_MS = 2_000;
/**
 * Restart delays: the first one short (a crashed worker is capacity lost now), doubling to a
 * ceiling that keeps a worker crashing at start from forking in a loop. The jitter spreads
 * workers that died together (one bad input reaching them all) over the interval.
 */
const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5_000;
/** A worker that served this long before dying restarts after the first backoff step again. */
const BACKOFF_RESET_MS = 10_000;
/** After a drain or destroy, a worker that has not exited by then is killed. */
const EXIT_GRACE_MS = 2_000;

/** N data-path worker processes. */
export class WorkerPool {
  private readonly opts: WorkerPoolOptions;
  private readonly logger: Logger;
  private readonly slots: Slot[];
  private readonly entry: string;
  /** Node flags of every worker: the primary's, plus an old-space cap under a memory limit. */
  readonly execArgv: readonly string[];
  private readonly queries = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextQuery = 1;
  private stopping = false;
  /** Connections the workers reported at their drain, and whether any had to close some. */
  private readonly drainTotals = { drained: 0, forced: false };
  /** The tap subscribers' filters (empty: no tap open, the workers build no event). */
  private tapFilters: readonly TapFilter[] = [];
  private tapListener: TapBatchListener | undefined;

  constructor(opts: WorkerPoolOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    this.entry = opts.entry ?? fileURLToPath(new URL('./main.js', import.meta.url));
    this.execArgv = workerExecArgv(opts.logger, opts.size, (opts.memoryMax ?? readOwnMemoryMax)());
    this.slots = Array.from({ length: opts.size }, (_, index) => ({
      index, child: undefined, serving: false, restarts: 0, backoff: new Backoff({ initialMs: BACKOFF_FIRST_MS, maxMs: BACKOFF_MAX_MS }), startedAt: 0, timer: undefined, exited: Promise.resolve(),
    }));
  }

  /**
   * Taps every worker with `filters` (a worker started later is told when it has bound);
   * `listener` gets their batches. No filters: the workers stop tapping and the listener is dropped.
   */
  tap(filters: readonly TapFilter[], listener: TapBatchListener | undefined): void {
    this.tapFilters = filters;
    this.tapListener = filters.length === 0 ? undefined : listener;
    this.broadcast({ type: 'tap', filters });
  }

  /** Starts every worker; resolves with the first one's listeners once all have bound. */
  async start(): Promise<WorkerBound> {
    const bound = await Promise.all(this.slots.map((slot) => this.spawn(slot)));
    return bound[0] as WorkerBound;
  }

  /** Workers serving now. */
  get serving(): number {
    return this.slots.filter((s) => s.serving).length;
  }

  /** Each worker's pid, state and restarts. */
  info(): WorkerInfo[] {
    return this.slots.map((s) => ({ index: s.index, pid: s.child?.pid ?? null, serving: s.serving, restarts: s.restarts }));
  }

  /** Sends a message to every live worker (snapshot, credentials, log level). */
  broadcast(msg: ToWorker): void {
    for (const slot of this.slots) send(slot.child, msg);
  }

  /** Asks every serving worker; a worker that does not answer in time is left out (and logged). */
  async query(what: WorkerQuery): Promise<unknown[]> {
    const asked = this.slots.filter((s) => s.serving && s.child !== undefined);
    const answers = await Promise.allSettled(asked.map((s) => this.ask(s.child as ChildProcess, what)));
    const values: unknown[] = [];
    answers.forEach((a, i) => {
      if (a.status === 'fulfilled') values.push(a.value);
      else this.logger.warn({ worker: asked[i]?.index, query: what, err: (a.reason as Error).message }, 'worker did not answer');
    });
    return values;
  }

  private ask(child: ChildProcess, what: WorkerQuery): Promise<unknown> {
    const id = this.nextQuery++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.queries.delete(id);
        reject(new Error(`no answer to ${what} within ${QUERY_TIMEOUT_MS} ms`));
      }, QUERY_TIMEOUT_MS);
      this.queries.set(id, { resolve, reject, timer });
      send(child, { type: 'query', id, what });
    });
  }

  /**
   * Tells every worker to drain within `deadlineMs`; resolves when all have exited, with the
   * connections they had and whether any was closed at the deadline.
   */
  async drain(deadlineMs: number): Promise<{ drained: number; forced: boolean }> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.timer);
    this.broadcast({ type: 'drain', deadlineMs });
    await this.waitExit(deadlineMs + EXIT_GRACE_MS);
    return { ...this.drainTotals };
  }

  /** Tells every worker to close now; resolves when all have exited. Idempotent. */
  async destroy(): Promise<void> {
    this.stopping = true;
    for (const slot of this.slots) clearTimeout(slot.timer);
    this.broadcast({ type: 'destroy' });
    await this.waitExit(EXIT_GRACE_MS);
  }

  private async waitExit(graceMs: number): Promise<void> {
    const all = Promise.all(this.slots.map((s) => s.exited));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)));
    const exited = await Promise.race([all.then(() => true), late]);
    clearTimeout(timer);
    if (exited) return;
    for (const s of this.slots) {
      if (s.child !== undefined && s.child.exitCode === null && s.child.signalCode === null) {
        this.logger.warn({ worker: s.index, workerPid: s.child.pid }, 'worker did not exit in time: killing it');
        s.child.kill('SIGKILL');
      }
    }
    await all;
  }

  /** Forks a worker, sends it `init`, resolves when it has bound (rejects when it cannot). */
  private spawn(slot: Slot): Promise<WorkerBound> {
    // The listening sockets go down as inherited descriptors (the primary keeps its own: a
    // restarted worker gets the same sockets, and their queued connections wait for it).
    const inherited = this.opts.listenerFds?.(slot.index) ?? [];
    const child = fork(this.entry, [], { execArgv: [...this.execArgv], serialization: 'advanced', stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...inherited] });
    slot.child = child;
    slot.serving = false;
    slot.startedAt = Date.now();
    slot.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    return new Promise<WorkerBound>((resolve, reject) => {
      const timeoutMs = this.opts.startTimeoutMs ?? 15_000;
      const timer = setTimeout(() => fail(`did not bind within ${timeoutMs} ms`), timeoutMs);
      let settled = false;
      const fail = (why: string): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (child.exitCode === null) child.kill('SIGKILL');
        reject(new MeshletError('MESHLET_ERR_WORKER', `data-path worker ${slot.index}: ${why}`));
      };
      child.on('message', (raw: unknown) => {
        const msg = parseWorkerMessage(raw);
        if (typeof msg === 'string') {
          this.logger.error({ worker: slot.index, workerPid: child.pid, problem: msg }, 'malformed message from a worker: ignored');
          return;
        }
        if (msg.type === 'bound' && !settled) {
          settled = true;
          clearTimeout(timer);
          this.onBound(slot, msg);
          resolve(msg);
        } else if (msg.type === 'bind-failed') fail(msg.error);
        else this.onMessage(slot, child, msg);
      });
      child.once('exit', (code, signal) => {
        fail(`exited before binding (code ${code}, signal ${signal})`);
        this.onExit(slot, child, code, signal);
      });
      child.on('error', (err) => this.logger.warn({ worker: slot.index, err: err.message }, 'worker channel error'));
      send(child, { type: 'init', index: slot.index, ...this.opts.init(slot.index) });
    });
  }

  private onBound(slot: Slot, msg: WorkerBound): void {
    slot.serving = true;
    this.logger.info({ worker: slot.index, workerPid: slot.child?.pid, outbound: msg.outbound, inbound: msg.inbound, tunnel: msg.tunnel }, 'worker bound');
    if (this.tapFilters.length > 0) send(slot.child, { type: 'tap', filters: this.tapFilters });
    this.opts.onServing(this.serving);
  }

  private onMessage(slot: Slot, child: ChildProcess, msg: FromWorker): void {
    if (msg.type === 'answer') {
      const q = this.queries.get(msg.id);
      if (q === undefined) return;
      this.queries.delete(msg.id);
      clearTimeout(q.timer);
      if (msg.error !== undefined) q.reject(new Error(msg.error));
      else q.resolve(msg.value);
    } else if (msg.type === 'need-credentials') {
      const req = msg.identity !== undefined ? { identity: msg.identity } : { sni: msg.sni as string };
      this.opts.credentials(req).then(
        (credentials) => send(child, credentials === undefined ? { type: 'reply', id: msg.id, error: 'no credentials' } : { type: 'reply', id: msg.id, credentials }),
        (err: Error) => send(child, { type: 'reply', id: msg.id, error: err.message }),
      );
    } else if (msg.type === 'tokens') {
      // Answered at once: a request may be waiting on it (a few ms at most).
      const grant = this.opts.tokens?.(msg) ?? { id: msg.id, granted: 0, unknown: true };
      send(child, { type: 'granted', ...grant });
    } else if (msg.type === 'resync') {
      const whole = this.opts.resync?.();
      this.logger.warn({ worker: slot.index, held: msg.seq }, 'a worker missed a snapshot change: sending it the whole snapshot');
      if (whole !== undefined) send(child, whole);
    } else if (msg.type === 'tap-events') {
      this.tapListener?.(msg, slot.index);
    } else if (msg.type === 'drained') {
      this.drainTotals.drained += msg.drained;
      this.drainTotals.forced ||= msg.forced;
      this.logger.info({ worker: slot.index, drained: msg.drained, forced: msg.forced }, 'worker drained');
    }
  }

  private onExit(slot: Slot, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.child !== child) return;
    const wasServing = slot.serving;
    slot.serving = false;
    if (wasServing) this.opts.onServing(this.serving);
    if (this.stopping) return;
    if (!wasServing) return; // a failed start is the caller's to handle (start() rejects)
    if (Date.now() - slot.startedAt > BACKOFF_RESET_MS) slot.backoff.reset();
    const delay = slot.backoff.next();
    slot.restarts += 1;
    this.opts.onRestart();
    this.logger.error({ worker: slot.index, workerPid: child.pid, code, signal, restartInMs: delay }, 'data-path worker died; restarting it');
    slot.timer = setTimeout(() => this.restart(slot), delay);
    slot.timer.unref();
  }

  private restart(slot: Slot): void {
    if (this.stopping) return;
    this.spawn(slot).catch((err: Error) => {
      this.logger.error({ worker: slot.index, err: err.message }, 'data-path worker failed to start again');
      if (this.stopping) return;
      slot.restarts += 1;
      this.opts.onRestart();
      const delay = slot.backoff.next();
      slot.timer = setTimeout(() => this.restart(slot), delay);
      slot.timer.unref();
    });
  }
}

/**
 * The workers' Node flags: the primary's own, and under a cgroup memory limit an old-space cap
 * of a share of it per process (the primary and each worker: `heap-cap.ts`), unless the
 * operator set one (on the command line or in NODE_OPTIONS, which the workers inherit).
 */
function workerExecArgv(logger: Logger, workers: number, memoryMax: string | undefined): string[] {
  const own = [...process.execArgv];
  if (hasOldSpaceFlag(own) || hasOldSpaceFlag((process.env['NODE_OPTIONS'] ?? '').split(/\s+/))) return own;
  const cap = heapCapFor(memoryMax, workers + 1);
  if (cap.kind === 'invalid') {
    logger.warn({ problem: cap.why }, 'cgroup memory limit unreadable: workers get no old-space cap');
    return own;
  }
  if (cap.kind === 'none') return own;
  logger.info({ limitMiB: Math.round(cap.limitBytes / 1048576), processes: workers + 1, maxOldSpaceMiB: cap.mib }, 'old-space cap of each worker sized to the memory limit');
  return [...own, `--max-old-space-size=${cap.mib}`];
}

function send(child: ChildProcess | undefined, msg: ToWorker): void {
  if (child === undefined || !child.connected) return;
  child.send(msg, (err) => {
    // A worker that just died: its exit handler deals with it.
    void err;
  });
}
