/**
 * The headline promise of the registry: the same objects give the same mesh, whichever source
 * they come from. The two-node fixture is read as a YAML directory by one source and served by
 * the fake Kubernetes API to the other; every node's snapshot must be identical byte for byte
 * apart from the version, before and after the same change is made to both.
 */
import t from 'tap';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { PublishedState } from '../../../../src/controller/contracts.js';
import type { RegistrySource } from '../../../../src/controller/registry/registry-source.js';
import { YamlDirectorySource } from '../../../../src/controller/registry/yaml-directory-source.js';
import { StateStore } from '../../../../src/controller/state-store.js';
import { computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { readKubeYaml } from '../../../helpers/kube-fixtures.js';
import { kubernetesSource, startFakeApi, type Teardown } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';

const FIXTURE = fileURLToPath(new URL('../../../../../test/fixtures/mesh/two-node/', import.meta.url));
const logger = pino({ level: 'silent' });
const NODES = ['node-a', 'node-b', 'node-unknown'];

/** A state store on one source, with every published state recorded. */
function storeOn(t: Teardown, source: RegistrySource): { store: StateStore; seen: PublishedState[] } {
  const store = new StateStore({ logger, trustDomain: 'lab.local', debounceMs: 20 });
  t.teardown(() => store.close());
  const seen: PublishedState[] = [];
  store.subscribe((s) => seen.push(s));
  store.addSource(source);
  return { store, seen };
}

/** The node's snapshot as JSON, the version blanked: what is compared byte for byte. */
function snapshotText(published: PublishedState | undefined, node: string): string {
  if (published === undefined) throw new Error('no state published');
  const snapshot = computeSnapshot(published.state, node, published.version);
  return JSON.stringify({ ...snapshot, version: '' }, null, 1);
}

const EXTRA_POD = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'cart-2', namespace: 'shop', labels: { app: 'cart' } },
  spec: { serviceAccountName: 'cart', nodeName: 'node-b', containers: [{ name: 'cart', image: 'registry.example/cart:3' }] },
  status: { phase: 'Running', podIP: '198.18.2.40' },
};

t.test('the Kubernetes source and the YAML source give the same snapshot for every node', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-same-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await cp(FIXTURE, dir, { recursive: true });
  const yamlSource = new YamlDirectorySource({ dir, logger, resyncMs: 0 });
  t.teardown(() => yamlSource.close());
  await yamlSource.start();
  const fromYaml = storeOn(t, yamlSource);

  const objects = await readKubeYaml(FIXTURE);
  t.equal(objects.length, 25, 'every fixture object');
  const { api, kubeConfig } = await startFakeApi(t, objects);
  const kubeSource = kubernetesSource(t, kubeConfig, logger);
  await kubeSource.start();
  const fromKube = storeOn(t, kubeSource);

  await waitFor('both published', () => fromYaml.seen.length === 1 && fromKube.seen.length === 1);
  t.same(kubeSource.contents()?.excluded, [], 'every object valid through the API too');
  const state = fromKube.store.current()?.state;
  t.equal(state?.workloads.length, 6, 'a real mesh: six meshed workloads');
  t.ok((state?.services ?? []).some((s) => s.endpoints.length >= 3), 'with Service endpoints');
  for (const node of NODES) t.equal(snapshotText(fromKube.store.current(), node), snapshotText(fromYaml.store.current(), node), `${node}: same snapshot`);
  t.ok(snapshotText(fromKube.store.current(), 'node-a').includes('"localWorkloads": [\n  {'), 'node-a has local workloads');

  // The same change to both: a pod added, a pod deleted.
  await writeFile(join(dir, 'extra.yaml'), JSON.stringify(EXTRA_POD));
  api.apply(EXTRA_POD);
  await rm(join(dir, 'pods.yaml'));
  await writeFile(join(dir, 'pods.yaml'), (await readKubeYaml(FIXTURE)).filter((o) => o['kind'] === 'Pod' && (o['metadata'] as { name: string }).name !== 'web-2').map((o) => JSON.stringify(o)).join('\n---\n'));
  api.remove('v1', 'Pod', 'demo', 'web-2');
  await waitFor('both changed', () => {
    const uids = (s: PublishedState | undefined): string => (s?.state.workloads ?? []).map((w) => w.uid).join(',');
    const want = uids(fromYaml.store.current());
    return want.includes('cart-2') && !want.includes('web-2') && uids(fromKube.store.current()) === want;
  });
  for (const node of NODES) t.equal(snapshotText(fromKube.store.current(), node), snapshotText(fromYaml.store.current(), node), `${node}: same snapshot after the change`);
});
