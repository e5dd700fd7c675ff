/**
 * The destination agent's L7 handler: requests for a workload of this node, arriving as HTTP/2
 * requests on the tunnel (`onTunnelRequest`, see `wire.ts`) or in-process from this node's own
 * source side (`call`). Each request passes the same inbound policy as an L4 connection
 * (`decideInbound`), gets the forwarding headers an Envoy hop adds, goes to the workload on the
 * upstream pools, and is reported once to the request observer (reporter `destination`).
 *
 * A request the agent cannot deliver is answered by the agent (`localReply`): the status of
 * `respond(kind)` with `meshlet-error: <kind>`; a gRPC request gets HTTP 200 with `grpc-status`
 * and `grpc-message` in a trailers-only response, as Envoy answers gRPC callers.
 */
import { randomUUID } from 'node:crypto';
import type { OutgoingHttpHeaders } from 'node:http';
import { constants as h2, type ServerHttp2Stream } from 'node:http2';
import { Readable, Writable } from 'node:stream';
import type { Logger } from 'pino';
import { forwardedFor, hostPort, parseAuthority, plainAddress } from '../../mesh/address.js';
import { MeshletError } from '../../mesh/errors.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { decideInbound, type InboundVia } from '../policy/inbound-decision.js';
import { hostOf, isGrpcRequest } from '../policy/route-match.js';
import { respond, type ErrorKind } from '../policy/respond.js';
import { deferredCall } from './deferred-call.js';
import { FREE_PASSAGE, InboundGate, type GateVerdict, type Passage } from './inbound-gate.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import {
  UpstreamError,
  type HeaderMap,
  type RequestHead,
  type RequestObserver,
  type RequestRecord,
  type RequestSource,
  type RequestTarget,
  type RequestTracer,
  type UpstreamCall,
  type UpstreamResponse,
} from './exchange.js';
import { upgradeWorkload } from './inbound-upgrade.js';
import { DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS, type HttpUpstreams, type MeteredCall } from './upstream-pool.js';
import type { TunnelRequest } from '../proxy/tunnel/server.js';
import { endToEnd, ERROR_HEADER, FORWARDED_HEADER, PROTO_HEADER, protoOf, SERVICE_HEADER } from './wire.js';

/** Who sent a request to this node's workload, and how it arrived. */
export type InboundSource = RequestSource & {
  /**
   * `mtls`: a tunnel request from a peer agent (or a tunnel CONNECT this agent terminated);
   * `local`: this node's own source side; `plaintext`: a captured plaintext connection this
   * agent terminated (no identity; MeshTLS STRICT refuses it).
   */
  readonly kind: 'mtls' | 'local' | 'plaintext';
  /** The identity the peer asked for by SNI (required for `mtls`). */
  readonly localIdentity?: string;
};

/** A Kubernetes `namespace/name` (two DNS-1123 labels). */
const SERVICE_KEY = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The Service of a request that reached `target`, for `destination_service`: the one the
 * source side named when it is a well-formed `namespace/name` (the source knows the backend
 * a route picked); else the one Service of this snapshot with `target` as an endpoint (of
 * several, the one the authority names, else the first by key); else undefined (`unknown`).
 * Never a policy input. The endpoint table is the index's ({@link WorkloadIndex.servicesAtEndpoint}:
 * derived from the previous index's with the Service ports that changed).
 */
export function requestService(index: WorkloadIndex, target: RequestTarget, named: string | undefined, authority: string): string | undefined {
  if (named !== undefined && SERVICE_KEY.test(named)) return named;
  const keys = index.servicesAtEndpoint(target.address, target.port);
  if (keys === undefined) return undefined;
  if (keys.length === 1) return keys[0];
  const host = hostOf(authority).toLowerCase();
  return keys.find((k) => {
    const [namespace, name] = k.split('/') as [string, string];
    return host === name || host.startsWith(`${name}.${namespace}.`) || host === `${name}.${namespace}`;
  }) ?? keys[0];
}

