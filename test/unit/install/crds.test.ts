/**
 * daemonset/crds.yaml: each CRD is a valid apiextensions/v1 object with a structural schema,
 * and the schema and meshlet's own parser agree: the sample objects pass both and are read
 * the same from YAML and from the Kubernetes API, and each broken variant fails both.
 */
import t from 'tap';
import { CustomResourceDefinition } from 'kubernetes-models/apiextensions.k8s.io/v1/CustomResourceDefinition';
import { stringify } from 'yaml';
import { parseObjects, collectObjects } from '../../../src/mesh/objects/parse.js';
import { convertKubeObject } from '../../../src/controller/registry/kube-objects.js';
import { KUBERNETES_RESOURCES, MESHLET_GROUP } from '../../../src/controller/registry/kube-resources.js';
import { schemaProblems, structuralProblems, type Schema } from './crd-schema-check.js';
import { loadManifests, readRepoFile, yamlDocuments, type KubeDoc } from './install-files.js';

const crds = loadManifests().filter((e) => e.doc.kind === 'CustomResourceDefinition').map((e) => e.doc);
const SAMPLES_FILE = 'test/unit/install/samples/meshlet-kinds.yaml';
const samplesText = readRepoFile(SAMPLES_FILE);
const samples = yamlDocuments(samplesText, SAMPLES_FILE) as KubeDoc[];

interface CrdSpec {
  group: string;
  scope: string;
  names: { kind: string; plural: string };
  versions: { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Schema } }[];
}
const specOf = (crd: KubeDoc): CrdSpec => crd['spec'] as CrdSpec;

/** The v1alpha1 schema of `kind`. */
function schemaFor(kind: string): Schema {
  const crd = crds.find((c) => specOf(c).names.kind === kind);
  if (crd === undefined) throw new Error(`no CRD for ${kind}`);
  const version = specOf(crd).versions.find((v) => v.name === 'v1alpha1');
  if (version === undefined) throw new Error(`the ${kind} CRD has no v1alpha1`);
  return version.schema.openAPIV3Schema;
}

/** The sample as the API server returns it in a list: server fields added, no type fields. */
function asListItem(doc: KubeDoc): Record<string, unknown> {
  const { apiVersion: _a, kind: _k, ...rest } = doc;
  return { ...rest, metadata: { ...doc.metadata, uid: '6f1c1d0e-0000-4000-8000-000000000001', resourceVersion: '42', generation: 1, creationTimestamp: '2026-01-01T00:00:00Z', managedFields: [{ manager: 'kubectl', operation: 'Apply' }] } };
}

t.test('there is one CRD per meshlet kind the controller watches, named plural.group', async (t) => {
  const meshletResources = KUBERNETES_RESOURCES.filter((r) => r.group === MESHLET_GROUP);
  t.same(crds.map((c) => c.metadata.name).sort(), meshletResources.map((r) => `${r.resource}.${r.group}`).sort());
  for (const r of meshletResources) {
    const spec = specOf(crds.find((c) => c.metadata.name === `${r.resource}.${r.group}`) as KubeDoc);
    t.equal(spec.names.kind, r.kind, `${r.resource}: kind`);
    t.equal(spec.names.plural, r.resource, `${r.resource}: plural`);
    t.equal(spec.scope, r.namespaced ? 'Namespaced' : 'Cluster', `${r.resource}: scope`);
    t.same(spec.versions.map((v) => [v.name, v.served, v.storage]), [[r.version, true, true]], `${r.resource}: one served storage version`);
  }
});

t.test('each CRD validates against the apiextensions/v1 schema and is structural', async (t) => {
  for (const crd of crds) {
    t.doesNotThrow(() => new CustomResourceDefinition(crd as never).validate(), crd.metadata.name);
    t.same(structuralProblems(schemaFor(specOf(crd).names.kind)), [], `${crd.metadata.name} is structural`);
  }
});

