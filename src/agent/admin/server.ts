/**
 * The admin API (Envoy/ztunnel style) on a loopback address only: what the agent holds
 * (snapshot, workloads, services, connections, certificates, capture rules, node facts) and
 * the two things an SRE may change (log levels, a drain). State-changing endpoints take POST
 * only. JSON by default, `?format=text` for people. A server of its own, so a slow dump
 * never sits in front of readiness probes or scrapes.
 *
 * Loopback is not a boundary on a node: every hostNetwork pod and host process shares it. So
 * every endpoint but `/`, `/healthz` and `/ready` needs the admin token
 * (`Authorization: Bearer`, see admin-token.ts): the POSTs stop the agent or change its
 * logging, and the GETs show the mesh's topology, who talks to whom and the host, and some
 * (`/iptables`, `/node`) run work on each call. The port's connections, timeouts and request
 * sizes are bounded (`ADMIN_HTTP_LIMITS`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { MeshletError } from '../../mesh/errors.js';
import type { Agent } from '../agent.js';
import { checkBearer } from './token.js';
import { renderText } from './text.js';
import { BodyTooLargeError, createLocalHttpServer, readBoundedBody, type LocalHttp, type LocalHttpLimits } from '../../ops/http-limits.js';
import { listen, type InheritedFd } from '../../ops/listen.js';
import { usageView } from './usage-view.js';
import { certsView, configDumpView, connectionsView, endpointsView, iptablesView, routesView, servicesView, workloadsView, type SourceInfo } from './views.js';
import { readNodeFacts } from './node-facts.js';
import { policiesView, policyExplainView } from './policy-views.js';
import type { ProcessResilience } from './resilience-rows.js';
import { resilienceView } from './resilience-view.js';
import { localTapSource, TapHub, workerTapSource, type TapSource } from '../tap/tap-hub.js';
import type { TapStreamLimits } from '../tap/tap-stream.js';
import { TapPoint } from '../tap/tap-point.js';
import { isUiPath, serveUi } from './ui/ui-handler.js';

/** Options of {@link AdminServer}. */
export interface AdminServerOptions {
  readonly agent: Agent;
  readonly logger: Logger;
  /** Called (once) by `POST /quitquitquit`: the CLI drains and exits, as on SIGTERM. */
  readonly quit: () => void;
  /** Host facts for `/node` (default: systeminformation); injectable for tests. */
  readonly nodeFacts?: () => Promise<unknown>;
  /** The agent's version and its controller connection, shown in `/config_dump`. */
  readonly source?: SourceInfo;
  /** The admin token (admin-token.ts): required by every endpoint but {@link PUBLIC_PATHS}. */
  readonly token: string;
  /** Overrides of {@link ADMIN_HTTP_LIMITS} (tests use small ones). */
  readonly limits?: Partial<LocalHttpLimits>;
  /** Where refusals are counted (default: the agent's registry). */
  readonly registry?: Registry;
  /**
   * Every data-path process's live resilience state for `/resilience` (`resilience-rows.ts`);
   * default: the agent's. Failing: `/resilience` shows the configuration only, with `live: false`.
   */
  readonly resilience?: () => Promise<readonly ProcessResilience[]>;
  /** Overrides of the tap's bounds (`tap-hub.ts`, `tap-stream.ts`); tests use small ones. */
  readonly tap?: { readonly maxStreams?: number; readonly limits?: Partial<TapStreamLimits> };
}

/**
 * Endpoints anyone on the node may GET without the token: the index and the two health
 * answers, which say nothing about the mesh (a local probe or `curl` needs no secret). The
 * web page's static files (`/ui`, `/ui/...`) are public too, served before the token check:
 * they hold no data, and the page sends the token itself (`ui/ui-handler.ts`).
 */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/', '/healthz', '/ready']);

/**
 * The admin port's limits. 64 connections: an SRE's CLI opens four at a time and nothing else
 * should talk to this port; loopback has one peer address, so the per-peer cap is the same.
 * 4 KiB of body: a /logging body is a few words. Timeouts as for every local port.
 */