/** Options of {@link InboundHttp}. */
export interface InboundHttpOptions {
  readonly logger: Logger;
  readonly index: () => WorkloadIndex;
  /** The agent's own ports: never delivered to (see `agentPortSet`). */
  readonly agentPorts: ReadonlySet<number>;
  readonly upstreams: HttpUpstreams;
  /** Told once per request, at its end. */
  readonly observer?: RequestObserver;
  /** Makes `x-request-id` values (default `randomUUID`); tests pass a fixed one. */
  readonly requestId?: () => string;
  /** An upgrade request the workload has not answered by then fails (default {@link DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS}). */
  readonly connectTimeoutMs?: number;
  /**
   * Local rate limits and adaptive concurrency of the workloads (default: a gate of this process
   * alone, without metrics; a worker passes one whose rate limiter leases tokens from the primary).
   */
  readonly gate?: InboundGate;
  /** Joins requests to the application's trace (a SERVER span each; `trace/tracer.ts`). Default: none. */
  readonly tracer?: RequestTracer;
}

/** Options of {@link InboundHttp.call}. */
export interface InboundCallOptions {
  /** The request has no body (see `UpstreamCallOptions.endStream`). */
  readonly endStream?: boolean;
}

/**
 * The response the agent makes for a failure: `respond(kind).httpStatus` and
 * `meshlet-error: <kind>` with a one-line text body; for gRPC, HTTP 200 trailers-only with
 * `grpc-status` and `grpc-message` (no body, no trailers).
 */
export function localReply(kind: ErrorKind, head: Pick<RequestHead, 'method' | 'headers'>, extra?: Readonly<Record<string, string>>): UpstreamResponse {
  const r = respond(kind);
  if (isGrpcRequest(head.headers)) {
    const body = Readable.from([]);
    return {
      status: 200,
      headers: { ...extra, 'content-type': 'application/grpc', 'grpc-status': String(r.grpcStatus), 'grpc-message': `meshlet: ${kind}`, [ERROR_HEADER]: kind },
      body,
      trailers: endOf(body),
      failure: kind,
    };
  }
  const text = Buffer.from(`meshlet: ${kind}\n`);
  const body = Readable.from(head.method === 'HEAD' ? [] : [text]);
  return {
    status: r.httpStatus,
    headers: { ...extra, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(text.length), [ERROR_HEADER]: kind },
    body,
    trailers: endOf(body),
    failure: kind,
  };
}

/**
 * No trailers, once `body` has ended (the contract of `UpstreamResponse.trailers`: a caller that
 * ends its response when they resolve must not cut the body short). Never settles for a body
 * destroyed before its end: its reader sees the close.
 */
function endOf(body: Readable): Promise<HeaderMap> {
  return new Promise((resolve) => body.once('end', () => resolve({})));
}

/**
 * The headers the destination agent adds toward the workload, after Envoy's behaviour on a hop
 * that uses the remote address: `x-forwarded-for` gets the client's address appended (comma
 * separated, the port left out); `x-forwarded-proto: http` when absent (the application spoke
 * plain HTTP; mTLS is the agents' business); `x-request-id` a UUID when absent. Nothing else.
 */
export function forwardingHeaders(headers: HeaderMap, clientAddress: string, requestId: () => string): HeaderMap {
  // Copied by assignment: a spread of a header object costs far more per request (a profile).
  const out: HeaderMap = {};
  for (const name in headers) out[name] = headers[name] as string | string[];
  const address = parseAuthority(clientAddress)?.address ?? clientAddress.replace(/^\[|\]$/g, '');
  if (address !== '') {
    const xff = out['x-forwarded-for'];
    const prior = Array.isArray(xff) ? xff.join(', ') : xff;
    out['x-forwarded-for'] = prior === undefined || prior === '' ? address : `${prior}, ${address}`;
  }
  out['x-forwarded-proto'] ??= 'http';
  out['x-request-id'] ??= requestId();
  return out;
}

/** A request body that goes nowhere (a denied request): counted and dropped. */
class Discard extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    cb();
  }
}

/** The destination agent's L7 handler. */
export class InboundHttp {
  private readonly logger: Logger;
  private readonly index: () => WorkloadIndex;
  private readonly agentPorts: ReadonlySet<number>;
  private readonly upstreams: HttpUpstreams;
  private readonly observer: RequestObserver | undefined;
  private readonly tracer: RequestTracer | undefined;
  private readonly requestId: () => string;
  private readonly denied: ThrottledLog;
  private readonly audited: ThrottledLog;
  private readonly connectTimeoutMs: number;
  /** Rate limits and adaptive concurrency (its `limits()` feed `meshlet_adaptive_concurrency_limit`). */
  readonly gate: InboundGate;

