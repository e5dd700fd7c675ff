/**
 * TrafficPolicy status written back to Kubernetes against the fake API server: GET then PUT to
 * the status subresource with the resourceVersion read (a stale one is a 409, retried), once per
 * change, observedGeneration from the object; an invalid policy found among a real
 * KubernetesSource's exclusions gets Invalid naming the field; a policy gone is skipped; a
 * pass is bounded.
 */
import t from 'tap';
import {
  invalidTrafficPolicies,
  MAX_POLICIES_PER_PASS,
  TrafficPolicyStatusWriter,
} from '../../../../src/controller/registry/traffic-policy-status-writer.js';
import { convertKubeObject } from '../../../../src/controller/registry/kube-objects.js';
import { KUBERNETES_RESOURCES } from '../../../../src/controller/registry/kube-resources.js';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';
import { trafficPolicyStatuses, type TrafficPolicyStatus } from '../../../../src/mesh/traffic-policy-status.js';
import type { TrafficPolicyObject } from '../../../../src/mesh/types.js';
import type { FakeKubeApi, FakeResource, KubeJson } from '../../../helpers/fake-kube-api.js';
import { kubernetesSource, recordingLogger, startFakeApi } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';

const POLICIES: FakeResource = { group: 'meshlet.io', version: 'v1alpha1', resource: 'trafficpolicies', kind: 'TrafficPolicy', namespaced: true };
const BASE = '/apis/meshlet.io/v1alpha1/namespaces/demo/trafficpolicies';

interface Sent { metadata: { resourceVersion: string }; spec?: unknown; status: { ancestors: Ancestor[] } }
interface Ancestor { ancestorRef: { kind: string; name: string }; controllerName: string; conditions: { type: string; status: string; reason: string; message: string; observedGeneration?: number; lastTransitionTime: string }[] }

const object = (name: string, targetRefs: unknown, generation = 1): KubeJson => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name, namespace: 'demo', generation },
  spec: { targetRefs },
});

/**
 * The status subresource as the API server serves it: a stale resourceVersion is a 409; the
 * status replaces the stored one, the spec is left as it is.
 */
function serveStatus(api: FakeKubeApi, name: string, puts: Sent[]): void {
  api.route('PUT', `${BASE}/${name}/status`, (_req, body) => {
    const sent = JSON.parse(body) as Sent;
    const stored = api.store.get(POLICIES, 'demo', name);
    if (stored === undefined) return { status: 404, body: { kind: 'Status', code: 404 } };
    if ((stored['metadata'] as { resourceVersion: string }).resourceVersion !== sent.metadata.resourceVersion) {
      return { status: 409, body: { kind: 'Status', code: 409, message: 'the object has been modified' } };
    }
    puts.push(sent);
    return { status: 200, body: api.store.upsert({ ...stored, status: sent.status }) };
  });
}

function parsed(name: string, created: string, targets: string): TrafficPolicyObject {
  const text = `apiVersion: meshlet.io/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: ${name}, namespace: demo, creationTimestamp: "${created}"}\nspec:\n  targetRefs: ${targets}\n`;
  return parseObjects(text, `${name}.yaml`)[0] as TrafficPolicyObject;
}

