/**
 * Limits for the small HTTP servers a meshlet process runs beside its data path: the agent's
 * admin API (:15000, loopback), metrics (:15020) and readiness (:15021), the controller's
 * metrics (:15014). Node's defaults suit a web server, not a side port that any pod (metrics,
 * readiness) or host process (admin) can reach: no connection cap, 60 s to send headers,
 * 300 s for a request, timeouts checked only every 30 s, 16 KiB of headers. An idle or
 * slowloris connection here must cost little and go away soon; when the cap is reached the
 * extra connections are refused, never the process's memory.
 *
 * Every refusal is counted in `meshlet_local_http_refused_total{listener,reason}` and logged
 * at most once a minute per listener.
 */
import http, { type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { Counter, type Registry } from './prom.js';
import { ThrottledLog } from './throttled-log.js';
import { PeerCounter } from './peer-counter.js';

/** What bounds one local HTTP server. */
export interface LocalHttpLimits {
  /** Open connections at once; more are accepted and closed at once (`server.maxConnections`). */
  readonly maxConnections: number;
  /** Open connections from one remote address, so one pod cannot take the whole cap. */
  readonly maxConnectionsPerPeer: number;
  /** Time from connect (or the end of the previous request) to the end of the headers. */
  readonly headersTimeoutMs: number;
  /** Time to receive a whole request, body included. */
  readonly requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open after a response. */
  readonly keepAliveTimeoutMs: number;
  /** Size of the request line and headers together; larger is answered 431. */
  readonly maxHeaderBytes: number;
  /** Request body size; larger (declared or received) is answered 413. 0: no body at all. */
  readonly maxBodyBytes: number;
  /** How often the two timeouts are checked; they can be overrun by up to this much. */
  readonly timeoutCheckMs: number;
}

/**
 * The defaults, for the ports pods can reach (metrics, readiness). Prometheus and the kubelet
 * open a connection or two per scrape or probe and send their headers in one packet, so:
 * - 128 connections: a few scrapers and probes use a handful; each idle socket costs a few KiB,
 *   so the cap bounds this port's memory at well under a MiB of socket state.
 * - 16 per peer: one pod cannot take the cap from the kubelet and Prometheus.
 * - 10 s for headers (Node: 60 s), 30 s for a request (Node: 300 s): a slowloris connection
 *   goes away quickly; a real client needs milliseconds.
 * - 5 s keep-alive: Node's default, written down (scrapes are 15 s or more apart anyway).
 * - 8 KiB of headers (Node: 16 KiB): probes and scrapes send a few hundred bytes.
 * - no body: these ports only answer GET.
 * - timeouts checked every second (Node: 30 s, which would let a slowloris stay 40 s).
 */
export const LOCAL_HTTP_LIMITS: LocalHttpLimits = Object.freeze({
  maxConnections: 128,
  maxConnectionsPerPeer: 16,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 8 * 1024,
  maxBodyBytes: 0,
  timeoutCheckMs: 1_000,
});

/** Why a local HTTP server refused a connection or request (the metric's `reason` label). */
export type RefusalReason =
  | 'max_connections'
  | 'per_peer'
  | 'timeout'
  | 'header_too_large'
  | 'bad_request'
  | 'body_too_large'
  | 'unauthorized'
  | 'forbidden';

/** The refusal counter's name; one per registry, shared by that registry's local servers. */
export const REFUSED_METRIC = 'meshlet_local_http_refused_total';

type RefusalCounter = Counter<'listener' | 'reason'>;

/** The refusal counter of `registry`, made on first use (several servers share one registry). */
export function refusalCounter(registry: Registry): RefusalCounter {
  const existing = registry.getSingleMetric(REFUSED_METRIC);
  if (existing !== undefined) return existing as RefusalCounter;
  return new Counter({
    name: REFUSED_METRIC,
    help: 'Connections and requests a local HTTP port (admin, metrics, readiness) refused: over a connection cap, timed out, too large, or unauthenticated',
    labelNames: ['listener', 'reason'],
    registers: [registry],
  });
}

/** Options of {@link createLocalHttpServer}. */
export interface LocalHttpOptions {
  /** The listener's name in the metric and logs: `admin`, `metrics`, `readiness`. */
  readonly listener: string;
  /** Overrides of {@link LOCAL_HTTP_LIMITS}. */
  readonly limits?: Partial<LocalHttpLimits>;
  /** Where the refusal counter lives; none: refusals are only logged. */
  readonly registry?: Registry;
  readonly logger?: Logger;
}

/** A bounded HTTP server and the means to count a refusal its handler decides on. */
export interface LocalHttp {
  readonly server: http.Server;
  readonly limits: LocalHttpLimits;
  /** Counts (and logs, throttled) a refusal. */
  refuse(reason: RefusalReason, detail?: Record<string, unknown>): void;
}

/** Status line written to a connection whose request could not be parsed or took too long. */
const CLIENT_ERROR_RESPONSES: Readonly<Record<string, string>> = {
  timeout: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n',
  header_too_large: 'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
  bad_request: 'HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n',
};

/**
 * An `http.Server` with {@link LOCAL_HTTP_LIMITS} (or `opts.limits`) in force. Requests
 * declaring a body over `maxBodyBytes` are answered 413 before `handler` sees them; a handler
 * that reads a chunked body must bound it itself (see `readBoundedBody`).
 */
export function createLocalHttpServer(handler: RequestListener, opts: LocalHttpOptions): LocalHttp {
  const limits: LocalHttpLimits = Object.freeze({ ...LOCAL_HTTP_LIMITS, ...opts.limits });
  const counter = opts.registry === undefined ? undefined : refusalCounter(opts.registry);
  const log = new ThrottledLog(opts.logger, 'local port refused a connection or request (throttled: one line a minute)');
  const refuse = (reason: RefusalReason, detail: Record<string, unknown> = {}): void => {
    counter?.inc({ listener: opts.listener, reason });
    log.warn({ listener: opts.listener, reason, ...detail });
  };
  const server = http.createServer(
    {
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      maxHeaderSize: limits.maxHeaderBytes,
      connectionsCheckingInterval: limits.timeoutCheckMs,
    },
    (req, res) => {
      if (bodyTooLarge(req, limits.maxBodyBytes)) {
        refuse('body_too_large', { path: req.url, contentLength: req.headers['content-length'] ?? 'chunked' });
        refuseBody(res, limits.maxBodyBytes);
        return;
      }
      handler(req, res);
    },
  );
  server.maxConnections = limits.maxConnections;
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  // Node closes a connection over maxConnections itself and tells us with 'drop'.
  server.on('drop', (d?: { remoteAddress?: string }) => refuse('max_connections', { peer: d?.remoteAddress, max: limits.maxConnections }));
  server.on('connection', perPeerCap(limits.maxConnectionsPerPeer, refuse));
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A peer that hangs up mid-request is a normal disconnect, not a refusal.
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') {
      const reason: RefusalReason = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? 'header_too_large' : 'bad_request';
      refuse(reason, { peer: socket.remoteAddress, err: err.code ?? err.message });
      const sent = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
      if (socket.writable && !sent) socket.write(CLIENT_ERROR_RESPONSES[reason] ?? '');
    }
    socket.destroy();
  });
  return { server, limits, refuse };
}

