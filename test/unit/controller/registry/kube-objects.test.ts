/**
 * API JSON -> mesh objects: list items without type meta, fields newer Kubernetes releases add,
 * the cut to the fields meshlet reads losing nothing it reads, problems naming the object.
 */
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { convertKubeObject, kubeObjectKey, kubeSourceName, project, slimKubeObject } from '../../../../src/controller/registry/kube-objects.js';
import { KUBERNETES_RESOURCES, type KubeResource } from '../../../../src/controller/registry/kube-resources.js';
import { objectsFromValue } from '../../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../../src/mesh/types.js';
import { readKubeYaml } from '../../../helpers/kube-fixtures.js';

const KUBE = fileURLToPath(new URL('../../../../../test/fixtures/kube/', import.meta.url));
const TWO_NODE = fileURLToPath(new URL('../../../../../test/fixtures/mesh/two-node/', import.meta.url));

function resource(kind: string): KubeResource {
  const r = KUBERNETES_RESOURCES.find((x) => x.kind === kind);
  if (r === undefined) throw new Error(`no resource for ${kind}`);
  return r;
}

async function items(file: string): Promise<unknown[]> {
  return (JSON.parse(await readFile(`${KUBE}${file}`, 'utf8')) as { items: unknown[] }).items;
}

const withoutSource = (o: MeshObject | undefined): unknown => (o === undefined ? undefined : { ...o, source: undefined });

t.test('a real PodList: items without kind, managedFields, fields of a newer release', async (t) => {
  const [web, job] = await items('pod-list.json');
  const converted = convertKubeObject(resource('Pod'), web);
  t.equal(converted.key, 'Pod/demo/web-7c9f8d5b6-x2k4p');
  t.same(converted.result.problems, []);
  t.same(converted.result.objects, [
    {
      kind: 'Pod',
      name: 'web-7c9f8d5b6-x2k4p',
      namespace: 'demo',
      labels: { app: 'web', 'pod-template-hash': '7c9f8d5b6' },
      source: { file: 'kubernetes:Pod/demo/web-7c9f8d5b6-x2k4p', doc: 0 },
      nodeName: 'node-a',
      serviceAccountName: 'web',
      addresses: ['198.18.1.31', 'fd00:198:18:1::31'],
      namedPorts: [{ name: 'http', port: 8080 }],
      hostNetwork: false,
    },
  ]);
  const finished = convertKubeObject(resource('Pod'), job).result.objects[0];
  t.same(finished?.kind === 'Pod' ? finished.addresses : undefined, [], 'a Succeeded pod holds no address');
  const full = objectsFromValue({ apiVersion: 'v1', kind: 'Pod', ...(web as object) }, { file: 'x', doc: 0 });
  t.match(full.problems.map((p) => p.text), [/hostnameOverride: unknown field/], 'uncut, a newer field would make the pod invalid');
});

t.test('a custom resource list: status and annotations cut, spec checked in full', async (t) => {
  const [meshTls] = await items('meshtls-list.json');
  const converted = convertKubeObject(resource('MeshTLS'), meshTls);
  t.same(converted.result.problems, []);
  t.match(converted.result.objects[0], { kind: 'MeshTLS', namespace: 'demo', name: 'db-strict', mode: 'STRICT', selector: { app: 'db' } });
  const typo = convertKubeObject(resource('MeshTLS'), { ...(meshTls as object), spec: { mode: 'STRICT', selectr: {} } });
  t.same(
    typo.result.problems.map((p) => p.text),
    ['kubernetes:MeshTLS/demo/db-strict (document 1): MeshTLS demo/db-strict: spec.selectr: unknown field (did you mean selector?)'],
    "meshlet's own spec keeps its unknown-field check",
  );
});

t.test('cutting to the fields meshlet reads loses nothing it reads', async (t) => {
  const objects = await readKubeYaml(TWO_NODE);
  t.ok(objects.length > 20);
  for (const raw of objects) {
    const kind = String(raw['kind']);
    const full = objectsFromValue(raw, { file: 'f', doc: 0 });
    const cut = convertKubeObject(resource(kind), raw).result;
    t.same(cut.problems, full.problems, `${kind}: same problems`);
    t.same(withoutSource(cut.objects[0]), withoutSource(full.objects[0]), `${kind} ${kubeObjectKey(resource(kind), raw)}: same object`);
  }
});

t.test('values of the wrong type survive the cut, so validation reports them', async (t) => {
  const bad = convertKubeObject(resource('Service'), { metadata: { name: 'web', namespace: 'demo' }, spec: { ports: 'http' } });
  t.same(bad.result.problems.map((p) => p.text), ['kubernetes:Service/demo/web (document 1): Service demo/web: spec.ports: must be a list, got "http"']);
  const notAnObject = convertKubeObject(resource('Node'), 'text');
  t.equal(notAnObject.key, 'Node/');
  t.match(notAnObject.result.problems[0]?.text, /a document must be a mapping/);
  t.same(project({ a: 1, b: { c: 2, d: 3 } }, { fields: { b: { fields: { c: 'all' } }, x: 'all' } }), { b: { c: 2 } });
  t.same(project([{ a: 1, b: 2 }], { each: { fields: { a: 'all' } } }), [{ a: 1 }]);
});

t.test('keys and source names', async (t) => {
  t.equal(kubeObjectKey(resource('Node'), { metadata: { name: 'node-a' } }), 'Node/node-a');
  t.equal(kubeObjectKey(resource('Workload'), { metadata: { name: 'vm', namespace: 'demo' } }), 'Workload/demo/vm');
  t.equal(kubeSourceName('Pod/demo/web'), 'kubernetes:Pod/demo/web');
  const typed = convertKubeObject(resource('Namespace'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'demo' } });
  t.equal(typed.result.objects[0]?.kind, 'Namespace', 'objects with their own type meta keep it');
});

t.test('the cache keeps slim objects: what meshlet reads and the resourceVersion', async (t) => {
  const [web] = await items('pod-list.json');
  const slim = slimKubeObject(resource('Pod'), web) as { metadata: Record<string, unknown>; spec: Record<string, unknown> };
  t.same(Object.keys(slim.metadata).sort(), ['labels', 'name', 'namespace', 'resourceVersion']);
  t.same(Object.keys(slim.spec).sort(), ['containers', 'nodeName', 'serviceAccount', 'serviceAccountName']);
  t.ok(JSON.stringify(slim).length < JSON.stringify(web).length / 3, 'a fraction of the size');
  t.same(convertKubeObject(resource('Pod'), slim), convertKubeObject(resource('Pod'), web), 'converts the same');
  const bookmark = { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '9' } };
  t.same(slimKubeObject(resource('Pod'), bookmark), bookmark);
});
