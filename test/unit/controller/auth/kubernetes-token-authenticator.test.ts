/**
 * Kubernetes token authentication with a fake TokenReviewer: the agent's ServiceAccount and
 * the node bound into the token are required; refusals say why without the token; positive
 * reviews are cached briefly, never past the token's expiry, in a bounded cache.
 */
import t from 'tap';
import { KubernetesTokenAuthenticator, NODE_NAME_EXTRA, tokenExpiry } from '../../../../src/controller/auth/kubernetes-token-authenticator.js';
import type { TokenReviewer, TokenReviewResult } from '../../../../src/controller/auth/token-reviewer.js';
import { ReviewCache } from '../../../../src/controller/auth/review-cache.js';
import { isMeshletError, MeshletError } from '../../../../src/mesh/errors.js';
import { captureLogs, fakeJwt } from './auth-fixtures.js';

const AGENT = 'system:serviceaccount:meshlet-system:meshlet-agent';

const farFuture = Math.floor(Date.now() / 1000) + 3600;

function agentReview(node: string | undefined): TokenReviewResult {
  return { authenticated: true, username: AGENT, audiences: ['meshlet'], extra: node === undefined ? {} : { [NODE_NAME_EXTRA]: [node] } };
}

/** A reviewer answering from a table; records what it was asked. */
function fakeReviewer(answers: Map<string, TokenReviewResult | Error>): TokenReviewer & { calls: { token: string; audiences: readonly string[] }[] } {
  const calls: { token: string; audiences: readonly string[] }[] = [];
  return {
    calls,
    review: async (token, audiences) => {
      calls.push({ token, audiences });
      const a = answers.get(token) ?? { authenticated: false, extra: {}, error: 'invalid bearer token' };
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

async function outcome(auth: KubernetesTokenAuthenticator, token: string, node?: string): Promise<string> {
  try {
    const p = await auth.authenticate({ authorization: `Bearer ${token}`, ...(node === undefined ? {} : { node }) });
    return `accepted ${p.node} ${p.method}`;
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_UNAUTHENTICATED') || isMeshletError(err, 'MESHLET_ERR_AUTH_UNAVAILABLE')) return err.message;
    throw err;
  }
}

t.test('an agent token bound to a node is accepted as that node', async (t) => {
  const good = fakeJwt('agent-1', farFuture);
  const reviewer = fakeReviewer(new Map([[good, agentReview('node-a')]]));
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger });
  t.equal(await outcome(auth, good), 'accepted node-a kubernetes-token', 'the node comes from the token');
  t.equal(await outcome(auth, good, 'node-a'), 'accepted node-a kubernetes-token', 'a matching claim is fine');
  t.same(reviewer.calls.map((c) => c.audiences), [['meshlet']], 'reviewed once, for audience meshlet');
  t.equal(await outcome(auth, good, 'node-b'), 'the token was issued on node node-a, the agent says it is "node-b"', 'a different claim is refused');
});

t.test('refused: not authenticated, wrong ServiceAccount, wrong audience, no node, API down', async (t) => {
  const tokens = {
    rejected: fakeJwt('x', farFuture),
    otherSa: fakeJwt('web', farFuture),
    otherAudience: fakeJwt('aud', farFuture),
    noNode: fakeJwt('legacy', farFuture),
    badNode: fakeJwt('bad', farFuture),
    down: fakeJwt('down', farFuture),
  };
  const reviewer = fakeReviewer(
    new Map<string, TokenReviewResult | Error>([
      [tokens.otherSa, { ...agentReview('node-a'), username: 'system:serviceaccount:demo:web' }],
      [tokens.otherAudience, { ...agentReview('node-a'), audiences: [] }],
      [tokens.noNode, agentReview(undefined)],
      [tokens.badNode, agentReview('Node A')],
      [tokens.down, new MeshletError('MESHLET_ERR_AUTH_UNAVAILABLE', 'TokenReview failed, the token could not be checked: connect ECONNREFUSED')],
    ]),
  );
  const logs = captureLogs();
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: logs.logger });
  t.equal(await outcome(auth, tokens.rejected), 'TokenReview did not authenticate the token: invalid bearer token');
  t.equal(await outcome(auth, tokens.otherSa), `the token belongs to system:serviceaccount:demo:web, not the agent's ServiceAccount (${AGENT})`);
  t.equal(await outcome(auth, tokens.otherAudience), 'the token is not for audience meshlet: project it with audience "meshlet"');
  t.match(await outcome(auth, tokens.noNode), /the token names no node \(authentication\.kubernetes\.io\/node-name\).*Kubernetes 1\.30 or later/);
  t.match(await outcome(auth, tokens.badNode), /node name "Node A" is not a valid node name/);
  t.match(await outcome(auth, tokens.down), /TokenReview failed, the token could not be checked/);
  t.equal(await outcome(auth, tokens.noNode), await outcome(auth, tokens.noNode), 'a refusal is answered again from the negative cache...');
  t.equal(reviewer.calls.filter((c) => c.token === tokens.noNode).length, 1, '...without another review');
  await outcome(auth, tokens.down);
  t.equal(reviewer.calls.filter((c) => c.token === tokens.down).length, 2, 'a failed review says nothing of the token: not cached');
  const text = logs.text();
  t.notOk(Object.values(tokens).some((tok) => text.includes(tok)), 'no token in the logs');
  t.equal(logs.lines.filter((l) => l.msg === 'kubernetes token refused').length, 1, 'refusals are logged once a minute at most');
  t.equal(logs.lines.filter((l) => l.msg === 'kubernetes token not checked').length, 1, 'and the failed reviews');
  t.same(auth.counters().refused, { malformed: 0, invalid: 5, cached_invalid: 2, rate_limited: 0, busy: 0, review_failed: 2, node_mismatch: 0 }, 'every refusal counted by reason');
});

