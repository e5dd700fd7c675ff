/**
 * One request of a connection the destination agent terminates (`inbound-terminate.ts`): its
 * head as a {@link RequestHead} (pure, {@link terminatedHead}), one `InboundHttp.call` (policy is
 * decided there, per request), the request body piped in and the response written back with
 * backpressure both ways: HTTP/1.1 chunked trailers when the response has trailers, HTTP/2
 * trailers, gRPC Trailers-Only as one HEADERS frame. A client that goes away before the response
 * is complete aborts the call.
 */
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { constants as h2, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { hostPort } from '../../mesh/address.js';
import { UpstreamError, type HeaderMap, type HttpProto, type RequestHead, type RequestTarget, type UpstreamCall, type UpstreamResponse } from './exchange.js';
import { localReply, type InboundHttp, type InboundSource } from './inbound-http.js';
import { endToEnd, ERROR_HEADER } from './wire.js';

export type TerminatedRequest = IncomingMessage | Http2ServerRequest;
export type TerminatedResponse = ServerResponse | Http2ServerResponse;

/** What {@link terminatedHead} reads of a request (Node's IncomingMessage or Http2ServerRequest). */
export interface RawRequest {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/**
 * The head of a terminated request, or why it is refused (answered 400):
 * - the path is the request target as sent in origin form (`/a?b`), or `*` for OPTIONS; an
 *   absolute-form target (`GET http://host/admin HTTP/1.1`) becomes its origin form and its
 *   authority wins over `Host` (RFC 9112 3.2.2), so that policy sees the path the workload will
 *   act on (a DENY on `/admin` must not be passed by writing the URL whole); any other form is
 *   refused;
 * - the authority is `:authority` (HTTP/2) or `Host`, else the target's `address:port`;
 * - headers are the end-to-end ones; `Expect` is removed (Node's server has answered the
 *   100-continue already, as Envoy does, and the upstream client refuses the header).
 */
export function terminatedHead(req: RawRequest, proto: HttpProto, target: RequestTarget): RequestHead | { readonly refused: string } {
  const method = req.method ?? 'GET';
  const raw = req.headers;
  let path = req.url ?? '/';
  const given = proto === 'HTTP/2' ? raw[':authority'] ?? raw.host : raw.host;
  let authority = typeof given === 'string' && given !== '' ? given : hostPort(target.address, target.port);
  if (path.charCodeAt(0) !== 47 /* '/' */ && !(path === '*' && method === 'OPTIONS')) {
    const m = /^http:\/\/([^/?#@\s]+)([/?][^#\s]*)?$/i.exec(path);
    if (m === null) return { refused: `request target ${JSON.stringify(path.slice(0, 64))} is neither origin form nor an http:// URL` };
    authority = m[1] as string;
    const rest = m[2] ?? '/';
    path = rest.charCodeAt(0) === 63 /* '?' */ ? `/${rest}` : rest;
  }
  const headers = endToEnd(raw);
  delete headers['expect'];
  return { method, path, authority, proto, headers };
}

/** True when the request has no body: sent upstream without one (END_STREAM on the HEADERS). */
function bodyless(req: TerminatedRequest): boolean {
  if ('stream' in req) return req.stream.endAfterHeaders;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/** The response head toward the client: `meshlet-error` stays inside the mesh (`wire.ts`). */
function clientHeaders(headers: HeaderMap): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...headers };
  delete out[ERROR_HEADER];
  return out;
}

/** One request from its head to the end of its response. */
export class TerminatedExchange {
  private call: UpstreamCall | undefined;
  /** The whole response was handed to Node (or the call was abandoned): nothing to abort. */
  private complete = false;
  private closed = false;

  constructor(
    private readonly req: TerminatedRequest,
    private readonly res: TerminatedResponse,
    private readonly head: RequestHead,
    private readonly onDone: () => void,
    private readonly draining: () => boolean,
  ) {
    res.once('close', () => this.onClose());
  }

  /** Makes the call; the response comes back on its own. */
  start(http: Pick<InboundHttp, 'call'>, source: InboundSource, target: RequestTarget): void {
    const endStream = bodyless(this.req);
    let call: UpstreamCall;
    try {
      call = http.call(source, target, this.head, endStream ? { endStream: true } : {});
    } catch {
      // `call` never throws by contract; a bug there must not take the connection down.
      this.send(localReply('upstream_reset', this.head));
      this.req.resume();
      return;
    }
    this.call = call;
    if (endStream) {
      if (!call.body.writableEnded) call.body.end();
    } else {
      this.req.pipe(call.body);
    }
    call.response.then(
      (res) => this.send(res),
      (err: unknown) => this.send(localReply(err instanceof UpstreamError ? err.kind : 'upstream_reset', this.head)),
    );
  }

  /** Writes `response` to the client (or drops it when the client is gone). */
  private send(response: UpstreamResponse, fallback = false): void {
    const { res } = this;
    if (this.closed) {
      response.body.destroy();
      return;
    }
    const headers = clientHeaders(response.headers);
    if ('stream' in res && headers['grpc-status'] !== undefined && !res.headersSent && !res.stream.destroyed) {
      // gRPC's Trailers-Only: one HEADERS frame with END_STREAM (the compatibility API would
      // send HEADERS, then an empty DATA frame, which gRPC clients refuse).
      this.complete = true;
      res.stream.respond({ ...headers, ':status': response.status }, { endStream: true });
      response.body.resume();
      return;
    }
    // Draining: the response says `Connection: close` (HTTP/1.x; HTTP/2 sessions get GOAWAY).
    if ('shouldKeepAlive' in res && this.draining()) res.shouldKeepAlive = false;
    try {
      res.writeHead(response.status, headers);
    } catch {
      // A header Node refuses to send (a control character in a value): nothing was sent.
      response.body.destroy();
      if (fallback) {
        this.reset();
        return;
      }
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.send(localReply('upstream_reset', this.head), true);
      return;
    }
    const { body } = response;
    // Handled here even when the body fails first (an unhandled rejection would end the process).
    response.trailers.catch(noop);
    body.once('error', () => this.reset());
    // The trailers after the last byte: an agent-made response resolves them at once.
    body.once('end', () => {
      response.trailers.then(
        (trailers) => this.end(trailers),
        () => this.reset(),
      );
    });
    body.pipe(res as NodeJS.WritableStream, { end: false });
  }

  /** The body has ended: the trailers (HTTP/1.1: in the last chunk, dropped when the body is not chunked), then the end. */
  private end(trailers: HeaderMap): void {
    if (this.closed) return;
    try {
      if (Object.keys(trailers).length > 0) this.res.addTrailers(trailers as Record<string, string>);
    } catch {
      this.reset();
      return;
    }
    this.complete = true;
    this.res.end();
  }

  /** A failure after the head: the client must see the response cut, not a clean end. */
  private reset(): void {
    const { res } = this;
    this.complete = true;
    this.call?.abort();
    if ('stream' in res) {
      if (!res.stream.destroyed) res.stream.close(h2.NGHTTP2_INTERNAL_ERROR);
    } else {
      res.destroy();
    }
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    // The client went away (or the connection failed) before the response was complete.
    if (!this.complete) this.call?.abort();
    this.onDone();
  }
}

function noop(): void {}
