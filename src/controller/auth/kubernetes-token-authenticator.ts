/**
 * Kubernetes agents prove who they are with their pod's projected ServiceAccount token
 * (audience `meshlet`). The controller has the API server review it (TokenReview), requires
 * the agent's ServiceAccount, and takes the node from the token itself: bound tokens carry the
 * node of the pod they were issued to (Kubernetes 1.30+), so an agent can only ever act for
 * the node it runs on, whatever it claims.
 */
import type { Logger } from 'pino';
import { isMeshletError, MeshletError } from '../../mesh/errors.js';
import { isDnsSubdomain } from '../../mesh/validate/formats.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import type { AgentAuthenticator, AgentPrincipal } from '../contracts.js';
import { bearerToken, tokenDigest, unauthenticated } from './bearer-token.js';
import { isStructuralJwt } from './jwt-shape.js';
import { ReviewCache } from './review-cache.js';
import { TokenBucket } from './token-bucket.js';
import type { TokenReviewer, TokenReviewResult } from './token-reviewer.js';

/** The audience agents request for their projected token, and the controller reviews for. */
export const MESHLET_TOKEN_AUDIENCE = 'meshlet';

/** Where a bound ServiceAccount token names its pod's node (`status.user.extra`). */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

/**
 * Limits on the TokenReviews unauthenticated callers can cause.
 * Every caller of :15012 can send any JWT-shaped string; without these, each one cost a review
 * (3,000 random tokens made 3,000 reviews in 1.7 s).
 */
export interface ReviewLimits {
  readonly negativeTtlMs: number;
  readonly negativeMaxEntries: number;
  readonly maxConcurrentReviews: number;
  readonly reviewsPerSecond: number;
  readonly reviewBurst: number;
}

/** Default {@link ReviewLimits}, with the reason for each. */
export const REVIEW_LIMITS: ReviewLimits = Object.freeze({
  /**
   * A refused token is refused again from memory for 10 s: long enough that a caller resending
   * one token costs one review per 10 s, short enough that a token which just became valid (a
   * pod being bound) is not locked out for long.
   */
  negativeTtlMs: 10_000,
  /** Refusals remembered at most; kept apart from the positive cache so junk never evicts agents. */
  negativeMaxEntries: 4096,
  /**
   * Reviews in flight at once: the API server answers in milliseconds, so 16 covers a whole
   * cluster of agents reconnecting while bounding the sockets and memory a flood can pin.
   */
  maxConcurrentReviews: 16,
  /**
   * Reviews per second, sustained, with a burst: 50/s re-authenticates 5,000 agents in under two
   * minutes (each retries with backoff), and keeps the controller a polite API client (its
   * default client QPS is of that order) whatever callers send.
   */
  reviewsPerSecond: 50,
  reviewBurst: 100,
});

/** Why a credential was refused without being accepted, for metrics (bounded set). */
export type TokenRefusal = 'malformed' | 'invalid' | 'cached_invalid' | 'rate_limited' | 'busy' | 'review_failed' | 'node_mismatch';

/** What the authenticator did since it started. */
export interface KubernetesAuthCounters {
  /** TokenReviews sent to the API server. */
  readonly reviews: number;
  readonly refused: Readonly<Record<TokenRefusal, number>>;
}

/** Options of {@link KubernetesTokenAuthenticator}. */
export interface KubernetesTokenAuthenticatorOptions {
  readonly reviewer: TokenReviewer;
  readonly logger: Logger;
  /** The agent DaemonSet's namespace. Default `meshlet-system`. */
  readonly agentNamespace?: string | undefined;
  /** The agent DaemonSet's ServiceAccount. Default `meshlet-agent`. */
  readonly agentServiceAccount?: string | undefined;
  /** Default `meshlet`. */
  readonly audience?: string | undefined;
  /**
   * How long a positive review is reused. Agents call on every CSR and stream (re)connect;
   * 60 s saves the round trips and bounds how long a deleted pod's token keeps working here.
   */
  readonly cacheTtlMs?: number | undefined;
  /** Reviews kept at most (one or two per node). Default 4096. */
  readonly cacheMaxEntries?: number | undefined;
  /** Limits on reviews (defaults: {@link REVIEW_LIMITS}). */
  readonly limits?: Partial<ReviewLimits> | undefined;
  /** Clock (ms), for tests. */
  readonly now?: (() => number) | undefined;
}

