/**
 * The source agent's per-request resilience through a real HTTP/1.1 client and `OutboundHttp`,
 * with scripted endpoints (`resilience-rig.ts`): retries and what stops them (method, body,
 * attempts, budget, breaker), body replay, per-try and request timeouts, the circuit breaker's
 * max requests, fault injection (share, delay, header scope, gRPC), hedging, mirroring, and the
 * access-log fields and response flags of each.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import type { RetryPolicy } from '../../../src/mesh/resilience.js';
import { pathPrefix, type HttpRouteInfo } from '../../../src/mesh/routes.js';
import { requestFlags } from '../../../src/agent/http/request-log.js';
import { ENDPOINTS, OK, ResilienceRig, sha256 } from './resilience-rig.js';

const retry = (over: Partial<RetryPolicy> = {}): RetryPolicy => ({
  retries: 2, triggers: ['connect-failure', 'reset', '5xx'], statusCodes: [], perTryTimeoutMs: 0, backoffBaseMs: 1, backoffMaxMs: 5, nonIdempotent: false, bufferBytes: 64 * 1024, ...over,
});
const [A, , C] = ENDPOINTS as [string, string, string];

t.test('retries', async (t) => {
  const rig = new ResilienceRig({ policy: { retry: retry(), retryBudget: { ratio: 1, minPerSecond: 1000, ttlMs: 10_000 } } });
  await rig.start();
  t.teardown(() => rig.close());

  await t.test('an endpoint answering 503 to half its requests: the client sees none with retries on', async (t) => {
    rig.reset();
    let flip = 0;
    rig.behaviour = (address) => (address === A && flip++ % 2 === 0 ? { kind: 'status', status: 503 } : OK);
    const statuses = await rig.many(300, 8, () => rig.request('/x'));
    t.equal(statuses.filter((s) => s !== 200).length, 0, 'no failure reached the client');
    t.ok(rig.records.some((r) => r.attempts === 2), 'retried requests record their attempts');
    t.ok(await rig.metricValue('meshlet_request_retries_total', { service: 'demo/web', reason: '5xx' }) > 0, 'retries counted by trigger');
  });

  await t.test('each retry goes to another endpoint and says which try it is', async (t) => {
    rig.reset();
    rig.behaviour = (address) => (address === C ? OK : { kind: 'status', status: 503 });
    const r = await rig.request('/y');
    t.equal(r.status, 200);
    const addresses = rig.calls.map((c) => c.address);
    t.equal(new Set(addresses).size, addresses.length, `no endpoint tried twice: ${addresses.join(', ')}`);
    const last = rig.calls[rig.calls.length - 1];
    t.equal(last?.head.headers['x-meshlet-attempt-count'], String(rig.calls.length), 'the attempt header counts the tries');
    t.equal(rig.calls[0]?.head.headers['x-meshlet-attempt-count'], undefined, 'the first try has no attempt header');
  });

  await t.test('tries exhausted: the last answer returns, flagged URX', async (t) => {
    rig.reset();
    rig.behaviour = () => ({ kind: 'status', status: 503 });
    const r = await rig.request('/z');
    t.equal(r.status, 503, 'the workload\'s own 503');
    t.equal(rig.calls.length, 3, 'one try and two retries');
    const rec = rig.records[0];
    t.equal(rec?.retryStop, 'attempts');
    t.equal(rec === undefined ? '' : requestFlags(rec), 'URX');
  });

  await t.test('a POST is not retried once its body may have been seen; it is on a refused connect', async (t) => {
    rig.reset();
    rig.behaviour = (address) => (address === A ? { kind: 'reset', afterBody: true } : OK);
    const bodies = await Promise.all([0, 1, 2].map(() => rig.request('/post', { method: 'POST', body: Buffer.from('hello') })));
    const failed = bodies.filter((b) => b.status !== 200);
    t.equal(failed.length, 1, 'the POST that met the reset failed');
    t.equal(rig.calls.filter((c) => c.address === A).length, 1, 'A got one POST');
    t.ok(rig.records.some((r) => r.retryStop === 'method'), 'the record says why');
    rig.reset();
    rig.behaviour = (address) => (address === A ? { kind: 'refuse' } : OK);
    const again = await Promise.all([0, 1, 2].map(() => rig.request('/post', { method: 'POST', body: Buffer.from('hello') })));
    t.same(again.map((r) => r.status), [200, 200, 200], 'a refused connect is retried whatever the method');
  });

  await t.test('the body is replayed byte for byte to the next endpoint (PUT)', async (t) => {
    rig.reset();
    const body = randomBytes(40_000);
    let tries = 0;
    rig.behaviour = () => (tries++ === 0 ? { kind: 'status', status: 503 } : OK);
    const r = await rig.request('/put', { method: 'PUT', body });
    t.equal(r.status, 200);
    t.ok(rig.calls.length >= 2, 'retried');
    for (const c of rig.calls) t.equal(sha256(c.body), sha256(body), `the body ${c.address} got is the client's`);
  });

  await t.test('a body larger than the replay buffer is not retried', async (t) => {
    rig.setPolicy({ retry: retry({ bufferBytes: 1024 }), retryBudget: { ratio: 1, minPerSecond: 1000, ttlMs: 10_000 } });
    rig.reset();
    rig.behaviour = () => ({ kind: 'status', status: 503 });
    const r = await rig.request('/put', { method: 'PUT', body: randomBytes(10_000) });
    t.equal(r.status, 503);
    t.equal(rig.calls.length, 1, 'one try only');
    t.equal(rig.records[0]?.retryStop, 'body');
  });
});

t.test('the retry budget: when every endpoint fails, retries stay within its ratio', async (t) => {
  const rig = new ResilienceRig({ policy: { retry: retry({ retries: 3 }), retryBudget: { ratio: 0.2, minPerSecond: 1, ttlMs: 10_000 } } });
  await rig.start();
  t.teardown(() => rig.close());
  rig.behaviour = () => ({ kind: 'status', status: 503 });
  const n = 500;
  await rig.many(n, 10, () => rig.request('/'));
  const calls = rig.calls.length;
  // ratio x requests, plus the reserve of minPerSecond x ttl (10), plus a rounding slot.
  t.ok(calls <= n * 1.2 + 10 + 1, `${calls} tries for ${n} requests: at most 1.2x + the reserve`);
  t.ok(calls >= n * 1.1, `${calls} tries: the budget was used, not refused outright`);
  t.ok(rig.records.filter((r) => r.retryStop === 'budget').length > n / 2, 'most requests were stopped by the budget');
  t.ok(await rig.metricValue('meshlet_request_retries_suppressed_total', { reason: 'budget' }) > 0, 'budget exhaustion counted');
});

t.test('timeouts', async (t) => {
  const rig = new ResilienceRig({ policy: { retry: retry({ triggers: ['gateway-error'], perTryTimeoutMs: 100 }), retryBudget: { ratio: 1, minPerSecond: 1000, ttlMs: 10_000 } } });
  await rig.start();
  t.teardown(() => rig.close());

  await t.test('a per-try timeout fires (not before it, within two) and the next endpoint answers', async (t) => {
    rig.behaviour = (address) => (address === A ? { kind: 'hang' } : OK);
    for (let i = 0; i < 6; i++) {
      rig.reset();
      const r = await rig.request('/');
      t.equal(r.status, 200);
      const [first, second] = rig.calls;
      if (first?.address === A && second !== undefined) {
        const fired = second.at - first.at;
        // Judged by the mechanism, not this machine's speed: not before the per-try timeout
        // (timers may round a millisecond early), and not after two of them.
        t.ok(fired >= 95, `the next try went out ${fired.toFixed(1)} ms after the first: not before the 100 ms per-try timeout`);
        t.ok(fired < 200, `the next try went out ${fired.toFixed(1)} ms after the first: within two per-try timeouts`);
        t.equal(rig.records[0]?.attempts, 2);
      }
    }
    t.ok(await rig.metricValue('meshlet_request_timeouts_total', { kind: 'per_try' }) > 0, 'per-try timeouts counted');
  });

  await t.test('the request timeout: 504, flag UT, not before its setting and within twice it', async (t) => {
    rig.setPolicy({ timeout: { requestMs: 200 } });
    rig.reset();
    rig.behaviour = () => ({ kind: 'hang' });
    const r = await rig.request('/');
    t.equal(r.status, 504);
    // Not before the timeout, and long before a second one would have passed.
    t.ok(r.ms >= 195, `after ${r.ms.toFixed(1)} ms: not before the 200 ms timeout`);
    t.ok(r.ms < 400, `after ${r.ms.toFixed(1)} ms: within twice the timeout`);
    const rec = rig.records[0];
    t.equal(rec?.failure, 'request_timeout');
    t.equal(rec === undefined ? '' : requestFlags(rec), 'UT');
  });

  await t.test('HTTPRoute timeouts: backendRequest is per try, request bounds them all', async (t) => {
    const route: HttpRouteInfo = {
      kind: 'HTTPRoute', name: 'r', namespace: 'demo', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }],
      rules: [{ matches: [{ path: pathPrefix('/'), headers: [], queryParams: [] }], filters: [], backendRefs: [{ name: 'web', namespace: 'demo', weight: 1 }], timeouts: { requestMs: 300, backendRequestMs: 100 }, retry: { codes: [], attempts: 5 } }],
    };
    rig.setPolicy({ retry: retry({ triggers: ['gateway-error'] }), retryBudget: { ratio: 1, minPerSecond: 1000, ttlMs: 10_000 } }, [route]);
    rig.reset();
    rig.behaviour = () => ({ kind: 'hang' });
    const r = await rig.request('/');
    t.equal(r.status, 504);
    // The request timeout ended it: not before its 300 ms, and before five tries of 100 ms ran out.
    t.ok(r.ms >= 295, `ended after ${r.ms.toFixed(1)} ms: not before the 300 ms request timeout`);
    t.ok(r.ms < 500, `ended after ${r.ms.toFixed(1)} ms: before the five 100 ms tries would have`);
    t.ok(rig.calls.length >= 2, `${rig.calls.length} tries: at least two of 100 ms`);
    t.ok(rig.calls.length <= 3, `${rig.calls.length} tries: at most three of 100 ms fit in 300 ms`);
  });
});

t.test('circuit breaker: with max requests N, request N+1 gets 503/UO before any admitted one finishes', async (t) => {
  const rig = new ResilienceRig({ policy: { circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 4, maxRetries: 3 } } });
  await rig.start();
  t.teardown(() => rig.close());
  rig.behaviour = () => ({ kind: 'status', status: 200, delayMs: 300 });
  const held = Array.from({ length: 4 }, () => rig.request('/'));
  await new Promise((r) => setTimeout(r, 50));
  const extra = await rig.request('/');
  t.equal(extra.status, 503);
  // At once: it did not wait for one of the admitted requests (300 ms each) to finish.
  t.ok(extra.ms < 300, `refused in ${extra.ms.toFixed(1)} ms, before any admitted request finished`);
  t.equal(extra.headers['x-meshlet-failure'], 'overflow');
  const statuses = (await Promise.all(held)).map((r) => r.status);
  t.same(statuses, [200, 200, 200, 200], 'the N admitted requests were served');
  const rec = rig.records.find((r) => r.failure === 'overflow');
  t.equal(rec === undefined ? '' : requestFlags(rec), 'UO');
  t.equal(rec?.overflow, 'max_requests');
  t.equal(await rig.metricValue('meshlet_upstream_overflow_total', { threshold: 'max_requests' }), 1);
  const after = await rig.request('/');
  t.equal(after.status, 200, 'below the threshold again: admitted');
});

t.test('fault injection', async (t) => {
  const rig = new ResilienceRig({ policy: { fault: { abort: { httpStatus: 418, percent: 10 }, headers: [] } } });
  await rig.start();
  t.teardown(() => rig.close());

  await t.test('10% aborts over 5,000 requests, within 1.5%', async (t) => {
    const statuses = await rig.many(5000, 16, () => rig.request('/'));
    const aborted = statuses.filter((s) => s === 418).length;
    t.ok(Math.abs(aborted / 5000 - 0.1) <= 0.015, `${aborted} of 5000 aborted`);
    t.equal(statuses.filter((s) => s !== 418 && s !== 200).length, 0, 'the rest were served');
    t.equal(rig.calls.length, 5000 - aborted, 'an aborted request never reaches an endpoint');
    const rec = rig.records.find((r) => r.failure === 'fault_abort');
    t.equal(rec === undefined ? '' : requestFlags(rec), 'FI');
  });

  await t.test('a 200 ms delay is seen by the client', async (t) => {
    // Judged by the mechanism, not this machine's speed: the delay is applied (never faster
    // than 200 ms) and applied once (a second one would take it to 400 ms on top of the
    // slowest undelayed request measured just before).
    rig.setPolicy({});
    const undelayed: number[] = [];
    for (let i = 0; i < 5; i += 1) undelayed.push((await rig.request('/')).ms);
    const base = Math.max(...undelayed);
    rig.setPolicy({ fault: { delay: { ms: 200, percent: 100 }, headers: [] } });
    rig.reset();
    const r = await rig.request('/');
    t.equal(r.status, 200);
    t.ok(r.ms >= 200, `${r.ms.toFixed(1)} ms >= the 200 ms delay`);
    t.ok(r.ms < 400 + base, `${r.ms.toFixed(1)} ms < 400 ms + ${base.toFixed(1)} ms (the slowest undelayed): delayed once`);
    const rec = rig.records[0];
    t.equal(rec?.faultDelayMs, 200);
    t.equal(rec === undefined ? '' : requestFlags(rec), 'DI');
  });

  await t.test('a header-scoped fault touches only those requests', async (t) => {
    rig.setPolicy({ fault: { abort: { httpStatus: 503, percent: 100 }, headers: [{ name: 'x-chaos', value: 'on' }] } });
    rig.reset();
    const plain = await rig.many(50, 5, () => rig.request('/'));
    const chaos = await rig.many(50, 5, () => rig.request('/', { headers: { 'x-chaos': 'on' } }));
    const other = await rig.many(20, 5, () => rig.request('/', { headers: { 'x-chaos': 'off' } }));
    t.equal(plain.filter((s) => s !== 200).length, 0, 'without the header: untouched');
    t.equal(chaos.filter((s) => s !== 503).length, 0, 'with it: every one aborted');
    t.equal(other.filter((s) => s !== 200).length, 0, 'another value: untouched');
  });
});

// One endpoint of three is slow: a third of the tries, so the hedge waits for the median (a
// service whose slow answers are rare would hedge at p95 or p99).
t.test('hedging lowers the tail of a service with one slow endpoint, within the budget', async (t) => {
  const measure = async (hedge: boolean): Promise<{ p99: number; calls: number }> => {
    const rig = new ResilienceRig({ policy: { ...(hedge ? { hedge: { percentile: 50, minDelayMs: 10, maxHedges: 1 } } : {}), retryBudget: { ratio: 0.5, minPerSecond: 10, ttlMs: 10_000 } } });
    await rig.start();
    rig.behaviour = (address) => ({ kind: 'status', status: 200, delayMs: address === A ? 150 : 2 });
    // Warm-up: hedging waits for a few dozen latencies before it trusts a percentile.
    await rig.many(30, 4, () => rig.request('/'));
    rig.reset();
    const times: number[] = [];
    await rig.many(300, 4, async () => {
      const r = await rig.request('/');
      times.push(r.ms);
      return r;
    });
    await rig.close();
    times.sort((a, b) => a - b);
    return { p99: times[Math.floor(times.length * 0.99)] as number, calls: rig.calls.length };
  };
  const plain = await measure(false);
  const hedged = await measure(true);
  t.ok(plain.p99 >= 150, `without hedging the p99 is the slow endpoint's (${plain.p99.toFixed(1)} ms)`);
  // The mechanism: no request waited for the slow endpoint's 150 ms (a hedge went to the fast
  // one after about 10 ms), however slow this machine is otherwise.
  t.ok(hedged.p99 < 150, `hedged p99 ${hedged.p99.toFixed(1)} ms < the slow endpoint's 150 ms (unhedged: ${plain.p99.toFixed(1)} ms)`);
  t.ok(hedged.calls <= 300 * 1.5 + 100, `${hedged.calls} calls: extra requests within the budget (0.5 x 300 + reserve 100)`);
  t.ok(hedged.calls > 300, `${hedged.calls} calls: hedges were sent`);
});

t.test('mirroring: the shadow gets its share, marked -shadow, and a slow shadow does not slow the primary', async (t) => {
  const route: HttpRouteInfo = {
    kind: 'HTTPRoute', name: 'm', namespace: 'demo', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }],
    rules: [{
      matches: [{ path: pathPrefix('/'), headers: [], queryParams: [] }],
      filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'shadow', namespace: 'demo' }, percent: 50 } }],
      backendRefs: [{ name: 'web', namespace: 'demo', weight: 1 }], timeouts: {},
    }],
  };
  const rig = new ResilienceRig({ routes: [route], shadow: ['127.0.0.7'] });
  await rig.start();
  t.teardown(() => rig.close());
  rig.behaviour = (address) => (address === '127.0.0.7' ? { kind: 'status', status: 200, delayMs: 500 } : OK);
  const times: number[] = [];
  await rig.many(400, 8, async () => {
    const r = await rig.request('/m', { method: 'POST', body: Buffer.from('payload') });
    times.push(r.ms);
    return r;
  });
  const shadow = rig.calls.filter((c) => c.address === '127.0.0.7');
  t.ok(Math.abs(shadow.length / 400 - 0.5) < 0.1, `${shadow.length} of 400 mirrored (50% +-10%)`);
  t.ok(shadow.every((c) => c.head.authority === 'web.demo-shadow'), 'mirrored requests carry the -shadow authority');
  await new Promise((r) => setTimeout(r, 600));
  t.ok(shadow.every((c) => c.body.toString() === 'payload'), 'the mirror got the body');
  times.sort((a, b) => a - b);
  // No primary request waited for its 500 ms shadow.
  t.ok((times[Math.floor(times.length * 0.99)] as number) < 500, `primary p99 ${(times[Math.floor(times.length * 0.99)] as number).toFixed(1)} ms: the 500 ms shadow did not slow it`);
});

t.test('the Service\'s connection idle timeout closes an idle keep-alive connection, not a busy one', async (t) => {
  const rig = new ResilienceRig({ policy: { timeout: { httpIdleMs: 300 } } });
  await rig.start();
  t.teardown(() => rig.close());
  rig.behaviour = (_a, head) => ({ kind: 'status', status: 200, delayMs: head.path === '/slow' ? 600 : 0 });
  const socket = net.connect(rig.port, '127.0.0.1');
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  let got = '';
  socket.on('data', (c: Buffer) => {
    got += c.toString();
  });
  socket.write('GET /slow HTTP/1.1\r\nhost: web.demo\r\n\r\n');
  const sent = performance.now();
  const at = await closed;
  t.match(got, /^HTTP\/1\.1 200/, 'the request in flight for 600 ms was answered first');
  t.ok(at - sent >= 600 + 250, `closed ${(at - sent).toFixed(0)} ms after the request: its 600 ms, then 300 idle`);
  t.ok(at - sent <= 600 + 300 + 200, `and not much later (${(at - sent).toFixed(0)} ms)`);
});

t.test('gRPC: a Trailers-Only UNAVAILABLE is retried on the unavailable trigger; INTERNAL is not', async (t) => {
  const rig = new ResilienceRig({ policy: { retry: retry({ triggers: ['unavailable'] }), retryBudget: { ratio: 1, minPerSecond: 1000, ttlMs: 10_000 } } });
  await rig.start();
  t.teardown(() => rig.close());
  const grpcHeaders = { 'content-type': 'application/grpc' };
  let n = 0;
  rig.behaviour = () => (n++ === 0 ? { kind: 'status', status: 200, headers: { 'grpc-status': '14' } } : OK);
  const r = await rig.request('/pkg.Svc/Call', { method: 'POST', headers: grpcHeaders, body: Buffer.from([0, 0, 0, 0, 0]) });
  t.equal(r.status, 200);
  t.equal(rig.calls.length, 2, 'retried once (a gRPC POST is retried on a gRPC trigger)');
  t.equal(r.headers['grpc-status'], undefined, 'the answer is the second try\'s');
  rig.reset();
  rig.behaviour = () => ({ kind: 'status', status: 200, headers: { 'grpc-status': '13' } });
  const internal = await rig.request('/pkg.Svc/Call', { method: 'POST', headers: grpcHeaders, body: Buffer.from([0, 0, 0, 0, 0]) });
  t.equal(internal.headers['grpc-status'], '13', 'INTERNAL passed on');
  t.equal(rig.calls.length, 1, 'not retried: not a trigger of the policy');
});

t.test('the agents\' own meshlet-* headers of an answer never reach the application', async (t) => {
  const rig = new ResilienceRig();
  await rig.start();
  t.teardown(() => rig.close());
  rig.behaviour = () => ({ kind: 'status', status: 429, headers: { 'meshlet-error': 'rate_limited', 'meshlet-dst': '127.0.0.3:8080', 'retry-after': '1' } });
  const r = await rig.request('/');
  t.equal(r.status, 429);
  t.equal(r.headers['meshlet-error'], undefined, 'meshlet-error stripped');
  t.equal(r.headers['meshlet-dst'], undefined, 'meshlet-dst stripped');
  t.equal(r.headers['retry-after'], '1', 'the rest kept');
});

t.test('a route\'s rate limit at the source: 429 with RateLimit headers past its tokens; other routes untouched', async (t) => {
  const rule = (prefix: string): HttpRouteInfo['rules'][number] => ({ matches: [{ path: pathPrefix(prefix), headers: [], queryParams: [] }], filters: [], backendRefs: [{ name: 'web', namespace: 'demo', weight: 1 }], timeouts: {} });
  const limited: HttpRouteInfo = { kind: 'HTTPRoute', name: 'limited', namespace: 'demo', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }], rules: [rule('/api')] };
  const open: HttpRouteInfo = { kind: 'HTTPRoute', name: 'open', namespace: 'demo', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'web' }], rules: [rule('/free')] };
  const routePolicies = [{ route: 'HTTPRoute/demo/limited', policy: { policy: 'demo/rl', rateLimit: { rules: [{ requests: 5, periodMs: 60_000, perSource: false, sources: [], headers: [] }] } } }];
  const rig = new ResilienceRig({ routes: [limited, open], routePolicies });
  await rig.start();
  t.teardown(() => rig.close());
  const statuses = await rig.many(20, 4, () => rig.request('/api/x'));
  t.equal(statuses.filter((s) => s === 200).length, 5, 'the bucket\'s 5 tokens admitted');
  t.equal(statuses.filter((s) => s === 429).length, 15, 'the rest refused');
  const refused = await rig.request('/api/y');
  t.equal(refused.headers['ratelimit-limit'], '5');
  t.equal(refused.headers['ratelimit-remaining'], '0');
  t.ok(Number(refused.headers['retry-after']) >= 1, `retry-after ${String(refused.headers['retry-after'])}`);
  t.equal(refused.headers['x-meshlet-failure'], 'rate_limited');
  const rec = rig.records.find((r) => r.failure === 'rate_limited');
  t.equal(rec === undefined ? '' : requestFlags(rec), 'RL');
  t.equal(rig.calls.length, 5, 'refused requests never reached an endpoint');
  const free = await rig.many(20, 4, () => rig.request('/free/x'));
  t.equal(free.filter((s) => s === 200).length, 20, 'another route is not limited');
  t.equal(await rig.metricValue('meshlet_rate_limited_total', { scope: 'route', target: 'HTTPRoute/demo/limited' }), 16);
});
