/**
 * The data path's metrics: connections, bytes, failures, TLS handshakes, tunnels. Connection
 * metrics are touched once per connection, at close, with labels that stay bounded
 * (workloads, namespaces, services: never addresses or ports); connections opened and live
 * and the tunnel pool are read at scrape time from plain fields, so the data path pays nothing
 * for them. With worker processes each worker keeps these in its own registry and the primary
 * sums them at scrape (every one is a counter or a gauge whose sum is the node's figure).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ConnectionOutcome, Direction } from '../policy/outcomes.js';
import type { ConnectionObserver, ConnectionRecord } from './connection-table.js';
import { spliceIdleTimeouts } from './splice.js';
import type { TunnelLimitReason } from './tunnel/limits.js';

/** Why a connection failed, as the `reason` label says it. */
export type FailureReason = 'deny' | 'connect' | 'tls' | 'no_route';

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

/** Data-path metrics in a registry; the connection table's observer. */
export class DataPathMetrics implements ConnectionObserver {
  private source: DataPathSource | undefined;
  private readonly closed: Counter<ConnectionLabel>;
  private readonly sent: Counter<ConnectionLabel>;
  private readonly received: Counter<ConnectionLabel>;
  private readonly failed: Counter<ConnectionLabel | 'reason'>;
  private readonly denials: Counter<ConnectionLabel>;
  private readonly tlsFailures: Counter<'side'>;
  private readonly tunnelLimits: Counter<'reason'>;

  constructor(registry: Registry) {
    const registers = [registry];
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
    this.tunnelLimits = new Counter({
      name: 'meshlet_tunnel_limits_total',
      help: 'Tunnel port limits that triggered, by reason: connections or streams refused (connection_limit, handshake_limit, peer_handshake_limit, handshake_timeout, peer_stream_limit, peer_cert_expired, bad_request) and sessions closed (session_idle, ping_timeout, session_max_age)',
      labelNames: ['reason'],
      registers,
    });
    this.scrapeTimeMetrics(registers);
  }

  /** Where scrape-time values come from (the data plane, once it is built). */
  watch(source: DataPathSource): void {
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

  /** A tunnel port limit triggered (rare next to connections; under attack one labelled inc per refusal). */
  tunnelLimit(reason: TunnelLimitReason): void {
    this.tunnelLimits.inc({ reason });
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
    let lastIdle = 0;
    new Counter({
      name: 'meshlet_tcp_idle_timeouts_total', help: 'Proxied connections reset by the idle timeout (no byte either way for an hour by default)', registers,
      collect() {
        const now = spliceIdleTimeouts();
        this.inc(now - lastIdle);
        lastIdle = now;
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
  }
}
