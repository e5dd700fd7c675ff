/**
 * One request at the source agent, from its plan to the end of its response, with the
 * resilience its route and Service ask for (`policy/resilience/request-policy.ts`):
 *
 * - the circuit breaker of the backend Service port admits it or answers 503/UO at once;
 * - fault injection delays it and/or answers for the workload (FI);
 * - the request timeout bounds every try and backoff to the response head (504/UT);
 * - each try gets its own endpoint (never one already tried while another is left), its own
 *   per-try timeout, and on a retryable failure a retry after an exponential, jittered backoff,
 *   within the retry count, the circuit breaker's retries in flight and the retry budget;
 * - a hedge (a second try to another endpoint) when the first has not answered within the
 *   percentile of recent latencies; the first usable response head wins, the rest are cancelled;
 * - RequestMirror filters send a copy that nothing waits for.
 *
 * Every try's outcome feeds the balancer (latency, load) and outlier detection. With nothing
 * configured a request takes one try (plus up to two more when an endpoint refused before
 * anything was sent) and no timer, buffer or copy.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Readable, Writable } from 'node:stream';
import { hostPort } from '../../mesh/address.js';
import { DEFAULT_RETRY_BUFFER_BYTES, IDEMPOTENT_METHODS, type CircuitBreakerPolicy } from '../../mesh/resilience.js';
import type { HeaderModifier, RequestMirror, RouteInfo } from '../../mesh/routes.js';
import type { WorkloadInfo } from '../../mesh/types.js';
import type { Lease, PickContext } from '../policy/balancers/tracked-balancer.js';
import type { PlannedHead, RequestPlan } from '../policy/request-plan.js';
import { respond, type ErrorKind } from '../policy/respond.js';
import { decideFault } from '../policy/resilience/http-fault.js';
import { rateLimitHeaders, type RateRefusal } from '../policy/resilience/rate-limit.js';
import { routeCharges, routeKeyOf } from '../policy/resilience/route-rate-limit.js';
import { CONNECT_ONLY_RETRY, requestResilienceOf, type RequestResilience } from '../policy/resilience/request-policy.js';
import { backoffMs, retryTrigger, type TryResult } from '../policy/resilience/retry-decision.js';
import { admitPending, admitRequest, admitRetry, type ServicePortState } from '../policy/resilience/service-state.js';
import { applyHeaderModifier } from '../policy/route-match.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import { UpstreamError, type HeaderMap, type HttpProto, type RequestHead, type RequestRecord, type UpstreamCall, type UpstreamResponse } from './exchange.js';
import type { ExchangeHost, HttpConnectionState } from './outbound-host.js';
import type { Deadline } from './deadlines.js';
import { ReplayBody } from './replay-body.js';
import { chargeStream, throttleStream } from '../proxy/bandwidth-throttle.js';
import { openCall, plainHeaders, viaTunnel } from './open-call.js';
import { MESHLET_HEADERS } from './wire.js';

type AnyRequest = IncomingMessage | Http2ServerRequest;
type AnyResponse = ServerResponse | Http2ServerResponse;

/** `namespace/name` of each route object (the access log's `route`), made once per snapshot's route. */
const routeLabels = new WeakMap<RouteInfo, string>();

function routeLabel(route: RouteInfo): string {
  let label = routeLabels.get(route);
  if (label === undefined) routeLabels.set(route, (label = `${route.namespace}/${route.name}`));
  return label;
}

/** Agent-made answers that mean no byte of the request reached the workload. */
const NOTHING_DELIVERED: ReadonlySet<ErrorKind> = new Set(['connect_refused', 'connect_failed', 'connect_timeout']);

/** The header that tells the workload which try this is (Envoy's `x-envoy-attempt-count`), from the second on. */
export const ATTEMPT_HEADER = 'x-meshlet-attempt-count';

/** One try: an endpoint, a call, its timer. */
interface Try {
  readonly n: number;
  readonly kind: 'first' | 'retry' | 'hedge';
  readonly lease: Lease;
  readonly startedAt: number;
  readonly upstream: string;
  readonly workload?: WorkloadInfo;
  readonly plaintext: boolean;
  call: UpstreamCall | undefined;
  pending: boolean;
  timer: Deadline | undefined;
}