t.test('the checker itself finds what it should (so a pass means something)', async (t) => {
  t.match(structuralProblems({ type: 'object', properties: { a: { description: 'no type' } } }), [/\/a: every node .* needs a type/]);
  t.match(structuralProblems({ type: 'string', anyOf: [{ type: 'string' }] }), [/type is not allowed inside anyOf/]);
  t.match(structuralProblems({ type: 'string', oneOf: [] }), [/keyword oneOf is not supported/]);
  t.match(schemaProblems({ spec: { mode: 'LOOSE' } }, schemaFor('MeshTLS')), [/\/spec\/mode: must be one of STRICT, PERMISSIVE/]);
});

t.test('every sample validates against its CRD and parses in meshlet', async (t) => {
  t.equal(samples.length, 8);
  t.same([...new Set(samples.map((s) => s.kind))].sort(), crds.map((c) => specOf(c).names.kind).sort(), 'a sample of each kind');
  for (const s of samples) t.same(schemaProblems(s, schemaFor(s.kind)), [], `${s.kind} ${s.metadata.name} fits the CRD`);
  t.equal(parseObjects(samplesText, SAMPLES_FILE).length, samples.length);
});

t.test('the controller reads a sample from the API exactly as from YAML', async (t) => {
  const fromYaml = parseObjects(samplesText, SAMPLES_FILE);
  samples.forEach((s, i) => {
    const resource = KUBERNETES_RESOURCES.find((r) => r.kind === s.kind);
    if (resource === undefined) throw new Error(`the controller does not watch ${s.kind}`);
    const { result } = convertKubeObject(resource, asListItem(s));
    t.same(result.problems, [], `${s.kind} ${s.metadata.name}: no problems`);
    // The API server stamps creationTimestamp (a TrafficPolicy keeps it for its tie-break).
    // An AuthorizationPolicy keeps it in its policy data.
    const untimed = (o: unknown): Record<string, unknown> => {
      const { source: _s, creationTimestamp: _c, ...rest } = o as { source: unknown; creationTimestamp?: unknown; policy?: object };
      return rest.policy === undefined ? rest : { ...rest, policy: { ...rest.policy, creationTimestamp: 0 } };
    };
    const fromApi = untimed(result.objects[0]);
    const expected = untimed(fromYaml[i]);
    t.same(fromApi, expected, `${s.kind} ${s.metadata.name}: the same object`);
  });
});

