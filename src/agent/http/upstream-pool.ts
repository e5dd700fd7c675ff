/**
 * The destination agent's upstream HTTP client: requests toward workloads on this node, in
 * plaintext, pooled per `address:port`.
 *
 * - HTTP/1.x requests go out as HTTP/1.1 (Envoy does the same for HTTP/1.0 clients) on an
 *   undici `Pool` per target: keep-alive, at most `maxConnectionsPerTarget` sockets, an idle
 *   socket closed after `idleTimeoutMs` (below Node's 5 s server keep-alive, so the agent
 *   closes first in the usual case). undici was chosen over Node's http.Agent by measurement
 *   (docs/l7.md, "Upstream HTTP client"; `scripts/bench-upstream-client.mjs`).
 * - HTTP/2 requests (gRPC) go out as HTTP/2 with prior knowledge (h2c) on Node's http2 client
 *   (`upstream-h2.ts`).
 * - At most `maxTargets` targets are pooled per protocol; beyond, the least recently used one
 *   is closed gracefully (its requests in flight finish) and counted in `evictions`.
 *
 * Errors become {@link UpstreamError}s with an `ErrorKind` of `policy/respond.ts`: a connect
 * failure (`connect_refused`, `connect_timeout`, `connect_failed`) with `beforeRequestSent`;
 * a reset after the request went out `upstream_reset`; no response head within
 * `streamIdleTimeoutMs`, or no body byte for as long, `idle_timeout`.
 */
import type { Logger } from 'pino';
import type { Pool as PoolType } from 'undici';
// The Pool module alone, not the package's index (see `undici-pool.d.ts` beside it).
import Pool from 'undici/lib/dispatcher/pool.js';
import { hostPort } from '../../mesh/address.js';
import { MeshletError } from '../../mesh/errors.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import type { RequestHead, RequestTarget } from './exchange.js';
import { H1Call, type MeteredCall } from './upstream-h1.js';
import { H2Target } from './upstream-h2.js';

export type { MeteredCall } from './upstream-h1.js';

/**
 * Sockets per HTTP/1.1 target at most: one request per socket (no pipelining), so this bounds
 * the concurrency toward one workload port; further requests queue in the pool. 256 covers the
 * 64-connection benchmark load four times over while keeping a fan-in burst from exhausting
 * the workload's accept backlog.
 */
export const DEFAULT_MAX_CONNECTIONS_PER_TARGET = 256;

/** h2c sessions per target at most (each carries up to {@link DEFAULT_MAX_STREAMS_PER_SESSION} streams). */
export const DEFAULT_MAX_SESSIONS_PER_TARGET = 4;

/** Streams per h2c session before a sibling is opened (the peer's own limit applies if lower). */
export const DEFAULT_MAX_STREAMS_PER_SESSION = 100;

/**
 * An idle keep-alive socket or session is closed after this long. Below Node's server
 * keep-alive timeout (5 s) so the agent, not the workload, usually closes an idle socket; a
 * `Keep-Alive: timeout=N` answer from the workload lowers it further (undici honours it).
 */
export const DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS = 4_000;

/** A workload that has not accepted a connection by then: `connect_timeout` (as `InboundProxy`). */
export const DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS = 10_000;

/**
 * No response head, or no response body byte, for this long: `idle_timeout`. Envoy's default
 * stream idle timeout (5 minutes); the route's request timeout (Gateway API) is the source
 * side's and is usually much shorter.
 */
export const DEFAULT_STREAM_IDLE_TIMEOUT_MS = 300_000;

/**
 * Targets pooled per protocol at most. A node runs far fewer workload ports; the bound keeps
 * a peer that spreads requests over many ports from growing the pools without end (each pool
 * holds its idle sockets until their idle timeout).
 */
export const DEFAULT_MAX_TARGETS = 1_024;

/** Options of {@link HttpUpstreams}. */
export interface HttpUpstreamsOptions {
  readonly logger: Logger;
  readonly maxConnectionsPerTarget?: number;
  readonly maxSessionsPerTarget?: number;
  readonly maxStreamsPerSession?: number;
  readonly idleTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly streamIdleTimeoutMs?: number;
  readonly maxTargets?: number;
}

/** Options of one {@link HttpUpstreams.call}. */
export interface UpstreamCallOptions {
  /**
   * The request has no body (HTTP/2 END_STREAM on its HEADERS, or an HTTP/1 request with
   * neither Content-Length nor Transfer-Encoding): sent without one, and an idempotent
   * request may then be retried once after a stale keep-alive socket's reset.
   */
  readonly endStream?: boolean;
}

