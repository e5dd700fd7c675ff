/**
 * Istio's standard metric labels for a peer (a source or destination workload) and a Service,
 * derived from what meshlet knows: workload uids (`<kind>/<namespace>/<name>`), their pod labels
 * and SPIFFE identities, Service keys (`<namespace>/<name>`). Pure. Shared by the request
 * metrics (`istio_requests_total`, ...) and the `istio_tcp_*` connection metrics.
 *
 * Differences from Istio, said in docs/metrics.md: `*_workload` is the pod's (or Workload
 * object's) name, not its Deployment's; `*_cluster` is `unknown` unless set.
 */
import type { WorkloadInfo } from '../../mesh/types.js';

/** What Istio puts in a label it cannot fill (Envoy's stats filter and ztunnel alike). */
export const UNKNOWN = 'unknown';

/** The cluster domain of `destination_service` host names (Istio: `<name>.<ns>.svc.<domain>`). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';

/** `Pod/<namespace>/<name>` -> [namespace, name]; unknown parts say `unknown`. */
export function workloadParts(uid: string | undefined): [string, string] {
  if (uid === undefined) return [UNKNOWN, UNKNOWN];
  const parts = uid.split('/');
  return [parts[1] ?? UNKNOWN, parts[2] ?? uid];
}

/** One side's Istio labels, without the `source_`/`destination_` prefix. */
export interface PeerLabels {
  readonly workload: string;
  readonly namespace: string;
  readonly principal: string;
  readonly app: string;
  readonly version: string;
  readonly canonicalService: string;
  readonly canonicalRevision: string;
}

/** Looks a workload up by uid in the snapshot in force (the data plane's index). */
export type WorkloadLookup = (uid: string) => WorkloadInfo | undefined;

/**
 * The workloads of the snapshot in force by uid (the index's `byUid`): a new map with each
 * snapshot, which tells the metrics to compute labels afresh (a pod's labels may have changed).
 */
export type WorkloadsInForce = () => ReadonlyMap<string, WorkloadInfo>;

/**
 * A peer's labels. App, version and the canonical service/revision come from the pod labels the
 * way Istio's injector derives them (`service.istio.io/canonical-name`, then
 * `app.kubernetes.io/name`, then `app`, then the workload name; revision: the canonical label,
 * `app.kubernetes.io/version`, `version`, then `latest`). A workload the agent does not know
 * (a source that came through a tunnel: only its identity is known) says `unknown`.
 */
export function peerLabels(uid: string | undefined, identity: string | undefined, info: WorkloadInfo | undefined): PeerLabels {
  const [namespace, workload] = workloadParts(uid);
  const principal = identity ?? info?.identity ?? UNKNOWN;
  if (info === undefined) {
    return { workload, namespace, principal, app: UNKNOWN, version: UNKNOWN, canonicalService: uid === undefined ? UNKNOWN : workload, canonicalRevision: uid === undefined ? UNKNOWN : 'latest' };
  }
  const l = info.labels;
  const app = l['app'] ?? l['app.kubernetes.io/name'];
  const version = l['version'] ?? l['app.kubernetes.io/version'];
  return {
    workload,
    namespace,
    principal,
    app: app ?? UNKNOWN,
    version: version ?? UNKNOWN,
    canonicalService: l['service.istio.io/canonical-name'] ?? l['app.kubernetes.io/name'] ?? l['app'] ?? workload,
    canonicalRevision: l['service.istio.io/canonical-revision'] ?? l['app.kubernetes.io/version'] ?? l['version'] ?? 'latest',
  };
}

/** A Service's labels: Istio's host name, short name and namespace. */
export interface ServiceLabels {
  readonly host: string;
  readonly name: string;
  readonly namespace: string;
}

/** `<namespace>/<name>` -> `<name>.<namespace>.svc.<domain>`, name, namespace; `unknown` without one. */
export function serviceLabels(key: string | undefined, clusterDomain = DEFAULT_CLUSTER_DOMAIN): ServiceLabels {
  if (key === undefined) return { host: UNKNOWN, name: UNKNOWN, namespace: UNKNOWN };
  const slash = key.indexOf('/');
  if (slash < 0) return { host: key, name: key, namespace: UNKNOWN };
  const namespace = key.slice(0, slash);
  const name = key.slice(slash + 1);
  return { host: `${name}.${namespace}.svc.${clusterDomain}`, name, namespace };
}

/** Istio's `connection_security_policy` value: `mutual_tls`, or `none` for plaintext. */
export function securityPolicyLabel(policy: 'mutual_tls' | 'plaintext'): string {
  return policy === 'mutual_tls' ? 'mutual_tls' : 'none';
}