/** Broken variants of a sample: each must be refused by the CRD and by meshlet's parser. */
const BROKEN: { name: string; base: number; edit: (spec: Record<string, unknown>) => void }[] = [
  { name: 'Workload without node', base: 0, edit: (s) => delete s['node'] },
  { name: 'Workload without address', base: 0, edit: (s) => delete s['address'] },
  { name: 'Workload with a bad address', base: 0, edit: (s) => (s['address'] = '198.18.2.300') },
  { name: 'Workload with a port out of range', base: 0, edit: (s) => (s['ports'] = [{ name: 'db', port: 70000 }]) },
  { name: 'Workload with a port name too long', base: 0, edit: (s) => (s['ports'] = [{ name: 'a-very-long-port-name', port: 1 }]) },
  { name: 'Workload with an unknown field', base: 0, edit: (s) => (s['nodname'] = 'node-b') },
  { name: 'Workload with an upper-case node', base: 0, edit: (s) => (s['node'] = 'Node-B') },
  { name: 'MeshTLS with a bad mode', base: 2, edit: (s) => (s['mode'] = 'strict') },
  { name: 'MeshTLS without mode', base: 2, edit: (s) => delete s['mode'] },
  { name: 'MeshTLS with empty matchLabels', base: 2, edit: (s) => (s['selector'] = { matchLabels: {} }) },
  { name: 'MeshTLS with a selector without matchLabels', base: 2, edit: (s) => (s['selector'] = {}) },
  { name: 'MeshTLS with matchExpressions', base: 2, edit: (s) => (s['selector'] = { matchLabels: { a: 'b' }, matchExpressions: [] }) },
  { name: 'TrafficPolicy without targetRefs', base: 4, edit: (s) => delete s['targetRefs'] },
  { name: 'TrafficPolicy with an unknown type', base: 4, edit: (s) => (s['loadBalancer'] = { type: 'Random' }) },
  { name: 'TrafficPolicy targeting a Deployment', base: 4, edit: (s) => (s['targetRefs'] = [{ group: 'apps', kind: 'Deployment', name: 'web' }]) },
  { name: 'TrafficPolicy with a bad duration', base: 4, edit: (s) => (s['loadBalancer'] = { type: 'PeakEWMA', peakEWMA: { decay: '10 seconds' } }) },
  { name: 'TrafficPolicy with too many choices', base: 4, edit: (s) => (s['loadBalancer'] = { type: 'LeastRequest', leastRequest: { choiceCount: 17 } }) },
  { name: 'AuthorizationPolicy with a CUSTOM action', base: 5, edit: (s) => (s['action'] = 'CUSTOM') },
  { name: 'AuthorizationPolicy with a lower-case action', base: 5, edit: (s) => (s['action'] = 'deny') },
  { name: 'AuthorizationPolicy with rules that are not a list', base: 5, edit: (s) => (s['rules'] = { from: [] }) },
  { name: 'AuthorizationPolicy with a label value that is not a string', base: 5, edit: (s) => (s['selector'] = { matchLabels: { app: 5 } }) },
  { name: 'AuthorizationPolicy with a provider', base: 5, edit: (s) => (s['provider'] = { name: 'ext-authz' }) },
  { name: 'AuthorizationPolicy with a targetRef without name', base: 5, edit: (s) => { delete s['selector']; s['targetRefs'] = [{ kind: 'Service' }]; } },
];

t.test('a broken object is refused by both the CRD schema and meshlet', async (t) => {
  for (const b of BROKEN) {
    const doc = structuredClone(samples[b.base]) as KubeDoc & { spec: Record<string, unknown> };
    b.edit(doc.spec);
    t.not(schemaProblems(doc, schemaFor(doc.kind)).length, 0, `${b.name}: CRD refuses it`);
    t.not(collectObjects(stringify(doc), 'broken.yaml').problems.length, 0, `${b.name}: meshlet refuses it`);
  }
});

t.test('AuthorizationPolicy: rules are left to meshlet (unknown fields kept, so meshlet names them); no short name clashing with Istio\'s `ap`', async (t) => {
  const crd = crds.find((c) => c.metadata.name === 'authorizationpolicies.meshlet.io') as KubeDoc;
  const names = specOf(crd).names as { shortNames?: string[] };
  t.equal(names.shortNames, undefined, 'no short name (Istio\'s CRD has ap)');
  for (const other of crds) t.notOk(((specOf(other).names as { shortNames?: string[] }).shortNames ?? []).includes('ap'), `${other.metadata.name}: no ap`);
  const base = samples[5] as KubeDoc & { spec: { rules: Record<string, unknown>[] } };
  const unknown = structuredClone(base);
  unknown.spec.rules[0]!['from'] = [{ source: { requestPrincipals: ['*'] } }];
  t.same(schemaProblems(unknown, schemaFor('AuthorizationPolicy')), [], 'the CRD keeps a rule field it does not list');
  t.match(collectObjects(stringify(unknown), 'unknown.yaml').problems.map((p) => p.text), [/requestPrincipals/], 'and meshlet names it');
  const columns = (specOf(crd).versions[0] as unknown as { additionalPrinterColumns: { name: string; jsonPath: string }[] }).additionalPrinterColumns;
  t.same(columns.map((c) => `${c.name} ${c.jsonPath}`), ['Action .spec.action', 'Age .metadata.creationTimestamp']);
});
