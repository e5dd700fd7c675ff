/**
 * daemonset/: every object validates against the Kubernetes OpenAPI schemas (kubernetes-models, kube-models.ts),
 * the kustomization names every file, everything lives in meshlet-system, and the Deployment's
 * and DaemonSet's command lines are accepted by meshlet's own config loaders.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { argsToFlags, findObject, loadManifests, manifestFiles, REPO } from './install-files.js';
import { MODELS } from './kube-models.js';


const entries = loadManifests();
const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition']);

t.test('every object validates against its Kubernetes schema', async (t) => {
  t.ok(entries.length >= 13, `${entries.length} objects`);
  for (const { file, doc } of entries) {
    const Model = MODELS[`${doc.apiVersion}/${doc.kind}`];
    if (Model === undefined) {
      t.fail(`${file}: ${doc.apiVersion} ${doc.kind} has no validator in this test`);
      continue;
    }
    t.doesNotThrow(() => new Model(doc as never).validate(), `${file}: ${doc.kind} ${doc.metadata.name}`);
  }
});

t.test('the validator refuses a broken object (so a pass means something)', async (t) => {
  const ds = structuredClone(findObject(entries, 'DaemonSet', 'meshlet-agent')) as unknown as { spec: { template: { spec: { containers: { ports?: { containerPort: unknown }[] }[] } } } };
  const container = ds.spec.template.spec.containers[0];
  if (container === undefined) throw new Error('the agent DaemonSet has no container');
  // The agent declares no ports (agent.yaml): give it a malformed one.
  container.ports = [{ containerPort: '15001' }];
  const DaemonSet = MODELS['apps/v1/DaemonSet'];
  if (DaemonSet === undefined) throw new Error('no DaemonSet model');
  t.throws(() => new DaemonSet(ds as never).validate(), /containerPort must be integer/);
});

t.test('namespaced objects live in meshlet-system, cluster-scoped ones have no namespace', async (t) => {
  for (const { file, doc } of entries) {
    const expected = CLUSTER_SCOPED.has(doc.kind) ? undefined : 'meshlet-system';
    t.equal(doc.metadata.namespace, expected, `${file}: ${doc.kind} ${doc.metadata.name}`);
  }
});

t.test('the kustomization lists every manifest file, each once, namespace first', async (t) => {
  const k = parse(readFileSync(join(REPO, 'daemonset/kustomization.yaml'), 'utf8')) as { resources: string[]; images: { name: string }[] };
  t.same([...k.resources].sort(), manifestFiles());
  t.equal(k.resources[0], 'namespace.yaml');
  const images = new Set(entries.flatMap(({ doc }) => containersOf(doc).map((c) => c.image)));
  t.same([...images], ['meshlet:0.1.0'], 'one image for both commands');
  t.same(k.images.map((i) => i.name), ['meshlet'], 'the kustomization can retag it');
});

interface Container { image: string; args: string[]; env?: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[] }
function containersOf(doc: unknown): Container[] {
  const spec = (doc as { spec?: { template?: { spec?: { containers?: Container[] } } } }).spec;
  return spec?.template?.spec?.containers ?? [];
}

t.test("the controller's arguments are accepted by meshlet controller's config", async (t) => {
  const [c] = containersOf(findObject(entries, 'Deployment', 'meshlet-controller'));
  if (c === undefined) throw new Error('no controller container');
  t.equal(c.args[0], 'controller');
  t.same(c.env?.find((e) => e.name === 'POD_NAME'), { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, 'POD_NAME from the downward API, for the Lease');
  const config = loadControllerConfig(argsToFlags(c.args.slice(1)), { POD_NAME: 'meshlet-controller-7d9f-abcde' });
  t.match(config, {
    registry: { kind: 'kubernetes' },
    ca: { kind: 'kubernetes-secret', namespace: 'meshlet-system', name: 'meshlet-ca' },
    kubernetesAuth: true,
    listenPort: 15012,
    leaderElection: { identity: 'meshlet-controller-7d9f-abcde' },
  });
});

t.test("the agent's arguments are accepted by meshlet agent's config, with MESHLET_NODE from the node", async (t) => {
  const [c] = containersOf(findObject(entries, 'DaemonSet', 'meshlet-agent'));
  if (c === undefined) throw new Error('no agent container');
  t.equal(c.args[0], 'agent');
  const node = c.env?.find((e) => e.name === 'MESHLET_NODE');
  t.equal(node?.valueFrom?.fieldRef?.fieldPath, 'spec.nodeName');
  const config = loadAgentConfig(argsToFlags(c.args.slice(1)), { MESHLET_NODE: 'node-a' });
  t.match(config.controller, { address: 'meshlet-controller.meshlet-system.svc:15012', token: { kind: 'kubernetes-token' } });
  t.equal(config.node, 'node-a');
});