t.test('a custom agent namespace and ServiceAccount', async (t) => {
  const tok = fakeJwt('a', farFuture);
  const reviewer = fakeReviewer(new Map([[tok, { ...agentReview('n1'), username: 'system:serviceaccount:mesh:agent' }]]));
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger, agentNamespace: 'mesh', agentServiceAccount: 'agent' });
  t.equal(await outcome(auth, tok), 'accepted n1 kubernetes-token');
});

t.test('positive reviews are cached for the TTL, and never past the token\'s exp', async (t) => {
  let now = 1_000_000_000_000;
  const longLived = fakeJwt('long', now / 1000 + 3600);
  const expiring = fakeJwt('short', now / 1000 + 61 + 10); // 10 s left when it is first used
  const noExp = `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.c2ln`;
  const reviewer = fakeReviewer(new Map([[longLived, agentReview('node-a')], [expiring, agentReview('node-b')], [noExp, agentReview('node-c')]]));
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger, now: () => now });
  for (let i = 0; i < 5; i++) await outcome(auth, longLived);
  t.equal(auth.reviews, 1, 'five calls, one review');
  now += 59_000;
  await outcome(auth, longLived);
  t.equal(auth.reviews, 1, 'still cached at 59 s');
  now += 2000;
  await outcome(auth, longLived);
  t.equal(auth.reviews, 2, 'reviewed again after 60 s');

  await outcome(auth, expiring);
  now += 9000;
  await outcome(auth, expiring);
  t.equal(auth.reviews, 3, 'cached while the token lives');
  now += 1000;
  await outcome(auth, expiring);
  t.equal(auth.reviews, 4, 'not past its exp');

  await outcome(auth, noExp);
  await outcome(auth, noExp);
  t.equal(auth.reviews, 5, 'a token without a readable exp gets the plain TTL');
});

t.test('concurrent calls with one token share one review', async (t) => {
  const tok = fakeJwt('burst', farFuture);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  const reviewer: TokenReviewer = {
    review: async () => {
      calls++;
      await gate;
      return agentReview('node-a');
    },
  };
  const auth = new KubernetesTokenAuthenticator({ reviewer, logger: captureLogs().logger });
  const all = Promise.all([1, 2, 3, 4, 5].map(() => outcome(auth, tok)));
  release();
  t.same(await all, Array(5).fill('accepted node-a kubernetes-token'));
  t.equal(calls, 1, 'one review for five calls');
  const failing: TokenReviewer = { review: async () => Promise.reject(new MeshletError('MESHLET_ERR_AUTH_UNAVAILABLE', 'TokenReview failed')) };
  const auth2 = new KubernetesTokenAuthenticator({ reviewer: failing, logger: captureLogs().logger });
  t.same(await Promise.all([outcome(auth2, tok), outcome(auth2, tok)]), ['TokenReview failed', 'TokenReview failed'], 'a failed shared review fails every waiter');
  t.equal(auth2.reviews, 1);
  await outcome(auth2, tok);
  t.equal(auth2.reviews, 2, 'and is not remembered');
});

t.test('the cache is bounded and drops the oldest entry', async (t) => {
  const cache = new ReviewCache({ ttlMs: 60_000, maxEntries: 3 });
  for (const k of ['a', 'b', 'c', 'd']) cache.set(k, `node-${k}`, 0);
  t.equal(cache.size, 3);
  t.equal(cache.get('a', 1), undefined, 'the oldest went');
  t.equal(cache.get('d', 1), 'node-d');
  t.equal(cache.get('d', 60_000), undefined, 'expired at the TTL');
  cache.set('e', 'node-e', 0, -1);
  t.equal(cache.get('e', 0), undefined, 'an already expired token is not kept');
});

t.test('tokenExpiry reads exp without trusting anything else', async (t) => {
  t.equal(tokenExpiry(fakeJwt('x', 1700000000)), 1700000000_000);
  t.equal(tokenExpiry('a.b.c'), undefined);
  t.equal(tokenExpiry('opaque'), undefined);
  t.equal(tokenExpiry(`x.${Buffer.from('{"exp":"soon"}').toString('base64url')}.y`), undefined);
});

t.test('the error type', async (t) => {
  const auth = new KubernetesTokenAuthenticator({ reviewer: fakeReviewer(new Map()), logger: captureLogs().logger });
  await t.rejects(auth.authenticate({}), { code: 'MESHLET_ERR_UNAUTHENTICATED', message: /no authorization metadata/ });
});