export class Exchange {
  private readonly tries = new Set<Try>();
  private readonly tried = new Set<string>();
  private attempts = 0;
  private retries = 0;
  private timer: Deadline | undefined;
  private waitTimer: Deadline | undefined;
  private hedgeTimer: Deadline | undefined;
  private done = false;
  private headSent = false;
  private body: ReplayBody | undefined;
  private policy!: RequestResilience;
  private port: ServicePortState | undefined;
  private index!: WorkloadIndex;
  private entry!: ServicePortEntry;
  private head!: PlannedHead;
  private responseMods: readonly HeaderModifier[] = [];
  /** The backend Service's circuit breaker, read once per request. */
  private breaker: CircuitBreakerPolicy | undefined;
  private counted = false;

  constructor(
    private readonly host: ExchangeHost,
    private readonly state: HttpConnectionState,
    private readonly req: AnyRequest,
    private readonly res: AnyResponse,
    private readonly rec: RequestRecord,
    private readonly grpc: boolean,
  ) {
    res.once('close', () => this.finish());
  }

  /** True when the request has no body. */
  private get bodyless(): boolean {
    const { req } = this;
    if ('stream' in req) return req.stream.endAfterHeaders || req.readableEnded;
    const length = req.headers['content-length'];
    return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
  }

  carryOut(index: WorkloadIndex, plan: RequestPlan): void {
    const { rec } = this;
    if (plan.route !== undefined) rec.route = routeLabel(plan.route);
    switch (plan.kind) {
      case 'fail':
        this.fail(plan.failure, plan.reason);
        return;
      case 'redirect': {
        const headers: Record<string, string | readonly string[]> = plan.responseHeaders === undefined ? {} : applyHeaderModifier({}, plan.responseHeaders);
        this.sendHead(plan.status, { ...headers, location: plan.location, 'content-length': '0' });
        this.res.end();
        this.req.resume();
        return;
      }
      case 'forward':
        break;
    }
    this.index = index;
    this.entry = plan.entry;
    this.head = plan.head;
    this.responseMods = plan.responseHeaders;
    rec.service = plan.entry.service.key;
    const service = index.trafficPolicyOf(plan.entry.service.key);
    this.breaker = service?.circuitBreaker;
    const routePolicy = plan.route === undefined ? undefined : index.routePolicyOf(plan.route);
    this.policy = requestResilienceOf(service, routePolicy, plan.timeouts, plan.retry);
    const port = (this.port = this.host.states.get(plan.entry.key));
    const overflow = admitRequest(port, service?.circuitBreaker);
    if (overflow !== undefined) {
      rec.overflow = overflow;
      this.host.metrics?.overflow(rec.service, overflow);
      this.fail('overflow', `service ${rec.service}: ${overflow} reached (circuit breaker)`);
      return;
    }
    port.requests++;
    this.counted = true;
    port.budget(this.policy.budget).deposit(this.host.now());
    if (!this.bodyless) {
      // Kept for a replay, or for a mirror whose stream opens after the first bytes went out.
      const limit = this.policy.replay ? this.policy.retry.bufferBytes : plan.mirrors.length > 0 ? DEFAULT_RETRY_BUFFER_BYTES : 0;
      const req = this.req as Readable;
      const throttle = this.state.conn.throttle;
      // The body's reader counts each chunk: the throttle is charged there, not by a 'data'
      // listener of its own (which would start the body flowing before a try takes it).
      if (throttle !== undefined) throttleStream(req, undefined, throttle, true);
      this.body = new ReplayBody(req, limit, (n) => {
        rec.requestBytes += n;
        if (throttle !== undefined) chargeStream(req, n);
      });
    }
    if (this.policy.requestMs > 0) {
      const ms = this.policy.requestMs;
      this.timer = this.host.deadlines.add(ms, () => this.timedOut(ms));
    }
    if (routePolicy?.rateLimit !== undefined && plan.route !== undefined && this.host.rateLimiter !== undefined) {
      const routeKey = routeKeyOf(plan.route);
      const charges = routeCharges(routeKey, routePolicy, { identity: this.state.conn.source.identity, headers: plan.head.headers });
      const refusal = charges.length === 0 ? undefined : this.host.rateLimiter.take(charges, this.host.now());
      if (refusal instanceof Promise) {
        refusal.then((r) => this.admitted(r, routeKey, plan), () => this.admitted(undefined, routeKey, plan));
        return;
      }
      if (refusal !== undefined) {
        this.refuseRate(refusal, routeKey);
        return;
      }
    }
    this.proceed(plan);
  }

