/**
 * Issue 9, finding 4 (authentication): a caller sending junk cannot make the controller review
 * without bound. Strings that are not JWTs are refused before any review; a refused token is
 * remembered (negative cache); reviews are limited in flight and per second, and over a limit
 * the answer is MESHLET_ERR_RATE_LIMITED (RESOURCE_EXHAUSTED), not a verdict on the token; a
 * review that cannot be made is MESHLET_ERR_AUTH_UNAVAILABLE (UNAVAILABLE).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { grpcStatusOf } from '../../../../src/controller/agent-api/grpc-status.js';
import { isStructuralJwt, MAX_JWT_LENGTH } from '../../../../src/controller/auth/jwt-shape.js';
import { KubernetesTokenAuthenticator, NODE_NAME_EXTRA } from '../../../../src/controller/auth/kubernetes-token-authenticator.js';
import { TokenBucket } from '../../../../src/controller/auth/token-bucket.js';
import type { TokenReviewer } from '../../../../src/controller/auth/token-reviewer.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { captureLogs, fakeJwt } from './auth-fixtures.js';

const exp = Math.floor(Date.now() / 1000) + 3600;
const randomJwt = (): string => fakeJwt(randomBytes(12).toString('hex'), exp);

/** A reviewer that refuses everything, counting reviews; `gate` holds every review until released. */
function countingReviewer(gate?: Promise<void>): TokenReviewer & { calls: number } {
  const r = {
    calls: 0,
    async review() {
      r.calls++;
      if (gate !== undefined) await gate;
      return { authenticated: false, extra: {}, error: 'invalid bearer token' };
    },
  };
  return r;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  return isMeshletError(err) ? err.code : `not a MeshletError: ${String(err)}`;
}

t.test('3,000 random JWTs at one instant cost at most the burst in reviews', async (t) => {
  const reviewer = countingReviewer();
  const logs = captureLogs();
  const now = 1_000_000;
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: logs.logger, now: () => now, limits: { reviewBurst: 25, reviewsPerSecond: 10 } });
  const codes = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const code = await codeOf(auth.authenticate({ authorization: `Bearer ${randomJwt()}` }));
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  t.equal(reviewer.calls, 25, 'the burst, then nothing while the clock stands still');
  t.same(Object.fromEntries(codes), { MESHLET_ERR_UNAUTHENTICATED: 25, MESHLET_ERR_RATE_LIMITED: 2975 });
  t.equal(grpcStatusOf('MESHLET_ERR_RATE_LIMITED'), status.RESOURCE_EXHAUSTED);
  t.equal(auth.counters().refused.rate_limited, 2975);
  t.ok(logs.lines.length <= 4, `a few log lines, not thousands: ${logs.lines.length}`);
});

t.test('the rate refills with time: reviews follow the clock, not the callers', async (t) => {
  const reviewer = countingReviewer();
  let now = 0;
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger, now: () => now, limits: { reviewBurst: 10, reviewsPerSecond: 10 } });
  for (let second = 0; second < 5; second++) {
    for (let i = 0; i < 200; i++) await codeOf(auth.authenticate({ authorization: `Bearer ${randomJwt()}` }));
    now += 1000;
  }
  t.equal(reviewer.calls, 10 + 4 * 10, 'burst, then 10 a second');
});

t.test('reviews in flight are bounded; over the bound the answer is RATE_LIMITED at once', async (t) => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const reviewer = countingReviewer(gate);
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger, limits: { maxConcurrentReviews: 4 } });
  const held = Array.from({ length: 4 }, () => codeOf(auth.authenticate({ authorization: `Bearer ${randomJwt()}` })));
  t.equal(await codeOf(auth.authenticate({ authorization: `Bearer ${randomJwt()}` })), 'MESHLET_ERR_RATE_LIMITED');
  t.equal(auth.counters().refused.busy, 1);
  release();
  t.same(await Promise.all(held), Array(4).fill('MESHLET_ERR_UNAUTHENTICATED'));
  t.equal(reviewer.calls, 4);
});

t.test('a refused token is not reviewed again within the negative TTL; after it, it is', async (t) => {
  const reviewer = countingReviewer();
  let now = 0;
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger, now: () => now, limits: { negativeTtlMs: 10_000 } });
  const tok = randomJwt();
  for (let i = 0; i < 50; i++) t.equal(await codeOf(auth.authenticate({ authorization: `Bearer ${tok}` })), 'MESHLET_ERR_UNAUTHENTICATED');
  t.equal(reviewer.calls, 1);
  now += 10_000;
  await codeOf(auth.authenticate({ authorization: `Bearer ${tok}` }));
  t.equal(reviewer.calls, 2, 'reviewed again once the refusal expired');
});

t.test('strings that are not JWTs are refused before any review', async (t) => {
  const reviewer = countingReviewer();
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger });
  const part = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  const junk = [
    'a.b.c',
    `${part({ alg: 'none' })}.${part({ sub: 'x' })}.c2ln`,
    `${part({ typ: 'JWT' })}.${part({ sub: 'x' })}.c2ln`,
    `${part([1])}.${part({ sub: 'x' })}.c2ln`,
    `${part({ alg: 'RS256' })}.${part('claims')}.c2ln`,
    `${part({ alg: 'RS256' })}.${part({ sub: 'x'.repeat(MAX_JWT_LENGTH) })}.c2ln`,
    'opaque-join-token',
  ];
  for (const tok of junk) {
    t.equal(isStructuralJwt(tok), false, `not a JWT: ${tok.slice(0, 40)}`);
    t.equal(await codeOf(auth.authenticate({ authorization: `Bearer ${tok}` })), 'MESHLET_ERR_UNAUTHENTICATED');
  }
  t.equal(reviewer.calls, 0, 'no review for any of them');
  t.equal(auth.counters().refused.malformed, junk.length);
  t.equal(isStructuralJwt(randomJwt()), true, 'a real-shaped token passes');
});

t.test('a review that cannot be made is AUTH_UNAVAILABLE (UNAVAILABLE), even from an untyped reviewer error', async (t) => {
  const reviewer: TokenReviewer = { review: async () => Promise.reject(new Error('socket hang up')) };
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger });
  t.equal(await codeOf(auth.authenticate({ authorization: `Bearer ${randomJwt()}` })), 'MESHLET_ERR_AUTH_UNAVAILABLE');
  t.equal(grpcStatusOf('MESHLET_ERR_AUTH_UNAVAILABLE'), status.UNAVAILABLE);
  const good = fakeJwt('agent', exp);
  const working = new KubernetesTokenAuthenticator({
    reviewer: { review: async () => ({ authenticated: true, username: 'system:serviceaccount:meshlet-system:meshlet-agent', extra: { [NODE_NAME_EXTRA]: ['node-a'] } }) },
    logger: captureLogs().logger,
  });
  t.same(await working.authenticate({ authorization: `Bearer ${good}` }), { node: 'node-a', method: 'kubernetes-token' }, 'agents still get in');
});

t.test('the token bucket', async (t) => {
  const b = new TokenBucket({ ratePerSecond: 2, burst: 3 });
  t.same([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  t.equal(b.take(499), false, 'not a whole token yet');
  t.equal(b.take(500), true, 'one token per 500 ms');
  t.same([b.take(100_000), b.take(100_000), b.take(100_000), b.take(100_000)], [true, true, true, false], 'never more than the burst');
  t.equal(b.take(50), false, 'a clock going back adds nothing');
  t.throws(() => new TokenBucket({ ratePerSecond: 0, burst: 1 }), RangeError);
});
