/**
 * Route status written back to Kubernetes against the fake API server: GET then PUT /status,
 * once per change (no write when nothing changed, no read while the wanted status is written),
 * a 409 retried after the delay, a route not in Kubernetes skipped.
 */
import t from 'tap';
import { RouteStatusWriter } from '../../../../src/controller/registry/route-status-writer.js';
import { buildClusterState } from '../../../../src/mesh/cluster-state.js';
import { l7Objects } from '../../../unit/mesh/l7-fixture.js';
import { recordingLogger, startFakeApi } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';
import type { FakeResource } from '../../../helpers/fake-kube-api.js';

const HTTPROUTES: FakeResource = { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', kind: 'HTTPRoute', namespaced: true };
const GRPCROUTES: FakeResource = { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'grpcroutes', kind: 'GRPCRoute', namespaced: true };
const PATH = '/apis/gateway.networking.k8s.io/v1/namespaces/demo/httproutes/web';

t.test('writes meshlet\'s conditions once per change; a conflict is retried', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(HTTPROUTES, GRPCROUTES);
  const stored = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web', namespace: 'demo', resourceVersion: '7', generation: 2 }, spec: {}, status: { parents: [{ controllerName: 'example.com/gw', parentRef: { name: 'gw' }, conditions: [] }] } };
  const puts: unknown[] = [];
  let conflicts = 1;
  api.route('GET', PATH, () => ({ status: 200, body: stored }));
  api.route('PUT', `${PATH}/status`, (_req, body) => {
    if (conflicts-- > 0) return { status: 409, body: { kind: 'Status', code: 409, message: 'the object has been modified' } };
    const sent = JSON.parse(body) as { status: unknown };
    puts.push(sent);
    stored.status = sent.status as typeof stored.status;
    return { status: 200, body: sent };
  });
  const { logger, lines } = recordingLogger();
  const writer = new RouteStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  const state = buildClusterState(l7Objects());
  const web = state.routeStatuses.filter((s) => s.name === 'web');
  writer.update(web);
  await waitFor('the status written after the conflict', () => puts.length === 1);
  const sent = puts[0] as { metadata: { resourceVersion: string }; status: { parents: { controllerName: string; conditions: { type: string; reason: string }[] }[] } };
  t.equal(sent.metadata.resourceVersion, '7', 'optimistic concurrency: the version read');
  t.same(sent.status.parents.map((p) => p.controllerName), ['example.com/gw', 'meshlet.io/controller'], 'the other controller\'s entry is kept; the Gateway parent is not ours to write');
  t.same(sent.status.parents[1]?.conditions.map((c) => `${c.type}/${c.reason}`), ['Accepted/Accepted', 'ResolvedRefs/BackendNotFound']);
  t.equal(writer.counters().failures, 1, 'the conflict counted');
  t.equal(lines.filter((l) => l['msg'] === 'route status write failed; retrying (throttled: one line a minute)').length, 1);
  await writer.idle();
  const gets = (): number => api.requests.filter((r) => r.method === 'GET' && r.path === PATH).length;
  const before = gets();
  writer.update(web);
  await writer.idle();
  t.equal(gets(), before, 'the same status again: not even read');
  t.equal(puts.length, 1, 'and not written');
});

t.test('a route refused by validation: its status says why', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(HTTPROUTES, GRPCROUTES);
  const raw = { kind: 'HTTPRoute', metadata: { name: 'web', namespace: 'demo', generation: 4, resourceVersion: '9' }, spec: { parentRefs: [{ group: '', kind: 'Service', name: 'web' }, { name: 'gw' }] } };
  const puts: { status: { parents: { parentRef: { name: string }; conditions: { type: string; status: string; reason: string; message: string; observedGeneration: number }[] }[] } }[] = [];
  api.route('GET', PATH, () => ({ status: 200, body: { apiVersion: 'gateway.networking.k8s.io/v1', ...raw } }));
  api.route('PUT', `${PATH}/status`, (_req, body) => {
    puts.push(JSON.parse(body) as (typeof puts)[number]);
    return { status: 200, body: JSON.parse(body) as unknown };
  });
  const { logger } = recordingLogger();
  const writer = new RouteStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  writer.updateInvalid([{ raw, problems: ['kubernetes:HTTPRoute/demo/web (document 1): HTTPRoute demo/web: spec.rules[0].retry: is a Gateway API field meshlet does not support'] }]);
  await waitFor('the status written', () => puts.length === 1);
  const parents = puts[0]?.status.parents ?? [];
  t.same(parents.map((p) => p.parentRef.name), ['web'], 'the Service parent only');
  t.same(parents[0]?.conditions.map((c) => [c.type, c.status, c.reason, c.observedGeneration]), [['Accepted', 'False', 'UnsupportedValue', 4]]);
  t.match(parents[0]?.conditions[0]?.message, /^meshlet cannot use this route: .*spec\.rules\[0\]\.retry: is a Gateway API field meshlet does not support/);
});

t.test('a route not in Kubernetes is skipped', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(HTTPROUTES, GRPCROUTES);
  const { logger } = recordingLogger();
  const writer = new RouteStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  writer.update(buildClusterState(l7Objects()).routeStatuses);
  await writer.idle();
  t.same(writer.counters(), { writes: 0, unchanged: 0, failures: 0, passes: 1 });
});

t.test('at most MAX_ROUTES_PER_PASS routes per pass; the rest in the next one', async (t) => {
  const { MAX_ROUTES_PER_PASS } = await import('../../../../src/controller/registry/route-status-writer.js');
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(HTTPROUTES, GRPCROUTES);
  const { logger } = recordingLogger();
  const writer = new RouteStatusWriter({ kubeConfig, logger, retryDelayMs: 20 });
  t.teardown(() => writer.close());
  const one = buildClusterState(l7Objects()).routeStatuses.find((s) => s.kind === 'HTTPRoute');
  if (one === undefined) throw new Error('no HTTPRoute status');
  const many = Array.from({ length: MAX_ROUTES_PER_PASS + 1 }, (_, i) => ({ ...one, name: `r${i}` }));
  writer.update(many);
  await waitFor('two passes', () => writer.counters().passes === 2);
  await writer.idle();
  const gets = api.requests.filter((r) => r.method === 'GET' && r.path.includes('/httproutes/')).length;
  t.equal(gets, MAX_ROUTES_PER_PASS + 1, 'every route read once, over two passes');
  t.equal(writer.counters().passes, 2);
});
