/**
 * The state store: the registry sources' objects -> one validated cluster state -> published
 * with a new version to whoever subscribes (the agent API server). Debounced, so a burst of
 * events makes one version; an invalid set publishes nothing and the previous state stays in
 * effect everywhere; a set that changes nothing publishes nothing.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { objectDigest } from './input-digest.js';
import type { Logger } from 'pino';
import { setAside } from '../mesh/cluster-state.js';
import { ClusterStateUpdater } from '../mesh/cluster-state-updater.js';
import type { ClusterState } from '../mesh/cluster-types.js';
import { isMeshletError, MeshletError } from '../mesh/errors.js';
import { problemsError, type ObjectProblem } from '../mesh/objects/report.js';
import { DEFAULT_TRUST_DOMAIN, type MeshObject } from '../mesh/types.js';
import type { PublishedState, StateFeed } from './contracts.js';
import type { RegistrySource } from './registry/registry-source.js';

/** Options of {@link StateStore}. */
export interface StateStoreOptions {
  readonly logger: Logger;
  /** SPIFFE trust domain of every identity; default `cluster.local`. */
  readonly trustDomain?: string;
  /** Quiet time after the last change before the state is rebuilt. Default 100 ms. */
  readonly debounceMs?: number;
  /**
   * Longest a change waits while changes keep coming (a busy cluster has pod events all the
   * time; a pure debounce would never fire). Default 1 s.
   */
  readonly maxDelayMs?: number;
  /** Clock, ms since the epoch (tests). */
  readonly now?: () => number;
}

/** What the store has done, for status and metrics. */
export interface StateStoreStatus {
  readonly versionsPublished: number;
  /** Builds refused: a source's problems, or conflicts between objects. */
  readonly rejections: number;
  /** Why the latest build was refused; undefined when it succeeded. */
  readonly lastError: MeshletError | undefined;
  /** When that was (ms since the epoch). */
  readonly lastErrorAt: number | undefined;
  /** Objects the sources left out at the latest build, each with the reason. */
  readonly excluded: readonly string[];
  /** Sources that have not delivered their first complete set: nothing is built until they do. */
  readonly waitingFor: readonly string[];
}

const DEFAULT_DEBOUNCE_MS = 100;
const DEFAULT_MAX_DELAY_MS = 1_000;

/** Builds and publishes the cluster state. Implements the controller's {@link StateFeed}. */
export class StateStore implements StateFeed {
  private readonly logger: Logger;
  private readonly trustDomain: string | undefined;
  private readonly debounceMs: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;
  /** Builds each state from the previous one, in proportion to the change (issue 17). */
  private readonly updater: ClusterStateUpdater;
  private readonly sources = new Map<RegistrySource, () => void>();
  private readonly subscribers = new Set<(s: PublishedState) => void>();
  private published: PublishedState | undefined;
  private lastVersion = 0;
  private counters = { versionsPublished: 0, rejections: 0 };
  private lastError: MeshletError | undefined;
  private lastErrorAt: number | undefined;
  private excluded: readonly string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private pendingSince: number | undefined;
  private closed = false;

  constructor(opts: StateStoreOptions) {
    this.logger = opts.logger.child({ component: 'state-store' });
    this.trustDomain = opts.trustDomain;
    this.debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.maxDelayMs = Math.max(opts.maxDelayMs ?? DEFAULT_MAX_DELAY_MS, this.debounceMs);
    this.now = opts.now ?? Date.now;
    this.updater = new ClusterStateUpdater(this.trustDomain ?? DEFAULT_TRUST_DOMAIN, { digest: objectDigest });
  }

  /** Builds from `source` too (with every other source added); returns the function that removes it. */
  addSource(source: RegistrySource): () => void {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the state store is closed');
    if (!this.sources.has(source)) this.sources.set(source, source.onChange(() => this.schedule()));
    this.schedule();
    return () => {
      this.sources.get(source)?.();
      if (this.sources.delete(source)) this.schedule();
    };
  }

  current(): PublishedState | undefined {
    return this.published;
  }

  subscribe(fn: (s: PublishedState) => void): () => void {
    const entry = (s: PublishedState): void => fn(s);
    this.subscribers.add(entry);
    return () => {
      this.subscribers.delete(entry);
    };
  }

  status(): StateStoreStatus {
    const waitingFor = [...this.sources.keys()].filter((s) => s.contents() === undefined).map((s) => s.name);
    return { ...this.counters, lastError: this.lastError, lastErrorAt: this.lastErrorAt, excluded: this.excluded, waitingFor };
  }