/** A review's verdict: the token's node, or why it is refused. */
type Verdict = { readonly node: string } | { readonly refused: string };

/** Authenticates agents by Kubernetes ServiceAccount token. */
export class KubernetesTokenAuthenticator implements AgentAuthenticator {
  private readonly reviewer: TokenReviewer;
  private readonly logger: Logger;
  private readonly expectedUser: string;
  private readonly audience: string;
  private readonly cache: ReviewCache;
  private readonly refusedCache: ReviewCache<string>;
  private readonly limits: ReviewLimits;
  private readonly bucket: TokenBucket;
  /** Reviews under way, by token hash: an agent's burst of calls at start costs one review. */
  private readonly inflight = new Map<string, Promise<Verdict>>();
  private readonly now: () => number;
  private readonly refusedLog: ThrottledLog;
  private readonly limitedLog: ThrottledLog;
  private readonly failedLog: ThrottledLog;
  private readonly refusals: Record<TokenRefusal, number> = {
    malformed: 0, invalid: 0, cached_invalid: 0, rate_limited: 0, busy: 0, review_failed: 0, node_mismatch: 0,
  };
  /** Reviews made (cache misses), for metrics and tests. */
  reviews = 0;

  constructor(opts: KubernetesTokenAuthenticatorOptions) {
    this.reviewer = opts.reviewer;
    this.logger = opts.logger.child({ component: 'kubernetes-tokens' });
    this.expectedUser = `system:serviceaccount:${opts.agentNamespace ?? 'meshlet-system'}:${opts.agentServiceAccount ?? 'meshlet-agent'}`;
    this.audience = opts.audience ?? MESHLET_TOKEN_AUDIENCE;
    this.now = opts.now ?? Date.now;
    this.cache = new ReviewCache({ ttlMs: opts.cacheTtlMs ?? 60_000, maxEntries: opts.cacheMaxEntries ?? 4096 });
    this.limits = Object.freeze({ ...REVIEW_LIMITS, ...opts.limits });
    this.refusedCache = new ReviewCache<string>({ ttlMs: this.limits.negativeTtlMs, maxEntries: this.limits.negativeMaxEntries });
    this.bucket = new TokenBucket({ ratePerSecond: this.limits.reviewsPerSecond, burst: this.limits.reviewBurst });
    // Anyone can make these happen at will: one line a minute each, with the count in between.
    this.refusedLog = new ThrottledLog(this.logger, 'kubernetes token refused');
    this.limitedLog = new ThrottledLog(this.logger, 'kubernetes token not reviewed: review limit reached');
    this.failedLog = new ThrottledLog(this.logger, 'kubernetes token not checked');
  }

  /** See {@link AgentAuthenticator.authenticate}. */
  async authenticate(credentials: { readonly authorization?: string; readonly node?: string }): Promise<AgentPrincipal> {
    const token = bearerToken(credentials.authorization);
    if (!isStructuralJwt(token)) {
      // Before any hashing, caching or review: junk costs a regular expression and a JSON parse.
      throw this.refuse('malformed', credentials.node, 'the bearer token is not a JWT (three base64url parts, a JSON header naming its algorithm, JSON claims)');
    }
    const key = tokenDigest(token).toString('hex');
    const now = this.now();
    let node = this.cache.get(key, now);
    if (node === undefined) {
      const known = this.refusedCache.get(key, now);
      if (known !== undefined) throw this.refuse('cached_invalid', credentials.node, known);
      const verdict = await this.reviewOnce(key, token, credentials.node);
      if ('refused' in verdict) throw this.refuse('invalid', credentials.node, verdict.refused);
      node = verdict.node;
    }
    if (credentials.node !== undefined && credentials.node !== '' && credentials.node !== node) {
      throw this.refuse('node_mismatch', credentials.node, `the token was issued on node ${node}, the agent says it is ${JSON.stringify(credentials.node.slice(0, 253))}`);
    }
    return { node, method: 'kubernetes-token' };
  }

