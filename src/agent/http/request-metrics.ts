/**
 * Istio's standard request metrics, with Istio's names, types, label names and buckets, so that
 * existing Istio dashboards and alerts work on meshlet:
 *
 * - `istio_requests_total` (counter),
 * - `istio_request_duration_milliseconds` (histogram, milliseconds),
 * - `istio_request_bytes`, `istio_response_bytes` (histograms, bytes),
 *
 * each with Istio's 25 labels ({@link REQUEST_LABELS}). One finished request (a
 * {@link RequestRecord}) is counted once per reporter: the source agent reports `source`, the
 * destination agent `destination`, as Istio's two sidecars do.
 *
 * Cardinality stays bounded: labels name workloads, namespaces, identities, Services, codes and
 * flags, never a path, an authority, an address or a port (the authority is Istio's fallback for
 * `destination_service`; meshlet uses the Service the request was routed to, or `unknown`).
 * Status codes are clamped to three digits and gRPC statuses to the 17 defined codes.
 */
import type { Registry } from 'prom-client';
import type { RequestObserver, RequestRecord } from './exchange.js';
import { requestFlags } from './request-log.js';
import { DEFAULT_CLUSTER_DOMAIN, SnapshotView, UNKNOWN, peerLabels, securityPolicyLabel, serviceLabels, type IndexInForce, type WorkloadLookup } from '../proxy/istio-labels.js';
import { SeriesTable, type KeyPart } from '../proxy/series-table.js';

/**
 * Envoy's default histogram buckets (`HistogramSettingsImpl::defaultBuckets`), which Istio's
 * stats filter uses for its request duration (and, unless a pod overrides them with the
 * `sidecar.istio.io/statsHistogramBuckets` annotation, for every histogram).
 */
export const ISTIO_DURATION_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
]);

/**
 * Buckets of `istio_request_bytes` / `istio_response_bytes`: the same Envoy defaults, read as
 * bytes. Istio's stats filter records sizes with no bucket setting of its own, so an Istio
 * sidecar exposes these (0.5 B ... 3.6 MB, larger in `+Inf`). The powers of ten 1 ... 10^7
 * often quoted for them are the Mixer-era (Istio 1.4 and before) exponential buckets.
 */
export const ISTIO_BYTES_BUCKETS: readonly number[] = ISTIO_DURATION_BUCKETS_MS;

/** Istio's label names of the request metrics, in Istio's order. */
export const REQUEST_LABELS = [
  'reporter',
  'source_workload', 'source_workload_namespace', 'source_principal', 'source_app', 'source_version',
  'source_canonical_service', 'source_canonical_revision', 'source_cluster',
  'destination_workload', 'destination_workload_namespace', 'destination_principal', 'destination_app', 'destination_version',
  'destination_service', 'destination_service_name', 'destination_service_namespace',
  'destination_canonical_service', 'destination_canonical_revision', 'destination_cluster',
  'request_protocol', 'response_code', 'grpc_response_status', 'response_flags', 'connection_security_policy',
] as const;

export type RequestLabel = (typeof REQUEST_LABELS)[number];

/** The highest gRPC status code defined (UNAUTHENTICATED); others are read as UNKNOWN (2), as gRPC clients do. */
const MAX_GRPC_STATUS = 16;

/** Options of {@link RequestMetrics}. */
export interface RequestMetricsOptions {
  /** Where the destination side's AuthorizationPolicy decisions are counted (per request). */
  readonly authz?: { count(level: 'request', v: RequestRecord['authz']): void };
  /** Looks workloads up for app/version/canonical labels (the data plane uses {@link RequestMetrics.watch} instead). */
  readonly workload?: WorkloadLookup;
  /** Cluster domain of `destination_service` host names. Default `cluster.local`. */
  readonly clusterDomain?: string;
  /** `source_cluster` / `destination_cluster`. Default `unknown`. */
  readonly cluster?: string;
  readonly maxSeries?: number;
  readonly idleMs?: number;
  /** A request was not counted: the series table is full. */
  readonly onOverflow?: () => void;
  readonly now?: () => number;
}

/** Indices of the table's counters and histograms. */
const REQUESTS = 0;
const DURATION = 0;
const REQUEST_BYTES = 1;
const RESPONSE_BYTES = 2;

/** `response_code`: the status as three digits, `0` when none was sent (or it is out of range). */
export function responseCodeLabel(status: number): string {
  return Number.isInteger(status) && status >= 0 && status <= 999 ? String(status) : '0';
}

/** `grpc_response_status`: empty for HTTP and for gRPC without a status (Istio's), else 0 to 16. */
export function grpcStatusLabel(rec: Pick<RequestRecord, 'requestProtocol' | 'grpcStatus'>): string {
  const s = rec.grpcStatus;
  if (rec.requestProtocol !== 'grpc' || s === undefined) return '';
  return Number.isInteger(s) && s >= 0 && s <= MAX_GRPC_STATUS ? String(s) : '2';
}

/**
 * The Istio labels of a finished request. Pure. `service`: the Service it was for (default the
 * record's; the destination side may know it only from where it delivered the request).
 */
