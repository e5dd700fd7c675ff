/**
 * TrafficPolicy resilience sections (issue 13): the full example compiles to the shapes of
 * `resilience.ts`, an empty section compiles to its defaults, and every bad value or limit is
 * refused naming file, object and field (huge counts, negatives, NaN, strings, absurd durations).
 */
import t from 'tap';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import {
  DEFAULT_ADAPTIVE_CONCURRENCY, DEFAULT_CIRCUIT_BREAKER, DEFAULT_PASSIVE_HEALTH, DEFAULT_RETRY_BUDGET, type ResiliencePolicy,
} from '../../../src/mesh/resilience.js';
import { FULL_COMPILED, FULL_SPEC } from './traffic-policy-fixture.js';
import type { TrafficPolicyObject } from '../../../src/mesh/types.js';
import { thrown } from './fixture.js';

const HEAD = `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: p, namespace: demo}
spec:
`;
const SERVICE = '  targetRefs: [{group: "", kind: Service, name: web}]\n';

function policyOf(spec: string, targets = SERVICE): TrafficPolicyObject {
  return parseObjects(HEAD + targets + spec, 'p.yaml')[0] as TrafficPolicyObject;
}

function problems(spec: string, targets = SERVICE): string[] {
  const err = thrown(() => parseObjects(HEAD + targets + spec, 'p.yaml'));
  if (!isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID')) throw new Error(`expected MESHLET_ERR_OBJECT_INVALID, got ${String(err)}`);
  return [...err.details];
}

const LB = { balancer: { algorithm: 'least-request' }, hashKeys: [], preferLocalZone: false };

t.test('every section of the full example compiles', async (t) => {
  const p = policyOf(FULL_SPEC);
  t.same(p.policy, { policy: 'demo/p', ...LB, ...FULL_COMPILED });
});

t.test('an empty section compiles to its defaults', async (t) => {
  const cases: [string, string, Partial<ResiliencePolicy>][] = [
    ['retry', '  retry: {}\n', {
      retry: { retries: 2, triggers: ['connect-failure', 'unavailable', 'cancelled', 'retriable-status-codes'], statusCodes: [503], perTryTimeoutMs: 0, backoffBaseMs: 25, backoffMaxMs: 250, nonIdempotent: false, bufferBytes: 65536 },
      retryBudget: DEFAULT_RETRY_BUDGET,
    }],
    ['hedging alone still gets a budget', '  hedging: {}\n', { hedge: { percentile: 95, minDelayMs: 5, maxHedges: 1 }, retryBudget: DEFAULT_RETRY_BUDGET }],
    ['circuitBreaker', '  circuitBreaker: {}\n', { circuitBreaker: DEFAULT_CIRCUIT_BREAKER }],
    ['healthCheck.passive', '  healthCheck: {passive: {}}\n', { passiveHealth: DEFAULT_PASSIVE_HEALTH }],
    ['successRate', '  healthCheck: {passive: {successRate: {}}}\n', { passiveHealth: { ...DEFAULT_PASSIVE_HEALTH, successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9 } } }],
    ['adaptiveConcurrency', '  adaptiveConcurrency: {}\n', { adaptiveConcurrency: DEFAULT_ADAPTIVE_CONCURRENCY }],
    ['timeout', '  timeout: {}\n', { timeout: {} }],
    ['backoff cap is 10x a written base', '  retry: {perRetry: {backOff: {baseInterval: 100ms}}}\n', {}],
    ['abort with only a gRPC status', '  faultInjection: {abort: {grpcStatus: 8}}\n', { fault: { abort: { httpStatus: 503, grpcStatus: 8, percent: 100 }, headers: [] } }],
    ['tcp fault alone', '  faultInjection: {tcp: {resetPercentage: 2.5}}\n', { tcpFault: { resetPercent: 2.5 } }],
    ['rate limit in a minute', '  rateLimit: {local: {rules: [{limit: {requests: 7, unit: Minute}}]}}\n', { rateLimit: { rules: [{ requests: 7, periodMs: 60_000, perSource: false, sources: [], headers: [] }] } }],
  ];
  for (const [name, spec, want] of cases) {
    const p = policyOf(spec).policy;
    if (name.startsWith('backoff')) {
      t.equal(p.retry?.backoffBaseMs, 100, name);
      t.equal(p.retry?.backoffMaxMs, 1000, name);
      continue;
    }
    t.same(p, { policy: 'demo/p', ...LB, ...want }, name);
  }
});