export const ADMIN_HTTP_LIMITS: Partial<LocalHttpLimits> = Object.freeze({ maxConnections: 64, maxConnectionsPerPeer: 64, maxBodyBytes: 4096 });

/** A handled request's answer. */
interface Answer {
  readonly status?: number;
  readonly body: unknown;
}

type Handler = (url: URL, body: string) => Answer | Promise<Answer>;

interface Route {
  readonly method: 'GET' | 'POST';
  readonly help: string;
  readonly handler: Handler;
}

/** The admin HTTP server. */
export class AdminServer {
  private readonly agent: Agent;
  private readonly logger: Logger;
  private readonly quit: () => void;
  private readonly nodeFacts: () => Promise<unknown>;
  private readonly source: SourceInfo;
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly token: string;
  private readonly http: LocalHttp;
  private readonly resilience: (() => Promise<readonly ProcessResilience[]>) | undefined;
  /** `GET /tap`: live traffic events (`meshlet tap`, `meshlet top`). */
  readonly tap: TapHub;
  private quitting = false;
  private closed = false;

  constructor(opts: AdminServerOptions) {
    this.agent = opts.agent;
    this.logger = opts.logger;
    this.quit = opts.quit;
    this.nodeFacts = opts.nodeFacts ?? readNodeFacts;
    this.source = opts.source ?? {};
    this.resilience = opts.resilience ?? (() => opts.agent.resilienceRows());
    this.routes = this.buildRoutes();
    if (!/^[0-9a-f]{32,}$/i.test(opts.token)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'admin token: want at least 16 random bytes in hex');
    this.token = opts.token;
    this.tap = new TapHub({
      source: () => tapSourceOf(opts.agent),
      registry: opts.registry ?? opts.agent.metrics.registry,
      logger: opts.logger,
      ...(opts.tap?.maxStreams === undefined ? {} : { maxStreams: opts.tap.maxStreams }),
      ...(opts.tap?.limits === undefined ? {} : { limits: opts.tap.limits }),
    });
    this.http = createLocalHttpServer((req, res) => void this.onRequest(req, res), {
      listener: 'admin',
      limits: { ...ADMIN_HTTP_LIMITS, ...opts.limits },
      registry: opts.registry ?? opts.agent.metrics.registry,
      logger: opts.logger,
    });
  }

  /**
   * Binds; `host` must be a loopback address (the configuration already insists on it; this is
   * the last line of defence against an admin API that can stop the agent being exposed).
   */
  start(port: number | InheritedFd, host: string): Promise<AddressInfo> {
    if (!(host.startsWith('127.') || host === '::1')) {
      return Promise.reject(new MeshletError('MESHLET_ERR_CONFIG_INVALID', `admin address ${JSON.stringify(host)}: must be a loopback address`));
    }
    // A socket the agent opened (or took over in an upgrade) on `host`: listen on it as is.
    return listen(this.http.server, typeof port === 'number' ? { port, host } : port);
  }

