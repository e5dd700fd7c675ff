/**
 * The controller's Prometheus `/metrics` on a port of its own (15014, as istiod's monitoring
 * port), plain HTTP: it carries no secrets, and the agent API's TLS listener is replaced at
 * every serving-certificate renewal, which a scrape target must not be.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import type { ControllerMetrics } from './metrics.js';

/** The controller's metrics port. */
export const CONTROLLER_METRICS_PORT = 15014;

/** Serves `GET /metrics` (404 elsewhere, 405 for other methods). */
export class ControllerMetricsServer {
  private readonly metrics: ControllerMetrics;
  private readonly log: Logger;
  private readonly server: http.Server;
  private closed = false;

  constructor(metrics: ControllerMetrics, logger: Logger) {
    this.metrics = metrics;
    this.log = logger.child({ component: 'metrics' });
    this.server = http.createServer((req, res) => this.onRequest(req, res));
  }

  /** Binds `host:port` (0: any free port) and returns the bound address. */
  start(port: number = CONTROLLER_METRICS_PORT, host = '0.0.0.0'): Promise<AddressInfo> {
    if (this.closed) return Promise.reject(new MeshletError('MESHLET_ERR_CLOSED', 'the controller metrics server is closed'));
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(new MeshletError('MESHLET_ERR_CONTROLLER', `metrics could not listen on ${host}:${port}: ${err.message}`, { cause: err }));
      this.server.once('error', onError);
      this.server.listen({ port, host }, () => {
        this.server.off('error', onError);
        const address = this.server.address() as AddressInfo;
        this.log.info({ host, port: address.port }, 'metrics listening');
        resolve(address);
      });
    });
  }

  /** Stops listening and drops open connections. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    this.server.closeAllConnections();
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    this.metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
      (err: Error) => {
        this.log.error({ err: err.message }, 'metrics collection failed');
        res.writeHead(500).end();
      },
    );
  }
}