  /** A route rate limit's answer came from the primary (a worker's lease was empty). */
  private admitted(refusal: RateRefusal | undefined, routeKey: string, plan: Extract<RequestPlan, { kind: 'forward' }>): void {
    if (this.done) return;
    if (refusal !== undefined) this.refuseRate(refusal, routeKey);
    else this.proceed(plan);
  }

  /** 429 (gRPC RESOURCE_EXHAUSTED) with the RateLimit headers: the route's limit had no token. */
  private refuseRate(refusal: RateRefusal, routeKey: string): void {
    this.rec.overflow = 'rate_limit';
    this.host.metrics?.limited('route', routeKey);
    this.fail('rate_limited', `route ${routeKey}: rate limit of ${refusal.rule.requests} requests reached`, rateLimitHeaders(refusal));
  }

  /** Mirrors, faults, then the first try. */
  private proceed(plan: Extract<RequestPlan, { kind: 'forward' }>): void {
    const { rec } = this;
    for (const mirror of plan.mirrors) this.mirror(mirror);
    const fault = decideFault(this.policy.fault, plan.head.headers, this.host.random);
    if (fault.delayMs === 0 && fault.abort === undefined) {
      this.startTry('first');
      return;
    }
    if (fault.delayMs > 0) {
      rec.faultDelayMs = fault.delayMs;
      this.host.metrics?.fault(rec.service ?? '', 'delay');
    }
    const go = (): void => {
      this.waitTimer = undefined;
      if (this.done) return;
      if (fault.abort === undefined) {
        this.startTry('first');
        return;
      }
      this.host.metrics?.fault(rec.service ?? '', 'abort');
      this.answerFault(fault.abort.httpStatus, fault.abort.grpcStatus);
    };
    if (fault.delayMs > 0) this.waitTimer = this.host.deadlines.add(fault.delayMs, go);
    else go();
  }

  /** Starts a try on an endpoint not tried yet (any, for a retry after a response, when all were). */
  private startTry(kind: Try['kind'], anyEndpoint = false): void {
    const { host, rec, state, entry, index } = this;
    const opts = host.options;
    const hashKey = opts.hashKeyOf?.(index, entry, this.req.headers, state.conn.sourceIp);
    let lease = opts.balancers.lease(entry, { hashKey, exclude: this.tried } satisfies PickContext);
    if (lease === undefined && anyEndpoint && this.tried.size > 0) lease = opts.balancers.lease(entry, { hashKey });
    if (lease === undefined) {
      if (this.tries.size > 0) return;
      this.fail(this.tried.size > 0 ? rec.failure ?? 'no_healthy_upstream' : 'no_healthy_upstream', `service ${entry.service.key} has no endpoint left to try`);
      return;
    }
    const target = index.endpointTarget(entry, lease.endpoint);
    if (target.kind === 'no-endpoints' || target.kind === 'passthrough') {
      lease.release({ outcome: 'cancelled' });
      if (this.tries.size === 0) this.fail('no_healthy_upstream', `service ${entry.service.key} has no endpoints`);
      return;
    }
    if (target.kind === 'plaintext' && target.endpoint.meshed) {
      lease.release({ outcome: 'failure' });
      if (this.tries.size === 0) this.fail('no_route', `endpoint ${target.endpoint.workload} of service ${entry.service.key} is meshed but not in the snapshot: refused rather than sent in plaintext`);
      return;
    }
    this.attempts++;
    if (this.attempts > 1) rec.attempts = this.attempts;
    this.tried.add(lease.key);
    const t: Try = {
      n: this.attempts,
      kind,
      lease,
      startedAt: performance.now(),
      upstream: hostPort(target.address, target.port),
      ...(target.kind === 'meshed' ? { workload: target.workload } : {}),
      plaintext: target.kind === 'plaintext',
      call: undefined,
      pending: false,
      timer: undefined,
    };
    this.tries.add(t);
    if (kind !== 'first' && this.port !== undefined) this.port.retries++;
    if (this.policy.perTryMs > 0) {
      const ms = this.policy.perTryMs;
      t.timer = this.host.deadlines.add(ms, () => this.perTryTimedOut(t, ms));
    }
    const h = this.head;
    const headers = plainHeaders(h.headers);
    if (this.attempts > 1) headers[ATTEMPT_HEADER] = String(this.attempts);
    const requestHead: RequestHead = { method: h.method, path: h.path, authority: h.authority, proto: state.conn.upstreamProto ?? rec.proto, headers };
    if (viaTunnel(target) && this.port !== undefined && !admitPending(this.port, this.breaker)) {
      this.rec.overflow = 'max_pending_requests';
      host.metrics?.overflow(this.rec.service ?? '', 'max_pending_requests');
      this.tryFailed(t, new UpstreamError('overflow', `service ${entry.service.key}: max_pending_requests reached (circuit breaker)`, true), undefined);
      return;
    }
    const call = openCall(host.options, state.conn, entry.service.key, target, requestHead, this.body === undefined);
    if (call instanceof Promise) this.awaitCall(t, call);
    else this.begin(t, call);
    if (kind === 'first') this.armHedge();
  }