  constructor(opts: InboundHttpOptions) {
    this.logger = opts.logger;
    this.index = opts.index;
    this.agentPorts = opts.agentPorts;
    this.upstreams = opts.upstreams;
    this.observer = opts.observer;
    this.tracer = opts.tracer;
    this.requestId = opts.requestId ?? randomUUID;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS;
    this.gate = opts.gate ?? new InboundGate();
    this.denied = new ThrottledLog(this.logger, 'inbound HTTP requests denied (throttled: one line per interval; each has its access-log line)');
    this.audited = new ThrottledLog(this.logger, 'inbound HTTP requests matched AUDIT authorization rules (throttled; each has its access-log line)');
  }

  /**
   * One request for `target`: policy, forwarding headers, the workload. Never rejects: a
   * failure is a response made by the agent, with `failure` set (a `connect_*` failure means
   * nothing reached the workload: the source side may try another endpoint).
   */
  call(source: InboundSource, target: RequestTarget, head: RequestHead, opts: InboundCallOptions = {}): UpstreamCall {
    const admitted = this.admit(source, target, head);
    const { rec } = admitted;
    if ('refused' in admitted) return this.replied(rec, localReply(admitted.refused, head));
    // Rate limits and adaptive concurrency, after authorization: a denied request takes no token.
    const verdict = this.gate.enter(this.index(), admitted.workload, target.port, { identity: source.kind === 'plaintext' ? undefined : source.identity, headers: head.headers });
    if (verdict instanceof Promise) return deferredCall(verdict.then((v) => () => this.pass(v, rec, target, head, admitted.head, opts)));
    return this.pass(verdict, rec, target, head, admitted.head, opts);
  }

  /** Answers a request the gate refused (429 with the RateLimit headers, or 503 overflow), or forwards it. */
  private pass(verdict: GateVerdict, rec: RequestRecord, target: RequestTarget, head: RequestHead, upstreamHead: RequestHead, opts: InboundCallOptions): UpstreamCall {
    if ('pass' in verdict) return this.forward(rec, target, head, upstreamHead, opts, verdict.pass);
    if (verdict.refused === 'rate_limited') {
      rec.overflow = 'rate_limit';
      return this.replied(rec, localReply('rate_limited', head, verdict.headers));
    }
    rec.overflow = 'adaptive';
    return this.replied(rec, localReply('overflow', head));
  }

  /** Sends an admitted request to the workload; `passage` is released when its response is over. */
  private forward(rec: RequestRecord, target: RequestTarget, head: RequestHead, upstreamHead: RequestHead, opts: InboundCallOptions, passage: Passage): UpstreamCall {
    let upstream: MeteredCall;
    try {
      upstream = this.upstreams.call(target, upstreamHead, opts.endStream === true ? { endStream: true } : {});
    } catch (err) {
      passage.release(undefined);
      // Pools closed: the agent is going away. Anything else: nothing was sent.
      const kind: ErrorKind = err instanceof MeshletError && err.code === 'MESHLET_ERR_CLOSED' ? 'drained' : 'connect_failed';
      if (kind !== 'drained') this.logger.debug({ err: (err as Error).message }, 'upstream call failed before sending');
      return this.replied(rec, localReply(kind, head));
    }
    const response = upstream.response.then(
      // Latency to the response head (Envoy's sample); the request holds its place until the body is over.
      (res) => this.observe(rec, res, upstream, undefined, passage === FREE_PASSAGE ? undefined : { passage, headAt: this.gate.now() }),
      (err: unknown) => {
        passage.release(undefined);
        const kind = err instanceof UpstreamError ? err.kind : 'upstream_reset';
        return this.observe(rec, localReply(kind, head), upstream);
      },
    );
    return { body: upstream.body, response, abort: () => upstream.abort() };
  }

