/**
 * Kubernetes API calls: how meshlet declares each one next to the code that makes it (so the
 * RBAC manifests are derived from what the code does rather than kept in step by hand), and
 * how it reads client-node's errors.
 */

/** One kind of request to the Kubernetes API, as an RBAC rule sees it. */
export interface KubernetesApiCall {
  /** API group; '' is the core group. */
  readonly group: string;
  readonly version: string;
  /** Resource, plural (`secrets`, `tokenreviews`). */
  readonly resource: string;
  readonly verbs: readonly string[];
  /** `cluster`: a ClusterRole; `namespace`: a Role in the controller's namespace. */
  readonly scope: 'cluster' | 'namespace';
  /** When set, the rule may be limited to these object names (RBAC cannot do that for `create`). */
  readonly resourceNames?: readonly string[];
  /** Why meshlet makes the call, for the generated manifest's comments. */
  readonly why: string;
}

/** The HTTP status of a client-node ApiException; undefined for a network error. */
export function statusOf(err: unknown): number | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

/** `: <Status.message>` from an ApiException's body, when it has one (RBAC denials say who and what). */
export function reasonOf(err: unknown): string {
  const body = (err as { body?: unknown } | null)?.body;
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return '';
    }
  }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === 'string' ? `: ${message.slice(0, 300)}` : '';
}

/** Raised by {@link withTimeout}. */
export class ApiTimeoutError extends Error {
  constructor(ms: number) {
    super(`no answer within ${ms} ms`);
    this.name = 'ApiTimeoutError';
  }
}

/**
 * Bounds one API request: client-node sets no timeout, and a hung API server must not hang
 * the caller. The request itself is not cancelled; its late answer is ignored.
 */
export async function withTimeout<T>(request: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ApiTimeoutError(ms)), ms);
  });
  try {
    return await Promise.race([request, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
