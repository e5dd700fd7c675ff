/**
 * daemonset/crds.yaml and the TrafficPolicy resilience sections: the full example (every
 * section) fits the CRD schema and parses in meshlet, a route-targeted policy fits too, every
 * field the parser reads is in the schema (nothing pruned by the API server), and broken
 * variants are refused by both the schema and meshlet.
 */
import t from 'tap';
import { parse, stringify } from 'yaml';
import { collectObjects } from '../../../src/mesh/objects/parse.js';
import { schemaProblems, structuralProblems, type Schema } from '../install/crd-schema-check.js';
import { loadManifests } from '../install/install-files.js';
import { FULL_SPEC } from './traffic-policy-fixture.js';

const crd = loadManifests().map((e) => e.doc).find((d) => d.kind === 'CustomResourceDefinition' && d.metadata.name === 'trafficpolicies.meshlet.io');
const schema = ((crd?.['spec'] as { versions: { schema: { openAPIV3Schema: Schema } }[] }).versions[0] as { schema: { openAPIV3Schema: Schema } }).schema.openAPIV3Schema;

const base = (): { apiVersion: string; kind: string; metadata: { name: string; namespace: string }; spec: Record<string, any> } => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name: 'p', namespace: 'demo' },
  spec: { targetRefs: [{ group: '', kind: 'Service', name: 'web' }], ...(parse(FULL_SPEC.replace(/^ {2}/gm, '')) as Record<string, unknown>) },
});

/** Every key path of a value (`spec.retry.retryOn.triggers`), lists looked into. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (Array.isArray(value)) return value.flatMap((v) => keyPaths(v, prefix));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([k, v]) => [`${prefix}${k}`, ...keyPaths(v, `${prefix}${k}.`)]);
}

/** The key paths a schema declares. */
function schemaPaths(s: Schema, prefix = ''): string[] {
  const props = (s['properties'] ?? {}) as Record<string, Schema>;
  const items = s['items'] as Schema | undefined;
  return [...Object.entries(props).flatMap(([k, v]) => [`${prefix}${k}`, ...schemaPaths(v, `${prefix}${k}.`)]), ...(items === undefined ? [] : schemaPaths(items, prefix))];
}

t.test('the schema is structural and the full example fits it and meshlet', async (t) => {
  t.same(structuralProblems(schema), []);
  const doc = base();
  t.same(schemaProblems(doc, schema), []);
  t.same(collectObjects(stringify(doc), 'full.yaml').problems, []);
  const declared = new Set(schemaPaths(schema));
  const used = [...new Set(keyPaths(doc.spec, 'spec.'))];
  t.not(used.length, 0);
  t.same(used.filter((p) => !declared.has(p)), [], 'every field of the example is declared');
});

t.test('a route-targeted policy fits both', async (t) => {
  const doc = { ...base(), spec: { targetRefs: [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', name: 'web.v1' }], timeout: { http: { requestTimeout: '2s' } }, retry: {} } };
  t.same(schemaProblems(doc, schema), []);
  t.same(collectObjects(stringify(doc), 'route.yaml').problems, []);
});

const BROKEN: [string, (s: Record<string, any>) => void][] = [
  ['retries past 10', (s) => (s['retry']['numRetries'] = 11)],
  ['an unknown trigger', (s) => (s['retry']['retryOn']['triggers'] = ['retriable-4xx'])],
  ['a status code 200', (s) => (s['retry']['retryOn']['httpStatusCodes'] = [200])],
  ['a duration in words', (s) => (s['timeout']['http']['requestTimeout'] = 'ten seconds')],
  ['a percentage over 100', (s) => (s['faultInjection']['delay']['percentage'] = 101)],
  ['a gRPC status 17', (s) => (s['faultInjection']['abort']['grpcStatus'] = 17)],
  ['a breaker of 0', (s) => (s['circuitBreaker']['maxConnections'] = 0)],
  ['three hedges', (s) => (s['hedging']['maxHedges'] = 3)],
  ['a Global rate limit', (s) => (s['rateLimit']['type'] = 'Global')],
  ['a Day unit', (s) => (s['rateLimit']['local']['rules'][0]['limit']['unit'] = 'Day')],
  ['a rule without limit', (s) => delete s['rateLimit']['local']['rules'][0]['limit']],
  ['a principal that is not SPIFFE', (s) => (s['rateLimit']['local']['rules'][0]['clientSelectors'][0]['sourcePrincipals'] = ['cluster.local/ns/a/sa/b'])],
  ['a health check without passive', (s) => (s['healthCheck'] = {})],
  ['a Gateway target', (s) => (s['targetRefs'] = [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'gw' }])],
];

t.test('a broken policy is refused by both the CRD schema and meshlet', async (t) => {
  for (const [name, edit] of BROKEN) {
    const doc = base();
    edit(doc.spec);
    t.not(schemaProblems(doc, schema).length, 0, `${name}: the CRD refuses it`);
    t.not(collectObjects(stringify(doc), 'broken.yaml').problems.length, 0, `${name}: meshlet refuses it`);
  }
});