  /**
   * A tunnel request that is not CONNECT (the tunnel server checked `meshlet-dst` into
   * `req.address`/`req.port`): the HTTP/2 stream becomes a {@link call}, the request body is
   * piped in and the response piped back with backpressure both ways, trailers as HTTP/2
   * trailers. `Expect: 100-continue` is answered with a 100 at once (Envoy's default). A reset
   * from the client aborts the upstream call; a failure after the head resets the stream.
   */
  onTunnelRequest(stream: ServerHttp2Stream, req: TunnelRequest): void {
    const { head, source } = tunnelRequest(req, String(req.headers[':method']));
    const { headers } = head;
    if (headers['expect'] !== undefined && String(headers['expect']).toLowerCase() === '100-continue') {
      delete headers['expect'];
      stream.additionalHeaders({ ':status': 100 });
    }
    const call = this.call(source, { address: req.address, port: req.port }, head, { endStream: stream.endAfterHeaders });
    stream.pipe(call.body);
    let answered = false;
    stream.once('close', () => {
      if (!answered || !stream.writableFinished) call.abort();
    });
    call.response.then(
      (res) => {
        answered = true;
        sendResponse(stream, res);
      },
      () => {
        if (!stream.destroyed) stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      },
    );
  }

  /**
   * A tunnel extended CONNECT (RFC 8441, `:protocol`; the tunnel server checked `meshlet-dst`
   * into `req.address`/`req.port`): the application's HTTP/1.1 Upgrade (WebSocket, ...). The
   * same policy and forwarding headers as {@link call}; then `upgrade-workload.ts` sends the
   * upgrade request on a fresh connection, answers a 101 with `200` + `meshlet-status: 101`
   * and splices the stream with the socket. One request record when it is over (status 101).
   */
  upgrade(stream: ServerHttp2Stream, req: TunnelRequest): void {
    const { head, source } = tunnelRequest(req, 'GET');
    const target = { address: req.address, port: req.port };
    const admitted = this.admit(source, target, head);
    const { rec } = admitted;
    const answer = (res: UpstreamResponse, counts: { readonly responseBytes: number }): void =>
      sendResponse(stream, this.observe(rec, res, { requestBytes: 0, get responseBytes() { return counts.responseBytes; } }));
    if ('refused' in admitted) {
      answer(localReply(admitted.refused, head), { responseBytes: 0 });
      return;
    }
    const verdict = this.gate.enter(this.index(), admitted.workload, target.port, { identity: source.identity, headers: head.headers });
    const go = (v: GateVerdict): void => {
      if ('pass' in v) {
        // An upgraded connection lives on: it holds no concurrency place past its answer.
        v.pass.release(undefined);
        this.upgradeAdmitted(stream, req, head, admitted.head, rec, answer);
        return;
      }
      rec.overflow = v.refused === 'rate_limited' ? 'rate_limit' : 'adaptive';
      answer(localReply(v.refused, head, 'headers' in v ? v.headers : undefined), { responseBytes: 0 });
    };
    if (verdict instanceof Promise) void verdict.then(go);
    else go(verdict);
  }

  /** An upgrade the policy and the gate admitted: to the workload on a fresh connection. */
  private upgradeAdmitted(
    stream: ServerHttp2Stream,
    req: TunnelRequest,
    head: RequestHead,
    upstreamHead: RequestHead,
    rec: RequestRecord,
    answer: (res: UpstreamResponse, counts: { readonly responseBytes: number }) => void,
  ): void {
    const target = { address: req.address, port: req.port };
    upgradeWorkload({
      stream,
      target,
      head: upstreamHead,
      protocol: String(req.headers[':protocol']),
      connectTimeoutMs: this.connectTimeoutMs,
      answer,
      fail: (kind) => answer(localReply(kind, head), { responseBytes: 0 }),
      done: (end) => {
        rec.status = end.status;
        rec.requestBytes = end.requestBytes;
        rec.responseBytes = end.responseBytes;
        if (end.failure !== undefined) rec.failure = end.failure;
        this.report(rec);
      },
    });
  }