t.test('valid policies: written once per change, observedGeneration read back, a conflict retried', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(POLICIES);
  api.apply(object('older', [{ kind: 'Service', name: 'web' }], 4), object('newer', [{ kind: 'Service', name: 'web' }, { kind: 'Service', name: 'gone' }], 2));
  const puts: Sent[] = [];
  serveStatus(api, 'older', puts);
  serveStatus(api, 'newer', puts);
  // A concurrent edit between the GET and the PUT: the first PUT of `older` carries a stale version.
  let raced = false;
  api.route('GET', `${BASE}/older`, () => {
    const stored = api.store.get(POLICIES, 'demo', 'older') as KubeJson;
    if (!raced) {
      raced = true;
      api.store.upsert({ ...stored });
    }
    return { status: 200, body: stored };
  });
  const { logger, lines } = recordingLogger();
  const writer = new TrafficPolicyStatusWriter({ kubeConfig, logger, retryDelayMs: 20, now: () => new Date('2026-01-01T00:00:00.123Z') });
  t.teardown(() => writer.close());
  const policies = [parsed('older', '2025-01-01T00:00:00Z', '[{kind: Service, name: web}]'), parsed('newer', '2025-02-01T00:00:00Z', '[{kind: Service, name: web}, {kind: Service, name: gone}]')];
  const statuses = trafficPolicyStatuses(policies, new Set(['demo/web']), new Set());
  writer.update(statuses);
  await waitFor('both written, the conflict retried', () => puts.length === 2);
  await writer.idle();
  const by = (name: string): Sent | undefined => puts.find((p) => (p as unknown as { metadata: { name: string } }).metadata.name === name);
  const newer = by('newer')?.status.ancestors ?? [];
  t.same(newer.map((a) => `${a.ancestorRef.name} ${a.conditions[0]?.reason} ${a.conditions[0]?.observedGeneration}`), ['web Conflicted 2', 'gone TargetNotFound 2']);
  t.same(by('older')?.status.ancestors.map((a) => `${a.controllerName} ${a.conditions[0]?.status} ${a.conditions[0]?.reason} ${a.conditions[0]?.observedGeneration}`), ['meshlet.io/controller True Accepted 4']);
  t.equal(by('older')?.status.ancestors[0]?.conditions[0]?.lastTransitionTime, '2026-01-01T00:00:00Z', 'RFC 3339, no fraction');
  t.equal(writer.counters().failures, 1, 'the 409 counted');
  t.equal(lines.filter((l) => l['msg'] === 'TrafficPolicy status write failed; retrying (throttled: one line a minute)').length, 1);
  const gets = (): number => api.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`${BASE}/`)).length;
  const before = gets();
  writer.update(trafficPolicyStatuses(policies, new Set(['demo/web']), new Set()));
  await writer.idle();
  t.equal(gets(), before, 'the same statuses again: not even read');
  t.equal(puts.length, 2, 'and not written');
  // `gone` appears: newer's second target is accepted now; older is untouched.
  writer.update(trafficPolicyStatuses(policies, new Set(['demo/web', 'demo/gone']), new Set()));
  await writer.idle();
  t.equal(puts.length, 3);
  t.same(puts[2]?.status.ancestors.map((a) => `${a.ancestorRef.name} ${a.conditions[0]?.reason}`), ['web Conflicted', 'gone Accepted']);
  t.same(puts[2]?.spec, { targetRefs: [{ kind: 'Service', name: 'web' }, { kind: 'Service', name: 'gone' }] }, 'the object as read goes back whole');
});

const INVALID = object('broken', [{ group: '', kind: 'Service', name: 'web' }], 6);
(INVALID['spec'] as Record<string, unknown>)['retry'] = { numRetries: 11 };

t.test('an invalid policy among a real source\'s exclusions: Invalid naming the field; a status write does not loop', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(POLICIES);
  api.apply(INVALID);
  const puts: Sent[] = [];
  serveStatus(api, 'broken', puts);
  const { logger } = recordingLogger();
  const source = kubernetesSource(t, kubeConfig, logger);
  const writer = new TrafficPolicyStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  source.onChange(() => writer.updateInvalid(source.contents()?.excluded ?? []));
  let changes = 0;
  source.onChange(() => changes++);
  await source.start();
  t.equal(changes, 1, 'one change at the end of the first listing');
  await waitFor('the status written', () => puts.length === 1);
  const ancestors = puts[0]?.status.ancestors ?? [];
  t.same(ancestors.map((a) => `${a.ancestorRef.kind}/${a.ancestorRef.name} ${a.conditions[0]?.status} ${a.conditions[0]?.reason} ${a.conditions[0]?.observedGeneration}`), ['Service/web False Invalid 6']);
  t.match(ancestors[0]?.conditions[0]?.message, /^meshlet cannot use this policy: kubernetes:TrafficPolicy\/demo\/broken \(document 1\): TrafficPolicy demo\/broken: spec\.retry\.numRetries: must be an integer 0\.\.10, got 11$/);
  // The PUT is a MODIFIED event: the source changes, the exclusions do not: no pass, no write.
  await waitFor('the write seen by the watch', () => changes >= 2);
  await writer.idle();
  t.equal(puts.length, 1, 'no second write');
  t.equal(writer.counters().passes, 1, 'the same exclusions start no pass');
});

