/**
 * The source agent's L7 side: a captured connection to a Service port that speaks HTTP
 * (declared, or detected by `sniff`) is served here instead of being spliced. Node's own HTTP
 * servers parse it (HTTP/1.x, or HTTP/2 with prior knowledge), fed the captured socket with
 * `emit('connection')`; each request then gets its own plan (`planRequest`: routes, filters,
 * weighted backend), its own endpoint (a balancer lease), and its own call:
 *
 * - a meshed endpoint on another node: an HTTP/2 request on the pooled mTLS tunnel session;
 * - a meshed endpoint on this node: the destination side in-process (no socket, no TLS);
 * - an endpoint that is not meshed: a plaintext upstream pool.
 *
 * The response (status, headers, body, trailers) streams back with backpressure both ways.
 * Each request is an {@link Exchange} (`outbound-exchange.ts`): timeouts, retries, hedging,
 * circuit breaking, fault injection and mirroring happen there. One HTTP parse per agent: the
 * destination agent reads the request from the HTTP/2 frames, never from bytes.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RequestMirror, RouteInfo } from '../../mesh/routes.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import type { BalancerRegistry } from '../policy/balancer.js';
import type { PickContext } from '../policy/balancers/tracked-balancer.js';
import { planRequest, type PlannedHead, type ServicePortLookup } from '../policy/request-plan.js';
import { respond, type ErrorKind } from '../policy/respond.js';
import { LocalRateLimiter, type RateLimiter } from '../policy/resilience/rate-limit.js';
import { ServiceStates, type ServicePortView } from '../policy/resilience/service-state.js';
import { isGrpcRequest } from '../policy/route-match.js';
import type { ResilienceMetrics } from '../proxy/resilience-metrics.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { HeaderMap, HttpProto, RequestObserver, RequestRecord, RequestTracer } from './exchange.js';
import { Exchange } from './outbound-exchange.js';
import { plainHeaders } from './open-call.js';
import type { ExchangeHost, OutlierReporter } from './outbound-host.js';
import { Deadlines } from './deadlines.js';
import { MirrorSender } from './outbound-mirror.js';
import { tunnelProtocol } from './outbound-upgrade.js';
import type { HttpConnection, LocalCaller, PlaintextCaller, TunnelRequester } from './outbound-types.js';
import type { ReplayBody } from './replay-body.js';
import { endToEnd } from './wire.js';

export type { CallOptions, ExchangeCalls, HttpConnection, LocalCaller, PlaintextCaller, TunnelRequester, UpgradeTarget } from './outbound-types.js';

/** Bounds of the application-facing HTTP servers. */
export interface HttpServerLimits {
  /** A request head not complete by then: 408 (slowloris). */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection (HTTP/1.1) or session (HTTP/2) is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** Largest request head, bytes (Node's parser answers 431 beyond). */
  readonly maxHeaderBytes: number;
}

/**
 * Node's 60 s head timeout; an idle keep-alive connection is kept 2 minutes (Node's 5 s races
 * clients that reuse a connection just as the server closes it; Envoy keeps an hour); 16 KiB of
 * head as Node and Envoy's 60 KiB bound the same attack. (How many endpoints a request may try
 * is the retry policy's: `policy/resilience/request-policy.ts`.)
 */
export const DEFAULT_HTTP_SERVER_LIMITS: HttpServerLimits = Object.freeze({
  headersTimeoutMs: 60_000,
  keepAliveTimeoutMs: 120_000,
  maxHeaderBytes: 16 * 1024,
});

/** Options of {@link OutboundHttp}. */
export interface OutboundHttpOptions {
  readonly logger: Logger;
  readonly index: () => WorkloadIndex;
  readonly balancers: BalancerRegistry;
  readonly tunnel: TunnelRequester;
  readonly local: LocalCaller;
  readonly plaintext: PlaintextCaller;
  readonly observer?: RequestObserver;
  /** Routes attached to a Service port (default: none, every request to the Service itself). */
  readonly routesOf?: (index: WorkloadIndex, entry: ServicePortEntry) => readonly RouteInfo[];
  /** The consistent-hash key of a request for a Service port's balancer (default: none). */
  readonly hashKeyOf?: (index: WorkloadIndex, entry: ServicePortEntry, headers: IncomingMessage['headers'], sourceAddress: string) => string | undefined;
  readonly limits?: Partial<HttpServerLimits>;
  /** Uniform in [0, 1): weighted backends, fault injection, backoff jitter (tests pass a seeded one). */
  readonly random?: () => number;
  /** Monotonic milliseconds for the retry budgets (default `performance.now`). */
  readonly now?: () => number;
  /** Where retries, overflows, faults, timeouts and mirrors are counted. */
  readonly metrics?: ResilienceMetrics;
  /** Outlier detection: told the outcome of every try. */
  readonly outliers?: OutlierReporter;
  /** Where route rate limits take tokens (default: a limiter of this process). */
  readonly rateLimiter?: () => RateLimiter;
  /** Joins requests to the application's trace (a CLIENT span each; `trace/tracer.ts`). Default: none. */
  readonly tracer?: RequestTracer;
}

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

const kConn = Symbol('meshlet.httpConnection');
interface HttpSocket extends Socket {
  [kConn]?: ConnState | undefined;
}
interface ConnState {
  readonly conn: HttpConnection;
  inFlight: number;
  /** Handed to the L4 path by an upgrade: it reports the connection from then on. */
  upgraded: boolean;
  /** The HTTP/2 session of the connection, once made. */
  session?: Http2Session | undefined;
  failure: ErrorKind | undefined;
  reason: string | undefined;
  /** The Service's `timeout.http.connectionIdleTimeout` (ms), when it sets one. */
  idleMs: number | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  socket: Socket;
}

/** Serves captured HTTP connections of local workloads. */
export class OutboundHttp implements ExchangeHost {
  private readonly logger: Logger;
  private readonly opts: OutboundHttpOptions;
  readonly limits: HttpServerLimits;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Map<Http2Session, ConnState>();
  private readonly h1Sockets = new Set<HttpSocket>();
  readonly random: () => number;
  /** Per Service port: budgets, circuit-breaker counters, latencies (kept across snapshots). */
  readonly states = new ServiceStates();
  readonly metrics: ResilienceMetrics | undefined;
  readonly outliers: OutlierReporter | undefined;
  readonly deadlines: Deadlines;
  private readonly mirrors: MirrorSender;
  private readonly clock: () => number;
  private readonly badRequests: ThrottledLog;
  private readonly failures: ThrottledLog;
  private pendingH2: ConnState | undefined;
  private draining = false;
  /** Per snapshot: Service ports by `namespace/name|port`, for route backends. */
  private lookups = new WeakMap<WorkloadIndex, ServicePortLookup>();

