/**
 * Finding the API server: a kubeconfig file, or the pod's service account from an explicit
 * environment; every missing piece named. Also the resource list RBAC is derived from.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadKubeConfig, statusMessage } from '../../../../src/controller/registry/kube-client.js';
import { collectionPath, KUBERNETES_RESOURCES, resourceName } from '../../../../src/controller/registry/kube-resources.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-kube-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function configError(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID')) return err;
    throw err;
  }
  throw new Error('expected MESHLET_ERR_CONFIG_INVALID');
}

t.test('in cluster: the service host and port from the environment, the mounted token and CA', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'token'), 'tok');
  await writeFile(join(dir, 'ca.crt'), 'not checked here');
  const kc = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' }, serviceAccountDir: dir });
  t.match(kc.getCurrentCluster(), { server: 'https://10.96.0.1:443', caFile: join(dir, 'ca.crt'), skipTLSVerify: false });
  t.match(kc.getCurrentUser(), { authProvider: { name: 'tokenFile', config: { tokenFile: join(dir, 'token') } } });
  const v6 = loadKubeConfig({ env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' }, serviceAccountDir: dir });
  t.equal(v6.getCurrentCluster()?.server, 'https://[fd00::1]:6443');
});

t.test('in cluster: what is missing is named', async (t) => {
  const dir = await tempDir(t);
  t.match(configError(() => loadKubeConfig({ env: {}, serviceAccountDir: dir })).message, /needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT.*pass --kubeconfig FILE/);
  const env = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
  t.match(configError(() => loadKubeConfig({ env, serviceAccountDir: dir })).message, new RegExp(`needs ${join(dir, 'token')}, which does not exist`));
});

t.test('a kubeconfig file: loaded, or its problem named', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'config');
  await writeFile(
    file,
    'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://198.18.0.9:6443"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n',
  );
  t.equal(loadKubeConfig({ kubeconfig: file, env: {} }).getCurrentCluster()?.server, 'https://198.18.0.9:6443');
  t.match(configError(() => loadKubeConfig({ kubeconfig: join(dir, 'nope'), env: {} })).message, new RegExp(`kubeconfig ${join(dir, 'nope')} cannot be used`));
  await writeFile(file, 'apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n');
  t.match(configError(() => loadKubeConfig({ kubeconfig: file, env: {} })).message, /has no current context with a cluster/);
});

t.test('the resources read, with their verbs: what RBAC is derived from', async (t) => {
  t.same(
    KUBERNETES_RESOURCES.map((r) => ({ group: r.group, version: r.version, resource: r.resource, verbs: r.verbs })),
    [
      { group: '', version: 'v1', resource: 'namespaces', verbs: ['list', 'watch'] },
      { group: '', version: 'v1', resource: 'nodes', verbs: ['list', 'watch'] },
      { group: '', version: 'v1', resource: 'pods', verbs: ['list', 'watch'] },
      { group: '', version: 'v1', resource: 'services', verbs: ['list', 'watch'] },
      { group: 'meshlet.io', version: 'v1alpha1', resource: 'workloads', verbs: ['list', 'watch'] },
      { group: 'meshlet.io', version: 'v1alpha1', resource: 'meshtlses', verbs: ['list', 'watch'] },
      { group: 'meshlet.io', version: 'v1alpha1', resource: 'trafficpolicies', verbs: ['list', 'watch'] },
      { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', verbs: ['list', 'watch'] },
      { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'grpcroutes', verbs: ['list', 'watch'] },
      { group: 'meshlet.io', version: 'v1alpha1', resource: 'authorizationpolicies', verbs: ['list', 'watch'] },
      { group: 'meshlet.io', version: 'v1alpha1', resource: 'telemetries', verbs: ['list', 'watch'] },
      { group: 'security.istio.io', version: 'v1', resource: 'authorizationpolicies', verbs: ['list', 'watch'] },
    ],
  );
  t.ok(Object.isFrozen(KUBERNETES_RESOURCES), 'the list is frozen');
  t.ok(KUBERNETES_RESOURCES.length > 0, 'the list is not empty');
  t.same(KUBERNETES_RESOURCES.filter((r) => !Object.isFrozen(r)), [], 'every entry is frozen');
  t.same(KUBERNETES_RESOURCES.map(collectionPath).slice(2, 5), ['/api/v1/pods', '/api/v1/services', '/apis/meshlet.io/v1alpha1/workloads']);
  t.same(KUBERNETES_RESOURCES.map(resourceName).slice(3), [
    'services', 'workloads.meshlet.io', 'meshtlses.meshlet.io', 'trafficpolicies.meshlet.io',
    'httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io',
    'authorizationpolicies.meshlet.io', 'telemetries.meshlet.io', 'authorizationpolicies.security.istio.io',
  ]);
  t.same(
    KUBERNETES_RESOURCES.filter((r) => r.optional === true).map((r) => r.kind),
    ['TrafficPolicy', 'HTTPRoute', 'GRPCRoute', 'AuthorizationPolicy', 'Telemetry', 'AuthorizationPolicy'],
    'only CRDs that may be missing are optional',
  );
});

t.test('statusMessage reads a Status body, or shows the text', async (t) => {
  t.equal(statusMessage('{"kind":"Status","message":"pods is forbidden"}'), 'pods is forbidden');
  t.equal(statusMessage('<html>bad gateway</html>'), '<html>bad gateway</html>');
});
