/**
 * The controller's Prometheus `/metrics` on a port of its own (15014, as istiod's monitoring
 * port), plain HTTP: it carries no secrets, and the agent API's TLS listener is replaced at
 * every serving-certificate renewal, which a scrape target must not be.
 */
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { PrometheusServer } from '../ops/prometheus-server.js';
import type { ControllerMetrics } from './metrics.js';

/** The controller's metrics port. */
export const CONTROLLER_METRICS_PORT = 15014;

/**
 * Serves the controller's registry as `GET /metrics` (404 elsewhere, 405 for other methods).
 * What it adds to the shared {@link PrometheusServer} (which, in `ops/`, may not name meshlet's
 * error codes): a bind failure or a start after close is a {@link MeshletError}, and a log line.
 */
export class ControllerMetricsServer extends PrometheusServer {
  private readonly log: Logger;

  constructor(metrics: ControllerMetrics, logger: Logger) {
    const log = logger.child({ component: 'metrics' });
    super(metrics.registry, log);
    this.log = log;
  }

  /** Binds `host:port` (0: any free port) and returns the bound address. */
  override async start(port: number = CONTROLLER_METRICS_PORT, host = '0.0.0.0'): Promise<AddressInfo> {
    if (this.isClosed) throw new MeshletError('MESHLET_ERR_CLOSED', 'the controller metrics server is closed');
    let address: AddressInfo;
    try {
      address = await super.start(port, host);
    } catch (err) {
      // LISTEN, not CONTROLLER: that code is the agent's view of a failed controller connection.
      throw new MeshletError('MESHLET_ERR_LISTEN', `metrics could not listen on ${host}:${port}: ${(err as Error).message}`, { cause: err });
    }
    this.log.info({ host, port: address.port }, 'metrics listening');
    return address;
  }
}
