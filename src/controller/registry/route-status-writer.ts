/**
 * Writes route status back to HTTPRoutes and GRPCRoutes in Kubernetes (the leader only: the
 * controller makes this writer after winning the Lease). Each published state's statuses are
 * written by one pass at a time: GET the route (for its status and resourceVersion), merge
 * (`route-status-patch.ts`), PUT `/status` when meshlet's entries change. A route whose status
 * did not change since the last write is not even read. A conflict (409) or a failure is
 * retried on the next pass, after a delay; routes not in Kubernetes (404) are skipped. The loop
 * is `status-write-loop.ts`'s, shared with the TrafficPolicy status writer.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubernetesApiCall } from '../../ca/kubernetes-api.js';
import { canonicalJson } from '../canonical-json.js';
import { invalidRouteStatus, type RouteStatus } from '../../mesh/route-status.js';
import { isFields } from '../../mesh/validate/values.js';
import { getJson, putJson, type RequestLimits } from './kube-client.js';
import { GATEWAY_GROUP, GATEWAY_VERSION, GRPCROUTES_RESOURCE, HTTPROUTES_RESOURCE } from './kube-resources.js';
import { routeStatusBody } from './route-status-patch.js';
import { StatusWriteLoop, type StatusWriteCounters } from './status-write-loop.js';

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
export type RouteStatusCounters = StatusWriteCounters;

export class RouteStatusWriter {
  private readonly kubeConfig: KubeConfig;
  private readonly now: () => Date;
  private readonly loop: StatusWriteLoop<RouteStatus>;
  private valid: readonly RouteStatus[] = [];
  private invalid: readonly RouteStatus[] = [];

  constructor(opts: { kubeConfig: KubeConfig; logger: Logger; retryDelayMs?: number; now?: () => Date }) {
    this.kubeConfig = opts.kubeConfig;
    this.now = opts.now ?? (() => new Date());
    this.loop = new StatusWriteLoop({
      ops: {
        key: (st) => `${st.kind}/${st.namespace}/${st.name}`,
        wanted: (st) => canonicalJson({ parents: st.parents, generation: st.generation }),
        write: (st) => this.write(st),
      },
      logger: opts.logger.child({ component: 'route-status' }),
      failureMessage: 'route status write failed; retrying (throttled: one line a minute)',
      keyField: 'route',
      retryDelayMs: opts.retryDelayMs ?? RETRY_DELAY_MS,
      maxPerPass: MAX_ROUTES_PER_PASS,
    });
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

  /** Only routes with a parent meshlet manages get a status from meshlet. */
  private changed(): void {
    this.loop.set([...this.valid, ...this.invalid].filter((st) => st.parents.some((p) => p.managed)));
  }

  counters(): RouteStatusCounters {
    return this.loop.counters();
  }

  /** Resolves when no pass is running or due (for tests and shutdown). */
  async idle(): Promise<void> {
    await this.loop.idle();
  }

  close(): void {
    this.loop.close();
  }

  /** One route: written now, already as wanted, or not in Kubernetes; throws to be retried. */
  private async write(status: RouteStatus): Promise<'written' | 'unchanged' | 'absent'> {
    const resource = status.kind === 'HTTPRoute' ? HTTPROUTES_RESOURCE : GRPCROUTES_RESOURCE;
    const path = `/apis/${GATEWAY_GROUP}/${GATEWAY_VERSION}/namespaces/${encodeURIComponent(status.namespace)}/${resource}/${encodeURIComponent(status.name)}`;
    let object: unknown;
    try {
      object = await getJson(this.kubeConfig, path, LIMITS);
    } catch (err) {
      // Not in Kubernetes (deleted meanwhile, or read from elsewhere): nothing to write.
      if ((err as { statusCode?: unknown }).statusCode === 404) return 'absent';
      throw err;
    }
    if (!isFields(object)) throw new Error(`GET ${path}: not an object`);
    const body = routeStatusBody(object['status'], status, this.now().toISOString().replace(/\.\d+Z$/, 'Z'));
    if (body === undefined) return 'unchanged';
    await putJson(this.kubeConfig, `${path}/status`, { ...object, status: body }, LIMITS);
    return 'written';
  }
}