  /** Tells the observer about `rec`, once, now. */
  private report(rec: RequestRecord): void {
    rec.durationMs = performance.now() - rec.startedAt;
    try {
      this.observer?.onRequest(rec);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'request observer failed');
    }
  }

  /**
   * The inbound policy for one request (`decideInbound` in `request` mode: the workload's
   * AuthorizationPolicies with its method, path, host and headers; then the last check before a socket
   * is made, as in InboundProxy.connect): the request record, and either the head to send to
   * the workload (forwarding headers added) or the failure to answer with.
   */
  private admit(source: InboundSource, target: RequestTarget, head: RequestHead): { rec: RequestRecord; head: RequestHead; workload: string } | { rec: RequestRecord; refused: ErrorKind } {
    const rec = this.record(source, target, head);
    const index = this.index();
    const service = requestService(index, target, source.service, head.authority);
    if (service !== undefined) rec.service = service;
    const via: InboundVia =
      source.kind === 'local'
        ? { kind: 'local', sourceIdentity: source.identity ?? '', sourceAddress: addressOf(source.address) }
        : source.kind === 'plaintext'
          ? { kind: 'plaintext', sourceAddress: addressOf(source.address) }
          : { kind: 'mtls', localIdentity: source.localIdentity ?? '', peerIdentity: source.identity ?? '', sourceAddress: addressOf(source.address) };
    const request = { method: head.method, path: head.path, host: head.authority, headers: head.headers };
    const decision = decideInbound(index, target, via, this.agentPorts, request);
    // A denial always says why ("no ALLOW policy matched" names no policy); an allowed request only when a policy decided it or audited it.
    if (decision.authz !== undefined && (!decision.allow || decision.authz.decidedBy !== undefined || decision.authz.audits.length > 0)) rec.authz = decision.authz;
    let refusal = decision.allow ? undefined : decision.reason;
    if (decision.allow) {
      const problem = index.addressProblem(target.address);
      if (problem !== undefined || this.agentPorts.has(target.port)) refusal = `refusing to dial ${hostPort(target.address, target.port)}: ${problem ?? 'an agent port'}`;
    }
    if (!decision.allow || refusal !== undefined) {
      // A refused request has its span too (nothing goes on: the context is only read).
      if (this.tracer !== undefined) this.traced(rec, head.headers, index.byAddress.get(target.address)?.namespace, false);
      const kind: ErrorKind = decision.allow ? 'policy_denied' : decision.kind;
      const by = decision.authz?.decidedBy;
      this.denied.warn({ code: respond(kind).errorCode, src: source.address, identity: source.identity, dst: rec.upstream, method: head.method, reason: refusal, policy: by?.policy, rule: by?.rule });
      return { rec, refused: kind };
    }
    if (decision.authz.audits.length > 0) this.audited.warn({ src: source.address, identity: source.identity, dst: rec.upstream, audits: decision.authz.audits.map((a) => `${a.policy}#${a.rule}`) });
    rec.destinationWorkload = decision.workload.uid;
    rec.destinationIdentity = decision.workload.identity;
    const upstreamHead: RequestHead = { ...head, headers: forwardingHeaders(head.headers, source.address, this.requestId) };
    // The server span, child of the caller's (the source agent's client span); the workload gets it as its parent.
    if (this.tracer !== undefined) this.traced(rec, upstreamHead.headers, decision.workload.namespace, true);
    const requestId = upstreamHead.headers['x-request-id'];
    if (typeof requestId === 'string') rec.requestId = requestId;
    return { rec, head: upstreamHead, workload: decision.workload.uid };
  }

  /** Sets `rec.trace` when the tracer traces it. */
  private traced(rec: RequestRecord, headers: HeaderMap, namespace: string | undefined, write: boolean): void {
    const span = this.tracer?.begin(headers, namespace, write);
    if (span !== undefined) rec.trace = span;
  }

  /** A call answered by the agent at once; the request body is drained. */
  private replied(rec: RequestRecord, res: UpstreamResponse): UpstreamCall {
    const body = new Discard();
    const counted = { requestBytes: 0, responseBytes: 0 };
    const response = Promise.resolve(this.observe(rec, res, counted, body));
    return { body, response, abort: () => res.body.destroy() };
  }

  private record(source: InboundSource, target: RequestTarget, head: RequestHead): RequestRecord {
    const rec: RequestRecord = {
      reporter: 'destination',
      method: head.method,
      authority: head.authority,
      path: head.path,
      proto: head.proto,
      requestProtocol: isGrpcRequest(head.headers) ? 'grpc' : 'http',
      status: 0,
      securityPolicy: source.kind === 'plaintext' ? 'plaintext' : 'mutual_tls',
      upstream: hostPort(target.address, target.port),
      requestBytes: 0,
      responseBytes: 0,
      startedAt: performance.now(),
      durationMs: 0,
    };
    if (source.identity !== undefined) rec.sourceIdentity = source.identity;
    if (source.workload !== undefined) rec.sourceWorkload = source.workload;
    return rec;
  }

  /**
   * Reports `rec` once `res.body` closes (ended, or destroyed by a client that went away),
   * with the bytes, the status and the gRPC status of the trailers or the head; `hold` (the
   * inbound gate's place of an admitted request) is released then too, on the same listener.
   */
  private observe(
    rec: RequestRecord,
    res: UpstreamResponse,
    counts: { readonly requestBytes: number; readonly responseBytes: number },
    discard?: Discard,
    hold?: { readonly passage: Passage; readonly headAt: number },
  ): UpstreamResponse {
    rec.status = res.status;
    if (res.failure !== undefined) rec.failure = res.failure;
    const observer = this.observer;
    if (observer === undefined) {
      if (hold !== undefined) res.body.once('close', () => hold.passage.release(hold.headAt));
      return res;
    }
    let done = false;
    const finish = (trailers: HeaderMap | undefined, failure: ErrorKind | undefined): void => {
      if (done) return;
      done = true;
      rec.requestBytes = discard?.bytes ?? counts.requestBytes;
      rec.responseBytes = res.failure === undefined ? counts.responseBytes : Number(res.headers['content-length'] ?? 0);
      if (failure !== undefined && rec.failure === undefined) rec.failure = failure;
      const grpc = trailers?.['grpc-status'] ?? res.headers['grpc-status'];
      if (typeof grpc === 'string' && /^\d+$/.test(grpc)) rec.grpcStatus = Number(grpc);
      this.report(rec);
    };
    // One listener for both: the gate's hold ends with the body, then the record is written.
    res.body.once('close', () => {
      hold?.passage.release(hold.headAt);
      if (!res.body.readableEnded) {
        finish(undefined, 'downstream_reset');
        return;
      }
      res.trailers.then((t) => finish(t, undefined), (err: unknown) => finish(undefined, err instanceof UpstreamError ? err.kind : 'upstream_reset'));
    });
    return res;
  }
}

