/**
 * Serves one prom-client registry as `GET /metrics` on a port of its own: 404 elsewhere, 405
 * for other methods. The agent (:15020) and the controller (:15014) each run one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { listen } from './listen.js';

/** A `/metrics` endpoint for one registry. */
export class PrometheusServer {
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly server: http.Server;
  private closed = false;

  constructor(registry: Registry, logger: Logger) {
    this.registry = registry;
    this.logger = logger;
    this.server = http.createServer((req, res) => this.onRequest(req, res));
  }

  /** Binds `host:port` (0: any free port) and returns the bound address. */
  start(port: number, host: string): Promise<AddressInfo> {
    return listen(this.server, { port, host });
  }

  /** Stops listening and drops open connections. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    this.server.closeAllConnections();
  }

  /** True once close() ran. */
  get isClosed(): boolean {
    return this.closed;
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
    this.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
      (err: Error) => {
        this.logger.error({ err: err.message }, 'metrics collection failed');
        res.writeHead(500).end();
      },
    );
  }
}
