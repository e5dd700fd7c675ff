/**
 * The data path's metrics: connections, bytes, failures, TLS handshakes, tunnels. Connection
 * metrics are touched once per connection, at close, with labels that stay bounded
 * (workloads, namespaces, services: never addresses or ports); connections opened and live
 * and the tunnel pool are read at scrape time from plain fields, so the data path pays nothing
 * for them. Bytes are counted as they flow without per-chunk work: a sweep every
 * {@link LIVE_SWEEP_MS} and at each scrape reads the live connections' socket counters and
 * adds what each moved since the last sweep; the close adds the remainder. With worker processes each worker keeps these in its own registry and the primary
 * sums them at scrape (every one is a counter or a gauge whose sum is the node's figure).
 *
 * Beside meshlet's own names, Istio's: ztunnel's `istio_tcp_*` with ztunnel's labels (a
 * {@link SeriesTable}: one short key and one map lookup per connection for all four), and the
 * request metrics of `http/request-metrics.ts` (`istio_requests_total`, ...), in the same registry.
 */
import { TraceMetrics } from '../trace/trace-metrics.js';
import { ResilienceMetrics } from './resilience-metrics.js';
import { Counter, Gauge, type Registry } from '../../ops/prom.js';
import { RequestMetrics } from '../http/request-metrics.js';
import { AuthzMetrics } from './authz-metrics.js';
import type { ConnectionOutcome, Direction } from '../policy/outcomes.js';
import type { ConnectionObserver, ConnectionRecord } from './connection-table.js';
import { DEFAULT_CLUSTER_DOMAIN, SnapshotView, UNKNOWN, peerLabels, securityPolicyLabel, serviceLabels, workloadParts, type IndexInForce, type WorkloadLookup } from './istio-labels.js';
import { SeriesTable, type KeyPart } from './series-table.js';
import { spliceIdleTimeouts } from './splice.js';
import { tunnelStreamsReopened } from './tunnel/opening.js';
import { processTurnBudget } from './turn-budget.js';
import type { TunnelLimitReason } from './tunnel/limits.js';
import { WorkloadUsage, type UsageClocks, type UsageInterval } from './workload-usage.js';
import type { ThrottleCounts } from './bandwidth-throttle.js';
import type { SourceOutcome } from './upstream-dial.js';
import type { Socket } from 'node:net';
import { tcpDataSegments } from '../../ops/libc.js';

export { workloadParts } from './istio-labels.js';

/** Why a connection failed, as the `reason` label says it. */
export type FailureReason = 'deny' | 'policy' | 'connect' | 'tls' | 'no_route';

const FAILURE: Partial<Record<ConnectionOutcome, FailureReason>> = {
  denied: 'deny',
  connect_failed: 'connect',
  // The tunnel (mTLS to the peer agent) could not be opened or broke: handshake, identity, session.
  tunnel_failed: 'tls',
  no_route: 'no_route',
};

/** What the data-path metrics read at scrape time. */
export interface DataPathSource {
  openedByDirection(): Readonly<Record<Direction, number>>;
  liveConnections(): readonly ConnectionRecord[];
  tunnelSessions(): number;
  /** Tunnel sessions whose receive window was shrunk for fairness so far (`window-governor.ts`); absent: 0. */
  windowShrinks?(): number;
  /** The snapshot in force: workloads' pod labels and Services for the Istio metrics' labels. */
  index?: IndexInForce;
  /** Hands over each bandwidth-limited workload's throttled time and bytes since the last call (`bandwidth-throttle.ts`); absent: none. */
  drainThrottled?(each: (workload: string, counts: ThrottleCounts) => void): void;
  /**
   * Whether a local workload's share limit needs the usage every {@link SHARE_SWEEP_MS} rather
   * than every {@link LIVE_SWEEP_MS} (`meshlet.io/max-agent-share`); absent: never.
   */
  frequentSweeps?(): boolean;
  /** Each settled usage interval (`workload-usage.ts`), for the share limits; absent: not wanted. */
  onUsage?(interval: UsageInterval): void;
}

