/**
 * Metrics of the resilience features (issue 13): retries and what stopped them, hedges, circuit
 * breaker overflows, outlier ejections, injected faults, rate-limited requests, timeouts, mirrored
 * requests, and the adaptive concurrency limits. Labels name Services (`namespace/name`),
 * workloads and closed lists of reasons, never a path or an address, so the series stay bounded
 * by the snapshot. The per-request outcome is also in Istio's `response_flags` (UO, RL, FI, DI,
 * UT, URX) of `istio_requests_total` and of the access log.
 */
import { Counter, Gauge, type Registry } from '../../ops/prom.js';

import type { EjectionReason, FaultKind, OverflowThreshold, RetryStopReason } from '../policy/resilience/reasons.js';

export type { EjectionReason, FaultKind, OverflowThreshold, RetryStopReason };

/** A gauge's values at scrape time. */
export type GaugeSource = () => Iterable<{ readonly labels: Record<string, string>; readonly value: number }>;

export class ResilienceMetrics {
  private readonly retries: Counter<'service' | 'reason'>;
  private readonly retryStops: Counter<'service' | 'reason'>;
  private readonly hedges: Counter<'service' | 'outcome'>;
  private readonly overflows: Counter<'service' | 'threshold'>;
  private readonly ejections: Counter<'service' | 'reason'>;
  private readonly faults: Counter<'service' | 'kind'>;
  private readonly rateLimited: Counter<'scope' | 'target'>;
  private readonly timeouts: Counter<'service' | 'kind'>;
  private readonly mirrors: Counter<'service' | 'outcome'>;
  private readonly workloadRefusals: Counter<'workload' | 'limit'>;
  private ejectedSource: GaugeSource | undefined;
  private limitSource: GaugeSource | undefined;

  constructor(registry: Registry) {
    const registers = [registry];
    this.retries = new Counter({ name: 'meshlet_request_retries_total', help: 'Retries made by the source agent, by Service and by what triggered them (connect-failure, reset, 5xx, a status code, a gRPC status, per_try_timeout)', labelNames: ['service', 'reason'], registers });
    this.retryStops = new Counter({ name: 'meshlet_request_retries_suppressed_total', help: 'Failed tries that were not retried although a retry policy applied, by reason (budget: the retry budget was spent; attempts, method, body, breaker)', labelNames: ['service', 'reason'], registers });
    this.hedges = new Counter({ name: 'meshlet_request_hedges_total', help: 'Hedged tries, by outcome (sent; won: its answer was returned; skipped_budget: the budget had none)', labelNames: ['service', 'outcome'], registers });
    this.overflows = new Counter({ name: 'meshlet_upstream_overflow_total', help: 'Connections and requests refused at once by a circuit breaker threshold or the adaptive concurrency limit (response flag UO)', labelNames: ['service', 'threshold'], registers });
    this.ejections = new Counter({ name: 'meshlet_outlier_ejections_total', help: 'Endpoints ejected by outlier detection, by reason', labelNames: ['service', 'reason'], registers });
    this.faults = new Counter({ name: 'meshlet_faults_injected_total', help: 'Faults injected by a TrafficPolicy (delay, abort, reset)', labelNames: ['service', 'kind'], registers });
    this.rateLimited = new Counter({ name: 'meshlet_rate_limited_total', help: 'Requests refused by a local rate limit (scope inbound: per destination workload; route: per route at the source agent)', labelNames: ['scope', 'target'], registers });
    this.timeouts = new Counter({ name: 'meshlet_request_timeouts_total', help: 'Request timeouts that fired (kind request: the whole request; per_try: one try, which may be retried)', labelNames: ['service', 'kind'], registers });
    this.mirrors = new Counter({ name: 'meshlet_requests_mirrored_total', help: 'Requests mirrored by a RequestMirror filter, by outcome (sent, failed, skipped: the mirror had too many in flight)', labelNames: ['service', 'outcome'], registers });
    this.workloadRefusals = new Counter({ name: 'meshlet_workload_limit_refusals_total', help: 'Connections of a local workload refused because it had reached its limit on this agent (meshlet.io/max-connections or the default; response flag UO)', labelNames: ['workload', 'limit'], registers });
    const self = this;
    new Gauge({
      name: 'meshlet_outlier_ejected_endpoints',
      help: 'Endpoints ejected right now by outlier detection, per Service',
      labelNames: ['service'],
      registers,
      collect() {
        this.reset();
        for (const { labels, value } of self.ejectedSource?.() ?? []) this.set(labels, value);
      },
    });
    new Gauge({
      name: 'meshlet_adaptive_concurrency_limit',
      help: 'The adaptive concurrency limit in force, per destination workload and port',
      labelNames: ['workload', 'port'],
      registers,
      collect() {
        this.reset();
        for (const { labels, value } of self.limitSource?.() ?? []) this.set(labels, value);
      },
    });
  }

  retried(service: string, reason: string): void {
    this.retries.inc({ service, reason });
  }

  retryStopped(service: string, reason: RetryStopReason): void {
    this.retryStops.inc({ service, reason });
  }

  hedge(service: string, outcome: 'sent' | 'won' | 'skipped_budget'): void {
    this.hedges.inc({ service, outcome });
  }

  overflow(service: string, threshold: OverflowThreshold): void {
    this.overflows.inc({ service, threshold });
  }

  ejected(service: string, reason: EjectionReason): void {
    this.ejections.inc({ service, reason });
  }

  fault(service: string, kind: FaultKind): void {
    this.faults.inc({ service, kind });
  }

  limited(scope: 'inbound' | 'route', target: string): void {
    this.rateLimited.inc({ scope, target });
  }

  timedOut(service: string, kind: 'request' | 'per_try'): void {
    this.timeouts.inc({ service, kind });
  }

  /** One connection of local workload `workload` (its uid) refused by its connection cap. */
  workloadLimited(workload: string): void {
    this.workloadRefusals.inc({ workload, limit: 'max_connections' });
  }

  mirrored(service: string, outcome: 'sent' | 'failed' | 'skipped'): void {
    this.mirrors.inc({ service, outcome });
  }

  /** Where `meshlet_outlier_ejected_endpoints` reads its values (labels: `service`). */
  watchEjected(source: GaugeSource): void {
    this.ejectedSource = source;
  }

  /** Where `meshlet_adaptive_concurrency_limit` reads its values (labels: `workload`, `port`). */
  watchLimits(source: GaugeSource): void {
    this.limitSource = source;
  }
}
