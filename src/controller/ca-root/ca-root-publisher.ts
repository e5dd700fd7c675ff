/**
 * Publishes the mesh's root certificate as the ConfigMap `meshlet-ca-root` (key `ca.crt`) in the
 * controller's namespace and in every enrolled namespace, as istiod publishes
 * istio-ca-root-cert: created when missing, replaced when its content differs (a new root, an
 * edit), put back when deleted. Only the leader writes.
 *
 * The decisions are `planCaRoot`'s; this runs them: one pass at a time, one write at a time
 * (gentle on the API server when a thousand namespaces are enrolled at once), a failed namespace
 * retried after the one backoff, each failure counted by operation and reason and logged once
 * per namespace and cause (a recovery is logged too). Nothing here throws into the controller:
 * the agent API serves whatever the API server answers.
 */
import { CoreV1Api, type KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { Backoff } from '../../ops/backoff.js';
import { reasonOf, statusOf, withTimeout, type KubernetesApiCall } from '../../ca/kubernetes-api.js';
import type { RequestLimits } from '../registry/kube-client.js';
import { DEFAULT_RESTART_BACKOFF, type RestartBackoff } from '../registry/kube-informer.js';
import { DEFAULT_WATCH_TIMING, type WatchTiming } from '../registry/kube-watch.js';
import { CA_ROOT_CONFIGMAP, CA_ROOT_HOME_NAMESPACE, planCaRoot, type CaRootAction } from './ca-root-plan.js';
import { CaRootConfigMapWatch } from './ca-root-watch.js';

/** The Kubernetes API calls the publisher makes (the RBAC manifests are derived from them). */
export const CA_ROOT_API_CALLS: readonly KubernetesApiCall[] = Object.freeze([
  {
    group: '', version: 'v1', resource: 'configmaps', verbs: ['list', 'watch', 'update'], scope: 'cluster', resourceNames: [CA_ROOT_CONFIGMAP],
    // A list or watch is matched against resourceNames through its metadata.name field selector.
    why: 'see the meshlet-ca-root ConfigMaps of every namespace, and put one back when edited or rotated',
  },
  {
    group: '', version: 'v1', resource: 'configmaps', verbs: ['create'], scope: 'cluster',
    why: 'publish the mesh root in meshlet-system and every enrolled namespace (create cannot be limited to a name)',
  },
] as KubernetesApiCall[]);

/** What a write or a watch failed on. */
export type CaRootOperation = 'create' | 'update' | 'watch';

/** Why, as a bounded label value. */
export type CaRootFailureReason =
  | 'unauthorized' | 'forbidden' | 'namespace_terminating' | 'not_found' | 'conflict' | 'invalid' | 'throttled' | 'server_error' | 'unreachable' | 'other';

/** What the publisher has done (the controller's metrics read it at scrape time). */
export interface CaRootCounters {
  readonly created: number;
  readonly updated: number;
  /** `operation/reason` -> failures. */
  readonly failures: Readonly<Record<string, number>>;
  /** Namespaces that should hold the root, and how many of them hold it as wanted now. */
  readonly namespaces: number;
  readonly published: number;
}

/** Options of {@link CaRootPublisher}. */
export interface CaRootPublisherOptions {
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** The PEM to publish: the CA's trust bundle (every trusted root). */
  readonly bundlePem: string;
  /** Checked before every write: a replica that lost the Lease writes nothing more. */
  readonly isLeader: () => boolean;
  /** Retry delays of a failed namespace. Default 500 ms doubling to 30 s, as the informers'. */
  readonly retryBackoff?: Partial<RestartBackoff>;
  readonly watchTiming?: Partial<WatchTiming>;
  /** Per write request; a hung API server must not hang the loop. Default 10 s. */
  readonly writeTimeoutMs?: number;
}

/** A list of root ConfigMaps is small (one per namespace); 16 MiB is far past any cluster's. */
const LIST_LIMITS: RequestLimits = Object.freeze({ timeoutMs: 60_000, maxBytes: 16 * 1024 * 1024 });

/** Keeps `meshlet-ca-root` published. */
export class CaRootPublisher {
  private readonly logger: Logger;
  private readonly api: CoreV1Api;
  private readonly isLeader: () => boolean;
  private readonly watch: CaRootConfigMapWatch;
  private readonly delays: Backoff;
  private readonly writeTimeoutMs: number;
  private bundlePem: string;
  private namespaces: readonly string[] = [CA_ROOT_HOME_NAMESPACE];
  /** Namespace -> failures in a row, the earliest next try, and the cause last logged. */
  private readonly retrying = new Map<string, { failures: number; notBefore: number; cause: string }>();
  private watchCause: string | undefined;
  private running: Promise<void> | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counts = { created: 0, updated: 0, failures: {} as Record<string, number> };

  constructor(opts: CaRootPublisherOptions) {
    this.logger = opts.logger.child({ component: 'ca-root-publisher' });
    this.api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.isLeader = opts.isLeader;
    this.bundlePem = opts.bundlePem;
    this.writeTimeoutMs = opts.writeTimeoutMs ?? 10_000;
    const backoff = { ...DEFAULT_RESTART_BACKOFF, ...opts.retryBackoff };
    this.delays = new Backoff(backoff);
    this.watch = new CaRootConfigMapWatch({
      kubeConfig: opts.kubeConfig,
      timing: { ...DEFAULT_WATCH_TIMING, ...opts.watchTiming },
      backoff,
      listLimits: LIST_LIMITS,
      onChange: () => this.changed(),
      onFailure: (err, retryInMs) => this.watchFailed(err, retryInMs),
      onWatching: () => this.watchRecovered(),
    });
  }

  /** Starts watching; writes follow the first list. Never throws. */
  start(): void {
    this.watch.start();
  }

  /** The namespaces that must hold the root (see `caRootNamespaces`); a pass follows. */
  setNamespaces(namespaces: readonly string[]): void {
    this.namespaces = namespaces;
    this.changed();
  }

  /** A new bundle (a root rotated in place); every ConfigMap is replaced by the next pass. */
  setBundle(bundlePem: string): void {
    this.bundlePem = bundlePem;
    this.changed();
  }

  counters(): CaRootCounters {
    const wanted = new Set(this.namespaces);
    const pending = new Set(this.plan().map((a) => a.namespace));
    const published = this.watch.synced ? [...wanted].filter((n) => !pending.has(n)).length : 0;
    return { created: this.counts.created, updated: this.counts.updated, failures: { ...this.counts.failures }, namespaces: wanted.size, published };
  }

  /** Resolves when no pass is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  /** Stops watching and writing. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.watch.close();
    await this.idle();
  }

  private plan(): CaRootAction[] {
    return planCaRoot({ bundlePem: this.bundlePem, namespaces: this.namespaces }, this.watch.observed());
  }

  private changed(): void {
    this.dirty = true;
    this.kick();
  }

  private kick(): void {
    if (this.running !== undefined || this.closed || !this.dirty || !this.watch.synced) return;
    this.dirty = false;
    this.running = this.pass().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  /** Writes what the plan asks for, except namespaces still waiting out their backoff. */
  private async pass(): Promise<void> {
    const actions = this.plan();
    const wanted = new Set(actions.map((a) => a.namespace));
    for (const namespace of this.retrying.keys()) if (!wanted.has(namespace)) this.recovered(namespace);
    let next = Infinity;
    for (const action of actions) {
      if (this.closed || !this.isLeader()) return;
      const waiting = this.retrying.get(action.namespace);
      if (waiting !== undefined && waiting.notBefore > Date.now()) {
        next = Math.min(next, waiting.notBefore);
        continue;
      }
      const ok = await this.write(action);
      const after = this.retrying.get(action.namespace);
      if (!ok && after !== undefined) next = Math.min(next, after.notBefore);
    }
    if (next !== Infinity) this.retryAt(next);
  }

  /** One create or replace; true when it went through. */
  private async write(action: CaRootAction): Promise<boolean> {
    const { namespace } = action;
    try {
      const body = action.body as V1ConfigMap;
      const written =
        action.kind === 'create'
          ? await withTimeout(this.api.createNamespacedConfigMap({ namespace, body, fieldManager: 'meshlet-controller' }), this.writeTimeoutMs)
          : await withTimeout(this.api.replaceNamespacedConfigMap({ name: body.metadata?.name ?? '', namespace, body, fieldManager: 'meshlet-controller' }), this.writeTimeoutMs);
      this.watch.record(written);
      if (action.kind === 'create') this.counts.created++;
      else this.counts.updated++;
      const what = action.kind === 'create' ? 'created' : action.reason === 'content' ? 'replaced (the root changed, or the ConfigMap was edited)' : 'labels put back';
      this.logger.info({ namespace, action: action.kind }, `meshlet-ca-root ${what}`);
      this.recovered(namespace);
      return true;
    } catch (err) {
      this.failed(namespace, action.kind, err);
      return false;
    }
  }

  private failed(namespace: string, operation: CaRootOperation, err: unknown): void {
    const reason = failureReason(err);
    const key = `${operation}/${reason}`;
    this.counts.failures[key] = (this.counts.failures[key] ?? 0) + 1;
    const previous = this.retrying.get(namespace);
    const failures = (previous?.failures ?? 0) + 1;
    const retryInMs = this.delays.delayFor(failures - 1);
    this.retrying.set(namespace, { failures, notBefore: Date.now() + retryInMs, cause: key });
    if (previous?.cause === key) return;
    // A conflict is routine (the ConfigMap changed since it was seen; the watch brings the new one).
    const level = reason === 'conflict' || reason === 'namespace_terminating' ? 'info' : 'warn';
    this.logger[level]({ namespace, operation, reason, err: describe(err), retryInMs }, 'meshlet-ca-root not published; retrying (logged once per namespace and cause)');
  }

  private recovered(namespace: string): void {
    const was = this.retrying.get(namespace);
    if (was === undefined) return;
    this.retrying.delete(namespace);
    this.logger.info({ namespace, failures: was.failures }, 'meshlet-ca-root published again');
  }

  private watchFailed(err: unknown, retryInMs: number): void {
    const reason = failureReason(err);
    const key = `watch/${reason}`;
    this.counts.failures[key] = (this.counts.failures[key] ?? 0) + 1;
    if (this.watchCause === key) return;
    this.watchCause = key;
    const hint = reason === 'forbidden' ? ' (RBAC: the controller needs list and watch on configmaps)' : '';
    this.logger.warn({ operation: 'watch', reason, err: describe(err) + hint, retryInMs }, 'meshlet-ca-root ConfigMaps cannot be listed or watched; retrying (logged once per cause)');
  }

  private watchRecovered(): void {
    if (this.watchCause === undefined) return;
    this.logger.info({ after: this.watchCause }, 'meshlet-ca-root ConfigMaps watched again');
    this.watchCause = undefined;
  }

  private retryAt(when: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.changed(), Math.max(0, when - Date.now()));
    this.timer.unref();
  }
}

/** The bounded reason of a failed request: client-node's ApiException carries `code`, the registry's errors `statusCode`. */
export function failureReason(err: unknown): CaRootFailureReason {
  const status = statusOf(err) ?? ((err as { statusCode?: unknown } | null)?.statusCode as number | undefined);
  if (status === undefined || typeof status !== 'number') return 'unreachable';
  if (status === 401) return 'unauthorized';
  if (status === 403) return /being terminated/.test(describe(err)) ? 'namespace_terminating' : 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 422) return 'invalid';
  if (status === 429) return 'throttled';
  if (status >= 500) return 'server_error';
  return 'other';
}

/** The error's message with the Status message the API server sent, if any. */
function describe(err: unknown): string {
  const message = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
  return `${message}${reasonOf(err)}`;
}
