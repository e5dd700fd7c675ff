/**
 * The Kubernetes registry source (`--kubernetes`, in a pod or with `--kubeconfig FILE`): one
 * informer per resource of {@link KUBERNETES_RESOURCES}, all feeding one keyed object set. The
 * set is offered only once every resource has been listed: a state built while Nodes are
 * listed and Pods are not would tell every agent its workloads are gone.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import type { RequestLimits } from './kube-client.js';
import { DEFAULT_RESTART_BACKOFF, ResourceInformer, type InformerStatus, type RestartBackoff } from './kube-informer.js';
import { KUBERNETES_RESOURCES, type KubeResource } from './kube-resources.js';
import { DEFAULT_WATCH_TIMING, type WatchTiming } from './kube-watch.js';
import { ChangeListeners, KeyedObjects, type RegistryContents, type RegistrySource } from './registry-source.js';

/** Options of {@link KubernetesSource}. */
export interface KubernetesSourceOptions {
  /** Where the API is and how to authenticate: see `loadKubeConfig`. */
  readonly kubeConfig: KubeConfig;
  readonly logger: Logger;
  /** start() gives up when a resource has not been listed by then. Default 60 s. */
  readonly syncTimeoutMs?: number;
  /** Watch timing; defaults in `DEFAULT_WATCH_TIMING`. */
  readonly watchTiming?: Partial<WatchTiming>;
  /** Restart backoff after an error; defaults in `DEFAULT_RESTART_BACKOFF`. */
  readonly restartBackoff?: Partial<RestartBackoff>;
  /** Limits of one list page request. Default 60 s and 64 MiB. */
  readonly listLimits?: Partial<RequestLimits>;
  /** How often a resource whose CRD is not installed is listed again; default 60 s. */
  readonly absentRecheckMs?: number;
}

const DEFAULT_SYNC_TIMEOUT_MS = 60_000;
const DEFAULT_LIST_LIMITS: RequestLimits = Object.freeze({ timeoutMs: 60_000, maxBytes: 64 * 1024 * 1024 });

/** Reads the mesh objects from the Kubernetes API. */
export class KubernetesSource implements RegistrySource {
  readonly name = 'kubernetes';
  private readonly logger: Logger;
  private readonly syncTimeoutMs: number;
  private readonly store = new KeyedObjects('kubernetes', false);
  private readonly listeners = new ChangeListeners();
  private readonly informers: readonly ResourceInformer[];
  private synced = false;
  private started = false;
  private closed = false;
  /** Ends a start() still waiting when close() is called. */
  private readonly closing = new AbortController();

  constructor(opts: KubernetesSourceOptions) {
    this.logger = opts.logger.child({ component: 'registry-kubernetes' });
    this.syncTimeoutMs = opts.syncTimeoutMs ?? DEFAULT_SYNC_TIMEOUT_MS;
    const timing = { ...DEFAULT_WATCH_TIMING, ...opts.watchTiming };
    const backoff = { ...DEFAULT_RESTART_BACKOFF, ...opts.restartBackoff };
    const listLimits = { ...DEFAULT_LIST_LIMITS, ...opts.listLimits };
    this.informers = KUBERNETES_RESOURCES.map(
      (resource: KubeResource) =>
        new ResourceInformer({
          resource,
          kubeConfig: opts.kubeConfig,
          store: this.store,
          onChange: () => this.changed(),
          logger: this.logger,
          timing,
          backoff,
          listLimits,
          ...(opts.absentRecheckMs === undefined ? {} : { absentRecheckMs: opts.absentRecheckMs }),
        }),
    );
  }

  /**
   * Lists and watches every resource; resolves once all are listed. Rejects with
   * MESHLET_ERR_REGISTRY naming each resource not listed within `syncTimeoutMs` and its last
   * error, and then closes.
   */
  async start(): Promise<void> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the Kubernetes registry source is closed');
    if (this.started) throw new MeshletError('MESHLET_ERR_REGISTRY', 'the Kubernetes registry source is already started');
    this.started = true;
    for (const informer of this.informers) informer.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.syncTimeoutMs);
    });
    const closing = new Promise<'closed'>((resolve) => this.closing.signal.addEventListener('abort', () => resolve('closed'), { once: true }));
    const outcome = await Promise.race([Promise.all(this.informers.map((i) => i.whenSynced())), timeout, closing]);
    clearTimeout(timer);
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the Kubernetes registry source was closed while starting');
    if (outcome === 'timeout') {
      const missing = this.status().filter((s) => !s.synced);
      await this.close();
      const details = missing.map((s) => `${s.resource}: ${s.lastError ?? 'no answer yet'}`);
      throw new MeshletError('MESHLET_ERR_REGISTRY', `Kubernetes resources not listed within ${this.syncTimeoutMs} ms:\n  - ${details.join('\n  - ')}`, { details });
    }
    this.synced = true;
    this.logger.info({ objects: this.store.size }, 'Kubernetes registry listed every resource');
    this.changed();
  }

  contents(): RegistryContents | undefined {
    return this.synced ? this.store.contents() : undefined;
  }

  onChange(fn: () => void): () => void {
    return this.listeners.add(fn);
  }

  /**
   * HTTPRoutes and GRPCRoutes left out for failing validation, each with its problems: their
   * Kubernetes status says why (`RouteStatusWriter`).
   */
  invalidRoutes(): { raw: unknown; problems: readonly string[] }[] {
    return this.informers.filter((i) => ['HTTPRoute', 'GRPCRoute'].includes(i.kind)).flatMap((i) => i.invalidObjects());
  }

  /** Every object left out for failing validation, of any resource, each with its problems (`meshlet analyze --kubernetes`). */
  invalidObjects(): { raw: unknown; problems: readonly string[] }[] {
    return this.informers.flatMap((i) => i.invalidObjects());
  }

  /** Per-resource counters and last errors. */
  status(): InformerStatus[] {
    return this.informers.map((i) => i.status());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.listeners.clear();
    await Promise.all(this.informers.map((i) => i.close()));
  }

  private changed(): void {
    if (!this.synced || this.closed) return;
    for (const err of this.listeners.notify()) this.logger.error({ err: (err as Error).message }, 'registry change listener failed');
  }
}
