/**
 * The destination agent terminates HTTP on a connection that reached it as a byte stream (a
 * client dialling a pod IP, plaintext from outside the mesh, a tunnel CONNECT from an older
 * source agent), so that each request goes through `InboundHttp.call` and its per-request
 * authorization, exactly as requests that arrive as L7: a denied request gets its 403 and the
 * next request on the same keep-alive connection is served.
 *
 * Node's own servers parse the stream (HTTP/1.x, or HTTP/2 with prior knowledge when it starts
 * with the client preface), fed with `emit('connection', stream)`: a captured `net.Socket`, a
 * tunnel CONNECT `ServerHttp2Stream` already answered 200, or any other Duplex (http2 wraps it in
 * a JSStreamSocket). Same bounds as the source side (`DEFAULT_HTTP_SERVER_LIMITS`): head size,
 * head timeout, idle keep-alive; never the lenient parser; malformed requests 400 and closed.
 * Each request is one {@link TerminatedExchange}.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { respond, type ErrorKind } from '../policy/respond.js';
import type { HttpProto, RequestTarget } from './exchange.js';
import type { InboundHttp, InboundSource } from './inbound-http.js';
import { DEFAULT_HTTP_SERVER_LIMITS, type HttpServerLimits } from './outbound-http.js';
import { sniff, type SniffResult } from './sniff.js';
import { bufferWrites, refuseH1, upgradeReplay } from './h1-stream.js';
import { TerminatedExchange, terminatedHead, type TerminatedRequest, type TerminatedResponse } from './terminated-exchange.js';

/** Options of {@link InboundTerminator}. */
export interface TerminateOptions {
  readonly logger: Logger;
  /** The destination side's L7 handler (policy, forwarding headers, the workload). */
  readonly http: Pick<InboundHttp, 'call'>;
  /** `maxConnectAttempts` is not used here (the destination has one endpoint: the target). */
  readonly limits?: Partial<HttpServerLimits>;
}

/** Told once, when the stream has closed: how the connection ended (for the connection record). */
export type TerminateDone = (failure: ErrorKind | undefined, reason: string | undefined) => void;

/** One terminated connection. */
interface Conn {
  readonly stream: Duplex;
  readonly source: InboundSource;
  readonly target: RequestTarget;
  version: 'sniffing' | 'http1' | 'h2';
  inFlight: number;
  session: Http2Session | undefined;
  failure: ErrorKind | undefined;
  reason: string | undefined;
}

/** Terminates HTTP on inbound byte streams, one `InboundHttp.call` per request. */
export class InboundTerminator {
  readonly limits: HttpServerLimits;
  private readonly http: Pick<InboundHttp, 'call'>;
  private readonly h1: http.Server;
  private readonly h2: http2.Http2Server;
  private readonly conns = new Map<Duplex, Conn>();
  private readonly sessions = new Map<Http2Session, Conn>();
  /** By the stream Node's HTTP/1 server sees (the stream, or its {@link bufferWrites} adapter). */
  private readonly h1Conns = new WeakMap<Duplex, Conn>();
  private readonly refused: ThrottledLog;
  private pendingH2: Conn | undefined;
  private draining = false;
  private readonly isDraining = (): boolean => this.draining;

