/**
 * The agent's Prometheus metrics (prom-client, in a registry of its own). Connection metrics
 * are touched once per connection, at close, with labels that stay bounded (workloads,
 * namespaces, services: never addresses or ports). Everything else (connections opened and
 * live, tunnels, config, certificates, capture-rule drift) is read at scrape time from plain
 * fields, so the data path pays nothing for it.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConnectionObserver, ConnectionOutcome, ConnectionRecord, Direction } from './connection-table.js';

/** Why a connection failed, as the `reason` label says it. */
export type FailureReason = 'deny' | 'connect' | 'tls' | 'no_route';

const FAILURE: Partial<Record<ConnectionOutcome, FailureReason>> = {
  denied: 'deny',
  connect_failed: 'connect',
  // The tunnel (mTLS to the peer agent) could not be opened or broke: handshake, identity, session.
  tunnel_failed: 'tls',
  no_route: 'no_route',
};

/** What the metrics read at scrape time. */
export interface MetricsSource {
  openedByDirection(): Readonly<Record<Direction, number>>;
  liveConnections(): readonly ConnectionRecord[];
  tunnelSessions(): number;
  config(): { readonly version: string; readonly appliedAtMs: number | undefined };
  certificates(): ReadonlyArray<{ readonly identity: string; readonly notAfter: Date }>;
  /** Last capture-rule check: true in sync, false drifted, undefined not checked or not managed. */
  captureInSync(): boolean | undefined;
}

const CONNECTION_LABELS = [
  'reporter', 'source_workload', 'source_workload_namespace', 'destination_workload',
  'destination_workload_namespace', 'destination_service', 'security_policy',
] as const;

type ConnectionLabel = (typeof CONNECTION_LABELS)[number];

/** `Pod/<namespace>/<name>` -> [namespace, name]; unknown parts say `unknown`. */
function workloadParts(uid: string | undefined): [string, string] {
  if (uid === undefined) return ['unknown', 'unknown'];
  const parts = uid.split('/');
  return [parts[1] ?? 'unknown', parts[2] ?? uid];
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

/** The agent's metrics registry; the connection table's observer. */
export class AgentMetrics implements ConnectionObserver {
  readonly registry = new Registry();
  private source: MetricsSource | undefined;
  private readonly closed: Counter<ConnectionLabel>;
  private readonly sent: Counter<ConnectionLabel>;
  private readonly received: Counter<ConnectionLabel>;
  private readonly failed: Counter<ConnectionLabel | 'reason'>;
  private readonly denials: Counter<ConnectionLabel>;
  private readonly tlsFailures: Counter<'side'>;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.closed = new Counter({ name: 'meshlet_tcp_connections_closed_total', help: 'TCP connections closed', labelNames: CONNECTION_LABELS, registers });
    this.sent = new Counter({ name: 'meshlet_tcp_sent_bytes_total', help: 'Bytes sent toward the destination, counted at close', labelNames: CONNECTION_LABELS, registers });
    this.received = new Counter({ name: 'meshlet_tcp_received_bytes_total', help: 'Bytes received from the destination, counted at close', labelNames: CONNECTION_LABELS, registers });
    this.failed = new Counter({ name: 'meshlet_tcp_connections_failed_total', help: 'TCP connections that failed, by reason (deny, connect, tls, no_route)', labelNames: [...CONNECTION_LABELS, 'reason'], registers });
    this.denials = new Counter({ name: 'meshlet_policy_denials_total', help: 'Connections refused by policy', labelNames: CONNECTION_LABELS, registers });
    this.tlsFailures = new Counter({
      name: 'meshlet_tls_handshake_failures_total',
      help: 'Tunnel mTLS handshakes that failed, by side (server: a peer we refused; client: a peer that refused us or failed our identity check)',
      labelNames: ['side'],
      registers,
    });
    this.scrapeTimeMetrics(registers);
  }

  /** Where scrape-time values come from (the agent, once it is built). */
  watch(source: MetricsSource): void {
    this.source = source;
  }

  /** Once per connection, at close. */
  onClosed(rec: ConnectionRecord, bytesSent: number, bytesReceived: number): void {
    const labels = connectionLabels(rec);
    this.closed.inc(labels);
    if (bytesSent > 0) this.sent.inc(labels, bytesSent);
    if (bytesReceived > 0) this.received.inc(labels, bytesReceived);
    const reason = rec.outcome === undefined ? undefined : FAILURE[rec.outcome];
    if (reason === undefined) return;
    this.failed.inc({ ...labels, reason });
    if (reason === 'deny') this.denials.inc(labels);
  }

  /** A tunnel handshake failed (a rare event: the labelled counter's key cost does not matter). */
  tlsHandshakeFailed(side: 'server' | 'client'): void {
    this.tlsFailures.inc({ side });
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
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
    new Gauge({
      name: 'meshlet_tunnel_pool_connections', help: 'HTTP/2 mTLS sessions to peer agents in the pool', registers,
      collect() {
        this.set(metrics.source?.tunnelSessions() ?? 0);
      },
    });
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
    this.configMetrics(registers);
  }

  private configMetrics(registers: Registry[]): void {
    const metrics = this;
    new Gauge({
      name: 'meshlet_config_info', help: 'The snapshot in force (value 1, version in a label)', labelNames: ['version'], registers,
      collect() {
        this.reset();
        const c = metrics.source?.config();
        if (c !== undefined && c.appliedAtMs !== undefined) this.set({ version: c.version }, 1);
      },
    });
    new Gauge({
      name: 'meshlet_config_last_update_seconds', help: 'Seconds since the snapshot in force was applied (-1 before the first)', registers,
      collect() {
        const at = metrics.source?.config().appliedAtMs;
        this.set(at === undefined ? -1 : (Date.now() - at) / 1000);
      },
    });
    new Gauge({
      name: 'meshlet_certificate_expiry_seconds', help: 'Seconds until each local workload certificate expires', labelNames: ['identity'], registers,
      collect() {
        this.reset();
        for (const c of metrics.source?.certificates() ?? []) this.set({ identity: c.identity }, (c.notAfter.getTime() - Date.now()) / 1000);
      },
    });
    new Gauge({
      name: 'meshlet_iptables_in_sync', help: 'Capture rules as last checked: 1 in sync, 0 drifted (absent: not checked or not managed)', registers,
      collect() {
        this.reset();
        const inSync = metrics.source?.captureInSync();
        if (inSync !== undefined) this.set(inSync ? 1 : 0);
      },
    });
  }
}