  constructor(opts: OutboundHttpOptions) {
    this.opts = opts;
    this.logger = opts.logger;
    this.random = opts.random ?? Math.random;
    this.clock = opts.now ?? (() => performance.now());
    // Real time always: a test's frozen budget clock must not freeze the timers.
    this.deadlines = new Deadlines();
    this.metrics = opts.metrics;
    this.outliers = opts.outliers;
    this.mirrors = new MirrorSender({ balancers: opts.balancers, tunnel: opts.tunnel, local: opts.local, plaintext: opts.plaintext, lookup: (index) => this.lookup(index), metrics: opts.metrics });
    const limits = (this.limits = Object.freeze({ ...DEFAULT_HTTP_SERVER_LIMITS, ...opts.limits }));
    this.badRequests = new ThrottledLog(this.logger, 'outbound http: malformed requests refused (throttled; each has its access-log line)');
    this.failures = new ThrottledLog(this.logger, 'outbound http: requests failed (throttled; each has its access-log line)');
    this.h1 = http.createServer({
      // Never the lenient parser: conflicting Content-Length and Transfer-Encoding (request
      // smuggling) and bad header bytes are refused with 400.
      insecureHTTPParser: false,
      maxHeaderSize: limits.maxHeaderBytes,
      // A long upload or a long-poll is not an attack: no whole-request deadline. The head has one.
      requestTimeout: 0,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks head deadlines on this interval (default 30 s): a quarter of the deadline
      // keeps the overshoot under 25%, at one unref'd timer per process.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
      noDelay: true,
    });
    // Node tracks connections for the head deadline only from 'listening', and this server never
    // listens (it is fed captured sockets): without this, a head that never ends is never timed out.
    this.h1.emit('listening');
    this.h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.onH1Request(req, res));
    this.h1.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => this.onClientError(err, socket));
    this.h1.on('connect', (req: IncomingMessage, socket: Socket) => this.onApplicationConnect(req, socket));
    this.h1.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.h2 = http2.createServer({ maxSessionMemory: 32, settings: { enablePush: false, maxConcurrentStreams: 256, maxHeaderListSize: limits.maxHeaderBytes } });
    this.h2.on('session', (session: Http2Session) => this.onH2Session(session));
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const state = this.sessions.get(req.stream.session as Http2Session);
      if (state === undefined) {
        res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      this.onRequest(state, req, res, 'HTTP/2');
    });
  }

  /** Live HTTP connections (both versions). */
  get connectionCount(): number {
    return this.h1Sockets.size + this.sessions.size;
  }

  /** Serves `socket` (bytes put back by the sniff, or unread) as HTTP/1.x or HTTP/2. */
  serve(socket: Socket, conn: HttpConnection, version: 'http1' | 'h2'): void {
    const idleMs = this.opts.index().trafficPolicyOf(conn.entry.service.key)?.timeout?.httpIdleMs;
    const state: ConnState = { conn, inFlight: 0, upgraded: false, failure: undefined, reason: undefined, idleMs, idleTimer: undefined, socket };
    const s = socket as HttpSocket;
    s[kConn] = state;
    this.armIdle(state);
    socket.once('close', () => {
      clearTimeout(state.idleTimer);
      s[kConn] = undefined;
      this.h1Sockets.delete(s);
      if (!state.upgraded) conn.onClose(state.failure, state.reason);
    });
    if (this.draining) {
      socket.destroy();
      return;
    }
    if (version === 'h2') {
      // The server makes the session synchronously inside `connection`: it finds its state here.
      this.pendingH2 = state;
      try {
        this.h2.emit('connection', socket);
      } finally {
        this.pendingH2 = undefined;
      }
      // Accepted paused (and not sniffed when the port declares HTTP/2): start reading.
      socket.resume();
      // The capture sockets allow half-open, and an HTTP/2 session never ends its side when the
      // client sends FIN without GOAWAY: close it, letting requests in flight finish; with none
      // in flight (or after a protocol error, when nghttp2 has ended the session on its own and
      // a close would wait forever) destroy it.
      socket.once('end', () => {
        const session = state.session;
        if (session === undefined || state.inFlight === 0) socket.destroy();
        else session.close();
      });
      return;
    }
    this.h1Sockets.add(s);
    this.h1.emit('connection', socket);
    socket.resume();
  }

  private onH2Session(session: Http2Session): void {
    const state = this.pendingH2;
    if (state === undefined) {
      session.destroy();
      return;
    }
    this.sessions.set(session, state);
    state.session = session;
    session.on('error', (err: Error) => {
      state.failure ??= 'bad_request';
      state.reason ??= err.message;
    });
    let deadline: NodeJS.Timeout | undefined;
    session.once('close', () => {
      clearTimeout(deadline);
      this.sessions.delete(session);
    });
    // An idle session is closed as an idle HTTP/1.1 connection is: GOAWAY, its streams may
    // finish. This also ends a session after the GOAWAY nghttp2 sends for a protocol error
    // (Node 20 tells JavaScript nothing of it). Streams that never finish (a client that grants
    // no flow-control window, holding the upstream requests open) do not keep it: one more idle
    // period after the GOAWAY and it is destroyed. (Node runs a session.setTimeout callback
    // once, and an idle session gets no second 'timeout': hence the deadline.)
    const idleMs = this.limits.keepAliveTimeoutMs;
    session.setTimeout(idleMs, () => {
      if (session.destroyed) return;
      if (session.closed) {
        session.destroy();
        return;
      }
      session.close();
      deadline = setTimeout(() => {
        if (!session.destroyed) session.destroy();
      }, idleMs);
      deadline.unref();
    });
  }

  private onH1Request(req: IncomingMessage, res: ServerResponse): void {
    const state = (req.socket as HttpSocket)[kConn];
    if (state === undefined) {
      res.destroy();
      return;
    }
    if (this.draining) res.shouldKeepAlive = false;
    this.onRequest(state, req, res, req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1');
  }

  /** Malformed HTTP/1.x (Node's parser refused it): 400/431/408 once, then the connection closes. */
  private onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
    const state = (socket as HttpSocket)[kConn];
    const code = err.code ?? '';
    if (state !== undefined && code !== 'ECONNRESET') {
      state.failure = 'bad_request';
      state.reason = `${code}: ${err.message}`;
      this.badRequests.warn({ code: respond('bad_request').errorCode ?? code, parser: code, src: state.conn.sourceAddress, service: state.conn.entry.service.key });
    }
    if (socket.writable && !(socket as unknown as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent) {
      const status = code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    } else {
      socket.destroy();
    }
  }

  /** An application's own CONNECT: refused (meshlet carries Service traffic, it is no forward proxy). */
  private onApplicationConnect(req: IncomingMessage, socket: Socket): void {
    const state = (socket as HttpSocket)[kConn];
    if (state !== undefined) {
      state.failure = 'connect_not_allowed';
      state.reason = `application CONNECT ${req.url ?? ''} refused`;
    }
    socket.end('HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  }

  /**
   * An HTTP/1.1 request with `Upgrade`. `h2c` (RFC 7540's cleartext upgrade, gone from RFC 9113)
   * is declined as Envoy does: the request is served as plain HTTP/1.1, without the upgrade.
   * Any other token (WebSocket, ...) is routed like a request (routes, filters, a balancer pick),
   * then handed over (`HttpConnection.upgrade`) with the planned head: as an extended CONNECT
   * to a meshed endpoint on another node (`tunnelProtocol` says which upgrades qualify), else
   * to the L4 path toward that endpoint with the request head replayed.
   */
  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    // Node leaves the socket flowing with no 'data' listener: bytes would be lost until the
    // L4 path pipes it (after an await for the tunnel).
    socket.pause();
    const s = socket as HttpSocket;
    const state = s[kConn];
    if (state === undefined) {
      socket.destroy();
      return;
    }
    const tokens = String(req.headers.upgrade ?? '').toLowerCase().split(',').map((t) => t.trim());
    if (tokens.length === 1 && tokens[0] === 'h2c') {
      const headers = endToEnd(req.headers);
      socket.unshift(Buffer.concat([requestHead(req.method ?? 'GET', req.url ?? '/', req.headers.host, headers), head]));
      this.h1.emit('connection', socket);
      socket.resume();
      return;
    }
    const index = this.opts.index();
    this.opts.balancers.apply(index);
    const { conn } = state;
    const authority = req.headers.host ?? conn.entry.service.name;
    const headers = endToEnd(req.headers);
    const plan = planRequest(conn.entry, this.opts.routesOf?.(index, conn.entry) ?? [], { method: req.method ?? 'GET', path: req.url ?? '/', authority, headers }, this.lookup(index), this.random);
    const refuse = (status: string, failure: ErrorKind, reason: string): void => {
      state.failure = failure;
      state.reason = reason;
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    };
    if (conn.upgrade === undefined) {
      refuse('501 Not Implemented', 'connect_not_allowed', 'upgrades are not served here');
      return;
    }
    if (plan.kind === 'fail') {
      const r = respond(plan.failure);
      refuse(`${r.httpStatus} ${http.STATUS_CODES[r.httpStatus] ?? ''}`, plan.failure, plan.reason);
      return;
    }
    if (plan.kind === 'redirect') {
      socket.end(`HTTP/1.1 ${plan.status} ${http.STATUS_CODES[plan.status] ?? ''}\r\nlocation: ${plan.location}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
      return;
    }
    const context: PickContext = { hashKey: this.opts.hashKeyOf?.(index, plan.entry, req.headers, conn.sourceIp) };
    const lease = this.opts.balancers.lease(plan.entry, context);
    const target = lease === undefined ? undefined : index.endpointTarget(plan.entry, lease.endpoint);
    if (lease === undefined || target === undefined || (target.kind !== 'meshed' && target.kind !== 'plaintext')) {
      lease?.release({ outcome: 'cancelled' });
      refuse('503 Service Unavailable', 'no_healthy_upstream', `service ${plan.entry.service.key} has no endpoints`);
      return;
    }
    // The lease is held while the upgraded connection lives: least-request sees its load.
    socket.once('close', () => lease.release({ outcome: 'cancelled' }));
    state.upgraded = true;
    this.h1Sockets.delete(s);
    const h = plan.head;
    const planned = plainHeaders(h.headers);
    const replay = Buffer.concat([requestHead(h.method, h.path, h.authority, planned, String(req.headers.upgrade)), head]);
    conn.upgrade(socket, target, replay, { protocol: tunnelProtocol(req.method, req.headers), path: h.path, authority: h.authority, headers: planned, rest: head, lease });
  }

  /** Stops taking requests: GOAWAY on HTTP/2, `Connection: close` on HTTP/1.x, idle connections closed. */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions.keys()) session.close();
    for (const s of this.h1Sockets) if (s[kConn]?.inFlight === 0) s.end();
  }

  /**
   * The Service ports of `index` by `namespace/name` and port (a new index also drops the state
   * of ports gone). The index's own per-Service table (derived per snapshot) answers, and the
   * states kept are checked against it: the cost of the ports this process sent to, not of
   * every Service port at each new index.
   */
  private lookup(index: WorkloadIndex): ServicePortLookup {
    let lookup = this.lookups.get(index);
    if (lookup === undefined) {
      lookup = (key, port) => index.servicePort(key, port);
      this.lookups.set(index, lookup);
      this.states.retain(hasServicePort(index));
    }
    return lookup;
  }

  /** The live resilience state of every Service port this process sent requests to (`/resilience`). */
  describeResilience(): ServicePortView[] {
    return this.states.describe(this.clock());
  }

  /** @internal The route rate limits' limiter. */
  get rateLimiter(): RateLimiter {
    return this.opts.rateLimiter?.() ?? this.localLimiter;
  }

  private readonly localLimiter = new LocalRateLimiter();

  /** @internal */
  now(): number {
    return this.clock();
  }

  /** @internal */
  mirror(index: WorkloadIndex, entry: ServicePortEntry, m: RequestMirror, head: PlannedHead, conn: HttpConnection, proto: HttpProto, body: ReplayBody | undefined): void {
    this.mirrors.send(index, entry, m, head, conn, proto, body);
  }

  /**
   * The Service's connection idle timeout: a connection with no request in flight for `idleMs`
   * is closed (HTTP/1.x: FIN; HTTP/2: GOAWAY, then closed). Node's own keep-alive bound
   * (`keepAliveTimeoutMs`) applies as well; the shorter wins.
   */
  private armIdle(state: ConnState): void {
    const ms = state.idleMs;
    if (ms === undefined) return;
    clearTimeout(state.idleTimer);
    state.idleTimer = setTimeout(() => {
      state.idleTimer = undefined;
      if (state.inFlight > 0 || state.upgraded) return;
      if (state.session !== undefined) state.session.close();
      else state.socket.end();
    }, ms);
    state.idleTimer.unref();
  }

  private onRequest(state: ConnState, req: AnyRequest, res: AnyResponse, proto: HttpProto): void {
    state.inFlight++;
    if (state.idleTimer !== undefined) {
      clearTimeout(state.idleTimer);
      state.idleTimer = undefined;
    }
    const { conn } = state;
    const index = this.opts.index();
    this.opts.balancers.apply(index);
    this.outliers?.apply(index);
    const rawHeaders = req.headers;
    const rawAuthority = proto === 'HTTP/2' ? rawHeaders[':authority'] : rawHeaders.host;
    const authority = typeof rawAuthority === 'string' ? rawAuthority : conn.entry.service.name;
    const headers = endToEnd(rawHeaders);
    if (headers['x-request-id'] === undefined) headers['x-request-id'] = randomUUID();
    const requestId = headers['x-request-id'];
    // The client span: its context goes on in the headers, to the destination agent and the workload.
    const trace = this.opts.tracer?.begin(headers, conn.source.namespace);
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const grpc = isGrpcRequest(rawHeaders);
    if (method === 'CONNECT') {
      // An application's own tunnel (HTTP/2 CONNECT): refused, as over HTTP/1.1.
      state.inFlight--;
      if (state.inFlight === 0) this.armIdle(state);
      res.writeHead(405, { 'content-length': '0' });
      res.end();
      this.badRequests.warn({ code: respond('connect_not_allowed').errorCode, src: conn.sourceAddress, service: conn.entry.service.key, authority });
      return;
    }
    const rec: RequestRecord = {
      reporter: 'source',
      method,
      authority,
      path,
      proto,
      requestProtocol: grpc ? 'grpc' : 'http',
      status: 0,
      sourceWorkload: conn.source.uid,
      sourceIdentity: conn.source.identity,
      service: conn.entry.service.key,
      securityPolicy: 'mutual_tls',
      requestBytes: 0,
      responseBytes: 0,
      startedAt: performance.now(),
      durationMs: 0,
      requestId: typeof requestId === 'string' ? requestId : requestId.join(','),
    };
    if (trace !== undefined) rec.trace = trace;
    const exchange = new Exchange(this, state, req, res, rec, grpc);
    const routes = this.opts.routesOf?.(index, conn.entry) ?? [];
    const plan = planRequest(conn.entry, routes, { method, path, authority, headers }, this.lookup(index), this.random);
    exchange.carryOut(index, plan);
  }

  /** @internal */
  observe(rec: RequestRecord): void {
    this.opts.observer?.onRequest(rec);
  }

  /** @internal One request failed in a way worth a (throttled) warning. */
  warnFailure(rec: RequestRecord, reason: string): void {
    this.failures.warn({ code: rec.failure === undefined ? undefined : respond(rec.failure).errorCode, failure: rec.failure, service: rec.service, upstream: rec.upstream, reason });
  }

  /** @internal */
  get options(): OutboundHttpOptions {
    return this.opts;
  }

  /** @internal */
  requestDone(state: ConnState, res: unknown): void {
    state.inFlight--;
    if (state.inFlight === 0) this.armIdle(state);
    const r = res as AnyResponse;
    if (this.draining && state.inFlight === 0 && 'shouldKeepAlive' in r) r.socket?.end();
  }

  /** Closes every connection now. */
  destroy(): void {
    this.draining = true;
    for (const session of this.sessions.keys()) session.destroy();
    for (const s of this.h1Sockets) s.destroy();
    // Stops the head-deadline check timer (never listening, the server holds nothing else).
    this.h1.close();
  }
}

/**
 * An HTTP/1.1 request head as bytes, to replay in front of a connection's next bytes: with
 * `connection: upgrade` and its `upgrade` token, or as a plain keep-alive request (an h2c
 * upgrade declined).
 */
function requestHead(method: string, path: string, authority: string | undefined, headers: HeaderMap, upgrade?: string): Buffer {
  let text = `${method} ${path} HTTP/1.1\r\n`;
  if (authority !== undefined) text += `host: ${authority}\r\n`;
  for (const name in headers) {
    const v = headers[name] as string | string[];
    for (const one of typeof v === 'string' ? [v] : v) text += `${name}: ${one}\r\n`;
  }
  text += upgrade === undefined ? '\r\n' : `connection: upgrade\r\nupgrade: ${upgrade}\r\n\r\n`;
  return Buffer.from(text, 'latin1');
}

/** Whether `index` has the Service port of a state's key (`namespace/name|port`, as `ServicePortEntry.key`). */
export function hasServicePort(index: WorkloadIndex): (key: string) => boolean {
  return (key) => {
    const bar = key.lastIndexOf('|');
    return bar > 0 && index.servicePort(key.slice(0, bar), Number(key.slice(bar + 1)))?.key === key;
  };
}