  constructor(opts: TerminateOptions) {
    this.http = opts.http;
    const limits = (this.limits = Object.freeze({ ...DEFAULT_HTTP_SERVER_LIMITS, ...opts.limits }));
    this.refused = new ThrottledLog(opts.logger, 'inbound http: malformed or refused requests on terminated connections (throttled)');
    this.h1 = http.createServer({
      // Never the lenient parser: conflicting Content-Length and Transfer-Encoding (request
      // smuggling) and bad header bytes are refused with 400.
      insecureHTTPParser: false,
      maxHeaderSize: limits.maxHeaderBytes,
      // No whole-request deadline (long uploads, long polls); the head has one.
      requestTimeout: 0,
      headersTimeout: limits.headersTimeoutMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // Node checks head deadlines on this interval (default 30 s): a quarter of the deadline
      // keeps the overshoot under 25%, at one unref'd timer per terminator.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
      noDelay: true,
    });
    // Node tracks connections (the head timeout) only from 'listening', and this server never
    // listens: it is fed streams. Without this the head timeout would never fire.
    this.h1.emit('listening');
    this.h1.on('request', (req: IncomingMessage, res: ServerResponse) => this.onH1Request(req, res));
    this.h1.on('clientError', (err: NodeJS.ErrnoException, stream: Duplex) => this.onClientError(err, stream));
    this.h1.on('connect', (req: IncomingMessage, stream: Duplex) => this.refuse(stream, 'connect_not_allowed', `CONNECT ${req.url ?? ''} refused`, '405 Method Not Allowed'));
    this.h1.on('upgrade', (req: IncomingMessage, stream: Duplex, head: Buffer) => this.onUpgrade(req, stream, head));
    this.h2 = http2.createServer({ maxSessionMemory: 32, settings: { enablePush: false, maxConcurrentStreams: 256, maxHeaderListSize: limits.maxHeaderBytes } });
    this.h2.on('session', (session: Http2Session) => this.onH2Session(session));
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
      const conn = this.sessions.get(req.stream.session as Http2Session);
      if (conn === undefined) {
        res.stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        return;
      }
      this.onRequest(conn, req, res, 'HTTP/2');
    });
  }

  /** Streams being served (sniffing, HTTP/1.x or HTTP/2), until each closes. */
  get connectionCount(): number {
    return this.conns.size;
  }

  /**
   * Serves `stream` as HTTP/1.x or h2c, told by its first bytes (the HTTP/2 client preface or
   * not; every byte is given back to the parser). Each request is `http.call(source, target,
   * head, { endStream })`; `done` is told once, when the stream has closed. The caller decided
   * the connection may be served (identity, L4 policy); `source` is used as given.
   */
  serve(stream: Duplex, source: InboundSource, target: RequestTarget, done: TerminateDone): void {
    const conn: Conn = { stream, source, target, version: 'sniffing', inFlight: 0, session: undefined, failure: undefined, reason: undefined };
    // Node's servers add their own error handling; this covers the moments before and after.
    stream.on('error', noop);
    let told = false;
    const onClose = (): void => {
      this.conns.delete(stream);
      if (told) return;
      told = true;
      done(conn.failure, conn.reason);
    };
    if (stream.destroyed) {
      queueMicrotask(onClose);
      return;
    }
    this.conns.set(stream, conn);
    stream.once('close', onClose);
    if (this.draining) {
      conn.failure = 'drained';
      conn.reason = 'the agent is draining';
      stream.destroy();
      return;
    }
    // The head timeout bounds the wait for the first bytes too.
    void sniff(stream, { timeoutMs: this.limits.headersTimeoutMs }).then((r) => this.onSniffed(conn, r));
  }

  private onSniffed(conn: Conn, r: SniffResult): void {
    const { stream } = conn;
    if (r.reason === 'closed' || stream.destroyed) return;
    if (this.draining) {
      conn.failure = 'drained';
      conn.reason = 'the agent is draining';
      stream.destroy();
      return;
    }
    if (r.reason === 'timeout') {
      this.refuse(stream, 'bad_request', `no request within ${this.limits.headersTimeoutMs} ms`, '408 Request Timeout', conn);
      return;
    }
    if (r.reason === 'eof' && r.bytes.length === 0) {
      stream.destroy();
      return;
    }
    if (r.protocol === 'h2') this.serveH2(conn);
    else this.serveH1(conn);
  }

  private serveH1(conn: Conn): void {
    conn.version = 'http1';
    const fed = conn.stream instanceof net.Socket ? conn.stream : bufferWrites(conn.stream);
    this.h1Conns.set(fed, conn);
    this.h1.emit('connection', fed);
    fed.resume();
  }

  private serveH2(conn: Conn): void {
    conn.version = 'h2';
    const { stream } = conn;
    // The server makes the session synchronously inside `connection`: it finds its Conn here.
    this.pendingH2 = conn;
    try {
      this.h2.emit('connection', stream);
    } finally {
      this.pendingH2 = undefined;
    }
    stream.resume();
    // A client that sends FIN without GOAWAY: an HTTP/2 session never ends its side by itself.
    // Requests in flight finish first; with none (or after a protocol error) it goes at once.
    stream.once('end', () => {
      const session = conn.session;
      if (session === undefined || conn.inFlight === 0) stream.destroy();
      else session.close();
    });
  }

  private onH2Session(session: Http2Session): void {
    const conn = this.pendingH2;
    if (conn === undefined) {
      session.destroy();
      return;
    }
    this.sessions.set(session, conn);
    conn.session = session;
    session.on('error', (err: Error) => {
      conn.failure ??= 'bad_request';
      conn.reason ??= err.message;
    });
    session.once('close', () => {
      this.sessions.delete(session);
      // A stream that is not a socket (a JSStreamSocket wraps it) is not always closed with the session.
      if (!conn.stream.destroyed) conn.stream.destroy();
    });
    armIdleSession(session, this.limits.keepAliveTimeoutMs);
  }

  private onH1Request(req: IncomingMessage, res: ServerResponse): void {
    const conn = this.h1Conns.get(req.socket as Duplex);
    if (conn === undefined) {
      res.destroy();
      return;
    }
    if (this.draining) res.shouldKeepAlive = false;
    this.onRequest(conn, req, res, req.httpVersion === '1.0' ? 'HTTP/1.0' : 'HTTP/1.1');
  }

  private onRequest(conn: Conn, req: TerminatedRequest, res: TerminatedResponse, proto: HttpProto): void {
    if (req.method === 'CONNECT') {
      // An application's own tunnel over HTTP/2 (HTTP/1.1 CONNECT never gets here): refused.
      res.writeHead(405, { 'content-length': '0' });
      res.end();
      this.refused.warn({ code: respond('connect_not_allowed').errorCode, src: conn.source.address, dst: conn.target.address, method: 'CONNECT' });
      return;
    }
    const head = terminatedHead(req, proto, conn.target);
    if ('refused' in head) {
      conn.failure = 'bad_request';
      conn.reason = head.refused;
      this.refused.warn({ code: respond('bad_request').errorCode, src: conn.source.address, dst: conn.target.address, reason: head.refused });
      res.writeHead(400, { 'content-length': '0', connection: 'close' });
      res.end();
      if ('shouldKeepAlive' in res) res.shouldKeepAlive = false;
      req.resume();
      return;
    }
    conn.inFlight++;
    new TerminatedExchange(req, res, head, () => this.requestDone(conn), this.isDraining).start(this.http, conn.source, conn.target);
  }

  private requestDone(conn: Conn): void {
    conn.inFlight--;
    if (this.draining && conn.inFlight === 0 && conn.version === 'http1' && !conn.stream.writableEnded) conn.stream.end();
  }

  /** Malformed HTTP/1.x (Node's parser refused it): 400/431/408 once, then the connection closes. */
  private onClientError(err: NodeJS.ErrnoException, stream: Duplex): void {
    const conn = this.h1Conns.get(stream);
    const code = err.code ?? '';
    if (code === 'ECONNRESET' || conn === undefined) {
      stream.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
    const answered = (stream as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent === true;
    if (answered) {
      conn.failure = 'bad_request';
      conn.reason = `${code}: ${err.message}`;
      stream.destroy();
      return;
    }
    this.refuse(stream, 'bad_request', `${code}: ${err.message}`, status, conn);
  }

  /**
   * An HTTP/1.1 request with `Upgrade`. `h2c` (RFC 7540's cleartext upgrade) is declined as
   * Envoy does: the request is served as plain HTTP/1.1. Any other token (WebSocket, ...) is
   * refused with 501: `InboundHttp` has no entry point that takes an upgrade with a raw stream
   * (its `upgrade` takes a tunnel extended CONNECT); once it has one, the upgrade goes there,
   * through the same per-request policy.
   */
  private onUpgrade(req: IncomingMessage, stream: Duplex, rest: Buffer): void {
    // Node leaves the stream flowing with no 'data' listener: bytes would be lost.
    stream.pause();
    const tokens = String(req.headers.upgrade ?? '').toLowerCase().split(',').map((t) => t.trim());
    if (tokens.length === 1 && tokens[0] === 'h2c' && this.h1Conns.has(stream)) {
      stream.unshift(Buffer.concat([upgradeReplay(req), rest]));
      this.h1.emit('connection', stream);
      stream.resume();
      return;
    }
    this.refuse(stream, 'connect_not_allowed', `upgrade ${String(req.headers.upgrade)} not served on a terminated connection`, '501 Not Implemented');
  }

  /** Answers `status` on a raw HTTP/1.1 stream, closes it, and records why. */
  private refuse(stream: Duplex, kind: ErrorKind, reason: string, status: string, conn = this.h1Conns.get(stream)): void {
    if (conn !== undefined) {
      conn.failure = kind;
      conn.reason = reason;
      this.refused.warn({ code: respond(kind).errorCode, src: conn.source.address, dst: conn.target.address, reason });
    }
    refuseH1(stream, status);
  }

  /** Drains: no new connection is taken, HTTP/2 sessions get GOAWAY, idle HTTP/1.x connections are closed, busy ones after their response (`Connection: close`). */
  close(): void {
    if (this.draining) return;
    this.draining = true;
    for (const session of this.sessions.keys()) session.close();
    for (const conn of this.conns.values()) if (conn.version === 'http1' && conn.inFlight === 0) conn.stream.end();
  }

  /** Closes every connection now (the drain deadline passed). */
  destroy(): void {
    this.draining = true;
    for (const conn of this.conns.values()) {
      conn.failure ??= 'drained';
      conn.reason ??= 'closed by the agent';
      conn.stream.destroy();
    }
    // Stops the head-deadline check timer (never listening, the server holds nothing else).
    this.h1.close();
  }
}

function noop(): void {}

/**
 * Closes an idle HTTP/2 session as an idle HTTP/1.1 connection is closed: GOAWAY, its streams
 * may finish; one more idle period and it is destroyed (streams that never finish, a client
 * granting no window, must not keep it). Node runs a session's timeout callback once and an
 * idle session gets no second one: hence the deadline. (The same policy as `OutboundHttp`.)
 */
function armIdleSession(session: Http2Session, idleMs: number): void {
  let deadline: NodeJS.Timeout | undefined;
  session.once('close', () => clearTimeout(deadline));
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