  /** A try whose call waits for a tunnel stream: it counts as pending (the breaker's `maxPendingRequests`) until then. */
  private awaitCall(t: Try, call: Promise<UpstreamCall>): void {
    t.pending = true;
    if (this.port !== undefined) this.port.pending++;
    call.then(
      (c) => {
        this.settlePending(t);
        this.begin(t, c);
      },
      (err: UpstreamError) => {
        this.settlePending(t);
        if (this.tries.has(t)) this.tryFailed(t, err, undefined);
      },
    );
  }

  private settlePending(t: Try): void {
    if (!t.pending) return;
    t.pending = false;
    if (this.port !== undefined) this.port.pending--;
  }

  /** The call is made: send the body (or end it), wait for the response head. */
  private begin(t: Try, call: UpstreamCall): void {
    if (this.done || !this.tries.has(t)) {
      call.abort();
      return;
    }
    t.call = call;
    if (this.body === undefined) {
      if (!call.body.writableEnded) call.body.end();
    } else {
      this.body.attach(call.body);
    }
    call.response.then(
      (response) => this.onResponse(t, response),
      (err: unknown) => {
        if (!this.tries.has(t)) return;
        this.tryFailed(t, err instanceof UpstreamError ? err : new UpstreamError('upstream_reset', String(err), false), undefined);
      },
    );
  }

  private onResponse(t: Try, response: UpstreamResponse): void {
    if (this.done || !this.tries.has(t)) {
      response.body.destroy();
      return;
    }
    if (response.failure !== undefined && NOTHING_DELIVERED.has(response.failure)) {
      // The destination side could not reach the workload: nothing of the request got there.
      response.body.resume();
      this.tryFailed(t, new UpstreamError(response.failure, `the destination side answered ${response.status} (${response.failure})`, true), undefined);
      return;
    }
    const grpcStatus = this.grpc ? headGrpcStatus(response.headers) : undefined;
    const result: TryResult = { kind: 'response', status: response.status, grpcStatus };
    const gateway = response.status >= 502 && response.status <= 504;
    this.host.outliers?.report(this.entry, t.lease.key, response.status, gateway || response.failure !== undefined);
    if (this.wantsRetry(t, result)) {
      response.body.resume();
      return;
    }
    this.win(t, response);
  }

  /** A try got no response head. */
  private tryFailed(t: Try, err: UpstreamError, result: TryResult | undefined): void {
    if (err.kind !== 'overflow') this.host.outliers?.report(this.entry, t.lease.key, 0, true);
    this.rec.failure = err.kind;
    const r: TryResult = result ?? (err.beforeRequestSent ? { kind: 'connect-failure' } : { kind: 'reset' });
    if (this.wantsRetry(t, r)) return;
    this.dropTry(t, 'failure');
    if (this.tries.size > 0 || this.waitTimer !== undefined) return;
    this.fail(err.kind, err.message);
  }

