/**
 * The root ConfigMaps as Kubernetes holds them: one cluster-wide list and watch of ConfigMaps
 * named `meshlet-ca-root` (a field selector, so the controller is sent no other ConfigMap), with
 * the registry's watch (bookmarks, server timeout, dead-connection detection) and ListWatch's
 * resume and re-list. A deleted or edited ConfigMap is seen within the watch's latency, which is
 * what lets the publisher put it back at once. ListWatch stops on an error (403, the API down);
 * this restarts it after the one backoff, until closed.
 */
import { ListWatch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { Backoff } from '../../ops/backoff.js';
import { listAll, type RequestLimits } from '../registry/kube-client.js';
import type { RestartBackoff } from '../registry/kube-informer.js';
import { RegistryWatch, type WatchTiming } from '../registry/kube-watch.js';
import { CA_ROOT_CONFIGMAP, observeConfigMap, type ObservedConfigMap } from './ca-root-plan.js';

/** The cluster-wide ConfigMap collection. */
const CONFIGMAPS_PATH = '/api/v1/configmaps';
/** Only the root ConfigMaps: the server filters, so other ConfigMaps never reach the controller. */
export const CA_ROOT_FIELD_SELECTOR = `metadata.name=${CA_ROOT_CONFIGMAP}`;
/** A watch that lived this long proves the connection works: the backoff starts over. */
const HEALTHY_WATCH_MS = 10_000;

/** Options of {@link CaRootConfigMapWatch}. */
export interface CaRootConfigMapWatchOptions {
  readonly kubeConfig: KubeConfig;
  readonly timing: WatchTiming;
  readonly backoff: RestartBackoff;
  readonly listLimits: RequestLimits;
  /** Called after the observed set changed, or after the first list. */
  readonly onChange: () => void;
  /** Called on each list or watch failure, with the error; the watch restarts by itself. */
  readonly onFailure: (err: unknown, retryInMs: number) => void;
  /** Called each time a watch opens (its list, if any, applied): a failure is over. */
  readonly onWatching?: () => void;
}

/** Keeps the observed root ConfigMaps, by namespace. */
export class CaRootConfigMapWatch {
  private readonly opts: CaRootConfigMapWatchOptions;
  private readonly observedByNamespace = new Map<string, ObservedConfigMap>();
  private readonly watch: RegistryWatch;
  private readonly informer: ListWatch<KubernetesObject>;
  private readonly restartDelays: Backoff;
  private readonly closing = new AbortController();
  private failures = 0;
  private listed = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: CaRootConfigMapWatchOptions) {
    this.opts = opts;
    this.restartDelays = new Backoff(opts.backoff);
    this.watch = new RegistryWatch(
      opts.kubeConfig,
      {
        onWatchStart: () => this.onListed(),
        onEvent: () => undefined,
        onWatchEnd: (ms) => {
          if (ms >= HEALTHY_WATCH_MS) this.failures = 0;
        },
      },
      opts.timing,
    );
    const list = (): Promise<{ items: KubernetesObject[]; metadata?: { resourceVersion?: string } }> =>
      listAll(opts.kubeConfig, CONFIGMAPS_PATH, opts.listLimits, this.closing.signal, { fieldSelector: CA_ROOT_FIELD_SELECTOR });
    this.informer = new ListWatch(CONFIGMAPS_PATH, this.watch, list, false, undefined, CA_ROOT_FIELD_SELECTOR);
    this.informer.on('add', (obj) => this.put(obj));
    this.informer.on('update', (obj) => this.put(obj));
    this.informer.on('delete', (obj) => this.remove(obj));
    this.informer.on('error', (err: unknown) => this.onError(err));
  }

  /** Listed at least once: {@link observed} is the cluster's (and writes can be planned). */
  get synced(): boolean {
    return this.listed;
  }

  /** The root ConfigMaps seen, by namespace. */
  observed(): ReadonlyMap<string, ObservedConfigMap> {
    return this.observedByNamespace;
  }

  /**
   * What a write returned, kept until the watch reports it (or a newer one): the next plan then
   * starts from it, not from the state before the write.
   */
  record(written: unknown): void {
    const seen = observeConfigMap(written);
    if (seen === undefined) return;
    const known = this.observedByNamespace.get(seen.namespace);
    if (known === undefined || newer(seen.resourceVersion, known.resourceVersion)) this.observedByNamespace.set(seen.namespace, seen);
  }

  start(): void {
    this.run();
  }

  /** Stops for good. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.closing.abort();
    this.watch.close();
    await this.informer.stop();
  }

  private run(): void {
    if (this.closed) return;
    this.informer.start().catch((err: unknown) => this.onError(err));
  }

  private onListed(): void {
    this.opts.onWatching?.();
    if (this.listed) return;
    this.listed = true;
    this.opts.onChange();
  }

  private put(raw: KubernetesObject): void {
    const seen = observeConfigMap(raw);
    if (seen === undefined) return;
    this.observedByNamespace.set(seen.namespace, seen);
    if (this.listed) this.opts.onChange();
  }

  private remove(raw: KubernetesObject): void {
    const seen = observeConfigMap(raw);
    if (seen === undefined || !this.observedByNamespace.delete(seen.namespace)) return;
    if (this.listed) this.opts.onChange();
  }

  private onError(err: unknown): void {
    if (this.closed) return;
    const delay = this.restartDelays.delayFor(this.failures++);
    this.opts.onFailure(err, delay);
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }
}

/** resourceVersions are opaque, but etcd's are integers; a non-integer one is taken as newer. */
function newer(a: string, b: string): boolean {
  const x = Number(a);
  const y = Number(b);
  return !Number.isInteger(x) || !Number.isInteger(y) || x > y;
}