  /** Stops listening and closes idle keep-alive connections. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tap.close();
    this.http.server.close();
    this.http.server.closeAllConnections();
  }

  private buildRoutes(): Map<string, Route> {
    const a = this.agent;
    const get = (help: string, handler: Handler): Route => ({ method: 'GET', help, handler });
    const routes = new Map<string, Route>([
      ['/config_dump', get('the snapshot in force, its version and age, listeners, certificates (no keys)', () => ({ body: configDumpView(a, Date.now(), this.source) }))],
      ['/workloads', get('workloads of the snapshot, local ones marked', () => ({ body: workloadsView(a) }))],
      ['/services', get('services of the snapshot', () => ({ body: servicesView(a) }))],
      ['/connections', get('live connections with their bytes and age (every worker process\'s)', async () => ({ body: await connectionsView(a) }))],
      ['/routes', get('HTTPRoutes and GRPCRoutes in force, with their Accepted and ResolvedRefs conditions', () => ({ body: routesView(a) }))],
      ['/endpoints', get('Service endpoints with their per-request balancing state: outstanding requests, EWMA, zone (per worker process)', async () => ({ body: await endpointsView(a) }))],
      ['/resilience', get('resilience in force per Service and route (TrafficPolicy sections, route retry/timeouts/mirrors) and live state per Service port and worker process', async () => ({ body: resilienceView(a.snapshot, await this.liveResilience()) }))],
      ['/policies', get('AuthorizationPolicies in force for each local workload: action, how selected, rules, L7, ports', () => ({ body: policiesView(a.snapshot) }))],
      ['/policy/explain', get('why a source may reach a destination: ?source=..&destination=..[&port=..&method=..&path=..&host=..&header=name:value&sni=..&mode=..]', (u) => ({ body: policyExplainView(a.snapshot, u.searchParams) }))],
      ['/certs', get('local workload certificates and seconds left', () => ({ body: certsView(a) }))],
      ['/iptables', get('capture rules: wanted vs in the kernel, drift', async () => ({ body: await iptablesView(a) }))],
      ['/node', get('host CPU, memory, load, interfaces, kernel, conntrack', async () => ({ body: await this.nodeFacts() }))],
      ['/version', get('the agent\'s meshlet version, its Node.js runtime and node name', () => ({ body: { agentVersion: this.source.agentVersion ?? null, node: a.node, runtime: process.version } }))],
      ['/usage', get('agent CPU (estimated) and bytes per local workload: recent cores and share of the agent, totals since start (summed over worker processes; docs/performance.md "Fairness")', async () => ({ body: usageView(await a.metrics.registry.getMetricsAsJSON()) }))],
      ['/memory', get('memory of each agent process (the primary, each worker): rss, private (rss_anon), shared file pages, V8 heap, external', async () => ({ body: await a.metrics.processMemory() }))],
      ['/tap', get('live traffic events as NDJSON lines, one per connection opened or closed and request finished: ?namespace=..&workload=..&identity=..&service=..&outcome=..&kind=connection|request[&max=N&duration=S] (docs/admin.md)', () => {
        throw new Error('/tap is served as a stream'); // answered by onRequest, never through here
      })],
      ['/logging', { method: 'POST', help: 'change log levels: ?level=debug[&component=outbound] (GET shows them)', handler: (u, b) => this.setLevel(u, b) }],
      ['/healthz', get('liveness', () => ({ body: { ok: true } }))],
      ['/ready', get('readiness and what still blocks it', () => this.ready())],
      ['/quitquitquit', { method: 'POST', help: 'drain and exit, as on SIGTERM', handler: () => this.onQuit() }],
    ]);
    // The web page is files, served apart (`isUiPath`) and public; listed so that `/` leads people to it.
    const ui = { path: '/ui', method: 'GET', help: "this node's web page (open it in a browser; it asks for the admin token and sends it on each fetch of the endpoints)", token: false };
    routes.set('/', get('this index', () => ({ body: [...[...routes].map(([path, r]) => ({ path, method: r.method, help: r.help, token: !PUBLIC_PATHS.has(path) })), ui] })));
    return routes;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (isUiPath(url.pathname)) return serveUi(req, res, url.pathname);
    const route = this.routes.get(url.pathname);
    if (!this.authorized(req, res, url)) return;
    let answer: Answer;
    try {
      if (route === undefined) answer = { status: 404, body: { error: `no such endpoint: ${url.pathname} (GET / lists them)` } };
      else if (url.pathname === '/logging' && req.method === 'GET') answer = { body: this.agent.logLevels.levels() };
      else if (req.method !== route.method) {
        res.setHeader('allow', url.pathname === '/logging' ? 'GET, POST' : route.method);
        answer = { status: 405, body: { error: `${url.pathname} takes ${route.method} only` } };
      } else if (url.pathname === '/tap') {
        const refused = this.tap.open(url, res);
        if (refused === undefined) return; // streaming
        answer = refused;
      } else answer = await route.handler(url, await readBoundedBody(req, res, this.http));
    } catch (err) {
      if (err instanceof BodyTooLargeError) return; // answered 413 already
      const bad = err instanceof MeshletError && err.code === 'MESHLET_ERR_CONFIG_INVALID';
      if (!bad) this.logger.error({ err: (err as Error).message, path: url.pathname }, 'admin request failed');
      answer = { status: bad ? 400 : 500, body: { error: (err as Error).message } };
    }
    this.respond(res, url, answer);
  }

  /**
   * Lets a public GET through; otherwise checks the token and answers 401 (none) or 403
   * (wrong) itself, closing the connection so an unread body is never consumed.
   */
  private authorized(req: IncomingMessage, res: ServerResponse, url: URL): boolean {
    if ((req.method === 'GET' || req.method === 'HEAD') && PUBLIC_PATHS.has(url.pathname)) return true;
    const check = checkBearer(req.headers.authorization, this.token);
    if (check === 'ok') return true;
    this.http.refuse(check === 'missing' ? 'unauthorized' : 'forbidden', { method: req.method, path: url.pathname });
    const error =
      check === 'missing'
        ? `${url.pathname} needs the admin token: Authorization: Bearer <contents of the agent's --admin-token-file> (meshlet CLI: --admin-token-file)`
        : 'admin token does not match the agent\'s (it changes at every agent start)';
    res.setHeader('connection', 'close');
    if (check === 'missing') res.setHeader('www-authenticate', 'Bearer realm="meshlet-admin"');
    this.respond(res, url, { status: check === 'missing' ? 401 : 403, body: { error } });
    return false;
  }