  /**
   * Decides on a failed or retryable try: true when it was set aside (a retry is scheduled, or
   * another try is still in flight and may answer); false when its result is the answer.
   */
  private wantsRetry(t: Try, result: TryResult): boolean {
    const { policy, rec, host } = this;
    const decision = retryTrigger(policy.retry, result, { method: this.head.method, grpc: this.grpc, replayable: this.body === undefined || this.body.replayable });
    if (decision === undefined) return false;
    const service = rec.service ?? '';
    if (decision === 'method' || decision === 'body') return this.stop(t, decision);
    if (this.tries.size > 1) {
      // Another try (a hedge) is still out: this one is set aside, that one may answer.
      this.dropTry(t, 'failure');
      return true;
    }
    if (this.retries >= policy.retry.retries) return this.stop(t, 'attempts');
    if (this.port !== undefined && !admitRetry(this.port, this.breaker)) {
      host.metrics?.overflow(service, 'max_retries');
      return this.stop(t, 'breaker');
    }
    // A try that reached no endpoint did no work anywhere: sending it elsewhere multiplies
    // nothing, so it does not draw from the budget (the retry count still bounds it).
    if (result.kind !== 'connect-failure' && this.port !== undefined && !this.port.budget(policy.budget).withdraw(host.now())) return this.stop(t, 'budget');
    this.retries++;
    delete rec.retryStop;
    host.metrics?.retried(service, result.kind === 'timeout' ? 'per_try_timeout' : decision);
    this.dropTry(t, 'failure');
    this.body?.detach();
    const wait = backoffMs(policy.retry, this.retries, host.random);
    const again = (): void => {
      this.waitTimer = undefined;
      if (!this.done) this.startTry('retry', result.kind !== 'connect-failure');
    };
    if (wait > 0) this.waitTimer = host.deadlines.add(wait, again);
    else again();
    return true;
  }

  /** No retry for a reason worth logging: the try's own result is the answer (unless a hedge is still out). */
  private stop(t: Try, why: NonNullable<RequestRecord['retryStop']>): boolean {
    if (this.tries.size > 1) {
      this.dropTry(t, 'failure');
      return true;
    }
    // Connect-only retries are meshlet's default, not a policy: running out of them is not news.
    if (this.policy.retry !== CONNECT_ONLY_RETRY || why === 'budget' || why === 'breaker') {
      this.rec.retryStop = why;
      this.host.metrics?.retryStopped(this.rec.service ?? '', why);
    }
    return false;
  }

  /** Sends a hedge when the first try is slower than the Service's recent percentile. */
  private armHedge(): void {
    const hedge = this.policy.hedge;
    if (hedge === undefined || this.port === undefined) return;
    if (!IDEMPOTENT_METHODS.has(this.head.method) && !this.grpc) return;
    if (this.body !== undefined) return;
    const p = this.port.latencies.percentile(hedge.percentile);
    if (p === undefined) return;
    const delay = Math.max(hedge.minDelayMs, p);
    let sent = 0;
    const fire = (): void => {
      this.hedgeTimer = undefined;
      if (this.done || this.headSent || this.tries.size === 0 || this.waitTimer !== undefined) return;
      const service = this.rec.service ?? '';
      if (this.port === undefined || !admitRetry(this.port, this.breaker) || !this.port.budget(this.policy.budget).withdraw(this.host.now())) {
        this.host.metrics?.hedge(service, 'skipped_budget');
        return;
      }
      sent++;
      this.rec.hedge = 'sent';
      this.host.metrics?.hedge(service, 'sent');
      this.startTry('hedge');
      if (sent < hedge.maxHedges) this.hedgeTimer = this.host.deadlines.add(delay, fire);
    };
    this.hedgeTimer = this.host.deadlines.add(delay, fire);
  }

  /** `t`'s response is the answer: the other tries are cancelled. */
  private win(t: Try, response: UpstreamResponse): void {
    const { rec } = this;
    for (const other of this.tries) if (other !== t) this.dropTry(other, 'cancelled');
    this.clearTimers();
    const latencyMs = performance.now() - t.startedAt;
    const ok = response.failure === undefined && response.status < 500;
    if (ok) this.port?.latencies.record(latencyMs);
    if (t.kind === 'hedge') {
      rec.hedge = 'won';
      this.host.metrics?.hedge(rec.service ?? '', 'won');
    }
    this.record(t);
    t.lease.release({ outcome: ok ? 'success' : 'failure', latencyMs });
    this.forget(t);
    if (response.failure !== undefined) rec.failure = response.failure;
    else delete rec.failure;
    this.respondWith(t, response);
  }

