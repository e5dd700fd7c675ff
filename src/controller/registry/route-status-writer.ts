/**
 * Writes route status back to HTTPRoutes and GRPCRoutes in Kubernetes (the leader only: the
 * controller makes this writer after winning the Lease). Each published state's statuses are
 * written by one pass at a time: GET the route (for its status and resourceVersion), merge
 * (`route-status-patch.ts`), PUT `/status` when meshlet's entries change. A route whose status
 * did not change since the last write is not even read. A conflict (409) or a failure is
 * retried on the next pass, after a delay; routes not in Kubernetes (404) are skipped.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubernetesApiCall } from '../../ca/kubernetes-api.js';
import { canonicalJson } from '../canonical-json.js';
import { invalidRouteStatus, type RouteStatus } from '../../mesh/route-status.js';
import { isFields } from '../../mesh/validate/values.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { getJson, putJson, type RequestLimits } from './kube-client.js';
import { GATEWAY_GROUP, GATEWAY_VERSION, GRPCROUTES_RESOURCE, HTTPROUTES_RESOURCE } from './kube-resources.js';
import { routeStatusBody } from './route-status-patch.js';

/** The calls the writer makes; the RBAC manifests are derived from them (test/unit/install/rbac.test.ts). */
export const ROUTE_STATUS_API_CALLS: readonly KubernetesApiCall[] = Object.freeze([
  { group: GATEWAY_GROUP, version: GATEWAY_VERSION, resource: HTTPROUTES_RESOURCE, verbs: ['get'], scope: 'cluster' as const, why: 'read an HTTPRoute\'s status before writing meshlet\'s part of it' },
  { group: GATEWAY_GROUP, version: GATEWAY_VERSION, resource: GRPCROUTES_RESOURCE, verbs: ['get'], scope: 'cluster' as const, why: 'read a GRPCRoute\'s status before writing meshlet\'s part of it' },
  { group: GATEWAY_GROUP, version: GATEWAY_VERSION, resource: `${HTTPROUTES_RESOURCE}/status`, verbs: ['update'], scope: 'cluster' as const, why: 'write Accepted and ResolvedRefs for Service parents' },
  { group: GATEWAY_GROUP, version: GATEWAY_VERSION, resource: `${GRPCROUTES_RESOURCE}/status`, verbs: ['update'], scope: 'cluster' as const, why: 'write Accepted and ResolvedRefs for Service parents' },
]);

/**
 * Routes written per pass: a bound on the API calls one state change causes (two per route);
 * the rest wait for the next pass.
 */
export const MAX_ROUTES_PER_PASS = 200;
/** Delay before a pass that retries failures (or the routes past the per-pass bound). */
export const RETRY_DELAY_MS = 5_000;
const LIMITS: RequestLimits = { timeoutMs: 30_000, maxBytes: 4 * 1024 * 1024 };

/** What the writer has done, for tests and logs. */
export interface RouteStatusCounters {
  readonly writes: number;
  readonly unchanged: number;
  readonly failures: number;
  readonly passes: number;
}

export class RouteStatusWriter {
  private readonly kubeConfig: KubeConfig;
  private readonly logger: Logger;
  private readonly failed: ThrottledLog;
  private readonly retryDelayMs: number;
  private readonly now: () => Date;
  private valid: readonly RouteStatus[] = [];
  private invalid: readonly RouteStatus[] = [];
  private latest: readonly RouteStatus[] = [];
  /** Route key -> canonical JSON of what was last written (or found already written). */
  private readonly written = new Map<string, string>();
  private running: Promise<void> | undefined;
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private counts = { writes: 0, unchanged: 0, failures: 0, passes: 0 };

  constructor(opts: { kubeConfig: KubeConfig; logger: Logger; retryDelayMs?: number; now?: () => Date }) {
    this.kubeConfig = opts.kubeConfig;
    this.logger = opts.logger.child({ component: 'route-status' });
    this.failed = new ThrottledLog(this.logger, 'route status write failed; retrying (throttled: one line a minute)');
    this.retryDelayMs = opts.retryDelayMs ?? RETRY_DELAY_MS;
    this.now = opts.now ?? (() => new Date());
  }

  /** A new state's route statuses: written by the next pass (one runs at a time). */
  update(statuses: readonly RouteStatus[]): void {
    this.valid = statuses;
    this.changed();
  }

  /**
   * Routes left out for failing validation (`KubernetesSource.invalidRoutes`): their status says
   * why (`invalidRouteStatus`). They change without the state changing, hence apart.
   */
  updateInvalid(routes: readonly { raw: unknown; problems: readonly string[] }[]): void {
    this.invalid = routes.flatMap((r) => {
      const s = invalidRouteStatus(r.raw, r.problems);
      return s === undefined ? [] : [s];
    });
    this.changed();
  }

  private changed(): void {
    if (this.closed) return;
    this.latest = [...this.valid, ...this.invalid];
    this.dirty = true;
    this.kick();
  }

  counters(): RouteStatusCounters {
    return { ...this.counts };
  }

  /** Resolves when no pass is running or due (for tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running !== undefined) await this.running;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private kick(): void {
    if (this.running !== undefined || this.closed || !this.dirty) return;
    this.dirty = false;
    this.running = this.pass().finally(() => {
      this.running = undefined;
      this.kick();
    });
  }

  private async pass(): Promise<void> {
    this.counts.passes++;
    let retry = false;
    let done = 0;
    for (const status of this.latest) {
      if (this.closed) return;
      if (!status.parents.some((p) => p.managed)) continue;
      const key = `${status.kind}/${status.namespace}/${status.name}`;
      const wanted = canonicalJson({ parents: status.parents, generation: status.generation });
      if (this.written.get(key) === wanted) continue;
      if (done++ >= MAX_ROUTES_PER_PASS) {
        retry = true;
        break;
      }
      try {
        if (await this.write(status)) this.written.set(key, wanted);
      } catch (err) {
        retry = true;
        this.counts.failures++;
        this.failed.warn({ route: key, err: (err as Error).message });
      }
    }
    // Forget routes that are gone, so the map stays as large as the set of routes.
    const keys = new Set(this.latest.map((st) => `${st.kind}/${st.namespace}/${st.name}`));
    for (const key of this.written.keys()) if (!keys.has(key)) this.written.delete(key);
    if (retry && !this.closed) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => {
        this.dirty = true;
        this.kick();
      }, this.retryDelayMs);
      this.timer.unref();
    }
  }

  /** One route: true when its status is as wanted (written now, already, or the route is not in Kubernetes). */
  private async write(status: RouteStatus): Promise<boolean> {
    const resource = status.kind === 'HTTPRoute' ? HTTPROUTES_RESOURCE : GRPCROUTES_RESOURCE;
    const path = `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}/namespaces/${encodeURIComponent(status.namespace)}/${resource}/${encodeURIComponent(status.name)}`;
    let object: unknown;
    try {
      object = await getJson(this.kubeConfig, path, LIMITS);
    } catch (err) {
      // Not in Kubernetes (deleted meanwhile, or read from elsewhere): nothing to write.
      if ((err as { statusCode?: unknown }).statusCode === 404) return true;
      throw err;
    }
    if (!isFields(object)) throw new Error(`GET ${path}: not an object`);
    const body = routeStatusBody(object['status'], status, this.now().toISOString().replace(/\.\d+Z$/, 'Z'));
    if (body === undefined) {
      this.counts.unchanged++;
      return true;
    }
    await putJson(this.kubeConfig, `${path}/status`, { ...object, status: body }, LIMITS);
    this.counts.writes++;
    return true;
  }
}
