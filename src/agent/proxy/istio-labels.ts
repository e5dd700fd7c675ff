/**
 * Istio's standard metric labels for a peer (a source or destination workload) and a Service,
 * derived from what meshlet knows: workload uids (`<kind>/<namespace>/<name>`), their pod labels
 * and SPIFFE identities, Service keys (`<namespace>/<name>`). Pure. Shared by the request
 * metrics (`istio_requests_total`, ...) and the `istio_tcp_*` connection metrics.
 *
 * Differences from Istio, said in docs/metrics.md: `*_workload` is the pod's (or Workload
 * object's) name, not its Deployment's; `*_cluster` is `unknown` unless set.
 */
import { hostPort } from '../../mesh/address.js';
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

/** What the metrics read of the snapshot in force (a `WorkloadIndex` is one). */
export interface TelemetryIndex {
  readonly byUid: ReadonlyMap<string, WorkloadInfo>;
  readonly serviceEntries: ReadonlyArray<{
    readonly service: { readonly key: string };
    readonly port: { readonly port: number };
    readonly endpoints: ReadonlyArray<{ readonly address: string; readonly targetPorts: Readonly<Record<number, number>> }>;
  }>;
}

/**
 * The snapshot in force (the data plane's index): a new object with each snapshot, which tells
 * the metrics to compute labels afresh (a pod's labels may have changed).
 */
export type IndexInForce = () => TelemetryIndex;

/**
 * Where a destination-side request or connection was delivered (`address:port` of a workload,
 * as `hostPort` writes it) -> the Service it was for: the one Service with an endpoint at that
 * address whose target port is that port; `null` when several are (the destination agent
 * cannot tell which one the client used; Istio's server side reads the `Host` header there,
 * which a client chooses). Pure; linear in the Service endpoints: made once per snapshot.
 */
export function servicesByTarget(index: TelemetryIndex): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const entry of index.serviceEntries) {
    for (const e of entry.endpoints) {
      const target = e.targetPorts[entry.port.port];
      if (target === undefined) continue;
      const key = hostPort(e.address, target);
      const seen = out.get(key);
      out.set(key, seen === undefined || seen === entry.service.key ? entry.service.key : null);
    }
  }
  return out;
}

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

/**
 * The snapshot-dependent inputs of one series table's labels: workloads by uid and Services by
 * delivery target, from the snapshot in force. {@link refresh} says when a new snapshot came
 * in, so the table forgets its input keys and labels are computed afresh.
 */
export class SnapshotView {
  private indexOf: IndexInForce | undefined;
  private seen: TelemetryIndex | undefined;
  private targets: Map<string, string | null> | undefined;
  private readonly fallback: WorkloadLookup | undefined;

  /** `fallback`: a lookup to use while no index is watched (tests). */
  constructor(fallback?: WorkloadLookup) {
    this.fallback = fallback;
    this.workload = this.workload.bind(this);
  }

  /** Where the snapshot in force comes from (the data plane). */
  watch(indexOf: IndexInForce): void {
    this.indexOf = indexOf;
  }

  /** True when the snapshot changed since the last call. */
  refresh(): boolean {
    const index = this.indexOf?.();
    if (index === this.seen) return false;
    this.seen = index;
    this.targets = undefined;
    return true;
  }

  /** A workload of the snapshot by uid. */
  workload(uid: string): WorkloadInfo | undefined {
    return this.seen === undefined ? this.fallback?.(uid) : this.seen.byUid.get(uid);
  }

  /** The one Service delivered to at `target` (`address:port`), if exactly one. */
  serviceAt(target: string | undefined): string | undefined {
    if (target === undefined || this.seen === undefined) return undefined;
    this.targets ??= servicesByTarget(this.seen);
    return this.targets.get(target) ?? undefined;
  }
}