  /** The endpoint of `t` in the record (the try whose answer or failure is reported). */
  private record(t: Try): void {
    const { rec } = this;
    rec.upstream = t.upstream;
    if (t.workload !== undefined) {
      rec.destinationWorkload = t.workload.uid;
      rec.destinationIdentity = t.workload.identity;
    }
    rec.securityPolicy = t.plaintext ? 'plaintext' : 'mutual_tls';
  }

  /** Ends a try that is not the answer. */
  private dropTry(t: Try, outcome: 'failure' | 'cancelled'): void {
    if (!this.tries.has(t)) return;
    if (this.tries.size === 1) this.record(t);
    t.call?.abort();
    t.lease.release({ outcome });
    this.forget(t);
  }

  private forget(t: Try): void {
    if (!this.tries.delete(t)) return;
    this.host.deadlines.cancel(t.timer);
    this.settlePending(t);
    if (t.kind !== 'first' && this.port !== undefined) this.port.retries--;
  }

  private perTryTimedOut(t: Try, ms: number): void {
    if (!this.tries.has(t) || this.done) return;
    this.host.metrics?.timedOut(this.rec.service ?? '', 'per_try');
    t.call?.abort();
    t.call = undefined;
    this.tryFailed(t, new UpstreamError('request_timeout', `no response within the ${ms} ms per-try timeout`, false), { kind: 'timeout' });
  }

  private respondWith(t: Try, response: UpstreamResponse): void {
    const { rec, res } = this;
    let headers: Record<string, string | readonly string[]> = withoutMeshletHeaders(response.headers);
    for (const mod of this.responseMods) headers = applyHeaderModifier(headers, mod);
    if (this.grpc) {
      const status = headers['grpc-status'];
      if (typeof status === 'string') {
        rec.grpcStatus = Number(status);
        // gRPC's Trailers-Only: the status in the head, no body, no trailers.
        if (this.trailersOnly(response.status, headers)) {
          response.body.resume();
          return;
        }
      }
    }
    this.sendHead(response.status, headers);
    const { body } = response;
    body.on('data', (chunk: Buffer) => {
      rec.responseBytes += chunk.length;
    });
    const throttle = this.state.conn.throttle;
    if (throttle !== undefined) throttleStream(body, res as unknown as Writable, throttle);
    body.pipe(res as NodeJS.WritableStream, { end: false });
    // The call stays abortable until its body ended: a client that goes away resets it.
    this.lastCall = t.call;
    response.trailers.then(
      (trailers) => {
        const end = (): void => {
          this.lastCall = undefined;
          if (Object.keys(trailers).length > 0) {
            const status = trailers['grpc-status'];
            if (typeof status === 'string') rec.grpcStatus = Number(status);
            res.addTrailers(trailers as Record<string, string>);
          }
          res.end();
        };
        // Whatever resolves the trailers, the body's last bytes go out first.
        if (body.readableEnded || body.destroyed) end();
        else body.once('end', end);
      },
      (err: Error) => {
        this.lastCall = undefined;
        rec.failure = 'upstream_reset';
        this.host.warnFailure(rec, err.message);
        res.destroy();
      },
    );
  }

  private lastCall: UpstreamCall | undefined;

  /**
   * A gRPC Trailers-Only response over HTTP/2: one HEADERS frame with END_STREAM (what gRPC
   * clients require of it; the compatibility API would send HEADERS, then an empty DATA frame).
   * False over HTTP/1.x, where the caller sends a head and ends.
   */
  private trailersOnly(status: number, headers: Record<string, string | readonly string[]>): boolean {
    const { res } = this;
    if (!('stream' in res) || this.headSent || res.headersSent || res.stream.destroyed) return false;
    this.headSent = true;
    this.rec.status = status;
    res.stream.respond({ ...(headers as OutgoingHttpHeaders), ':status': status }, { endStream: true });
    return true;
  }

  private sendHead(status: number, headers: Record<string, string | readonly string[]>): void {
    const { res } = this;
    if (this.headSent || res.headersSent) return;
    this.headSent = true;
    this.rec.status = status;
    res.writeHead(status, headers as OutgoingHttpHeaders);
  }

