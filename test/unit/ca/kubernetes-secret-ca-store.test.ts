/**
 * The CA kept in a Kubernetes Secret, against a fake API server: first start creates it, later
 * starts load it, a lost creation race (409) loads the winner's root, a damaged Secret is never
 * replaced, API failures name the Secret and the reason; every call made is declared for RBAC.
 */
import t from 'tap';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { CaMaterial } from '../../../src/ca/ca-store.js';
import { CA_SECRET_API_CALLS, KubernetesSecretCaStore } from '../../../src/ca/kubernetes-secret-ca-store.js';
import { createRootMaterial } from '../../../src/ca/root-certificate.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { silentLogger } from './ca-fixture.js';
import { downKubeConfig, fakeKubeApi, status, type FakeRequest } from './fake-kube-api.js';

const SECRETS = '/api/v1/namespaces/meshlet-system/secrets';
const SECRET = `${SECRETS}/meshlet-ca`;

function secretOf(material: CaMaterial, data: Record<string, string> = {}): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'meshlet-ca', namespace: 'meshlet-system', resourceVersion: '7' },
    type: 'Opaque',
    data: {
      'ca.crt': Buffer.from(material.certificatePem).toString('base64'),
      'ca.key': Buffer.from(material.privateKeyPem).toString('base64'),
      ...data,
    },
  };
}

const notFound = status(404, 'NotFound', 'secrets "meshlet-ca" not found');

/** Every request is one the store declared for RBAC. */
function declared(requests: readonly FakeRequest[]): boolean {
  const verb = (r: FakeRequest): string => (r.method === 'POST' ? 'create' : 'get');
  return requests.every((r) => r.path.startsWith(SECRETS) && CA_SECRET_API_CALLS.some((c) => c.resource === 'secrets' && c.verbs.includes(verb(r))));
}

const existing = await createRootMaterial('cluster.local', new Date());

t.test('first start creates the Secret; the next start loads the same root', async (t) => {
  let stored: unknown;
  const api = await fakeKubeApi(t, (req) => {
    if (req.method === 'GET' && req.path === SECRET) return stored === undefined ? notFound : { status: 200, body: stored };
    if (req.method === 'POST' && req.path === SECRETS) {
      stored = req.body;
      return { status: 201, body: req.body };
    }
    return status(405, 'MethodNotAllowed', 'unexpected');
  });
  const store = new KubernetesSecretCaStore({ kubeConfig: api.kubeConfig });
  const first = await CertificateAuthority.fromStore({ store, trustDomain: 'cluster.local', logger: silentLogger });
  t.same(api.requests.map((r) => `${r.method} ${r.path}`), [`GET ${SECRET}`, `POST ${SECRETS}`]);
  t.equal(api.requests[0]?.authorization, 'Bearer controller-sa-token', 'the kubeconfig credentials are used');
  const body = api.requests[1]?.body as { metadata: { name: string; namespace: string }; type: string; immutable: boolean; data: Record<string, string> };
  t.match(body, { kind: 'Secret', metadata: { name: 'meshlet-ca', namespace: 'meshlet-system' }, type: 'Opaque', immutable: true });
  t.same(Object.keys(body.data).sort(), ['ca.crt', 'ca.key']);
  t.equal(Buffer.from(body.data['ca.crt'] ?? '', 'base64').toString(), first.trustBundlePem, 'ca.crt holds the new root');
  t.match(Buffer.from(body.data['ca.key'] ?? '', 'base64').toString(), /BEGIN PRIVATE KEY/);
  t.equal(first.root.location, 'Secret meshlet-system/meshlet-ca');

  const second = await CertificateAuthority.fromStore({ store, trustDomain: 'cluster.local', logger: silentLogger });
  t.equal(second.root.serial, first.root.serial, 'the stored root is loaded');
  t.equal(api.requests.length, 3, 'one GET, no second create');
  t.ok(declared(api.requests), 'every call is in CA_SECRET_API_CALLS');
});