/** Keep-alive pools toward the workloads of this node. */
export class HttpUpstreams {
  private readonly h1 = new Map<string, PoolType>();
  private readonly h2 = new Map<string, H2Target>();
  private readonly opts: Required<Omit<HttpUpstreamsOptions, 'logger'>>;
  private readonly evicted: ThrottledLog;
  private closed = false;
  /** Pools closed because {@link DEFAULT_MAX_TARGETS} was reached. */
  evictions = 0;

  constructor(opts: HttpUpstreamsOptions) {
    this.opts = {
      maxConnectionsPerTarget: opts.maxConnectionsPerTarget ?? DEFAULT_MAX_CONNECTIONS_PER_TARGET,
      maxSessionsPerTarget: opts.maxSessionsPerTarget ?? DEFAULT_MAX_SESSIONS_PER_TARGET,
      maxStreamsPerSession: opts.maxStreamsPerSession ?? DEFAULT_MAX_STREAMS_PER_SESSION,
      idleTimeoutMs: opts.idleTimeoutMs ?? DEFAULT_UPSTREAM_IDLE_TIMEOUT_MS,
      connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS,
      streamIdleTimeoutMs: opts.streamIdleTimeoutMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS,
      maxTargets: opts.maxTargets ?? DEFAULT_MAX_TARGETS,
    };
    this.evicted = new ThrottledLog(opts.logger, 'upstream pool evicted (too many targets; throttled: one line per interval)');
  }

  /** Targets with a pool (HTTP/1.1 and h2c). */
  get targetCount(): number {
    return this.h1.size + this.h2.size;
  }

  /**
   * Sends `head` to `target`: HTTP/2 (h2c) when the application spoke HTTP/2, else HTTP/1.1.
   * `Host` / `:authority` is `head.authority`. The caller writes the request body into
   * `body` and ends it.
   */
  call(target: RequestTarget, head: RequestHead, opts: UpstreamCallOptions = {}): MeteredCall {
    const key = hostPort(target.address, target.port);
    const endStream = opts.endStream === true;
    if (head.proto === 'HTTP/2') return this.h2Target(key).call(head, endStream);
    return new H1Call(this.h1Pool(key), `http://${key}`, head, endStream);
  }

  private h1Pool(key: string): PoolType {
    let pool = this.h1.get(key);
    if (pool !== undefined) {
      // Most recently used last: the first entry is the one to evict.
      this.h1.delete(key);
      this.h1.set(key, pool);
      return pool;
    }
    this.checkOpen();
    const o = this.opts;
    pool = new Pool(`http://${key}`, {
      connections: o.maxConnectionsPerTarget,
      pipelining: 1,
      keepAliveTimeout: o.idleTimeoutMs,
      keepAliveMaxTimeout: o.idleTimeoutMs,
      connectTimeout: o.connectTimeoutMs,
      headersTimeout: o.streamIdleTimeoutMs,
      bodyTimeout: o.streamIdleTimeoutMs,
      strictContentLength: true,
    });
    this.h1.set(key, pool);
    this.evict(this.h1, (p) => void p.close().catch(noop));
    return pool;
  }

  private h2Target(key: string): H2Target {
    let target = this.h2.get(key);
    if (target !== undefined) {
      this.h2.delete(key);
      this.h2.set(key, target);
      return target;
    }
    this.checkOpen();
    const o = this.opts;
    target = new H2Target(key, {
      connectTimeoutMs: o.connectTimeoutMs,
      idleTimeoutMs: o.idleTimeoutMs,
      maxSessions: o.maxSessionsPerTarget,
      maxStreamsPerSession: o.maxStreamsPerSession,
    });
    this.h2.set(key, target);
    this.evict(this.h2, (t) => t.close());
    return target;
  }

  private evict<T>(map: Map<string, T>, close: (v: T) => void): void {
    while (map.size > this.opts.maxTargets) {
      const [oldest, value] = map.entries().next().value as [string, T];
      map.delete(oldest);
      close(value);
      this.evictions += 1;
      this.evicted.warn({ target: oldest, maxTargets: this.opts.maxTargets, evictions: this.evictions });
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'upstream HTTP pools are closed');
  }

  /** Stops pooling; requests in flight finish. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    const pools = [...this.h1.values()];
    this.h1.clear();
    for (const t of this.h2.values()) t.close();
    this.h2.clear();
    await Promise.all(pools.map((p) => p.close().catch(noop)));
  }

  /** Tears every connection down now. Idempotent. */
  destroy(): void {
    this.closed = true;
    for (const p of this.h1.values()) void p.destroy().catch(noop);
    this.h1.clear();
    for (const t of this.h2.values()) t.destroy();
    this.h2.clear();
  }
}

function noop(): void {}
