/**
 * Prometheus `/metrics` on a port of its own (15020), so scrapes never queue behind the
 * admin API or the readiness probe.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { AgentMetrics } from './metrics.js';

/** Serves `GET /metrics`. */
export class MetricsServer {
  private readonly metrics: AgentMetrics;
  private readonly logger: Logger;
  private readonly server: http.Server;
  private closed = false;

  constructor(metrics: AgentMetrics, logger: Logger) {
    this.metrics = metrics;
    this.logger = logger;
    this.server = http.createServer((req, res) => {
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
          this.logger.error({ err: err.message }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
    });
  }

  /** Binds and returns the address. */
  start(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port, host }, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Stops listening. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    this.server.closeAllConnections();
  }
}
