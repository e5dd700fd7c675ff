/**
 * The source agent's side of an application's HTTP/1.1 Upgrade (WebSocket, ...) routed to a
 * meshed endpoint on another node: the upgrade request crosses the tunnel as an RFC 8441
 * extended CONNECT (`TunnelPool.upgrade`), so the destination agent serves it as a request
 * (inbound policy, a request record). Its answer comes back to the application as HTTP/1.1:
 *
 * - `200` with `meshlet-status: 101`: `101 Switching Protocols` with the workload's headers,
 *   then the client socket and the tunnel stream are spliced as bytes (half-close, resets and
 *   the idle timeout of L4 splicing);
 * - any other answer (a `403` denial, the workload's `404`, ...): that response, then close;
 * - no answer (the stream refused or reset, no tunnel, no answer in time): the status of
 *   `respond(kind)` with `x-meshlet-failure`, then close.
 *
 * A peer agent that does not take extended CONNECT (an older agent) gets today's L4 path, the
 * request head replayed in front of the bytes (`fallback`). Which upgrades take this path is
 * decided by the pure {@link tunnelProtocol}.
 */
import http from 'node:http';
import { constants as h2, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { isMeshletError } from '../../mesh/errors.js';
import type { Lease } from '../policy/balancers/tracked-balancer.js';
import { respond, type ErrorKind } from '../policy/respond.js';
import { abort, splice, type SpliceOutcome } from '../proxy/splice.js';
import type { TunnelTarget } from '../proxy/tunnel/pool.js';
import { noteStreamReopened, OPENING_REOPENS_MAX } from '../proxy/tunnel/opening.js';
import type { HeaderMap } from './exchange.js';
import { errorKindOf } from './stream-call.js';
import { endToEnd, ERROR_HEADER, FORWARDED_HEADER, PROTO_HEADER, STATUS_HEADER } from './wire.js';

/** An upgrade request as routed by the source side (`OutboundHttp.onUpgrade`). */
export interface RoutedUpgrade {
  /**
   * The `:protocol` of the extended CONNECT ({@link tunnelProtocol}); undefined when this
   * upgrade keeps the L4 path (not a GET, a body, no usable token).
   */
  readonly protocol: string | undefined;
  /** The planned head: route filters applied, end-to-end headers only. */
  readonly path: string;
  readonly authority: string;
  readonly headers: HeaderMap;
  /** Bytes the client sent after the request head (Node's `head` of the 'upgrade' event). */
  readonly rest: Buffer;
  /** The balancer lease of the endpoint; released with `failure` when the upgrade fails. */
  readonly lease: Lease;
}

/**
 * HTTP/1.1 upgrade tokens (RFC 9110 7.8: `protocol-name ["/" protocol-version]`, each a
 * `token`), lower-cased. Anything else is not a protocol the destination can be asked for.
 */
const UPGRADE_TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+(?:\/[!#$%&'*+.^_`|~0-9a-z-]+)?$/;

/**
 * The `:protocol` an upgrade request crosses the tunnel with, or undefined when it keeps the
 * L4 path. Extended CONNECT carries neither a method (the destination sends `GET`) nor a body
 * before the switch, so only a bodyless `GET` qualifies: every WebSocket handshake does.
 * Several tokens (RFC 9110 lists them in the client's order of preference): the first one
 * other than `h2c` (declined, as Envoy does), since `:protocol` names exactly one; the
 * workload then sees only that one. Tokens are case-insensitive; sent lower-cased.
 */
export function tunnelProtocol(method: string | undefined, headers: IncomingHttpHeaders): string | undefined {
  if (method !== 'GET') return undefined;
  const length = headers['content-length'];
  if (headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) return undefined;
  for (const raw of String(headers.upgrade ?? '').split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '' || token === 'h2c') continue;
    return UPGRADE_TOKEN.test(token) ? token : undefined;
  }
  return undefined;
}

/**
 * The extended CONNECT's headers (`TunnelPool.upgrade` adds `:method`, `:scheme` and
 * `meshlet-dst`): what `InboundHttp.upgrade` reads as an ordinary tunnel request does.
 */
export function upgradeHeaders(up: RoutedUpgrade & { readonly protocol: string }, sourceAddress: string): OutgoingHttpHeaders {
  return {
    ...up.headers,
    ':protocol': up.protocol,
    ':path': up.path,
    ':authority': up.authority,
    [PROTO_HEADER]: 'HTTP/1.1',
    [FORWARDED_HEADER]: `for="${sourceAddress}"`,
  };
}

/** An HTTP/1.1 response head as text: status line, `headers`, then `extra` lines. */
export function responseHead(status: number, headers: HeaderMap, extra: Readonly<Record<string, string>>): string {
  let text = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
  for (const name in headers) {
    if (name in extra) continue;
    const v = headers[name] as string | readonly string[];
    for (const one of typeof v === 'string' ? [v] : v) text += `${name}: ${one}\r\n`;
  }
  for (const name in extra) text += `${name}: ${extra[name] as string}\r\n`;
  return `${text}\r\n`;
}

/** The agent's own answer for a failure: `respond(kind)`'s status, `x-meshlet-failure`, the reason. */
export function failureResponse(kind: ErrorKind, reason: string): string {
  const body = `${reason.replace(/[\r\n]+/g, ' ')}\n`;
  const status = respond(kind).httpStatus;
  return responseHead(status, {}, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), 'x-meshlet-failure': kind, connection: 'close' }) + body;
}

