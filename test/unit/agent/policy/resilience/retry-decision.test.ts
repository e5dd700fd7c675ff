/**
 * Which failed tries are retried: triggers by result, idempotency past the first byte, gRPC
 * triggers, the replay buffer; the backoff's bounds.
 */
import t from 'tap';
import type { RetryPolicy, RetryTrigger } from '../../../../../src/mesh/resilience.js';
import { backoffMs, retryTrigger, type TryResult } from '../../../../../src/agent/policy/resilience/retry-decision.js';

const policy = (triggers: RetryTrigger[], over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  retries: 2, triggers, statusCodes: [], perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, bufferBytes: 1024, ...over,
});
const GET = { method: 'GET', grpc: false, replayable: true };
const POST = { method: 'POST', grpc: false, replayable: true };
const status = (s: number, grpcStatus?: number): TryResult => ({ kind: 'response', status: s, ...(grpcStatus === undefined ? {} : { grpcStatus }) });

t.test('results and the triggers that retry them', async (t) => {
  t.equal(retryTrigger(policy(['connect-failure']), { kind: 'connect-failure' }, GET), 'connect-failure');
  t.equal(retryTrigger(policy(['connect-failure']), { kind: 'reset' }, GET), undefined, 'a reset is not a connect failure');
  t.equal(retryTrigger(policy(['reset']), { kind: 'reset' }, GET), 'reset');
  t.equal(retryTrigger(policy(['gateway-error']), status(503), GET), 'gateway-error');
  t.equal(retryTrigger(policy(['gateway-error']), status(500), GET), undefined, '500 is not a gateway error');
  t.equal(retryTrigger(policy(['5xx']), status(500), GET), '5xx');
  t.equal(retryTrigger(policy(['5xx']), status(404), GET), undefined);
  t.equal(retryTrigger(policy(['5xx']), { kind: 'timeout' }, GET), '5xx', 'a per-try timeout counts as 5xx');
  t.equal(retryTrigger(policy(['gateway-error']), { kind: 'connect-failure' }, GET), 'gateway-error');
  t.equal(retryTrigger(policy(['retriable-status-codes'], { statusCodes: [409] }), status(409), GET), 'retriable-status-codes');
  t.equal(retryTrigger(policy(['retriable-status-codes'], { statusCodes: [409] }), status(503), GET), undefined);
  t.equal(retryTrigger(policy([]), status(503), GET), undefined, 'no trigger, no retry');
});

t.test('past the first byte only idempotent methods, unless the policy says otherwise', async (t) => {
  t.equal(retryTrigger(policy(['5xx']), status(503), POST), 'method');
  t.equal(retryTrigger(policy(['reset']), { kind: 'reset' }, { ...POST, method: 'PATCH' }), 'method');
  t.equal(retryTrigger(policy(['connect-failure']), { kind: 'connect-failure' }, POST), 'connect-failure', 'nothing was sent: any method');
  t.equal(retryTrigger(policy(['5xx'], { nonIdempotent: true }), status(503), POST), '5xx');
  for (const m of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) t.equal(retryTrigger(policy(['5xx']), status(503), { ...GET, method: m }), '5xx', m);
});

t.test('gRPC statuses retry gRPC calls (POST) on the gRPC triggers only', async (t) => {
  const grpc = { method: 'POST', grpc: true, replayable: true };
  t.equal(retryTrigger(policy(['unavailable']), status(200, 14), grpc), 'unavailable');
  t.equal(retryTrigger(policy(['unavailable']), status(200, 13), grpc), undefined);
  t.equal(retryTrigger(policy(['internal', 'resource-exhausted']), status(200, 8), grpc), 'resource-exhausted');
  t.equal(retryTrigger(policy(['cancelled']), status(200, 1), grpc), 'cancelled');
  t.equal(retryTrigger(policy(['deadline-exceeded']), status(200, 4), grpc), 'deadline-exceeded');
  t.equal(retryTrigger(policy(['5xx']), status(503), grpc), 'method', 'an HTTP trigger does not make a gRPC POST idempotent');
});

t.test('a body that was not kept cannot be replayed', async (t) => {
  t.equal(retryTrigger(policy(['5xx']), status(503), { ...GET, method: 'PUT', replayable: false }), 'body');
  t.equal(retryTrigger(policy(['connect-failure']), { kind: 'connect-failure' }, { ...GET, replayable: false }), 'body');
});

t.test('backoff: full jitter, doubling, capped', async (t) => {
  const p = policy(['5xx']);
  t.equal(backoffMs(p, 1, () => 0.999), 24, 'first retry: under the base');
  t.equal(backoffMs(p, 2, () => 0.999), 49);
  t.equal(backoffMs(p, 10, () => 0.999), 249, 'capped at the maximum');
  t.equal(backoffMs(p, 1000, () => 0.999), 249, 'no overflow for a huge retry count');
  t.equal(backoffMs(p, 3, () => 0), 0);
  t.equal(backoffMs(policy(['5xx'], { backoffBaseMs: 0 }), 3, () => 0.5), 0, 'no base: no wait');
});
