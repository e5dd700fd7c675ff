/**
 * Whether a failed try is worth another, and how long to wait first. Pure.
 *
 * A try ends in one of: no connection or stream at all (`connect-failure`: nothing was sent, so
 * any request may go elsewhere), a reset or a per-try timeout before the response head, or a
 * response head (HTTP status, and for gRPC a `grpc-status` in it). Past the first byte only
 * idempotent methods are retried (unless the policy says `nonIdempotent`), gRPC calls on the
 * gRPC triggers, and only when the body is still there to replay.
 */
import { GRPC_TRIGGER_STATUS, IDEMPOTENT_METHODS, type RetryPolicy, type RetryTrigger } from '../../../mesh/resilience.js';

/** How one try ended. */
export type TryResult =
  | { readonly kind: 'connect-failure' }
  | { readonly kind: 'reset' }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'response'; readonly status: number; readonly grpcStatus?: number | undefined };

/** The request, as far as retrying it is concerned. */
export interface RetryRequest {
  readonly method: string;
  readonly grpc: boolean;
  /** The body can be sent again (none, or all of it kept). */
  readonly replayable: boolean;
}

/** Why a retryable result is not retried for this request. */
export type NotRetried = 'method' | 'body';

const GATEWAY_STATUSES: ReadonlySet<number> = new Set([502, 503, 504]);

/**
 * The trigger under which `result` is retried by `policy`, `undefined` when the policy does not
 * retry it at all, or why this request may not be (`method`, `body`).
 */
export function retryTrigger(policy: RetryPolicy, result: TryResult, req: RetryRequest): RetryTrigger | NotRetried | undefined {
  const trigger = matchTrigger(policy, result);
  if (trigger === undefined) return undefined;
  if (result.kind === 'connect-failure') return req.replayable ? trigger : 'body';
  const grpcTrigger = req.grpc && GRPC_TRIGGER_STATUS[trigger] !== undefined;
  if (!grpcTrigger && !policy.nonIdempotent && !IDEMPOTENT_METHODS.has(req.method)) return 'method';
  return req.replayable ? trigger : 'body';
}

function matchTrigger(policy: RetryPolicy, result: TryResult): RetryTrigger | undefined {
  const has = (t: RetryTrigger): boolean => policy.triggers.includes(t);
  switch (result.kind) {
    case 'connect-failure':
      return has('connect-failure') ? 'connect-failure' : has('gateway-error') ? 'gateway-error' : has('5xx') ? '5xx' : undefined;
    case 'reset':
      return has('reset') ? 'reset' : has('gateway-error') ? 'gateway-error' : has('5xx') ? '5xx' : undefined;
    case 'timeout':
      return has('gateway-error') ? 'gateway-error' : has('5xx') ? '5xx' : has('reset') ? 'reset' : undefined;
    case 'response': {
      const { status, grpcStatus } = result;
      if (grpcStatus !== undefined) {
        for (const t of policy.triggers) if (GRPC_TRIGGER_STATUS[t] === grpcStatus) return t;
      }
      if (has('retriable-status-codes') && policy.statusCodes.includes(status)) return 'retriable-status-codes';
      if (GATEWAY_STATUSES.has(status) && has('gateway-error')) return 'gateway-error';
      if (status >= 500 && has('5xx')) return '5xx';
      return undefined;
    }
  }
}

/**
 * Exponential backoff with full jitter (what Envoy does): uniform in
 * [0, min(max, base x 2^(retry-1))]. `retry` counts from 1.
 */
export function backoffMs(policy: RetryPolicy, retry: number, random: () => number): number {
  if (policy.backoffBaseMs <= 0) return 0;
  const ceiling = Math.min(policy.backoffMaxMs, policy.backoffBaseMs * 2 ** Math.min(30, retry - 1));
  return Math.floor(random() * ceiling);
}