/** What {@link upgradeViaTunnel} needs. */
export interface TunnelUpgrade {
  readonly logger: Logger;
  /** The application's socket, paused, positioned after the request head. */
  readonly socket: Socket;
  readonly request: RoutedUpgrade & { readonly protocol: string };
  readonly sourceIdentity: string;
  /** `address:port` of the application (`forwarded: for=`). */
  readonly sourceAddress: string;
  readonly target: TunnelTarget;
  /** No answer by then (tunnel, SETTINGS and the destination's answer): 504 `tunnel_timeout`. */
  readonly responseTimeoutMs: number;
  /** `TunnelPool.upgrade`: undefined when the peer agent takes no extended CONNECT. */
  readonly open: (sourceIdentity: string, target: TunnelTarget, headers: OutgoingHttpHeaders) => Promise<ClientHttp2Stream | undefined>;
  /** The peer takes no extended CONNECT: the L4 path (the head replayed); `done` is not called. */
  readonly fallback: () => void;
  /** The tunnel stream, once open (an end of the connection, for a drain to abort). */
  readonly opened: (stream: ClientHttp2Stream) => void;
  /** Once, when the connection is over: its failure, and the splice's end after a 101. */
  readonly done: (failure: ErrorKind | undefined, reason: string | undefined, outcome?: SpliceOutcome) => void;
}

/** Sends the upgrade as an extended CONNECT and serves the answer on the client socket. */
export function upgradeViaTunnel(u: TunnelUpgrade): void {
  new TunnelUpgradeRun(u).start();
}

/** One upgrade from the extended CONNECT to the end of the connection. */
class TunnelUpgradeRun {
  private stream: ClientHttp2Stream | undefined;
  private readonly timer: NodeJS.Timeout;
  /** The answer arrived (or the attempt ended): later events change nothing. */
  private settled = false;
  private failure: ErrorKind | undefined;
  private reason: string | undefined;
  /** Streams opened again after a refusal. */
  private reopens = 0;

  constructor(private readonly u: TunnelUpgrade) {
    this.timer = setTimeout(() => this.noAnswer('tunnel_timeout', `no answer to the upgrade within ${u.responseTimeoutMs} ms`), u.responseTimeoutMs);
    this.timer.unref();
  }

  start(): void {
    const { u } = this;
    // The client gone before an answer: nothing to answer, the stream (if any) is cancelled.
    u.socket.once('close', () => {
      if (this.settled) return;
      this.settle();
      // (The lease is released by its owner when the socket closes.)
      if (this.stream !== undefined && !this.stream.destroyed) this.stream.close(h2.NGHTTP2_CANCEL);
      u.done('downstream_reset', 'the client closed before the upgrade was answered');
    });
    this.attempt();
  }

