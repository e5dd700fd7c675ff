/**
 * The whole controller in Kubernetes mode against the fake API server publishes its own root
 * (the CA's trust bundle) as meshlet-ca-root: in meshlet-system and the enrolled namespaces, in
 * a namespace enrolled later, not in the others; counted in /metrics. A standby waiting for the
 * Lease writes nothing, and publishes once it leads. Checks the wiring in controller.ts; the
 * decisions and the failure handling are in the publisher's tests.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { CA_ROOT_CONFIGMAP, CA_ROOT_KEY } from '../../../../src/controller/ca-root/ca-root-plan.js';
import { loadControllerConfig } from '../../../../src/controller/config.js';
import { Controller } from '../../../../src/controller/controller.js';
import type { FakeKubeApi, FakeResource, KubeJson } from '../../../helpers/fake-kube-api.js';
import { startFakeApi, type Teardown } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';

const CONFIGMAPS: FakeResource = { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true };
const LEASES: FakeResource = { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true };
const LEASE_PATH = '/apis/coordination.k8s.io/v1/namespaces/meshlet-system/leases/meshlet-controller';
const namespace = (name: string, labels: Record<string, string> = {}): KubeJson => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
const ENROLLED = { 'meshlet.io/mesh': 'enabled' };

function controllerFor(t: Teardown, api: FakeKubeApi, leaderElect: boolean): { controller: Controller; stateDir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ctl-ca-root-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig());
  const stateDir = join(dir, 'state');
  const config = loadControllerConfig({ kubernetes: true, kubeconfig, leaderElect, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir, debounceMs: '20' }, { POD_NAME: 'ctl-b' });
  const controller = new Controller(config, pino({ level: 'silent' }));
  t.teardown(() => controller.close());
  return { controller, stateDir };
}

const pemIn = (api: FakeKubeApi, ns: string): unknown => (api.store.get(CONFIGMAPS, ns, CA_ROOT_CONFIGMAP)?.['data'] as Record<string, unknown> | undefined)?.[CA_ROOT_KEY];
const holding = (api: FakeKubeApi): string[] => api.store.list(CONFIGMAPS).map((o) => (o['metadata'] as { namespace: string }).namespace).sort();

t.test('the controller publishes its root in meshlet-system and the enrolled namespaces only', async (t) => {
  const { api } = await startFakeApi(t, [namespace('meshlet-system'), namespace('demo', ENROLLED), namespace('legacy')]);
  api.store.resources.push(CONFIGMAPS);
  const { controller, stateDir } = controllerFor(t, api, false);
  await controller.start();
  const root = readFileSync(join(stateDir, 'ca', 'ca.crt'), 'utf8');
  await waitFor('meshlet-system and demo', () => holding(api).length === 2);
  t.same(holding(api), ['demo', 'meshlet-system'], 'legacy is not enrolled');
  t.equal(pemIn(api, 'demo'), root, 'the CA\'s own root');
  t.equal(pemIn(api, 'meshlet-system'), root);
  api.apply(namespace('legacy', ENROLLED));
  await waitFor('legacy, once enrolled', () => pemIn(api, 'legacy') === root);
  const text = await (await fetch(`http://127.0.0.1:${controller.metricsBound?.port ?? 0}/metrics`)).text();
  t.match(text, /^meshlet_controller_ca_root_writes_total\{result="created"\} 3$/m);
  t.match(text, /^meshlet_controller_ca_root_namespaces\{state="published"\} 3$/m);
  t.match(text, /^meshlet_controller_ca_root_namespaces\{state="pending"\} 0$/m);
  api.apply(namespace('legacy'));
  await waitFor('the label removal seen', async () => /ca_root_namespaces\{state="published"\} 2$/m.test(await (await fetch(`http://127.0.0.1:${controller.metricsBound?.port ?? 0}/metrics`)).text()));
  t.equal(pemIn(api, 'legacy'), root, 'a namespace that leaves the mesh keeps its ConfigMap');
});

t.test('a standby writes no ConfigMap; it publishes once it holds the Lease', async (t) => {
  const { api } = await startFakeApi(t, [namespace('meshlet-system'), namespace('demo', ENROLLED)]);
  api.store.resources.push(CONFIGMAPS, LEASES);
  api.apply({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'meshlet-controller', namespace: 'meshlet-system' }, spec: { holderIdentity: 'ctl-a', leaseDurationSeconds: 15, leaseTransitions: 0 } });
  const { controller } = controllerFor(t, api, true);
  let serving = false;
  const started = controller.start().then(() => (serving = true));
  // Two refused tries (2 s apart), well inside the 15 s after which the Lease counts as expired.
  await waitFor('two reads of the Lease by the standby', () => api.requests.filter((r) => r.method === 'GET' && r.path === LEASE_PATH).length >= 2);
  t.equal(serving, false, 'the standby waits');
  t.equal(api.requests.filter((r) => r.path.includes('configmaps')).length, 0, 'and does not touch a ConfigMap');
  const lease = api.store.get(LEASES, 'meshlet-system', 'meshlet-controller') as KubeJson;
  api.apply({ ...lease, spec: { ...(lease['spec'] as KubeJson), holderIdentity: '' } });
  await started;
  await waitFor('published by the new leader', () => holding(api).length === 2);
  t.same(holding(api), ['demo', 'meshlet-system']);
});

t.test('ConfigMaps forbidden: the controller still starts and serves, and counts the refusals', async (t) => {
  const { api } = await startFakeApi(t, [namespace('meshlet-system'), namespace('demo', ENROLLED)]);
  api.store.resources.push(CONFIGMAPS);
  api.failNext('/api/v1/configmaps', 403, 1_000);
  const { controller } = controllerFor(t, api, false);
  await controller.start();
  await waitFor('ready to serve agents', () => controller.health().pending.length === 0);
  t.same(controller.health(), { role: 'single', pending: [] });
  const scrape = async (): Promise<string> => (await fetch(`http://127.0.0.1:${controller.metricsBound?.port ?? 0}/metrics`)).text();
  const text = await waitFor('two refusals counted', async () => {
    const body = await scrape();
    const m = /^meshlet_controller_ca_root_failures_total\{operation="watch",reason="forbidden"\} (\d+)$/m.exec(body);
    return Number(m?.[1] ?? 0) >= 2 ? body : undefined;
  });
  t.match(text, /^meshlet_controller_ca_root_namespaces\{state="pending"\} 2$/m, 'meshlet-system and demo pending');
  t.same(holding(api), []);
});
