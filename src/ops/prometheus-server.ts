/**
 * Serves one prom-client registry as `GET /metrics` on a port of its own, and the same at
 * `/stats/prometheus` (the path Istio's proxies serve, which scrape configs written for Istio
 * name): 404 elsewhere, 405 for other methods. Prometheus text by default, OpenMetrics when
 * `Accept` asks for it (`exposition-format.ts`). The agent (:15020) and the controller
 * (:15014) each run one. Any pod can reach it, so its connections, timeouts and request sizes
 * are bounded (`LOCAL_HTTP_LIMITS`); refusals are counted in the same registry.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { expositionContentType, expositionFormat, openMetricsText } from './exposition-format.js';
import { createLocalHttpServer, type LocalHttpLimits } from './http-limits.js';
import { listen, type InheritedFd } from './listen.js';

/** The paths that answer the metrics: Prometheus' usual one and Istio's. */
export const METRICS_PATHS: readonly string[] = ['/metrics', '/stats/prometheus'];

/** Options of {@link PrometheusServer}. */
export interface PrometheusServerOptions {
  /** Overrides of `LOCAL_HTTP_LIMITS` (tests use small ones). */
  readonly limits?: Partial<LocalHttpLimits>;
}

/** A `/metrics` endpoint for one registry. */
export class PrometheusServer {
  private readonly registry: Registry;
  private readonly logger: Logger;
  private readonly server: http.Server;
  private closed = false;

  constructor(registry: Registry, logger: Logger, opts: PrometheusServerOptions = {}) {
    this.registry = registry;
    this.logger = logger;
    this.server = createLocalHttpServer((req, res) => this.onRequest(req, res), {
      listener: 'metrics',
      registry,
      logger,
      ...(opts.limits === undefined ? {} : { limits: opts.limits }),
    }).server;
  }

  /** Binds `host:port` (0: any free port) and returns the bound address. */
  start(port: number, host: string): Promise<AddressInfo> {
    return listen(this.server, { port, host });
  }

  /** Listens on a socket opened elsewhere (the agent's, SO_REUSEPORT, possibly taken over in an upgrade); the server then owns it. */
  startOn(socket: InheritedFd): Promise<AddressInfo> {
    return listen(this.server, socket);
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

  /**
   * Other paths a subclass serves on the same port (the controller's health): true when it
   * answered `req`. None here.
   */
  protected answer(_path: string, _req: http.IncomingMessage, _res: http.ServerResponse): boolean {
    return false;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== undefined && this.answer(path, req, res)) return;
    if (path === undefined || !METRICS_PATHS.includes(path)) {
      res.writeHead(404).end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    const format = expositionFormat(req.headers.accept);
    const text = format === 'openmetrics' ? this.registry.getMetricsAsJSON().then(openMetricsText) : this.registry.metrics();
    text.then(
      // Vary: a cache between the scraper and the port must not answer one format for the other.
      (body) => res.writeHead(200, { 'content-type': expositionContentType(format), vary: 'accept' }).end(body),
      (err: Error) => {
        this.logger.error({ err: err.message }, 'metrics collection failed');
        res.writeHead(500).end();
      },
    );
  }
}