t.test('a lost creation race (409) loads the winner\'s root', async (t) => {
  let gets = 0;
  const api = await fakeKubeApi(t, (req) => {
    if (req.method === 'GET') return ++gets === 1 ? notFound : { status: 200, body: secretOf(existing) };
    return status(409, 'AlreadyExists', 'secrets "meshlet-ca" already exists');
  });
  const store = new KubernetesSecretCaStore({ kubeConfig: api.kubeConfig });
  let made = 0;
  const result = await store.loadOrCreate(async () => {
    made++;
    return createRootMaterial('cluster.local', new Date());
  });
  t.equal(made, 1, 'this controller made a root...');
  t.equal(result.created, false, '...but did not win');
  t.equal(result.material.certificatePem, existing.certificatePem, 'the winner\'s root is used');
  t.same(api.requests.map((r) => r.method), ['GET', 'POST', 'GET']);
});

t.test('a custom namespace and name', async (t) => {
  const api = await fakeKubeApi(t, () => ({ status: 200, body: secretOf(existing) }));
  const store = new KubernetesSecretCaStore({ kubeConfig: api.kubeConfig, namespace: 'mesh', name: 'root' });
  await store.loadOrCreate(() => Promise.reject(new Error('must not create')));
  t.same(api.requests.map((r) => r.path), ['/api/v1/namespaces/mesh/secrets/root']);
});

t.test('a Secret missing a key is refused and never replaced', async (t) => {
  const api = await fakeKubeApi(t, () => ({ status: 200, body: secretOf(existing, { 'ca.key': '' }) }));
  const store = new KubernetesSecretCaStore({ kubeConfig: api.kubeConfig });
  await t.rejects(
    CertificateAuthority.fromStore({ store, trustDomain: 'cluster.local', logger: silentLogger }),
    { code: 'MESHLET_ERR_CA', message: /Secret meshlet-system\/meshlet-ca has no ca\.key; restore it/ },
  );
  t.same(api.requests.map((r) => r.method), ['GET'], 'no create');
});

t.test('a Secret holding another trust domain\'s root is refused', async (t) => {
  const foreign = await createRootMaterial('example.org', new Date());
  const api = await fakeKubeApi(t, () => ({ status: 200, body: secretOf(foreign) }));
  await t.rejects(
    CertificateAuthority.fromStore({ store: new KubernetesSecretCaStore({ kubeConfig: api.kubeConfig }), trustDomain: 'cluster.local', logger: silentLogger }),
    { code: 'MESHLET_ERR_CA', message: /Secret meshlet-system\/meshlet-ca key ca\.crt is the root of spiffe:\/\/example\.org/ },
  );
});

t.test('API failures name the Secret and the reason', async (t) => {
  const forbidden = await fakeKubeApi(t, () =>
    status(403, 'Forbidden', 'secrets "meshlet-ca" is forbidden: User "system:serviceaccount:meshlet-system:meshlet-controller" cannot get resource "secrets"'),
  );
  const create = (): Promise<CaMaterial> => Promise.reject(new Error('must not create'));
  const err403 = await new KubernetesSecretCaStore({ kubeConfig: forbidden.kubeConfig }).loadOrCreate(create).catch((e: unknown) => e);
  t.ok(isMeshletError(err403, 'MESHLET_ERR_CA'));
  t.match((err403 as Error).message, /cannot read Secret meshlet-system\/meshlet-ca: HTTP 403: secrets "meshlet-ca" is forbidden: User .* cannot get/);

  const createFails = await fakeKubeApi(t, (req) => (req.method === 'GET' ? notFound : status(422, 'Invalid', 'bad secret')));
  await t.rejects(
    new KubernetesSecretCaStore({ kubeConfig: createFails.kubeConfig }).loadOrCreate(() => Promise.resolve(existing)),
    { code: 'MESHLET_ERR_CA', message: /cannot create Secret meshlet-system\/meshlet-ca: HTTP 422: bad secret/ },
  );

  await t.rejects(new KubernetesSecretCaStore({ kubeConfig: await downKubeConfig() }).loadOrCreate(create), {
    code: 'MESHLET_ERR_CA',
    message: /cannot read Secret meshlet-system\/meshlet-ca: .*ECONNREFUSED/,
  });

  const hung = await fakeKubeApi(t, () => 'hang');
  await t.rejects(new KubernetesSecretCaStore({ kubeConfig: hung.kubeConfig, timeoutMs: 200 }).loadOrCreate(create), {
    code: 'MESHLET_ERR_CA',
    message: /cannot read Secret meshlet-system\/meshlet-ca: no answer within 200 ms/,
  });
});
