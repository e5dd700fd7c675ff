/**
 * Prometheus `/metrics` on a port of its own (15020), so scrapes never queue behind the
 * admin API or the readiness probe.
 */
import type { Logger } from 'pino';
import { PrometheusServer, type PrometheusServerOptions } from '../../ops/prometheus-server.js';
import type { AgentMetrics } from './metrics.js';

/** Serves the agent's registry as `GET /metrics`. */
export class MetricsServer extends PrometheusServer {
  constructor(metrics: AgentMetrics, logger: Logger, opts: PrometheusServerOptions = {}) {
    super(metrics.registry, logger, opts);
  }
}