  /**
   * Builds now instead of at the end of the debounce. Returns the state published by this
   * build, or undefined when it published nothing (invalid, unchanged, or a source not ready).
   */
  flush(): PublishedState | undefined {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pendingSince = undefined;
    if (this.closed) return undefined;
    return this.rebuild();
  }

  /** Stops building and drops the subscribers; the sources are the caller's to close. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    for (const off of this.sources.values()) off();
    this.sources.clear();
    this.subscribers.clear();
  }

  private schedule(): void {
    if (this.closed) return;
    const now = this.now();
    this.pendingSince ??= now;
    const delay = Math.max(0, Math.min(this.debounceMs, this.pendingSince + this.maxDelayMs - now));
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.flush(), delay);
  }

  private rebuild(): PublishedState | undefined {
    const objects: MeshObject[] = [];
    const problems: ObjectProblem[] = [];
    const excluded: string[] = [];
    for (const source of this.sources.keys()) {
      const contents = source.contents();
      if (contents === undefined) return undefined;
      objects.push(...contents.objects);
      problems.push(...contents.problems);
      excluded.push(...contents.excluded.map((p) => p.text));
    }
    this.excluded = Object.freeze(excluded);
    if (problems.length > 0) {
      this.reject(problemsError(problems));
      return undefined;
    }
    // The same objects as the published state's (or equal ones) build the same state: nothing
    // to build or publish (a pass over the objects by identity, see input-digest.ts).
    if (this.published !== undefined && this.updater.unchanged(objects)) {
      this.excluded = Object.freeze([...excluded, ...refusedOf(this.published)]);
      this.lastError = undefined;
      this.lastErrorAt = undefined;
      return undefined;
    }
    let state: ClusterState;
    try {
      state = this.updater.build(objects);
    } catch (err) {
      this.reject(err);
      return undefined;
    }
    this.lastError = undefined;
    this.lastErrorAt = undefined;
    this.reportRefused(state);
    this.excluded = Object.freeze([...excluded, ...setAside(state)]);
    return this.publish(state);
  }

  /** Logs the members a new state leaves out (once per change of that list, not per build). */
  private reportRefused(state: ClusterState): void {
    const before = refusedOf(this.published);
    const now = setAside(state);
    if (now.length === before.length && now.every((text, i) => text === before[i])) return;
    const members = state.refused.map((p) => p.text);
    const others = now.slice(members.length);
    if (members.length > 0) this.logger.warn({ refused: members }, 'workloads left out of the mesh');
    if (others.length > 0) this.logger.warn({ problems: others }, 'TrafficPolicies or routes set aside (the rest applies)');
  }

  private reject(err: unknown): void {
    const error = isMeshletError(err) ? err : new MeshletError('MESHLET_ERR_REGISTRY', `building the cluster state failed: ${String(err)}`, { cause: err });
    this.counters.rejections++;
    // The same refusal again (more events while the bad object stays) is logged once.
    const repeated = this.lastError?.message === error.message;
    this.lastError = error;
    this.lastErrorAt = this.now();
    const fields = { code: error.code, problems: error.details, version: this.published?.version };
    if (repeated) this.logger.debug(fields, 'registry state still rejected');
    else this.logger.error(fields, `registry state rejected; the previous state stays in effect: ${error.message}`);
  }

  private publish(state: ClusterState): PublishedState {
    const now = this.now();
    // A number that only grows, also across restarts (it starts from the clock), so a
    // restarted controller never reuses a version an agent still holds.
    this.lastVersion = Math.max(this.lastVersion + 1, now);
    const published: PublishedState = Object.freeze({ version: String(this.lastVersion), state, publishedAt: now });
    this.published = published;
    this.counters.versionsPublished++;
    this.logger.info({ version: published.version, workloads: state.workloads.length, services: state.services.length }, 'cluster state published');
    for (const fn of [...this.subscribers]) {
      try {
        fn(published);
      } catch (err) {
        this.logger.error({ err: (err as Error).message, version: published.version }, 'state subscriber failed');
      }
    }
    return published;
  }
}

/**
 * A digest of everything in a state that agents and the CA can see: object keys sorted, maps
 * as sorted entries, and where each object came from left out (moving an object to another
 * file changes nothing for anyone). The store itself compares the cheaper digest of the
 * objects a state is built from (`input-digest.ts`).
 */
export function stateDigest(state: ClusterState): string {
  // What was refused is a report for the operator (its lines name files), not state anyone sees.
  return createHash('sha256').update(canonicalJson({ ...state, refused: undefined })).digest('hex');
}

/** The refusal lines of a published state (none before the first). */
function refusedOf(published: PublishedState | undefined): string[] {
  return published === undefined ? [] : setAside(published.state);
}