  /** Fault injection's answer: the policy's status (gRPC: its grpc-status), flag FI. */
  private answerFault(httpStatus: number, grpcStatus: number): void {
    this.rec.failure = 'fault_abort';
    this.clearTimers();
    if (this.grpc) {
      this.rec.grpcStatus = grpcStatus;
      const headers = { 'content-type': 'application/grpc', 'grpc-status': String(grpcStatus), 'grpc-message': 'fault%20injected' };
      if (!this.trailersOnly(200, headers)) {
        this.sendHead(200, headers);
        this.res.end();
      }
    } else {
      const body = 'fault injected\n';
      this.sendHead(httpStatus, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length), 'x-meshlet-failure': 'fault_abort' });
      this.res.end(body);
    }
    this.req.resume();
  }

  /** Answers with the failure's status (a gRPC caller: 200 with grpc-status), or resets when the head went out. */
  private fail(kind: ErrorKind, reason: string, extra?: Record<string, string>): void {
    const { rec, res } = this;
    rec.failure = kind;
    for (const t of [...this.tries]) this.dropTry(t, 'failure');
    this.clearTimers();
    if (kind !== 'no_route' && kind !== 'backend_not_found' && kind !== 'overflow' && kind !== 'rate_limited') this.host.warnFailure(rec, reason);
    if (this.headSent || res.headersSent) {
      res.destroy();
      return;
    }
    const r = respond(kind);
    if (this.grpc) {
      rec.grpcStatus = r.grpcStatus;
      const headers = { ...extra, 'content-type': 'application/grpc', 'grpc-status': String(r.grpcStatus), 'grpc-message': encodeURIComponent(reason) };
      if (!this.trailersOnly(200, headers)) {
        this.sendHead(200, headers);
        res.end();
      }
    } else {
      const body = `${reason}\n`;
      this.sendHead(r.httpStatus, { ...extra, 'content-type': 'text/plain; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), 'x-meshlet-failure': kind });
      res.end(body);
    }
    // Whatever is left of the request body is read and dropped, so the connection stays usable.
    this.body?.detach();
    this.req.resume();
  }

  private timedOut(ms: number): void {
    this.timer = undefined;
    if (this.done || this.headSent) return;
    this.host.metrics?.timedOut(this.rec.service ?? '', 'request');
    this.fail('request_timeout', `no response within the ${ms} ms request timeout`);
  }

  private clearTimers(): void {
    const { deadlines } = this.host;
    deadlines.cancel(this.timer);
    deadlines.cancel(this.waitTimer);
    deadlines.cancel(this.hedgeTimer);
    this.timer = this.waitTimer = this.hedgeTimer = undefined;
  }

  /** Sends a copy of the request to the mirror's backend, if its share says so; nothing waits for it. */
  private mirror(m: RequestMirror): void {
    if (m.percent < 100 && this.host.random() * 100 >= m.percent) return;
    this.host.mirror(this.index, this.entry, m, this.head, this.state.conn, this.rec.proto, this.body);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    const { rec } = this;
    if (!this.res.writableFinished) {
      // The client went away (or we reset): nothing more to send or read.
      this.lastCall?.abort();
      if (rec.failure === undefined && rec.status === 0) rec.failure = 'downstream_reset';
    }
    for (const t of [...this.tries]) this.dropTry(t, 'cancelled');
    this.body?.detach();
    if (this.counted && this.port !== undefined) this.port.requests--;
    rec.durationMs = performance.now() - rec.startedAt;
    this.host.requestDone(this.state, this.res);
    this.host.observe(rec);
  }
}

/**
 * The response head without the agents' own `meshlet-*` headers (a same-node call's answer
 * carries `meshlet-error` as the tunnel's does; the tunnel path strips them as it reads).
 */
function withoutMeshletHeaders(headers: HeaderMap): HeaderMap {
  let out: HeaderMap | undefined;
  for (const name of MESHLET_HEADERS) {
    if (headers[name] === undefined) continue;
    out ??= { ...headers };
    delete out[name];
  }
  return out ?? headers;
}

/** `grpc-status` of a response head (a Trailers-Only answer), when it has one. */
function headGrpcStatus(headers: HeaderMap): number | undefined {
  const v = headers['grpc-status'];
  return typeof v === 'string' ? Number(v) : undefined;
}

export type { HttpProto };