  private respond(res: ServerResponse, url: URL, answer: Answer): void {
    if (res.destroyed) return;
    const text = url.searchParams.get('format') === 'text';
    const payload = text ? renderText(answer.body) : `${JSON.stringify(answer.body, null, 2)}\n`;
    res.writeHead(answer.status ?? 200, { 'content-type': text ? 'text/plain; charset=utf-8' : 'application/json' }).end(payload);
  }

  /** `POST /logging?level=L[&component=C]`, or the same as a JSON body. */
  private setLevel(url: URL, body: string): Answer {
    let level = url.searchParams.get('level') ?? undefined;
    let component = url.searchParams.get('component') ?? undefined;
    if (body.trim() !== '') {
      const parsed = parseJsonObject(body);
      if (typeof parsed['level'] === 'string') level = parsed['level'];
      if (typeof parsed['component'] === 'string') component = parsed['component'];
    }
    if (level === undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'level: required (?level=debug or {"level":"debug"})');
    this.agent.setLogLevel(level, component);
    this.logger.warn({ newLevel: level, component: component ?? '*' }, 'log level changed through the admin API');
    return { body: this.agent.logLevels.levels() };
  }

  /** The processes' live state, or undefined when there is no source or it failed (logged). */
  private async liveResilience(): Promise<readonly ProcessResilience[] | undefined> {
    if (this.resilience === undefined) return undefined;
    try {
      return await this.resilience();
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'live resilience state unavailable');
      return undefined;
    }
  }

  private ready(): Answer {
    const ready = this.agent.readiness.ready;
    return { status: ready ? 200 : 503, body: { ready, pending: this.agent.readiness.pending(), version: this.agent.snapshot.version, sourcePreservation: this.agent.sourcePreservation } };
  }

  private onQuit(): Answer {
    if (!this.quitting) {
      this.quitting = true;
      this.logger.warn('quit requested through the admin API: draining');
      // After the answer is written: the drain may end the process.
      setImmediate(this.quit);
    }
    return { status: 202, body: { draining: true } };
  }
}

/** Where the agent's tap events come from: its own data path's tap point, or its worker pool. */
function tapSourceOf(agent: Agent): TapSource | undefined {
  const table = agent.connections;
  if (table !== undefined) return table.tap instanceof TapPoint ? localTapSource(table.tap) : undefined;
  const pool = agent.workerPool;
  return pool === undefined ? undefined : workerTapSource(pool);
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `body: not JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'body: must be a JSON object');
  return value as Record<string, unknown>;
}