/** A `connection` listener closing a peer's connections beyond `max`. */
function perPeerCap(max: number, refuse: (reason: RefusalReason, detail: Record<string, unknown>) => void): (socket: Socket) => void {
  const open = new PeerCounter();
  return (socket) => {
    const peer = socket.remoteAddress ?? '';
    if (!open.tryAdd(peer, max)) {
      refuse('per_peer', { peer, max });
      socket.destroy();
      return;
    }
    socket.once('close', () => open.remove(peer));
  };
}

/** True when the request declares a body over `max`, or any body where none is allowed. */
function bodyTooLarge(req: IncomingMessage, max: number): boolean {
  const declared = req.headers['content-length'];
  if (declared !== undefined) return Number(declared) > max;
  return max === 0 && req.headers['transfer-encoding'] !== undefined;
}

/** Answers 413 and closes the connection, so the rest of the body is never read. */
export function refuseBody(res: ServerResponse, max: number): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(413, { 'content-type': 'application/json', connection: 'close' }).end(`${JSON.stringify({ error: `request body larger than ${max} bytes` })}\n`);
}

/** Thrown by {@link readBoundedBody} when the body passes the bound (the 413 is already sent). */
export class BodyTooLargeError extends Error {
  constructor(readonly max: number) {
    super(`request body larger than ${max} bytes`);
    this.name = 'BodyTooLargeError';
  }
}

/**
 * Reads a request body of at most `max` bytes (a chunked one too). Past the bound it counts a
 * refusal, answers 413 with `connection: close` and rejects with {@link BodyTooLargeError}.
 */
export function readBoundedBody(req: IncomingMessage, res: ServerResponse, local: LocalHttp): Promise<string> {
  const max = local.limits.maxBodyBytes;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size <= max) {
        chunks.push(c);
        return;
      }
      req.off('data', onData);
      local.refuse('body_too_large', { path: req.url, received: size });
      refuseBody(res, max);
      reject(new BodyTooLargeError(max));
    };
    req.on('data', onData);
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
