/**
 * The admin API (Envoy/ztunnel style) on a loopback address only: what the agent holds
 * (snapshot, workloads, services, connections, certificates, capture rules, node facts) and
 * the two things an SRE may change (log levels, a drain). State-changing endpoints take POST
 * only. JSON by default, `?format=text` for people. A server of its own, so a slow dump
 * never sits in front of readiness probes or scrapes.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import type { Agent } from './agent.js';
import { renderText } from './admin-text.js';
import { listen } from '../ops/listen.js';
import { certsView, configDumpView, connectionsView, iptablesView, servicesView, workloadsView, type SourceInfo } from './admin-views.js';
import { readNodeFacts } from './node-facts.js';

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
}

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

// A /logging body is a few words; anything bigger is not for us.
const MAX_BODY_BYTES = 4096;

/** The admin HTTP server. */
export class AdminServer {
  private readonly agent: Agent;
  private readonly logger: Logger;
  private readonly quit: () => void;
  private readonly nodeFacts: () => Promise<unknown>;
  private readonly source: SourceInfo;
  private readonly routes: ReadonlyMap<string, Route>;
  private readonly server: http.Server;
  private quitting = false;
  private closed = false;

  constructor(opts: AdminServerOptions) {
    this.agent = opts.agent;
    this.logger = opts.logger;
    this.quit = opts.quit;
    this.nodeFacts = opts.nodeFacts ?? readNodeFacts;
    this.source = opts.source ?? {};
    this.routes = this.buildRoutes();
    this.server = http.createServer((req, res) => void this.onRequest(req, res));
  }

  /**
   * Binds; `host` must be a loopback address (the configuration already insists on it; this is
   * the last line of defence against an admin API that can stop the agent being exposed).
   */
  start(port: number, host: string): Promise<AddressInfo> {
    if (!(host.startsWith('127.') || host === '::1')) {
      return Promise.reject(new MeshletError('MESHLET_ERR_CONFIG_INVALID', `admin address ${JSON.stringify(host)}: must be a loopback address`));
    }
    return listen(this.server, { port, host });
  }

  /** Stops listening and closes idle keep-alive connections. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    this.server.closeAllConnections();
  }

  private buildRoutes(): Map<string, Route> {
    const a = this.agent;
    const get = (help: string, handler: Handler): Route => ({ method: 'GET', help, handler });
    const routes = new Map<string, Route>([
      ['/config_dump', get('the snapshot in force, its version and age, listeners, certificates (no keys)', () => ({ body: configDumpView(a, Date.now(), this.source) }))],
      ['/workloads', get('workloads of the snapshot, local ones marked', () => ({ body: workloadsView(a) }))],
      ['/services', get('services of the snapshot', () => ({ body: servicesView(a) }))],
      ['/connections', get('live connections with their bytes and age (every worker process\'s)', async () => ({ body: await connectionsView(a) }))],
      ['/certs', get('local workload certificates and seconds left', () => ({ body: certsView(a) }))],
      ['/iptables', get('capture rules: wanted vs in the kernel, drift', async () => ({ body: await iptablesView(a) }))],
      ['/node', get('host CPU, memory, load, interfaces, kernel, conntrack', async () => ({ body: await this.nodeFacts() }))],
      ['/logging', { method: 'POST', help: 'change log levels: ?level=debug[&component=outbound] (GET shows them)', handler: (u, b) => this.setLevel(u, b) }],
      ['/healthz', get('liveness', () => ({ body: { ok: true } }))],
      ['/ready', get('readiness and what still blocks it', () => this.ready())],
      ['/quitquitquit', { method: 'POST', help: 'drain and exit, as on SIGTERM', handler: () => this.onQuit() }],
    ]);
    routes.set('/', get('this index', () => ({ body: [...routes].map(([path, r]) => ({ path, method: r.method, help: r.help })) })));
    return routes;
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://admin');
    const route = this.routes.get(url.pathname);
    let answer: Answer;
    try {
      if (route === undefined) answer = { status: 404, body: { error: `no such endpoint: ${url.pathname} (GET / lists them)` } };
      else if (url.pathname === '/logging' && req.method === 'GET') answer = { body: this.agent.logLevels.levels() };
      else if (req.method !== route.method) {
        res.setHeader('allow', url.pathname === '/logging' ? 'GET, POST' : route.method);
        answer = { status: 405, body: { error: `${url.pathname} takes ${route.method} only` } };
      } else answer = await route.handler(url, await readBody(req));
    } catch (err) {
      const bad = err instanceof MeshletError && err.code === 'MESHLET_ERR_CONFIG_INVALID';
      if (!bad) this.logger.error({ err: (err as Error).message, path: url.pathname }, 'admin request failed');
      answer = { status: bad ? 400 : 500, body: { error: (err as Error).message } };
    }
    this.respond(res, url, answer);
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

  private ready(): Answer {
    const ready = this.agent.readiness.ready;
    return { status: ready ? 200 : 503, body: { ready, pending: this.agent.readiness.pending(), version: this.agent.snapshot.version } };
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

/** Reads a small request body; a bigger one is refused. */
function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new MeshletError('MESHLET_ERR_CONFIG_INVALID', `body: larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