/** Options of {@link DataPathMetrics}. */
export interface DataPathMetricsOptions {
  /**
   * Also count connections under ztunnel's `istio_tcp_*` names (default true). Off saves their
   * cost per connection (docs/metrics.md has the figure) and their series.
   */
  readonly istioTcp?: boolean;
  /** Series at most in each Istio table (requests, TCP); see `series-table.ts`. */
  readonly maxSeries?: number;
  /** Cluster domain of Istio's `destination_service` host names. Default `cluster.local`. */
  readonly clusterDomain?: string;
  /** Reads a socket's data-segment counters for the usage model (default: TCP_INFO through libc). */
  readonly segmentCounts?: (sock: Socket, out: { in: number; out: number }) => boolean;
  /** The clocks the per-workload CPU split reads (default: `process.cpuUsage` and `performance.now`; tests pass their own). */
  readonly usageClocks?: UsageClocks;
}

/** ztunnel's label names of the `istio_tcp_*` metrics (its CommonTrafficLabels without locality), in its order. */
export const ISTIO_TCP_LABELS = [
  'reporter',
  'source_workload', 'source_canonical_service', 'source_canonical_revision', 'source_workload_namespace',
  'source_principal', 'source_app', 'source_version', 'source_cluster',
  'destination_service', 'destination_service_namespace', 'destination_service_name',
  'destination_workload', 'destination_canonical_service', 'destination_canonical_revision', 'destination_workload_namespace',
  'destination_principal', 'destination_app', 'destination_version', 'destination_cluster',
  'request_protocol', 'response_flags', 'connection_security_policy',
] as const;

type IstioTcpLabel = (typeof ISTIO_TCP_LABELS)[number];

/**
 * How often live connections' bytes are counted between scrapes: well under the usual 15-30 s
 * scrape interval, so a long transfer reads as a steady rate, not a spike at its end; a sweep
 * over 10,000 live connections costs a few milliseconds (docs/metrics.md has the figure).
 */
export const LIVE_SWEEP_MS = 5000;

/**
 * How often the sweep (and the usage split) runs while a workload with a share limit is here: a
 * share limit reacts within about a second; a node without one sweeps every {@link LIVE_SWEEP_MS}.
 */
export const SHARE_SWEEP_MS = 1000;

/** What the sweeps counted of a live connection so far. */
interface LiveCount {
  sent: number;
  received: number;
  /** Data segments either way on the counted socket at the last sweep (TCP_INFO); -1: not read yet. */
  segments: number;
  /** The `istio_tcp_*` table was full for it: it is left out of Istio's names (counted dropped once). */
  refused: boolean;
}

/** Counter indices in the `istio_tcp_*` table. */
const TCP_OPENED = 0;
const TCP_CLOSED = 1;
const TCP_SENT = 2;
const TCP_RECEIVED = 3;

const CONNECTION_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'destination_workload',
  'destination_workload_namespace', 'destination_service', 'security_policy',
] as const;

type ConnectionLabel = (typeof CONNECTION_LABELS)[number];

/** Bytes of a sweep under one set of meshlet's connection labels. */
interface LabelSum {
  readonly labels: Record<ConnectionLabel, string>;
  sent: number;
  received: number;
}

/** The record's fields {@link connectionLabels} are made of, as one key (a sweep groups by it). */
/**
 * A counter that follows a total this process keeps elsewhere (read at scrape): it adds what
 * the total grew by since the last scrape. `read` returning undefined (no source yet) adds nothing.
 */
function totalCounter(registers: Registry[], name: string, help: string, read: () => number | undefined): void {
  let last = 0;
  new Counter({
    name,
    help,
    registers,
    collect() {
      const now = read();
      if (now === undefined || now <= last) return;
      this.inc(now - last);
      last = now;
    },
  });
}

function connectionKey(rec: ConnectionRecord): string {
  return `${rec.direction}\u0001${rec.sourceWorkload}\u0001${rec.destinationWorkload}\u0001${rec.service}\u0001${rec.securityPolicy}`;
}

/** The agent's own workload of a connection: the source of an outbound one, the destination of an inbound one. */
export function localWorkload(rec: Pick<ConnectionRecord, 'direction' | 'sourceWorkload' | 'destinationWorkload'>): string | undefined {
  return rec.direction === 'outbound' ? rec.sourceWorkload : rec.destinationWorkload;
}