t.test('a policy that turns invalid with no readable target loses meshlet\'s old entries', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(POLICIES);
  const other = { ancestorRef: { name: 'web' }, controllerName: 'example.com/other', conditions: [{ type: 'Accepted', status: 'True' }] };
  const mine = { ancestorRef: { group: '', kind: 'Service', namespace: 'demo', name: 'web' }, controllerName: 'meshlet.io/controller', conditions: [{ type: 'Accepted', status: 'True' }] };
  api.apply({ ...object('p', []), status: { ancestors: [other, mine] } });
  const puts: Sent[] = [];
  serveStatus(api, 'p', puts);
  const { logger } = recordingLogger();
  const writer = new TrafficPolicyStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  writer.updateInvalid([{ kind: 'content', text: 'kubernetes:TrafficPolicy/demo/p (document 1): TrafficPolicy demo/p: spec.targetRefs: required: at least one Service' }]);
  await waitFor('written', () => puts.length === 1);
  t.same(puts[0]?.status.ancestors.map((a) => a.controllerName), ['example.com/other'], 'only the other controller\'s entry stays');
});

t.test('the exclusions the real converter makes are found; other kinds and odd lines are not', async (t) => {
  const resource = KUBERNETES_RESOURCES.find((r) => r.kind === 'TrafficPolicy');
  if (resource === undefined) throw new Error('no TrafficPolicy resource');
  const { result } = convertKubeObject(resource, INVALID);
  t.not(result.problems.length, 0);
  const found = invalidTrafficPolicies([
    ...result.problems,
    { kind: 'content', text: 'kubernetes:HTTPRoute/demo/web (document 1): HTTPRoute demo/web: spec: bad' },
    { kind: 'content', text: 'kubernetes:TrafficPolicy/' },
    { kind: 'content', text: 'kubernetes:TrafficPolicy/a/b/c: x' },
    { kind: 'content', text: 'mesh.yaml:3 (document 1): TrafficPolicy demo/x: spec: bad' },
  ]);
  t.same(found.map((f) => `${f.namespace}/${f.name} ${f.problems.length}`), [`demo/broken ${result.problems.length}`]);
  const flood = Array.from({ length: 10_000 }, (_, i) => ({ kind: 'content' as const, text: `kubernetes:TrafficPolicy/demo/p (document 1): TrafficPolicy demo/p: spec.x${i}: bad` }));
  t.equal(invalidTrafficPolicies(flood)[0]?.problems.length, 64, 'problems kept per policy are bounded');
});

t.test('a policy not in Kubernetes is skipped; a pass is bounded', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(POLICIES);
  const { logger } = recordingLogger();
  const writer = new TrafficPolicyStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  const one = trafficPolicyStatuses([parsed('p', '2025-01-01T00:00:00Z', '[{kind: Service, name: web}]')], new Set(['demo/web']), new Set())[0] as TrafficPolicyStatus;
  const many = Array.from({ length: MAX_POLICIES_PER_PASS + 1 }, (_, i) => ({ ...one, name: `p${i}` }));
  writer.update(many);
  await waitFor('two passes', () => writer.counters().passes === 2);
  await writer.idle();
  const gets = api.requests.filter((r) => r.method === 'GET' && r.path.startsWith(`${BASE}/`)).length;
  t.equal(gets, MAX_POLICIES_PER_PASS + 1, 'every policy read once, over two passes');
  t.same(writer.counters(), { writes: 0, unchanged: 0, failures: 0, passes: 2 });
});
