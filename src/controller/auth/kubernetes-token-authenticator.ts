/**
 * Kubernetes agents prove who they are with their pod's projected ServiceAccount token
 * (audience `meshlet`). The controller has the API server review it (TokenReview), requires
 * the agent's ServiceAccount, and takes the node from the token itself: bound tokens carry the
 * node of the pod they were issued to (Kubernetes 1.30+), so an agent can only ever act for
 * the node it runs on, whatever it claims.
 */
import type { Logger } from 'pino';
import { isDnsSubdomain } from '../../mesh/objects-checks.js';
import type { AgentAuthenticator, AgentPrincipal } from '../contracts.js';
import { bearerToken, tokenDigest, unauthenticated } from './bearer-token.js';
import { ReviewCache } from './review-cache.js';
import type { TokenReviewer, TokenReviewResult } from './token-reviewer.js';

/** The audience agents request for their projected token, and the controller reviews for. */
export const MESHLET_TOKEN_AUDIENCE = 'meshlet';

/** Where a bound ServiceAccount token names its pod's node (`status.user.extra`). */
export const NODE_NAME_EXTRA = 'authentication.kubernetes.io/node-name';

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
  /** Clock (ms), for tests. */
  readonly now?: (() => number) | undefined;
}

/** Authenticates agents by Kubernetes ServiceAccount token. */
export class KubernetesTokenAuthenticator implements AgentAuthenticator {
  private readonly reviewer: TokenReviewer;
  private readonly logger: Logger;
  private readonly expectedUser: string;
  private readonly audience: string;
  private readonly cache: ReviewCache;
  /** Reviews under way, by token hash: an agent's burst of calls at start costs one review. */
  private readonly inflight = new Map<string, Promise<string>>();
  private readonly now: () => number;
  /** Reviews made (cache misses), for metrics and tests. */
  reviews = 0;

  constructor(opts: KubernetesTokenAuthenticatorOptions) {
    this.reviewer = opts.reviewer;
    this.logger = opts.logger.child({ component: 'kubernetes-tokens' });
    this.expectedUser = `system:serviceaccount:${opts.agentNamespace ?? 'meshlet-system'}:${opts.agentServiceAccount ?? 'meshlet-agent'}`;
    this.audience = opts.audience ?? MESHLET_TOKEN_AUDIENCE;
    this.now = opts.now ?? Date.now;
    this.cache = new ReviewCache({ ttlMs: opts.cacheTtlMs ?? 60_000, maxEntries: opts.cacheMaxEntries ?? 4096 });
  }

  /** See {@link AgentAuthenticator.authenticate}. */
  async authenticate(credentials: { readonly authorization?: string; readonly node?: string }): Promise<AgentPrincipal> {
    const token = bearerToken(credentials.authorization);
    const key = tokenDigest(token).toString('hex');
    const node = this.cache.get(key, this.now()) ?? (await this.reviewOnce(key, token, credentials.node));
    if (credentials.node !== undefined && credentials.node !== '' && credentials.node !== node) {
      this.refuse(credentials.node, `the token was issued on node ${node}, the agent says it is ${JSON.stringify(credentials.node.slice(0, 253))}`);
    }
    return { node, method: 'kubernetes-token' };
  }

  /** One review per token at a time; a positive one is cached. */
  private async reviewOnce(key: string, token: string, claimed: string | undefined): Promise<string> {
    let pending = this.inflight.get(key);
    if (pending === undefined) {
      pending = this.review(token, claimed).then((node) => {
        this.cache.set(key, node, this.now(), tokenExpiry(token));
        return node;
      });
      this.inflight.set(key, pending);
      const forget = (): void => void this.inflight.delete(key);
      pending.then(forget, forget);
    }
    return pending;
  }

  /** Reviews the token and returns its node; throws MESHLET_ERR_UNAUTHENTICATED. */
  private async review(token: string, claimed: string | undefined): Promise<string> {
    this.reviews++;
    let result: TokenReviewResult;
    try {
      result = await this.reviewer.review(token, [this.audience]);
    } catch (err) {
      this.logger.warn({ node: claimed?.slice(0, 253), err: (err as Error).message }, 'kubernetes token not checked');
      throw err;
    }
    if (!result.authenticated) {
      this.refuse(claimed, `TokenReview did not authenticate the token${result.error === undefined ? '' : `: ${result.error}`}`);
    }
    if (result.audiences !== undefined && !result.audiences.includes(this.audience)) {
      this.refuse(claimed, `the token is not for audience ${this.audience}: project it with audience "${this.audience}"`);
    }
    if (result.username !== this.expectedUser) {
      this.refuse(claimed, `the token belongs to ${result.username ?? 'an unnamed user'}, not the agent's ServiceAccount (${this.expectedUser})`);
    }
    const node = result.extra[NODE_NAME_EXTRA]?.[0];
    if (node === undefined || node === '') {
      this.refuse(claimed, `the token names no node (${NODE_NAME_EXTRA}): use a projected ServiceAccount token of the agent pod, on Kubernetes 1.30 or later`);
    }
    if (!isDnsSubdomain(node)) this.refuse(claimed, `the token's node name ${JSON.stringify(node.slice(0, 253))} is not a valid node name`);
    return node;
  }

  private refuse(node: string | undefined, why: string): never {
    // A claimed node name is the caller's: cut to the longest valid node name before logging it.
    this.logger.warn({ node: node?.slice(0, 253), why }, 'kubernetes token refused');
    throw unauthenticated(why);
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