/** The bounded labels of a connection. */
export function connectionLabels(rec: ConnectionRecord): Record<ConnectionLabel, string> {
  const [srcNs, src] = workloadParts(rec.sourceWorkload);
  const [dstNs, dst] = workloadParts(rec.destinationWorkload);
  return {
    // Istio's reporter: the outbound side reports as the source, the inbound side as the destination.
    reporter: rec.direction === 'outbound' ? 'source' : 'destination',
    source_workload: src,
    source_workload_namespace: srcNs,
    destination_workload: dst,
    destination_workload_namespace: dstNs,
    destination_service: rec.service ?? 'unknown',
    security_policy: rec.securityPolicy,
  };
}

/**
 * ztunnel's labels of a connection (`flag`: its response flag, `-` while it is open). Pure.
 * `service`: the Service it was for (default the record's).
 */
export function istioTcpLabels(rec: ConnectionRecord, flag: string, workload?: WorkloadLookup, clusterDomain = DEFAULT_CLUSTER_DOMAIN, service = rec.service): Record<IstioTcpLabel, string> {
  const src = peerLabels(rec.sourceWorkload, rec.sourceIdentity, rec.sourceWorkload === undefined ? undefined : workload?.(rec.sourceWorkload));
  const dst = peerLabels(rec.destinationWorkload, rec.destinationIdentity, rec.destinationWorkload === undefined ? undefined : workload?.(rec.destinationWorkload));
  const svc = serviceLabels(service, clusterDomain);
  return {
    reporter: rec.direction === 'outbound' ? 'source' : 'destination',
    source_workload: src.workload,
    source_canonical_service: src.canonicalService,
    source_canonical_revision: src.canonicalRevision,
    source_workload_namespace: src.namespace,
    source_principal: src.principal,
    source_app: src.app,
    source_version: src.version,
    source_cluster: UNKNOWN,
    destination_service: svc.host,
    destination_service_namespace: svc.namespace,
    destination_service_name: svc.name,
    destination_workload: dst.workload,
    destination_canonical_service: dst.canonicalService,
    destination_canonical_revision: dst.canonicalRevision,
    destination_workload_namespace: dst.namespace,
    destination_principal: dst.principal,
    destination_app: dst.app,
    destination_version: dst.version,
    destination_cluster: UNKNOWN,
    request_protocol: 'tcp',
    response_flags: flag,
    connection_security_policy: securityPolicyLabel(rec.securityPolicy),
  };
}

/** The parts of a connection's `istio_tcp_*` series key: the record's fields its labels are made of. */
function tcpKeyParts(rec: ConnectionRecord, flag: string, parts: KeyPart[]): KeyPart[] {
  parts[0] = rec.direction;
  parts[1] = rec.sourceWorkload;
  parts[2] = rec.sourceIdentity;
  parts[3] = rec.destinationWorkload;
  parts[4] = rec.destinationIdentity;
  parts[5] = rec.service;
  parts[6] = rec.securityPolicy;
  parts[7] = flag;
  // An inbound record without its Service: the Service comes from where it was delivered.
  parts[8] = rec.service === undefined && rec.direction === 'inbound' ? rec.destination : undefined;
  return parts;
}

/** Data-path metrics in a registry; the connection table's observer. */
export class DataPathMetrics implements ConnectionObserver {
  /** Istio's request metrics (`istio_requests_total`, ...): the data plane's request observer counts into them. */
  readonly requests: RequestMetrics;
  /** AuthorizationPolicy decisions, connections here and requests through {@link requests}. */
  readonly authz: AuthzMetrics;
  /** Retries, hedges, overflows, ejections, faults, rate limits, timeouts, mirrors (issue 13). */
  readonly resilience: ResilienceMetrics;
  /** Trace spans exported and dropped (`trace/trace-metrics.ts`). */
  readonly tracing: TraceMetrics;
  /** Bytes and estimated agent CPU per local workload (`workload-usage.ts`), fed by the sweeps and closes. */
  readonly usage: WorkloadUsage;
  private source: DataPathSource | undefined;
  private readonly istioTcp: SeriesTable | undefined;
  /**
   * Live connections a sweep has seen, with the bytes counted so far (their opening is counted in
   * `istio_tcp_connections_opened_total` at that first sweep). Weak: a closed record goes with it.
   */
  private readonly liveCounts = new WeakMap<ConnectionRecord, LiveCount>();
  private sweepTimer: NodeJS.Timeout | undefined;
  /** A scrape's metrics each ask for a sweep in one synchronous turn: the first one does it. */
  private sweptThisTurn = false;
  private readonly endTurn = (): void => {
    this.sweptThisTurn = false;
  };
  private readonly onThrottled = (workload: string, c: ThrottleCounts): void => {
    this.usage.throttled(workload, c.throttledMs / 1000, c.throttledBytes, c.shareBytesPerSecond);
  };
  private readonly clusterDomain: string;
  /** Reads a socket's data-segment counters (`tcpDataSegments`; tests pass their own). */
  private readonly segmentCounts: (sock: Socket, out: { in: number; out: number }) => boolean;
  private readonly segs = { in: 0, out: 0 };
  /** The snapshot the `istio_tcp_*` labels are worked out from. */
  private readonly tcpView = new SnapshotView();
  /** Scratch key parts of the `istio_tcp_*` table, reused by every call. */
  private readonly tcpParts: KeyPart[] = new Array<KeyPart>(9);
  private readonly closed: Counter<ConnectionLabel>;
  private readonly sent: Counter<ConnectionLabel>;
  private readonly received: Counter<ConnectionLabel>;
  private readonly failed: Counter<ConnectionLabel | 'reason'>;
  private readonly denials: Counter<ConnectionLabel>;
  private readonly tlsFailures: Counter<'side'>;
  private readonly tunnelLimits: Counter<'reason'>;
  private readonly sourceOutcomes: Counter<'outcome'>;

