/**
 * TokenReview: asking the Kubernetes API server whether a ServiceAccount token is genuine and
 * whose it is. Behind a small interface so the authenticator is tested with a fake.
 */
import { AuthenticationV1Api, type KubeConfig, type V1TokenReview } from '@kubernetes/client-node';
import { reasonOf, statusOf, withTimeout, type KubernetesApiCall } from '../../ca/kubernetes-api.js';
import { MeshletError } from '../../mesh/errors.js';

/** What the API server said about a token. */
export interface TokenReviewResult {
  readonly authenticated: boolean;
  /** `system:serviceaccount:<namespace>:<name>` for a ServiceAccount token. */
  readonly username?: string;
  /** `status.user.extra`: bound tokens carry the pod and node they were issued for. */
  readonly extra: Readonly<Record<string, readonly string[]>>;
  /** The requested audiences the token is valid for (absent when the server did not say). */
  readonly audiences?: readonly string[];
  /** The API server's reason for not authenticating. */
  readonly error?: string;
}

/** Reviews a token for the given audiences. */
export interface TokenReviewer {
  /**
   * @throws MeshletError MESHLET_ERR_AUTH_UNAVAILABLE when the review could not be made (API
   *   server down, RBAC denial, timeout); the message never contains the token
   */
  review(token: string, audiences: readonly string[]): Promise<TokenReviewResult>;
}

/** The Kubernetes API calls the reviewer makes (the RBAC manifests are derived from them). */
export const TOKEN_REVIEW_API_CALLS: readonly KubernetesApiCall[] = [
  {
    group: 'authentication.k8s.io',
    version: 'v1',
    resource: 'tokenreviews',
    verbs: ['create'],
    scope: 'cluster',
    why: "check agents' ServiceAccount tokens",
  },
];

/** Options of {@link KubernetesTokenReviewer}. */
export interface KubernetesTokenReviewerOptions {
  readonly kubeConfig: KubeConfig;
  /** Per review; an agent's connection attempt waits this long at most. Default 5 s. */
  readonly timeoutMs?: number | undefined;
}

/** {@link TokenReviewer} through `@kubernetes/client-node` (`POST .../v1/tokenreviews`). */
export class KubernetesTokenReviewer implements TokenReviewer {
  private readonly api: AuthenticationV1Api;
  private readonly timeoutMs: number;

  constructor(opts: KubernetesTokenReviewerOptions) {
    this.api = opts.kubeConfig.makeApiClient(AuthenticationV1Api);
    this.timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** See {@link TokenReviewer.review}. */
  async review(token: string, audiences: readonly string[]): Promise<TokenReviewResult> {
    const body: V1TokenReview = {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenReview',
      spec: { token, audiences: [...audiences] },
    };
    let answer: V1TokenReview;
    try {
      answer = await withTimeout(this.api.createTokenReview({ body }), this.timeoutMs);
    } catch (err) {
      const status = statusOf(err);
      const why = status === undefined ? (err as Error).message : `HTTP ${status}${reasonOf(err)}`;
      // Belt and braces: no client error is expected to quote the request, but none may leak it.
      throw new MeshletError('MESHLET_ERR_AUTH_UNAVAILABLE', `TokenReview failed, the token could not be checked: ${why.split(token).join('<token>')}`, { cause: err });
    }
    const status = answer.status ?? {};
    const extra: Record<string, readonly string[]> = {};
    for (const [key, values] of Object.entries(status.user?.extra ?? {})) {
      if (Array.isArray(values)) extra[key] = values.filter((v): v is string => typeof v === 'string');
    }
    return {
      authenticated: status.authenticated === true,
      extra,
      ...(typeof status.user?.username === 'string' ? { username: status.user.username } : {}),
      ...(Array.isArray(status.audiences) ? { audiences: status.audiences } : {}),
      ...(typeof status.error === 'string' && status.error !== '' ? { error: status.error.split(token).join('<token>') } : {}),
    };
  }
}