  /** Opens the extended CONNECT (again, after a refused stream: nothing of the upgrade went before the answer). */
  private attempt(): void {
    const { u } = this;
    u.open(u.sourceIdentity, u.target, upgradeHeaders(u.request, u.sourceAddress)).then(
      (stream) => this.opened(stream),
      (err: Error) => {
        const code = isMeshletError(err) ? err.code : respond('tunnel_failed').errorCode;
        if (!this.settled) u.logger.warn({ code, err: err.message, dst: `${u.target.address}:${u.target.port}` }, 'outbound: tunnel not opened for an upgrade');
        this.noAnswer('tunnel_failed', err.message);
      },
    );
  }

  private opened(stream: ClientHttp2Stream | undefined): void {
    const { u } = this;
    if (stream === undefined) {
      if (this.settled) return;
      this.settle();
      u.fallback();
      return;
    }
    stream.on('error', noop);
    if (this.settled) {
      stream.close(h2.NGHTTP2_CANCEL);
      return;
    }
    this.stream = stream;
    u.opened(stream);
    stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => this.answered(stream, headers));
    stream.once('close', () => {
      if (this.settled) return;
      // REFUSED_STREAM: the peer agent did nothing with it (a limit, its drain's GOAWAY, or our
      // session taking that GOAWAY before the HEADERS went out): opened again, as an L4
      // tunnel's is (tunnel/opening.ts).
      const refused = stream.rstCode === h2.NGHTTP2_REFUSED_STREAM;
      if (refused && this.reopens < OPENING_REOPENS_MAX) {
        this.reopens += 1;
        noteStreamReopened();
        this.stream = undefined;
        this.attempt();
        return;
      }
      this.noAnswer(refused ? 'tunnel_refused' : 'tunnel_reset', `tunnel stream closed before an answer to the upgrade (code ${stream.rstCode ?? 0})`);
    });
  }

  private answered(stream: ClientHttp2Stream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    if (this.settled) return;
    this.settle();
    const { u } = this;
    const { socket, request } = u;
    const status = headers[':status'] ?? 502;
    if (status === 200 && headers[STATUS_HEADER] === '101') {
      socket.write(responseHead(101, endToEnd(headers), { connection: 'upgrade', upgrade: request.protocol }), 'latin1');
      // Bytes the client sent with its head are the first upgraded bytes.
      if (request.rest.length > 0) socket.unshift(request.rest);
      splice(socket, stream, (outcome) => u.done(undefined, undefined, outcome));
      return;
    }
    // Not switched: relayed as a response, the connection closes after it.
    const failure = errorKindOf(headers[ERROR_HEADER]);
    this.failure = failure;
    if (failure !== undefined || status >= 500) request.lease.release({ outcome: 'failure' });
    socket.write(responseHead(status, endToEnd(headers), { connection: 'close' }), 'latin1');
    stream.pipe(socket);
    stream.once('close', () => {
      // A body cut short is not a response: the client must not take it for one.
      if (!stream.readableEnded) abort(socket);
    });
    this.closeAfter();
  }

  /** No answer: the failure's response, then close. */
  private noAnswer(kind: ErrorKind, reason: string): void {
    if (this.settled) return;
    this.settle();
    const { u } = this;
    this.failure = kind;
    this.reason = reason;
    u.request.lease.release({ outcome: 'failure' });
    if (this.stream !== undefined && !this.stream.destroyed) this.stream.close(h2.NGHTTP2_CANCEL);
    u.socket.end(failureResponse(kind, reason), 'latin1');
    this.closeAfter();
  }

  /**
   * The client's leftover bytes are read and dropped (so its FIN is seen); on close the stream,
   * if still open, is cancelled and `done` runs.
   */
  private closeAfter(): void {
    const { socket } = this.u;
    const closed = (): void => {
      if (this.stream !== undefined && !this.stream.destroyed) this.stream.close(h2.NGHTTP2_CANCEL);
      this.u.done(this.failure, this.reason);
    };
    socket.resume();
    if (socket.destroyed) closed();
    else socket.once('close', closed);
  }

  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
  }
}

function noop(): void {}
