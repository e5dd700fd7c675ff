/**
 * Lists and watches against the fake API: paged lists joined into one consistent list, errors
 * naming the request, the watch's own controls (pacing watches that end at once, giving up on
 * a silent one, abort on close).
 */
import t from 'tap';
import { listAll, getJson, KubeApiError } from '../../../../src/controller/registry/kube-client.js';
import { DEFAULT_WATCH_TIMING, RegistryWatch, type WatchHooks } from '../../../../src/controller/registry/kube-watch.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import type { KubeJson } from '../../../helpers/fake-kube-api.js';
import { startFakeApi } from '../../../helpers/registry-rig.js';
import { sleep, waitFor } from '../../../helpers/wait-for.js';

const LIMITS = { timeoutMs: 5_000, maxBytes: 8 * 1024 * 1024 };
const ns = (name: string): KubeJson => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });

t.test('a list of 1,201 objects comes in three pages and is joined', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, Array.from({ length: 1201 }, (_, i) => ns(`ns-${String(i).padStart(4, '0')}`)));
  const list = await listAll(kubeConfig, '/api/v1/namespaces', LIMITS);
  t.equal(list.items.length, 1201);
  t.equal(list.kind, 'NamespaceList');
  t.equal(list.metadata?.resourceVersion, String(api.store.rev));
  t.same(api.requestsTo('/api/v1/namespaces', 'list').map((r) => r.query['limit']), ['500', '500', '500']);
  t.equal(new Set(list.items.map((i) => i.metadata?.name)).size, 1201, 'no duplicates across pages');
});

t.test('errors name the request; an answer too large is refused', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, [ns('a'), ns('b')]);
  api.failNext('/api/v1/pods', 403);
  const err = await getJson(kubeConfig, '/api/v1/pods', LIMITS).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof KubeApiError);
  t.equal((err as KubeApiError).statusCode, 403);
  t.equal((err as Error).message, 'GET /api/v1/pods: 403 injected failure 403');
  const big = await getJson(kubeConfig, '/api/v1/namespaces', { timeoutMs: 5_000, maxBytes: 100 }).then(() => undefined, (e: unknown) => e);
  t.ok(isMeshletError(big, 'MESHLET_ERR_REGISTRY'));
  t.match((big as Error).message, /answer larger than 100 bytes/);
  api.route('GET', '/api/v1/services', () => ({ status: 200, body: { kind: 'ServiceList' } }));
  const notList = await listAll(kubeConfig, '/api/v1/services', LIMITS).then(() => undefined, (e: unknown) => e);
  t.match((notList as Error).message, /not a Kubernetes list/);
});

/** Hooks that record what the watch reports. */
function recorder(): WatchHooks & { starts: number; events: string[]; ends: (Error | null)[] } {
  const r = {
    starts: 0,
    events: [] as string[],
    ends: [] as (Error | null)[],
    onWatchStart: () => void r.starts++,
    onEvent: (type: string) => void r.events.push(type),
    onWatchEnd: (_ms: number, err: Error | null) => void r.ends.push(err),
  };
  return r;
}

t.test('a watch that ends at once makes the next one wait; close() aborts and refuses', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, [ns('a')]);
  const hooks = recorder();
  const watch = new RegistryWatch(kubeConfig, hooks, { ...DEFAULT_WATCH_TIMING, minHealthyMs: 1_000, initialPaceMs: 300 });
  t.teardown(() => watch.close());
  api.expireHistory();
  api.apply(ns('b'));
  const ended: unknown[] = [];
  // From a too-old resourceVersion: the ERROR event, then the end, at once.
  await watch.watch('/api/v1/namespaces', { resourceVersion: '1' }, () => undefined, (err) => ended.push(err));
  await waitFor('the end', () => ended.length === 1);
  t.same(hooks.events, ['ERROR']);
  t.equal(ended[0], null, 'a clean end');
  const started = Date.now();
  await watch.watch('/api/v1/namespaces', { resourceVersion: String(api.store.rev) }, () => undefined, (err) => ended.push(err));
  t.ok(Date.now() - started >= 140, `the second watch waited (${Date.now() - started} ms)`);
  await waitFor('open', () => api.activeWatches('namespaces') === 1);
  watch.close();
  await waitFor('aborted', () => ended.length === 2);
  t.ok(isMeshletError(ended[1], 'MESHLET_ERR_CLOSED'));
  await waitFor('closed on the server', () => api.activeWatches() === 0);
  const refused = await watch.watch('/api/v1/namespaces', {}, () => undefined, (err) => ended.push(err));
  t.ok(refused.signal.aborted, 'a closed watch opens nothing');
  await sleep(50);
  t.equal(ended.length, 2);
});

t.test('a watch silent past timeoutSeconds is given up', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, [ns('a')]);
  // The fake ignores the timeout for this route: a connection that went dead without a FIN.
  api.route('GET', '/api/v1/nodes', () => new Promise(() => undefined));
  const hooks = recorder();
  const watch = new RegistryWatch(kubeConfig, hooks, { ...DEFAULT_WATCH_TIMING, timeoutSeconds: 0, graceMs: 200, connectTimeoutMs: 5_000 });
  t.teardown(() => watch.close());
  const ended: unknown[] = [];
  await watch.watch('/api/v1/nodes', { resourceVersion: '1' }, () => undefined, (err) => ended.push(err));
  await waitFor('given up', () => ended.length === 1, { timeoutMs: 2_000 });
  t.match((ended[0] as Error).message, /watch \/api\/v1\/nodes: (silent past timeoutSeconds|no answer within)/);
});