  constructor(registry: Registry, opts: DataPathMetricsOptions = {}) {
    const registers = [registry];
    this.clusterDomain = opts.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN;
    this.segmentCounts = opts.segmentCounts ?? tcpDataSegments;
    const dropped = new Counter({
      name: 'meshlet_metrics_series_dropped_total',
      help: 'Events not counted under Istio names because their series table was full (family: istio_requests, istio_tcp)',
      labelNames: ['family'],
      registers,
    });
    for (const family of ['istio_requests', 'istio_tcp']) dropped.inc({ family }, 0);
    const maxSeries = opts.maxSeries === undefined ? {} : { maxSeries: opts.maxSeries };
    this.authz = new AuthzMetrics(registry);
    this.resilience = new ResilienceMetrics(registry);
    this.tracing = new TraceMetrics(registry);
    this.usage = new WorkloadUsage(registry, opts.usageClocks, () => this.scrapeSweep());
    this.requests = new RequestMetrics(registry, { ...maxSeries, authz: this.authz, clusterDomain: this.clusterDomain, onOverflow: () => dropped.inc({ family: 'istio_requests' }) });
    this.istioTcp = opts.istioTcp === false ? undefined : new SeriesTable(registry, {
      labelNames: ISTIO_TCP_LABELS,
      metrics: [
        { type: 'counter', name: 'istio_tcp_connections_opened_total', help: 'TCP connections opened, counted at the first sweep (every 5 s, and at each scrape) that sees them or at close (ztunnel\'s name and labels)' },
        { type: 'counter', name: 'istio_tcp_connections_closed_total', help: 'TCP connections closed (ztunnel\'s name and labels)' },
        { type: 'counter', name: 'istio_tcp_sent_bytes_total', help: 'Bytes sent toward the destination, counted as they flow: every 5 s, at each scrape and at close (ztunnel\'s name and labels)' },
        { type: 'counter', name: 'istio_tcp_received_bytes_total', help: 'Bytes received from the destination, counted as they flow: every 5 s, at each scrape and at close (ztunnel\'s name and labels)' },
      ],
      ...maxSeries,
      onOverflow: () => dropped.inc({ family: 'istio_tcp' }),
      collect: () => this.scrapeSweep(),
    });
    this.closed = new Counter({ name: 'meshlet_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: CONNECTION_LABELS, registers });
    const collect = (): void => this.scrapeSweep();
    this.sent = new Counter({ name: 'meshlet_tcp_sent_bytes_total', help: 'Bytes sent toward the destination, counted as they flow: every 5 s, at each scrape and at close', labelNames: CONNECTION_LABELS, registers, collect });
    this.received = new Counter({ name: 'meshlet_tcp_received_bytes_total', help: 'Bytes received from the destination, counted as they flow: every 5 s, at each scrape and at close', labelNames: CONNECTION_LABELS, registers, collect });
    this.failed = new Counter({ name: 'meshlet_tcp_connections_failed_total', help: 'TCP connections that failed, by reason (policy: an AuthorizationPolicy; deny: refusals of the mesh itself such as MeshTLS STRICT; connect, tls, no_route)', labelNames: [...CONNECTION_LABELS, 'reason'], registers });
    this.denials = new Counter({ name: 'meshlet_policy_denials_total', help: 'Connections refused by policy', labelNames: CONNECTION_LABELS, registers });
    this.tlsFailures = new Counter({
      name: 'meshlet_tls_handshake_failures_total',
      help: 'Tunnel mTLS handshakes that failed, by side (server: a peer we refused; client: a peer that refused us or failed our identity check)',
      labelNames: ['side'],
      registers,
    });
    this.tunnelLimits = new Counter({
      name: 'meshlet_tunnel_limits_total',
      help: 'Tunnel port limits that triggered, by reason: connections or streams refused (connection_limit, handshake_limit, peer_handshake_limit, handshake_timeout, peer_stream_limit, peer_cert_expired, bad_request) and sessions closed (session_idle, ping_timeout, session_max_age)',
      labelNames: ['reason'],
      registers,
    });
    this.sourceOutcomes = new Counter({
      name: 'meshlet_source_address_total',
      help: "Inbound connections to workloads by source address outcome: preserved (from the client's address) or why the agent's own address was used (disabled, not_permitted, no_claim, unknown_source, identity_mismatch, node_mismatch, family_mismatch, hairpin, socket_error)",
      labelNames: ['outcome'],
      registers,
    });
    this.scrapeTimeMetrics(registers);
  }

  /**
   * Where scrape-time values come from (the data plane, once it is built); starts the periodic
   * sweep of live connections' bytes (an unref'd timer: it never keeps the process up).
   */
  watch(source: DataPathSource): void {
    this.source = source;
    if (source.index !== undefined) {
      this.requests.watch(source.index);
      this.tcpView.watch(source.index);
    }
    if (this.sweepTimer === undefined) {
      // Ticks every SHARE_SWEEP_MS; sweeps on every tick only while a share limit wants it.
      this.sweepTimer = setInterval(() => this.tick(), SHARE_SWEEP_MS);
      this.sweepTimer.unref();
    }
  }

  private ticks = 0;

  /** The timer: a sweep every LIVE_SWEEP_MS, or every tick while a share limit wants it. */
  private tick(): void {
    this.ticks += 1;
    if (this.ticks * SHARE_SWEEP_MS >= LIVE_SWEEP_MS || this.source?.frequentSweeps?.() === true) {
      this.ticks = 0;
      this.sweepLive();
    }
  }

  /** Stops the periodic sweep (scrapes still sweep). Idempotent. */
  close(): void {
    clearInterval(this.sweepTimer);
  }

  /**
   * Counts what every live connection moved since the last sweep, from its counted socket's
   * `bytesRead`/`bytesWritten` (no per-chunk work), and the opening of connections seen for the
   * first time. Bytes go to the labels the connection has so far; for `istio_tcp_*`, to its
   * series with `response_flags="-"` (an open connection has no flag yet, as in ztunnel).
   */
  sweepLive(): void {
    const live = this.source?.liveConnections();
    if (live === undefined) return;
    // meshlet's labelled counters are added to once per label set, not once per connection:
    // prom-client's labelled inc costs ~1 us (it checks and hashes every label).
    const sums = new Map<string, LabelSum>();
    for (const rec of live) this.sweepOne(rec, sums);
    for (const sum of sums.values()) {
      if (sum.sent > 0) this.sent.inc(sum.labels, sum.sent);
      if (sum.received > 0) this.received.inc(sum.labels, sum.received);
    }
    if (this.source?.drainThrottled !== undefined) {
      this.usage.beginThrottleReport();
      this.source.drainThrottled(this.onThrottled);
    }
    const interval = this.usage.settle();
    if (interval !== undefined) this.source?.onUsage?.(interval);
  }

  private sweepOne(rec: ConnectionRecord, sums: Map<string, LabelSum>): void {
    let c = this.liveCounts.get(rec);
    if (c === undefined) {
      c = { sent: 0, received: 0, segments: -1, refused: false };
      this.usage.add(localWorkload(rec), rec.direction, 0, true);
      this.liveCounts.set(rec, c);
      // ztunnel counts a connection opened when it opens; meshlet knows its labels only once it
      // is resolved, so it is counted at the first sweep that sees it live, or at close.
      if (this.istioTcp !== undefined) {
        const s = this.istioSeries(this.istioTcp, rec, '-');
        if (s === undefined) c.refused = true;
        else s.inc(TCP_OPENED);
      }
    }
    const sock = rec.counted;
    if (sock === undefined) return;
    const read = sock.bytesRead;
    const written = sock.bytesWritten;
    const sent = rec.countedFacesDestination ? written : read;
    const received = rec.countedFacesDestination ? read : written;
    // Only forward: a socket counter that is not a number yet (or went back) adds nothing.
    const dSent = sent > c.sent ? sent - c.sent : 0;
    const dReceived = received > c.received ? received - c.received : 0;
    if (dSent === 0 && dReceived === 0) return;
    c.sent += dSent;
    c.received += dReceived;
    this.usage.add(localWorkload(rec), rec.direction, dSent + dReceived, false, this.segmentsSince(sock, c));
    const key = connectionKey(rec);
    let sum = sums.get(key);
    if (sum === undefined) sums.set(key, (sum = { labels: connectionLabels(rec), sent: 0, received: 0 }));
    sum.sent += dSent;
    sum.received += dReceived;
    this.countLiveIstio(rec, c, dSent, dReceived);
  }

  /**
   * Data segments the counted socket moved either way since the last sweep (the per-message
   * part of the usage model: a small message costs the agent a read and a write whatever its
   * size); 0 the first time (the counters start at the connection's opening, before the agent
   * counted it) and where the kernel does not say.
   */
  private segmentsSince(sock: Socket, c: LiveCount): number {
    if (!this.segmentCounts(sock, this.segs)) return 0;
    const now = (this.segs.in + this.segs.out) >>> 0;
    const last = c.segments;
    c.segments = now;
    // 32-bit kernel counters: the difference modulo 2^32.
    return last < 0 ? 0 : (now - last) >>> 0;
  }

  /** Bytes a sweep found under Istio's labels (unless the connection was refused a series), flag `-`. */
  private countLiveIstio(rec: ConnectionRecord, c: LiveCount, sent: number, received: number): void {
    if (this.istioTcp === undefined || c.refused) return;
    const s = this.istioSeries(this.istioTcp, rec, '-');
    if (s === undefined) {
      c.refused = true;
      return;
    }
    if (sent > 0) s.inc(TCP_SENT, sent);
    if (received > 0) s.inc(TCP_RECEIVED, received);
  }

  /** At a scrape: one sweep, whichever of the byte metrics asks first (they all read its result). */
  private scrapeSweep(): void {
    if (this.sweptThisTurn) return;
    this.sweptThisTurn = true;
    queueMicrotask(this.endTurn);
    this.sweepLive();
  }

  /** Once per connection, at close: its totals, of which the sweeps counted some already. */
  onClosed(rec: ConnectionRecord, bytesSent: number, bytesReceived: number): void {
    const labels = connectionLabels(rec);
    this.closed.inc(labels);
    const c = this.liveCounts.get(rec);
    // The remainder: a connection's total is counted exactly once, whatever the sweeps saw.
    const sent = bytesSent > (c?.sent ?? 0) ? bytesSent - (c?.sent ?? 0) : 0;
    const received = bytesReceived > (c?.received ?? 0) ? bytesReceived - (c?.received ?? 0) : 0;
    if (sent > 0) this.sent.inc(labels, sent);
    if (received > 0) this.received.inc(labels, received);
    // Not seen live by a sweep: opened and closed since the last one.
    this.usage.add(localWorkload(rec), rec.direction, sent + received, c === undefined);
    if (this.istioTcp !== undefined && c?.refused !== true) this.istioTcpClosed(this.istioTcp, rec, c !== undefined, sent, received);
    this.authz.count('connection', rec.authz);
    // An AuthorizationPolicy's denial has its own reason: an operator tells it from the mesh's own refusals.
    const reason = rec.failure === 'authz_denied' ? 'policy' : rec.outcome === undefined ? undefined : FAILURE[rec.outcome];
    if (reason === undefined) return;
    this.failed.inc({ ...labels, reason });
    if (reason === 'deny' || reason === 'policy') this.denials.inc(labels);
  }

  private istioTcpClosed(table: SeriesTable, rec: ConnectionRecord, openedCounted: boolean, bytesSent: number, bytesReceived: number): void {
    const flag = rec.responseFlag ?? '-';
    const s = this.istioSeries(table, rec, flag);
    if (s === undefined) return;
    // Not seen live by a sweep: its opening is counted here.
    if (!openedCounted) s.inc(TCP_OPENED);
    s.inc(TCP_CLOSED);
    if (bytesSent > 0) s.inc(TCP_SENT, bytesSent);
    if (bytesReceived > 0) s.inc(TCP_RECEIVED, bytesReceived);
  }

  private istioSeries(table: SeriesTable, rec: ConnectionRecord, flag: string): ReturnType<SeriesTable['get']> {
    const parts = tcpKeyParts(rec, flag, this.tcpParts);
    // A new snapshot: labels are computed afresh as connections come (the series stay).
    if (this.tcpView.refresh()) table.forgetKeys();
    const s = table.get(parts);
    if (s !== undefined) return s;
    const service = rec.service ?? (rec.direction === 'inbound' ? this.tcpView.serviceAt(rec.destination) : undefined);
    return table.add(parts, istioTcpLabels(rec, flag, this.tcpView.workload, this.clusterDomain, service));
  }

  /** A tunnel handshake failed (a rare event: the labelled counter's key cost does not matter). */
  tlsHandshakeFailed(side: 'server' | 'client'): void {
    this.tlsFailures.inc({ side });
  }

  /** A tunnel port limit triggered (rare next to connections; under attack one labelled inc per refusal). */
  tunnelLimit(reason: TunnelLimitReason): void {
    this.tunnelLimits.inc({ reason });
  }

  /** An inbound connection's source outcome (one labelled inc per connection, at its open). */
  sourceAddress(outcome: SourceOutcome): void {
    this.sourceOutcomes.inc({ outcome });
  }

  private scrapeTimeMetrics(registers: Registry[]): void {
    const metrics = this;
    let lastOpened: Record<Direction, number> = { outbound: 0, inbound: 0 };
    new Counter({
      name: 'meshlet_tcp_connections_opened_total', help: 'TCP connections opened, by direction', labelNames: ['direction'], registers,
      collect() {
        const now = metrics.source?.openedByDirection() ?? lastOpened;
        for (const d of ['outbound', 'inbound'] as const) this.inc({ direction: d }, now[d] - lastOpened[d]);
        lastOpened = { ...now };
      },
    });
    new Gauge({
      name: 'meshlet_tcp_connections_active', help: 'Live TCP connections, by direction and mode', labelNames: ['direction', 'mode'], registers,
      collect() {
        this.reset();
        for (const rec of metrics.source?.liveConnections() ?? []) this.inc({ direction: rec.direction, mode: rec.mode });
      },
    });
    totalCounter(registers, 'meshlet_tcp_idle_timeouts_total', 'Proxied connections reset by the idle timeout (no byte either way for an hour by default)', spliceIdleTimeouts);
    new Gauge({
      name: 'meshlet_tunnel_pool_connections', help: 'HTTP/2 mTLS sessions to peer agents in the pool', registers,
      collect() {
        this.set(metrics.source?.tunnelSessions() ?? 0);
      },
    });
    totalCounter(registers, 'meshlet_tunnel_window_shrinks_total', 'Tunnel sessions given a smaller receive window because they were bulk while another session was active (fairness between workloads)', () => metrics.source?.windowShrinks?.());
    totalCounter(registers, 'meshlet_tunnel_streams_reopened_total', 'Tunnel CONNECT streams refused (REFUSED_STREAM) before the peer answered and opened again with the client bytes already sent, so the connection was not lost (a peer agent draining, or its stream limit)', tunnelStreamsReopened);
    totalCounter(registers, 'meshlet_turn_budget_pauses_total', 'Tunnel connections paused for the rest of an event-loop turn because their workload moved its per-turn byte budget while another workload was active (fairness between workloads)', () => processTurnBudget.pauses);
    new Gauge({
      name: 'meshlet_tunnel_streams_active', help: 'Live CONNECT streams, by side (client: to peers, server: from peers)', labelNames: ['side'], registers,
      collect() {
        this.reset();
        this.set({ side: 'client' }, 0);
        this.set({ side: 'server' }, 0);
        for (const rec of metrics.source?.liveConnections() ?? []) {
          if (rec.mode === 'tunnel') this.inc({ side: rec.direction === 'outbound' ? 'client' : 'server' });
        }
      },
    });
  }
}
