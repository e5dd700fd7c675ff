/**
 * The controller's Prometheus `/metrics` on a port of its own (15014, as istiod's monitoring
 * port), plain HTTP: it carries no secrets, and the agent API's TLS listener is replaced at
 * every serving-certificate renewal, which a scrape target must not be.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { PrometheusServer } from '../ops/prometheus-server.js';
import type { ControllerMetrics } from './metrics.js';

/** The controller's metrics port. */
export const CONTROLLER_METRICS_PORT = 15014;

/** What `/ready` says: the replica's role and what still keeps it from serving agents. */
export interface ControllerHealth {
  /** `single`: no leader election; `leader` or `standby` with it. */
  readonly role: 'single' | 'leader' | 'standby';
  /**
   * What is not done yet, empty when ready: `leadership` (a standby waiting for the Lease),
   * `state` (no cluster state published yet), `agent-api` (the port not serving), `draining`.
   */
  readonly pending: readonly string[];
}

/**
 * Serves the controller's registry as `GET /metrics` (404 elsewhere, 405 for other methods),
 * and its probes: `GET /healthz` (200 while the process answers: a standby too, which must not
 * be restarted for waiting) and `GET /ready` (200 once this replica serves agents, 503 with what
 * is pending otherwise). What it adds to the shared {@link PrometheusServer} (which, in `ops/`,
 * may not name meshlet's error codes): a bind failure or a start after close is a
 * {@link MeshletError}, and a log line.
 */
export class ControllerMetricsServer extends PrometheusServer {
  private readonly log: Logger;
  private readonly health: () => ControllerHealth;

  constructor(metrics: ControllerMetrics, logger: Logger, health: () => ControllerHealth) {
    const log = logger.child({ component: 'metrics' });
    super(metrics.registry, log);
    this.log = log;
    this.health = health;
  }

  protected override answer(path: string, req: http.IncomingMessage, res: http.ServerResponse): boolean {
    if (path !== '/healthz' && path !== '/ready') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return true;
    }
    const json = { 'content-type': 'application/json' };
    if (path === '/healthz') {
      res.writeHead(200, json).end('{"ok":true}\n');
      return true;
    }
    const { role, pending } = this.health();
    const ready = pending.length === 0;
    res.writeHead(ready ? 200 : 503, json).end(`${JSON.stringify({ ready, role, pending })}\n`);
    return true;
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