  /** Counts since start, for metrics. */
  counters(): KubernetesAuthCounters {
    return { reviews: this.reviews, refused: { ...this.refusals } };
  }

  /**
   * One review per token at a time, within the concurrency and rate limits (else
   * MESHLET_ERR_RATE_LIMITED, reviewing nothing); the verdict is cached either way.
   */
  private reviewOnce(key: string, token: string, claimed: string | undefined): Promise<Verdict> {
    const shared = this.inflight.get(key);
    if (shared !== undefined) return shared;
    if (this.inflight.size >= this.limits.maxConcurrentReviews) {
      throw this.limited('busy', claimed, `${this.limits.maxConcurrentReviews} token reviews are already under way; retry later`);
    }
    if (!this.bucket.take(this.now())) {
      throw this.limited('rate_limited', claimed, `more than ${this.limits.reviewsPerSecond} token reviews a second; retry later`);
    }
    const pending = this.review(token, claimed).then((verdict) => {
      if ('node' in verdict) this.cache.set(key, verdict.node, this.now(), tokenExpiry(token));
      else this.refusedCache.set(key, verdict.refused, this.now(), tokenExpiry(token));
      return verdict;
    });
    this.inflight.set(key, pending);
    const forget = (): void => void this.inflight.delete(key);
    pending.then(forget, forget);
    return pending;
  }

  /**
   * Reviews the token: its node, or why it is refused. Throws MESHLET_ERR_AUTH_UNAVAILABLE when
   * the review could not be made (that says nothing about the token, so nothing is cached).
   */
  private async review(token: string, claimed: string | undefined): Promise<Verdict> {
    this.reviews++;
    let result: TokenReviewResult;
    try {
      result = await this.reviewer.review(token, [this.audience]);
    } catch (err) {
      this.refusals.review_failed++;
      this.failedLog.warn({ node: claimed?.slice(0, 253), err: (err as Error).message });
      if (isMeshletError(err)) throw err;
      throw new MeshletError('MESHLET_ERR_AUTH_UNAVAILABLE', `TokenReview failed, the token could not be checked: ${(err as Error).message.split(token).join('<token>')}`, { cause: err });
    }
    if (!result.authenticated) return { refused: `TokenReview did not authenticate the token${result.error === undefined ? '' : `: ${result.error}`}` };
    if (result.audiences !== undefined && !result.audiences.includes(this.audience)) {
      return { refused: `the token is not for audience ${this.audience}: project it with audience "${this.audience}"` };
    }
    if (result.username !== this.expectedUser) {
      return { refused: `the token belongs to ${result.username ?? 'an unnamed user'}, not the agent's ServiceAccount (${this.expectedUser})` };
    }
    const node = result.extra[NODE_NAME_EXTRA]?.[0];
    if (node === undefined || node === '') {
      return { refused: `the token names no node (${NODE_NAME_EXTRA}): use a projected ServiceAccount token of the agent pod, on Kubernetes 1.30 or later` };
    }
    if (!isDnsSubdomain(node)) return { refused: `the token's node name ${JSON.stringify(node.slice(0, 253))} is not a valid node name` };
    return { node };
  }

  private refuse(reason: TokenRefusal, node: string | undefined, why: string): MeshletError {
    this.refusals[reason]++;
    // A claimed node name is the caller's: cut to the longest valid node name before logging it.
    this.refusedLog.warn({ node: node?.slice(0, 253), reason, why });
    return unauthenticated(why);
  }

  private limited(reason: 'busy' | 'rate_limited', node: string | undefined, why: string): MeshletError {
    this.refusals[reason]++;
    this.limitedLog.warn({ node: node?.slice(0, 253), reason, why });
    return new MeshletError('MESHLET_ERR_RATE_LIMITED', why);
  }
}

/**
 * The `exp` claim of a JWT, in ms, read without verifying anything: it only shortens how long
 * a review is cached (an expiring token must not stay accepted for a whole cache TTL).
 */
export function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}