export function requestLabels(rec: RequestRecord, opts: Pick<RequestMetricsOptions, 'workload' | 'clusterDomain' | 'cluster'> = {}, service = rec.service): Record<RequestLabel, string> {
  const find = opts.workload;
  const src = peerLabels(rec.sourceWorkload, rec.sourceIdentity, rec.sourceWorkload === undefined ? undefined : find?.(rec.sourceWorkload));
  const dst = peerLabels(rec.destinationWorkload, rec.destinationIdentity, rec.destinationWorkload === undefined ? undefined : find?.(rec.destinationWorkload));
  const svc = serviceLabels(service, opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN);
  const cluster = opts.cluster ?? UNKNOWN;
  return {
    reporter: rec.reporter,
    source_workload: src.workload,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_canonical_service: src.canonicalService,
    source_canonical_revision: src.canonicalRevision,
    source_cluster: cluster,
    destination_workload: dst.workload,
    destination_workload_namespace: dst.namespace,
    destination_principal: dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    destination_service: svc.host,
    destination_service_name: svc.name,
    destination_service_namespace: svc.namespace,
    destination_canonical_service: dst.canonicalService,
    destination_canonical_revision: dst.canonicalRevision,
    destination_cluster: cluster,
    request_protocol: rec.requestProtocol,
    response_code: responseCodeLabel(rec.status),
    grpc_response_status: grpcStatusLabel(rec),
    response_flags: requestFlags(rec),
    connection_security_policy: securityPolicyLabel(rec.securityPolicy),
  };
}

/** The parts of a request's series key: the record's fields its labels are made of (not the labels). */
function keyParts(rec: RequestRecord, parts: KeyPart[]): KeyPart[] {
  parts[0] = rec.reporter;
  parts[1] = rec.sourceWorkload;
  parts[2] = rec.sourceIdentity;
  parts[3] = rec.destinationWorkload;
  parts[4] = rec.destinationIdentity;
  parts[5] = rec.service;
  parts[6] = rec.requestProtocol;
  parts[7] = rec.status;
  parts[8] = rec.grpcStatus;
  parts[9] = rec.failure;
  parts[10] = rec.securityPolicy;
  // A destination-side record without its Service: the Service comes from where it was delivered.
  parts[11] = rec.service === undefined && rec.reporter === 'destination' ? rec.upstream : undefined;
  return parts;
}

/** Istio's request metrics in a registry; a {@link RequestObserver}. */
export class RequestMetrics implements RequestObserver {
  private readonly table: SeriesTable;
  private readonly opts: RequestMetricsOptions;
  private readonly view: SnapshotView;
  /** Scratch key parts, reused by every call (one request at a time: the event loop). */
  private readonly parts: KeyPart[] = new Array<KeyPart>(12);

  constructor(registry: Registry, opts: RequestMetricsOptions = {}) {
    this.opts = opts;
    this.view = new SnapshotView(opts.workload);
    this.table = new SeriesTable(registry, {
      labelNames: REQUEST_LABELS,
      metrics: [
        { type: 'counter', name: 'istio_requests_total', help: 'Requests handled, counted once by each reporting agent (Istio standard metric)' },
        { type: 'histogram', name: 'istio_request_duration_milliseconds', help: 'Request duration, from the request head to the end of the response (Istio standard metric)', buckets: ISTIO_DURATION_BUCKETS_MS },
        { type: 'histogram', name: 'istio_request_bytes', help: 'Request body sizes (Istio standard metric)', buckets: ISTIO_BYTES_BUCKETS },
        { type: 'histogram', name: 'istio_response_bytes', help: 'Response body sizes (Istio standard metric)', buckets: ISTIO_BYTES_BUCKETS },
      ],
      ...(opts.maxSeries === undefined ? {} : { maxSeries: opts.maxSeries }),
      ...(opts.idleMs === undefined ? {} : { idleMs: opts.idleMs }),
      ...(opts.onOverflow === undefined ? {} : { onOverflow: opts.onOverflow }),
      ...(opts.now === undefined ? {} : { now: opts.now }),
    });
    this.onRequest = this.onRequest.bind(this);
  }

  /** Where workloads are looked up: the snapshot in force (the data plane's index, once it is built). */
  watch(index: IndexInForce): void {
    this.view.watch(index);
  }

  private labels(rec: RequestRecord): Record<RequestLabel, string> {
    const service = rec.service ?? (rec.reporter === 'destination' ? this.view.serviceAt(rec.upstream) : undefined);
    return requestLabels(rec, { ...this.opts, workload: this.view.workload }, service);
  }

  /** Series held now (for tests and the cardinality bound). */
  get series(): number {
    return this.table.size;
  }

  /** Once per finished request. */
  onRequest(rec: RequestRecord): void {
    // A new snapshot: labels are computed afresh as inputs come (the series stay).
    if (this.view.refresh()) this.table.forgetKeys();
    if (rec.authz !== undefined) this.opts.authz?.count('request', rec.authz);
    const parts = keyParts(rec, this.parts);
    const s = this.table.get(parts) ?? this.table.add(parts, this.labels(rec));
    if (s === undefined) return;
    s.inc(REQUESTS);
    // A sampled request's trace is the duration's exemplar (OpenMetrics scrapes show it).
    const trace = rec.trace;
    if (trace !== undefined && trace.sampled) s.observeWithExemplar(DURATION, rec.durationMs, { trace_id: trace.traceId, span_id: trace.spanId }, Date.now() / 1000);
    else s.observe(DURATION, rec.durationMs);
    s.observe(REQUEST_BYTES, rec.requestBytes);
    s.observe(RESPONSE_BYTES, rec.responseBytes);
  }
}
