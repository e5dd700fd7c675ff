/**
 * daemonset/crds.yaml and TrafficPolicy status: the CRD has the status subresource (the
 * controller writes `/status`, a spec edit cannot touch it), and every status the controller
 * builds fits the CRD's status schema, the largest ones too (16 ancestors, a 32 KiB message).
 */
import t from 'tap';
import { trafficPolicyStatusBody } from '../../../src/controller/registry/traffic-policy-status-patch.js';
import { invalidTrafficPolicyStatus, trafficPolicyStatuses } from '../../../src/mesh/traffic-policy-status.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { TrafficPolicyObject } from '../../../src/mesh/types.js';
import { schemaProblems, structuralProblems, type Schema } from '../install/crd-schema-check.js';
import { loadManifests } from '../install/install-files.js';

interface Version { subresources?: { status?: unknown }; schema: { openAPIV3Schema: Schema } }
const crd = loadManifests().map((e) => e.doc).find((d) => d.kind === 'CustomResourceDefinition' && d.metadata.name === 'trafficpolicies.meshlet.io');
const version = (crd?.['spec'] as { versions: Version[] } | undefined)?.versions[0];
const schema = version?.schema.openAPIV3Schema ?? {};

const doc = (status: unknown): Record<string, unknown> => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name: 'p', namespace: 'demo' },
  spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }] },
  status,
});

t.test('the status subresource is on, the schema structural', async (t) => {
  t.same(version?.subresources, { status: {} });
  t.same(structuralProblems(schema), []);
  t.not(Object.keys((schema['properties'] as Record<string, Schema>)['status'] ?? {}).length, 0, 'a status schema');
});

t.test('every status the controller builds fits the schema', async (t) => {
  const p = parseObjects('apiVersion: meshlet.io/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: p, namespace: demo}\nspec:\n  targetRefs: [{kind: Service, name: web}, {kind: Service, name: gone}]\n', 'p.yaml')[0] as TrafficPolicyObject;
  const valid = trafficPolicyStatuses([p], new Set(['demo/web']), new Set())[0];
  if (valid === undefined) throw new Error('no status');
  const many = Array.from({ length: 40 }, (_, i) => ({ kind: 'Service', name: `s${i}` }));
  const invalid = invalidTrafficPolicyStatus({ metadata: { name: 'p', namespace: 'demo', generation: 2 }, spec: { targetRefs: many } }, ['z'.repeat(50_000)]);
  if (invalid === undefined) throw new Error('no invalid status');
  for (const [name, s, generation] of [['valid', valid, 1], ['invalid, 16 ancestors, longest message', invalid, 2], ['no generation', valid, undefined]] as const) {
    const body = trafficPolicyStatusBody(undefined, s, generation, '2026-01-01T00:00:00Z');
    t.not(body, undefined, name);
    t.same(schemaProblems(doc(body), schema), [], name);
  }
  t.not(schemaProblems(doc({ ancestors: [{ ancestorRef: { name: 'web' }, controllerName: 'meshlet.io/controller', conditions: [{ type: 'Accepted', status: 'Maybe' }] }] }), schema).length, 0, 'the check can fail');
});