/** The address of an `address:port` (or of a bare address), IPv4-mapped prefix stripped. */
function addressOf(value: string): string {
  return plainAddress(parseAuthority(value)?.address ?? value.replace(/^\[|\]$/g, ''));
}

/** The head and source of a tunnel request (`forwarded` becomes the source address, then goes). */
function tunnelRequest(req: TunnelRequest, method: string): { head: RequestHead; source: InboundSource } {
  const h = req.headers;
  const headers = endToEnd(h);
  delete headers[FORWARDED_HEADER];
  const head: RequestHead = {
    method,
    path: h[':path'] ?? '/',
    authority: h[':authority'] ?? h['host'] ?? '',
    proto: protoOf(h[PROTO_HEADER]),
    headers,
  };
  const named = h[SERVICE_HEADER];
  const source: InboundSource = {
    kind: 'mtls',
    identity: req.peerIdentity,
    localIdentity: req.localIdentity,
    address: forwardedFor(h[FORWARDED_HEADER]) ?? req.peerAddress,
    ...(typeof named === 'string' ? { service: named } : {}),
  };
  return { head, source };
}

/**
 * Answers a tunnel stream with `res`: the head (trailers-only for a gRPC head that carries
 * `grpc-status`), the body piped with backpressure, then the trailers (an empty set ends the
 * stream with an empty DATA frame). A body that fails after the head resets the stream.
 */
function sendResponse(stream: ServerHttp2Stream, res: UpstreamResponse): void {
  if (stream.destroyed || stream.closed) {
    res.body.destroy();
    return;
  }
  const headers: OutgoingHttpHeaders = { ':status': res.status };
  const from = res.headers;
  for (const name in from) headers[name] = from[name];
  try {
    if (res.headers['grpc-status'] !== undefined) {
      stream.respond(headers, { endStream: true });
      res.body.resume();
      return;
    }
    stream.respond(headers, { waitForTrailers: true });
  } catch {
    // Headers Node refuses to send (a value with a control character): nothing was sent.
    stream.respond({ ':status': 502, [ERROR_HEADER]: 'upstream_reset' }, { endStream: true });
    res.body.destroy();
    return;
  }
  stream.once('wantTrailers', () => {
    res.trailers.then(
      (t) => {
        if (!stream.destroyed) stream.sendTrailers(t);
      },
      () => {
        if (!stream.destroyed) stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      },
    );
  });
  res.body.once('error', () => {
    if (!stream.destroyed) stream.close(h2.NGHTTP2_INTERNAL_ERROR);
  });
  stream.once('close', () => {
    if (!res.body.readableEnded) res.body.destroy();
  });
  res.body.pipe(stream);
}

