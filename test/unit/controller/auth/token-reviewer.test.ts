/**
 * The real TokenReviewer (client-node) against a fake API server on 127.0.0.1 answering
 * `POST /apis/authentication.k8s.io/v1/tokenreviews` with TokenReview JSON as Kubernetes 1.30
 * sends it, through the Kubernetes token authenticator: authenticated, not authenticated, the
 * wrong ServiceAccount, no node, an RBAC denial, the API server down or hung.
 */
import t from 'tap';
import { KubernetesTokenAuthenticator } from '../../../../src/controller/auth/kubernetes-token-authenticator.js';
import { AUTH_KUBERNETES_API_CALLS } from '../../../../src/controller/auth/kubernetes-api-calls.js';
import { KubernetesTokenReviewer, TOKEN_REVIEW_API_CALLS } from '../../../../src/controller/auth/token-reviewer.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { downKubeConfig, fakeKubeApi, status, type FakeRequest } from '../../ca/fake-kube-api.js';
import { captureLogs, fakeJwt } from './auth-fixtures.js';

const PATH = '/apis/authentication.k8s.io/v1/tokenreviews';
const AGENT = 'system:serviceaccount:meshlet-system:meshlet-agent';
const exp = Math.floor(Date.now() / 1000) + 3600;

/** A TokenReview answer shaped like the API server's (it echoes the spec, token included). */
function reviewAnswer(req: FakeRequest, statusPart: Record<string, unknown>): { status: number; body: unknown } {
  const spec = (req.body as { spec?: unknown }).spec;
  return { status: 201, body: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec, status: statusPart } };
}

function boundUser(username: string, node?: string): Record<string, unknown> {
  const extra: Record<string, string[]> = {
    'authentication.kubernetes.io/credential-id': ['JTI=4b1d2c3e-0000-4000-8000-000000000001'],
    'authentication.kubernetes.io/pod-name': ['meshlet-agent-x7k2p'],
    'authentication.kubernetes.io/pod-uid': ['7f3e2d1c-0000-4000-8000-000000000002'],
  };
  if (node !== undefined) {
    extra['authentication.kubernetes.io/node-name'] = [node];
    extra['authentication.kubernetes.io/node-uid'] = ['0a1b2c3d-0000-4000-8000-000000000003'];
  }
  return {
    authenticated: true,
    user: { username, uid: '5e6f7a8b-0000-4000-8000-000000000004', groups: ['system:serviceaccounts', 'system:serviceaccounts:meshlet-system', 'system:authenticated'], extra },
    audiences: ['meshlet'],
  };
}

const tokens = {
  good: fakeJwt('good', exp),
  bad: fakeJwt('bad', exp),
  web: fakeJwt('web', exp),
  legacy: fakeJwt('legacy', exp),
};

async function outcome(auth: KubernetesTokenAuthenticator, token: string): Promise<string> {
  try {
    const p = await auth.authenticate({ authorization: `Bearer ${token}` });
    return `accepted ${p.node} ${p.method}`;
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_UNAUTHENTICATED')) return err.message;
    throw err;
  }
}

t.test('reviews through the API: each answer becomes a principal or a reason', async (t) => {
  const api = await fakeKubeApi(t, (req) => {
    if (req.method !== 'POST' || req.path !== PATH) return status(404, 'NotFound', 'the server could not find the requested resource');
    const token = (req.body as { spec: { token: string } }).spec.token;
    if (token === tokens.good) return reviewAnswer(req, boundUser(AGENT, 'node-a'));
    if (token === tokens.web) return reviewAnswer(req, boundUser('system:serviceaccount:demo:web', 'node-a'));
    if (token === tokens.legacy) return reviewAnswer(req, boundUser(AGENT));
    return reviewAnswer(req, { user: {}, error: '[invalid bearer token, square/go-jose: error in cryptographic primitive]' });
  });
  const logs = captureLogs();
  const auth = new KubernetesTokenAuthenticator({ reviewer: new KubernetesTokenReviewer({ kubeConfig: api.kubeConfig }), logger: logs.logger });

  t.equal(await outcome(auth, tokens.good), 'accepted node-a kubernetes-token');
  const sent = api.requests[0];
  t.equal(sent?.authorization, 'Bearer controller-sa-token', 'the controller calls with its own credentials');
  t.same(sent?.body, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tokens.good, audiences: ['meshlet'] } }, 'a TokenReview for audience meshlet');

  t.equal(await outcome(auth, tokens.bad), 'TokenReview did not authenticate the token: [invalid bearer token, square/go-jose: error in cryptographic primitive]');
  t.equal(await outcome(auth, tokens.web), `the token belongs to system:serviceaccount:demo:web, not the agent's ServiceAccount (${AGENT})`);
  t.match(await outcome(auth, tokens.legacy), /the token names no node/);
  t.equal(await outcome(auth, tokens.good), 'accepted node-a kubernetes-token');
  t.equal(api.requests.length, 4, 'the second good call came from the cache');
  t.notOk(Object.values(tokens).some((tok) => logs.text().includes(tok)), 'no token in the logs');
});

t.test('an RBAC denial, a server that is down or hung: refused, saying why, never with the token', async (t) => {
  const forbidden = await fakeKubeApi(t, () =>
    status(403, 'Forbidden', 'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:meshlet-system:meshlet-controller" cannot create resource "tokenreviews"'),
  );
  const denied = new KubernetesTokenReviewer({ kubeConfig: forbidden.kubeConfig });
  const err403 = await denied.review(tokens.good, ['meshlet']).catch((e: unknown) => e);
  t.ok(isMeshletError(err403, 'MESHLET_ERR_AUTH_UNAVAILABLE'));
  t.match((err403 as Error).message, /^TokenReview failed, the token could not be checked: HTTP 403: tokenreviews\.authentication\.k8s\.io is forbidden/);

  const down = new KubernetesTokenReviewer({ kubeConfig: await downKubeConfig() });
  const errDown = await down.review(tokens.good, ['meshlet']).catch((e: unknown) => e);
  t.ok(isMeshletError(errDown, 'MESHLET_ERR_AUTH_UNAVAILABLE'));
  t.match((errDown as Error).message, /TokenReview failed, the token could not be checked: .*ECONNREFUSED/);

  const hung = await fakeKubeApi(t, () => 'hang');
  const slow = new KubernetesTokenReviewer({ kubeConfig: hung.kubeConfig, timeoutMs: 200 });
  await t.rejects(slow.review(tokens.good, ['meshlet']), { code: 'MESHLET_ERR_AUTH_UNAVAILABLE', message: /no answer within 200 ms/ });

  for (const e of [err403, errDown]) t.notOk((e as Error).message.includes(tokens.good), 'the token is not in the message');
});

t.test('the declared API calls cover what the code calls', async (t) => {
  t.same(TOKEN_REVIEW_API_CALLS.map((c) => [c.group, c.version, c.resource, [...c.verbs], c.scope]), [['authentication.k8s.io', 'v1', 'tokenreviews', ['create'], 'cluster']]);
  const rules = AUTH_KUBERNETES_API_CALLS.map((c) => `${c.scope} ${c.group || 'core'}/${c.version} ${c.resource} ${c.verbs.join(',')}${c.resourceNames ? ` ${c.resourceNames.join(',')}` : ''}`);
  t.same(rules, ['cluster authentication.k8s.io/v1 tokenreviews create', 'namespace core/v1 secrets get meshlet-ca', 'namespace core/v1 secrets create']);
  t.ok(Object.isFrozen(AUTH_KUBERNETES_API_CALLS));
});
