/**
 * One Kubernetes resource kept in the registry: client-node's ListWatch (list, watch, resume
 * from the last resourceVersion, re-list after 410 Gone) plus what it leaves to its user. On an
 * error (the API unreachable, 401/403, a 404 when the CRDs are missing, a broken stream)
 * ListWatch stops for good; this restarts it after a backoff, forever, until closed.
 */
import { ListWatch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../../ops/backoff.js';
import { listAll, type RequestLimits } from './kube-client.js';
import { convertKubeObject, kubeObjectKey, slimKubeObject } from './kube-objects.js';
import { collectionPath, MESHLET_GROUP, resourceName, type KubeResource } from './kube-resources.js';
import { RegistryWatch, type WatchTiming } from './kube-watch.js';
import type { KeyedObjects } from './registry-source.js';

/** Restart backoff after ListWatch gave up. */
export interface RestartBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/** Defaults: quick first retry, then no more than twice a minute against a sick API server. */
export const DEFAULT_RESTART_BACKOFF: RestartBackoff = Object.freeze({ initialMs: 500, maxMs: 30_000 });

/** A watch that lived this long proves the connection works: the backoff starts over. */
const HEALTHY_WATCH_MS = 10_000;

/**
 * How often a resource whose CRD is not installed (a 404 on an optional resource) is listed
 * again: installing the Gateway API CRDs is noticed within a minute, and a cluster without them
 * costs one cheap GET a minute.
 */
export const ABSENT_RECHECK_MS = 60_000;

/** What an informer has done, for status and tests. */
export interface InformerStatus {
  readonly resource: string;
  /** Listed at least once: its objects are in the registry. */
  readonly synced: boolean;
  readonly lists: number;
  readonly watches: number;
  readonly bookmarks: number;
  /** ListWatch restarts after an error. */
  readonly restarts: number;
  readonly lastError: string | undefined;
  /** An optional resource the API server does not serve (its CRD is not installed): no objects. */
  readonly absent?: boolean;
}

/** Options of {@link ResourceInformer}. */
export interface ResourceInformerOptions {
  readonly resource: KubeResource;
  readonly kubeConfig: KubeConfig;
  /** Where converted objects go, keyed `Pod/demo/web`. */
  readonly store: KeyedObjects;
  /** Called after the store changed. */
  readonly onChange: () => void;
  readonly logger: Logger;
  readonly timing: WatchTiming;
  readonly backoff: RestartBackoff;
  readonly listLimits: RequestLimits;
  /** How often an absent optional resource is listed again; default {@link ABSENT_RECHECK_MS}. */
  readonly absentRecheckMs?: number;
}

/** Keeps one resource's objects in the store. */
export class ResourceInformer {
  private readonly resource: KubeResource;
  private readonly store: KeyedObjects;
  private readonly onChange: () => void;
  private readonly logger: Logger;
  /** Restart delays, indexed by the failures since the last healthy watch. */
  private readonly restartDelays: Backoff;
  private readonly watch: RegistryWatch;
  private readonly informer: ListWatch<KubernetesObject>;
  private readonly syncWaiters: (() => void)[] = [];
  /** Aborts a list in flight at close, so nothing outlives the informer. */
  private readonly closing = new AbortController();
  private counts = { lists: 0, watches: 0, bookmarks: 0, restarts: 0 };
  private synced = false;
  private failures = 0;
  private lastError: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Keys this informer put in the shared store, to drop them when its CRD goes away. */
  private readonly keys = new Set<string>();
  /** Objects left out for failing validation, cut as cached, with their problems (for route status). */
  private readonly invalid = new Map<string, { raw: unknown; problems: readonly string[] }>();
  /** Set while an optional resource answers 404; `absentLogged` keeps that to one log line. */
  private absent = false;
  private absentLogged = false;
  private readonly absentRecheckMs: number;

  constructor(opts: ResourceInformerOptions) {
    this.absentRecheckMs = opts.absentRecheckMs ?? ABSENT_RECHECK_MS;
    this.resource = opts.resource;
    this.store = opts.store;
    this.onChange = opts.onChange;
    this.restartDelays = new Backoff(opts.backoff);
    this.logger = opts.logger;
    const path = collectionPath(opts.resource);
    this.watch = new RegistryWatch(
      opts.kubeConfig,
      {
        onWatchStart: () => this.onWatchStart(),
        onEvent: (type, object) => this.onEvent(type, object),
        onWatchEnd: (ms) => {
          if (ms >= HEALTHY_WATCH_MS) this.failures = 0;
        },
        transform: (object) => slimKubeObject(opts.resource, object),
      },
      opts.timing,
    );
    const list = async (): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> => {
      this.counts.lists++;
      const listed = await listAll(opts.kubeConfig, path, opts.listLimits, this.closing.signal);
      return { ...listed, items: listed.items.map((item) => slimKubeObject(opts.resource, item)) };
    };
    this.informer = new ListWatch(path, this.watch, list, false);
    this.informer.on('add', (obj) => this.put(obj));
    this.informer.on('update', (obj) => this.put(obj));
    this.informer.on('delete', (obj) => this.remove(obj));
    this.informer.on('error', (err: unknown) => this.onError(err));
  }

  /** The kind of the resource's objects. */
  get kind(): string {
    return this.resource.kind;
  }

  /** Starts listing and watching. */
  start(): void {
    this.run();
  }

  /** Resolves once the resource has been listed (and is being watched). */
  whenSynced(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Objects of this resource left out for failing validation: the raw (cut) object and its problems. */
  invalidObjects(): { raw: unknown; problems: readonly string[] }[] {
    return [...this.invalid.values()];
  }

  status(): InformerStatus {
    const status: InformerStatus = { resource: resourceName(this.resource), synced: this.synced, ...this.counts, lastError: this.lastError };
    return this.absent ? { ...status, absent: true } : status;
  }

  /** Stops for good. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.closing.abort();
    this.watch.close();
    await this.informer.stop();
  }

  private run(): void {
    if (this.closed) return;
    this.informer.start().catch((err: unknown) => this.onError(err));
  }

  private onWatchStart(): void {
    this.counts.watches++;
    if (this.absent) {
      this.absent = false;
      this.absentLogged = false;
      this.logger.info({ resource: resourceName(this.resource) }, 'Kubernetes resource is served now (its CRD was installed); reading its objects');
    }
    this.markSynced();
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    for (const resolve of this.syncWaiters.splice(0)) resolve();
  }

  /**
   * An optional resource answered 404: its CRD is not installed (or was removed). It holds no
   * objects, counts as listed (the registry does not wait for it), and is listed again every
   * `absentRecheckMs`. One info line, not a warning per retry: a mesh without the Gateway API
   * is a normal mesh.
   */
  private onAbsent(message: string): void {
    this.absent = true;
    this.lastError = message;
    let dropped = false;
    for (const key of this.keys) dropped = this.store.delete(key) || dropped;
    this.keys.clear();
    this.invalid.clear();
    if (!this.absentLogged) {
      this.absentLogged = true;
      this.logger.info({ resource: resourceName(this.resource), recheckInMs: this.absentRecheckMs }, 'Kubernetes resource not served (its CRD is not installed): no objects of it; listing again later');
    }
    this.markSynced();
    if (dropped) this.onChange();
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.counts.restarts++;
      this.run();
    }, this.absentRecheckMs);
    this.restartTimer.unref();
  }

  private onEvent(type: string, object: unknown): void {
    if (type === 'BOOKMARK') this.counts.bookmarks++;
    if (type === 'ERROR') {
      // 410 Gone is routine (ListWatch re-lists); anything else is worth a line.
      const status = object as { code?: unknown; message?: unknown };
      const level = status.code === 410 ? 'info' : 'warn';
      this.logger[level]({ resource: resourceName(this.resource), code: status.code, message: status.message }, 'watch ended by the API server');
    }
  }

  private put(raw: KubernetesObject): void {
    const { key, result } = convertKubeObject(this.resource, raw);
    this.store.set(key, result);
    this.keys.add(key);
    // List items carry no kind of their own: the resource's is filled in.
    if (result.problems.length > 0) this.invalid.set(key, { raw: { ...raw, kind: this.resource.kind }, problems: result.problems.map((p) => p.text) });
    else this.invalid.delete(key);
    if (result.problems.length > 0) {
      this.logger.warn({ object: key, problems: result.problems.map((p) => p.text) }, 'Kubernetes object left out: it fails validation');
    }
    this.onChange();
  }

  private remove(raw: KubernetesObject): void {
    const key = kubeObjectKey(this.resource, raw);
    this.keys.delete(key);
    this.invalid.delete(key);
    if (this.store.delete(key)) this.onChange();
  }

  private onError(err: unknown): void {
    if (this.closed) return;
    const message = explain(this.resource, err);
    if (this.resource.optional === true && (err as { statusCode?: unknown } | null)?.statusCode === 404) {
      this.onAbsent(message);
      return;
    }
    this.lastError = message;
    this.failures++;
    const delay = this.restartDelays.delayFor(this.failures - 1);
    this.logger.warn({ resource: resourceName(this.resource), err: message, retryInMs: delay }, 'Kubernetes list/watch failed; retrying');
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.counts.restarts++;
      this.run();
    }, delay);
    this.restartTimer.unref();
  }
}

/** The error's message, with what to check for the usual causes. */
function explain(resource: KubeResource, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const status = (err as { statusCode?: unknown } | null)?.statusCode;
  if (status === 404 && resource.group === MESHLET_GROUP) return `${message} (are meshlet's CustomResourceDefinitions installed?)`;
  if (status === 404 && resource.optional === true) return `${message} (the ${resourceName(resource)} CRD is not installed)`;
  if (status === 401) return `${message} (the credentials were refused)`;
  if (status === 403) return `${message} (RBAC: the controller needs list and watch on ${resourceName(resource)})`;
  return message;
}