t.test('retryOn: written triggers replace the defaults; codes need their trigger', async (t) => {
  const p = policyOf('  retry: {retryOn: {triggers: [5xx]}}\n').policy;
  t.same(p.retry?.triggers, ['5xx']);
  t.same(p.retry?.statusCodes, [], 'no retriable-status-codes trigger: no codes');
  const q = policyOf('  retry: {retryOn: {httpStatusCodes: [502, 504]}}\n').policy;
  t.same(q.retry?.statusCodes, [502, 504], 'codes with the default triggers');
  t.equal(policyOf('  retry: {budget: {percent: 7}}\n').policy.retryBudget?.ratio, 0.07);
});

/** [name, spec, expected problem]. */
const BAD: [string, string, RegExp][] = [
  ['retries past the bound', '  retry: {numRetries: 11}\n', /spec\.retry\.numRetries: must be an integer 0\.\.10, got 11$/],
  ['huge retries', '  retry: {numRetries: 1e300}\n', /spec\.retry\.numRetries: must be an integer 0\.\.10/],
  ['negative retries', '  retry: {numRetries: -1}\n', /spec\.retry\.numRetries: must be an integer 0\.\.10, got -1$/],
  ['retries as a string', '  retry: {numRetries: "2"}\n', /spec\.retry\.numRetries: must be an integer 0\.\.10, got "2"$/],
  ['unknown trigger', '  retry: {retryOn: {triggers: [retriable-4xx]}}\n', /spec\.retry\.retryOn\.triggers\[0\]: must be one of connect-failure, .*got "retriable-4xx"$/],
  ['duplicate trigger', '  retry: {retryOn: {triggers: [reset, reset]}}\n', /spec\.retry\.retryOn\.triggers\[1\]: duplicate trigger "reset"$/],
  ['no trigger', '  retry: {retryOn: {triggers: []}}\n', /spec\.retry\.retryOn\.triggers: must name at least one trigger/],
  ['codes without their trigger', '  retry: {retryOn: {triggers: [reset], httpStatusCodes: [503]}}\n', /spec\.retry\.retryOn\.httpStatusCodes: has no effect unless triggers includes retriable-status-codes$/],
  ['a 2xx code', '  retry: {retryOn: {httpStatusCodes: [200]}}\n', /spec\.retry\.retryOn\.httpStatusCodes\[0\]: must be an HTTP status 400\.\.599, got 200$/],
  ['duplicate code', '  retry: {retryOn: {httpStatusCodes: [503, 503]}}\n', /httpStatusCodes\[1\]: duplicate status 503$/],
  ['10,000 codes', `  retry: {retryOn: {httpStatusCodes: [${Array.from({ length: 10_000 }, () => 503).join(',')}]}}\n`, /spec\.retry\.retryOn\.httpStatusCodes: at most 200 entries, got 10000$/],
  ['max below base', '  retry: {perRetry: {backOff: {baseInterval: 1s, maxInterval: 10ms}}}\n', /spec\.retry\.perRetry\.backOff\.maxInterval: must not be shorter than baseInterval \(1000 ms\), got "10ms"$/],
  ['backoff of a day', '  retry: {perRetry: {backOff: {baseInterval: 24h}}}\n', /spec\.retry\.perRetry\.backOff\.baseInterval: must be from 1ms to 1h, got "24h"$/],
  ['per-try timeout not a duration', '  retry: {perRetry: {timeout: 5}}\n', /spec\.retry\.perRetry\.timeout: must be a duration such as "250ms", "10s" or "1h2m", got 5$/],
  ['buffer too large', '  retry: {bufferBytes: 16777217}\n', /spec\.retry\.bufferBytes: must be an integer 0\.\.16777216, got 16777217$/],
  ['budget percent over 100', '  retry: {budget: {percent: 101}}\n', /spec\.retry\.budget\.percent: must be a number from 0 to 100, got 101$/],
  ['budget percent NaN', '  retry: {budget: {percent: .nan}}\n', /spec\.retry\.budget\.percent: must be a number from 0 to 100, got NaN$/],
  ['budget ttl of an hour', '  retry: {budget: {ttl: 1h}}\n', /spec\.retry\.budget\.ttl: must be from 1s to 1m, got "1h"$/],
  ['unknown retry field', '  retry: {attempts: 2}\n', /spec\.retry\.attempts: unknown field \(allowed: numRetries, retryOn, perRetry, retryNonIdempotent, bufferBytes, budget\)$/],
  ['retry not a mapping', '  retry: 3\n', /spec\.retry: must be a mapping, got 3$/],
  ['hedges past 2', '  hedging: {maxHedges: 3}\n', /spec\.hedging\.maxHedges: must be an integer 1\.\.2, got 3$/],
  ['percentile 100', '  hedging: {percentile: 100}\n', /spec\.hedging\.percentile: must be a number strictly between 0 and 100, got 100$/],
  ['percentile infinite', '  hedging: {percentile: .inf}\n', /spec\.hedging\.percentile: must be a number strictly between 0 and 100, got Infinity$/],
  ['breaker zero', '  circuitBreaker: {maxConnections: 0}\n', /spec\.circuitBreaker\.maxConnections: must be an integer 1\.\.4294967295, got 0$/],
  ['breaker huge', '  circuitBreaker: {maxParallelRequests: 99999999999999}\n', /spec\.circuitBreaker\.maxParallelRequests: must be an integer 1\.\.4294967295/],
  ['active health check', '  healthCheck: {active: {}, passive: {}}\n', /spec\.healthCheck\.active: active health checks are not implemented/],
  ['health check without passive', '  healthCheck: {}\n', /spec\.healthCheck\.passive: required/],
  ['ejection percent over 100', '  healthCheck: {passive: {maxEjectionPercent: 101}}\n', /spec\.healthCheck\.passive\.maxEjectionPercent: must be an integer 0\.\.100, got 101$/],
  ['max ejection below base', '  healthCheck: {passive: {baseEjectionTime: 1m, maxEjectionTime: 1s}}\n', /spec\.healthCheck\.passive\.maxEjectionTime: must not be shorter than baseEjectionTime/],
  ['ejection beyond a day', '  healthCheck: {passive: {maxEjectionTime: 25h}}\n', /spec\.healthCheck\.passive\.maxEjectionTime: must be from 1ms to 24h, got "25h"$/],
  ['stdev factor zero', '  healthCheck: {passive: {successRate: {stdevFactor: 0}}}\n', /successRate\.stdevFactor: must be an integer 1\.\.100000, got 0$/],
  ['min concurrency over max', '  adaptiveConcurrency: {minConcurrency: 10, maxConcurrency: 5}\n', /spec\.adaptiveConcurrency\.maxConcurrency: must not be below minConcurrency \(10\), got 5$/],
  ['sample interval of a day', '  adaptiveConcurrency: {sampleInterval: 24h}\n', /spec\.adaptiveConcurrency\.sampleInterval: must be from 1ms to 1m, got "24h"$/],
  ['connect timeout of a day', '  timeout: {tcp: {connectTimeout: 24h}}\n', /spec\.timeout\.tcp\.connectTimeout: must be from 1ms to 5m, got "24h"$/],
  ['request timeout over a day', '  timeout: {http: {requestTimeout: 99999h}}\n', /spec\.timeout\.http\.requestTimeout: must be from 1ms to 24h, got "99999h"$/],
  ['request timeout zero', '  timeout: {http: {requestTimeout: 0s}}\n', /spec\.timeout\.http\.requestTimeout: must be from 1ms to 24h, got "0s"$/],
  ['fault without delay or abort', '  faultInjection: {}\n', /spec\.faultInjection: must set delay, abort or tcp$/],
  ['fault headers alone', '  faultInjection: {headers: [{name: x}], tcp: {resetPercentage: 1}}\n', /spec\.faultInjection\.headers: apply to delay and abort only/],
  ['delay without fixedDelay', '  faultInjection: {delay: {percentage: 5}}\n', /spec\.faultInjection\.delay\.fixedDelay: required$/],
  ['delay percentage 101', '  faultInjection: {delay: {fixedDelay: 1s, percentage: 101}}\n', /spec\.faultInjection\.delay\.percentage: must be a number from 0 to 100, got 101$/],
  ['delay percentage negative', '  faultInjection: {delay: {fixedDelay: 1s, percentage: -0.1}}\n', /percentage: must be a number from 0 to 100, got -0\.1$/],
  ['delay of a day', '  faultInjection: {delay: {fixedDelay: 24h}}\n', /spec\.faultInjection\.delay\.fixedDelay: must be from 1ms to 1h, got "24h"$/],
  ['abort without a status', '  faultInjection: {abort: {percentage: 5}}\n', /spec\.faultInjection\.abort: must set httpStatus \(200\.\.599\), grpcStatus \(0\.\.16\) or both$/],
  ['abort 100', '  faultInjection: {abort: {httpStatus: 100}}\n', /spec\.faultInjection\.abort\.httpStatus: must be an integer 200\.\.599, got 100$/],
  ['abort gRPC 17', '  faultInjection: {abort: {grpcStatus: 17}}\n', /spec\.faultInjection\.abort\.grpcStatus: must be an integer 0\.\.16, got 17$/],
  ['header value with CRLF', '  faultInjection: {abort: {httpStatus: 503}, headers: [{name: x, value: "a\\r\\nb"}]}\n', /spec\.faultInjection\.headers\[0\]\.value: must not contain CR, LF or NUL$/],
  ['header name not a token', '  faultInjection: {abort: {httpStatus: 503}, headers: [{name: "x y"}]}\n', /spec\.faultInjection\.headers\[0\]\.name: must be an HTTP header name/],
  ['header value a number', '  faultInjection: {abort: {httpStatus: 503}, headers: [{name: x, value: 5}]}\n', /spec\.faultInjection\.headers\[0\]\.value: must be a string \(quote it\), got 5$/],
  ['duplicate header', '  faultInjection: {abort: {httpStatus: 503}, headers: [{name: X}, {name: x}]}\n', /spec\.faultInjection\.headers\[1\]\.name: duplicate header "x"/],
  ['17 headers', `  faultInjection: {abort: {httpStatus: 503}, headers: [${Array.from({ length: 17 }, (_, i) => `{name: h${i}}`).join(',')}]}\n`, /spec\.faultInjection\.headers: at most 16 entries, got 17$/],
  ['tcp fault empty', '  faultInjection: {tcp: {}}\n', /spec\.faultInjection\.tcp: must set delay, resetPercentage or both$/],
  ['global rate limit', '  rateLimit: {type: Global, local: {rules: [{limit: {requests: 1, unit: Second}}]}}\n', /spec\.rateLimit\.type: must be one of Local, got "Global"$/],
  ['rate limit without local', '  rateLimit: {type: Local}\n', /spec\.rateLimit\.local: required/],
  ['no rules', '  rateLimit: {local: {rules: []}}\n', /spec\.rateLimit\.local\.rules: required: at least one rule$/],
  ['10,000 rules', `  rateLimit: {local: {rules: [${Array.from({ length: 10_000 }, () => '{limit: {requests: 1, unit: Second}}').join(',')}]}}\n`, /spec\.rateLimit\.local\.rules: at most 64 entries, got 10000$/],
  ['zero requests', '  rateLimit: {local: {rules: [{limit: {requests: 0, unit: Second}}]}}\n', /spec\.rateLimit\.local\.rules\[0\]\.limit\.requests: must be an integer 1\.\.1000000000, got 0$/],
  ['a day unit', '  rateLimit: {local: {rules: [{limit: {requests: 1, unit: Day}}]}}\n', /spec\.rateLimit\.local\.rules\[0\]\.limit\.unit: must be one of Second, Minute, Hour, got "Day"$/],
  ['rule without limit', '  rateLimit: {local: {rules: [{perSource: true}]}}\n', /spec\.rateLimit\.local\.rules\[0\]\.limit: required/],
  ['bad principal', '  rateLimit: {local: {rules: [{limit: {requests: 1, unit: Second}, clientSelectors: [{sourcePrincipals: ["cluster.local/ns/a/sa/b"]}]}]}}\n', /clientSelectors\[0\]\.sourcePrincipals\[0\]: must be a SPIFFE id/],
  ['principals in two selectors', '  rateLimit: {local: {rules: [{limit: {requests: 1, unit: Second}, clientSelectors: [{sourcePrincipals: ["spiffe://a/ns/a/sa/b"]}, {sourcePrincipals: ["spiffe://a/ns/a/sa/c"]}]}]}}\n', /clientSelectors\[1\]\.sourcePrincipals: may be set in one selector of a rule only$/],
  ['unknown selector field', '  rateLimit: {local: {rules: [{limit: {requests: 1, unit: Second}, clientSelectors: [{sourceCIDR: {}}]}]}}\n', /clientSelectors\[0\]\.sourceCIDR: unknown field/],
  ['misspelt spec section', '  retyr: {}\n', /spec\.retyr: unknown field \(did you mean retry\?\)$/],
  ['unknown spec section', '  sessionPersistence: {}\n', /spec\.sessionPersistence: unknown field \(allowed: targetRefs, loadBalancer, timeout, retry, hedging, circuitBreaker, healthCheck, adaptiveConcurrency, faultInjection, rateLimit\)$/],
];

t.test('every bad value is refused naming the field', async (t) => {
  for (const [name, spec, want] of BAD) {
    const lines = problems(spec);
    t.match(lines[0], /^p\.yaml:\d+ \(document 1\): TrafficPolicy demo\/p: spec\./, `${name}: names file, line and object`);
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), name);
  }
});
