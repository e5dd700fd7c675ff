/**
 * The fake Kubernetes API speaks the protocol the registry relies on: list shapes and paging,
 * watch replay from a resourceVersion, 410 as an ERROR event, bookmarks, auth, injected
 * failures and extra routes. The registry's own tests are only as good as this.
 */
import t from 'tap';
import { FakeKubeApi, type KubeJson } from '../../../helpers/fake-kube-api.js';

const AUTH = { authorization: 'Bearer fake-token' };

async function startFake(t: { teardown(fn: () => unknown): void }): Promise<FakeKubeApi> {
  const api = await FakeKubeApi.start();
  t.teardown(() => api.close());
  return api;
}

const ns = (name: string): KubeJson => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
const pod = (name: string, ip: string): KubeJson => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'demo' },
  spec: { nodeName: 'node-a' },
  status: { phase: 'Running', podIP: ip },
});

async function getJson(api: FakeKubeApi, path: string): Promise<{ status: number; body: KubeJson }> {
  const res = await fetch(api.url + path, { headers: AUTH });
  return { status: res.status, body: (await res.json()) as KubeJson };
}

/** Reads watch events until `count` arrived or the stream ended (bounded by a 2 s abort). */
async function readEvents(api: FakeKubeApi, path: string, count: number): Promise<{ events: KubeJson[]; ended: boolean }> {
  const res = await fetch(api.url + path, { headers: AUTH, signal: AbortSignal.timeout(2_000) });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  const events: KubeJson[] = [];
  let text = '';
  for (let i = 0; i < 100 && events.length < count; i++) {
    const { value, done } = await reader.read();
    if (done) return { events, ended: true };
    text += decoder.decode(value, { stream: true });
    const lines = text.split('\n');
    text = lines.pop() ?? '';
    for (const line of lines) if (line !== '') events.push(JSON.parse(line) as KubeJson);
  }
  await reader.cancel();
  return { events, ended: false };
}

t.test('lists: kind XList, resourceVersion, core items without type meta, custom resources with it', async (t) => {
  const api = await startFake(t);
  api.apply(ns('demo'), pod('a', '198.18.1.1'));
  api.apply({ apiVersion: 'meshlet.io/v1alpha1', kind: 'Workload', metadata: { name: 'vm', namespace: 'demo' }, spec: { address: '198.18.2.2', node: 'n' } });
  const pods = await getJson(api, '/api/v1/pods');
  t.equal(pods.body['kind'], 'PodList');
  t.equal(pods.body['apiVersion'], 'v1');
  t.match(pods.body['metadata'], { resourceVersion: String(api.store.rev) });
  const items = pods.body['items'] as KubeJson[];
  t.equal(items.length, 1);
  t.notOk('kind' in items[0]!, 'core list items carry no kind');
  t.match(items[0], { metadata: { name: 'a', namespace: 'demo', uid: String, resourceVersion: String, creationTimestamp: String } });
  const workloads = await getJson(api, '/apis/meshlet.io/v1alpha1/workloads');
  t.equal(workloads.body['kind'], 'WorkloadList');
  t.match((workloads.body['items'] as KubeJson[])[0], { apiVersion: 'meshlet.io/v1alpha1', kind: 'Workload' });
  t.equal((await getJson(api, '/api/v1/namespaces/demo/pods')).status, 200, 'namespaced list');
  t.equal((await getJson(api, '/api/v1/namespaces/demo/pods/a')).body['kind'], 'Pod', 'get one object');
  t.equal((await getJson(api, '/apis/meshlet.io/v1alpha1/nope')).status, 404);
});

t.test('paging with limit and continue; a continue token from before a compaction is 410', async (t) => {
  const api = await startFake(t);
  api.apply(ns('demo'), pod('a', '198.18.1.1'), pod('b', '198.18.1.2'), pod('c', '198.18.1.3'));
  const first = await getJson(api, '/api/v1/pods?limit=2');
  const meta = first.body['metadata'] as KubeJson;
  t.equal((first.body['items'] as KubeJson[]).length, 2);
  t.equal(meta['remainingItemCount'], 1);
  api.apply(pod('d', '198.18.1.4'));
  const second = await getJson(api, `/api/v1/pods?limit=2&continue=${String(meta['continue'])}`);
  t.same((second.body['items'] as KubeJson[]).map((i) => (i['metadata'] as KubeJson)['name']), ['c'], 'a consistent snapshot: d is not in it');
  t.equal((second.body['metadata'] as KubeJson)['resourceVersion'], meta['resourceVersion']);
  const again = await getJson(api, '/api/v1/pods?limit=1');
  api.apply(pod('e', '198.18.1.5'));
  api.expireHistory();
  const expired = await getJson(api, `/api/v1/pods?limit=1&continue=${String((again.body['metadata'] as KubeJson)['continue'])}`);
  t.equal(expired.status, 410);
});

t.test('watch: replay after a resourceVersion, ADDED for all without one, 410 as an ERROR event', async (t) => {
  const api = await startFake(t);
  api.apply(ns('demo'), pod('a', '198.18.1.1'));
  const rv = api.store.rev;
  api.apply(pod('b', '198.18.1.2'), pod('a', '198.18.1.9'));
  api.remove('v1', 'Pod', 'demo', 'b');
  const replay = await readEvents(api, `/api/v1/pods?watch=true&resourceVersion=${rv}`, 3);
  t.same(replay.events.map((e) => e['type']), ['ADDED', 'MODIFIED', 'DELETED']);
  t.equal(((replay.events[2]!['object'] as KubeJson)['metadata'] as KubeJson)['resourceVersion'], String(api.store.rev), 'DELETED carries the deletion revision');
  const fresh = await readEvents(api, '/api/v1/pods?watch=true', 1);
  t.match(fresh.events[0], { type: 'ADDED', object: { kind: 'Pod', metadata: { name: 'a' } } });
  api.expireHistory();
  const gone = await readEvents(api, `/api/v1/pods?watch=true&resourceVersion=${rv}`, 2);
  t.equal(gone.events.length, 1);
  t.match(gone.events[0], { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
  t.ok(gone.ended, 'the stream ends after the ERROR');
});

t.test('watch: live events, bookmarks only when allowed, timeoutSeconds, cuts', async (t) => {
  const api = await startFake(t);
  api.apply(ns('demo'));
  const rv = api.store.rev;
  const live = readEvents(api, `/api/v1/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`, 2);
  const plain = readEvents(api, `/api/v1/pods?watch=true&resourceVersion=${rv}&timeoutSeconds=1`, 5);
  // Generous bound (10 s): the watches open as soon as the requests land, even on a busy machine.
  for (let i = 0; i < 1000 && api.activeWatches('pods') < 2; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(api.activeWatches('pods'), 2, 'both pod watches are open');
  api.apply(pod('a', '198.18.1.1'));
  t.equal(api.bookmark(), 1, 'one watch asked for bookmarks');
  const events = (await live).events;
  t.same(events.map((e) => e['type']), ['ADDED', 'BOOKMARK']);
  t.same(events[1]!['object'], { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(api.store.rev) } });
  const timedOut = await plain;
  t.ok(timedOut.ended, 'timeoutSeconds ends the watch');
  t.same(timedOut.events.map((e) => e['type']), ['ADDED']);
  const cut = readEvents(api, '/api/v1/nodes?watch=true&resourceVersion=1000', 5);
  for (let i = 0; i < 1000 && api.activeWatches('nodes') < 1; i++) await new Promise((r) => setTimeout(r, 10));
  t.equal(api.activeWatches('nodes'), 1, 'the node watch is open');
  t.equal(api.cutWatches(), 1);
  t.ok((await cut).ended);
});

t.test('auth, injected failures, extra routes, request log', async (t) => {
  const api = await startFake(t);
  const noAuth = await fetch(`${api.url}/api/v1/pods`);
  t.equal(noAuth.status, 401);
  t.match(await noAuth.json(), { kind: 'Status', code: 401 });
  api.failNext('/api/v1/nodes', 503, 2);
  t.equal((await getJson(api, '/api/v1/nodes')).status, 503);
  t.equal((await getJson(api, '/api/v1/nodes')).status, 503);
  t.equal((await getJson(api, '/api/v1/nodes')).status, 200);
  api.route('POST', '/apis/authentication.k8s.io/v1/tokenreviews', (_req, body) => ({
    status: 201,
    body: { kind: 'TokenReview', status: { authenticated: (JSON.parse(body) as { spec: { token: string } }).spec.token === 'good' } },
  }));
  const review = await fetch(`${api.url}/apis/authentication.k8s.io/v1/tokenreviews`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'application/json' },
    body: JSON.stringify({ spec: { token: 'good' } }),
  });
  t.equal(review.status, 201);
  t.match(await review.json(), { status: { authenticated: true } });
  t.equal(api.requestsTo('/api/v1/nodes', 'list').length, 3);
  t.match(api.kubeconfig(), /server: "http:\/\/127\.0\.0\.1:\d+"/);
});

t.test('writes: POST creates (409 when taken), PUT replaces (409 on a stale resourceVersion), fieldSelector on metadata.name', async (t) => {
  const api = await startFake(t);
  const post = (path: string, body: KubeJson): Promise<Response> => fetch(api.url + path, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const put = (path: string, body: KubeJson): Promise<Response> => fetch(api.url + path, { method: 'PUT', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const wl = (name: string, address: string, resourceVersion?: string): KubeJson => ({ apiVersion: 'meshlet.io/v1alpha1', kind: 'Workload', metadata: { name, ...(resourceVersion === undefined ? {} : { resourceVersion }) }, spec: { address, node: 'n' } });
  const base = '/apis/meshlet.io/v1alpha1/namespaces/demo/workloads';
  const created = await post(base, wl('vm', '198.18.2.2'));
  t.equal(created.status, 201);
  const first = (await created.json()) as { metadata: { namespace: string; resourceVersion: string } };
  t.equal(first.metadata.namespace, 'demo', 'the namespace comes from the path');
  t.equal((await post(base, wl('vm', '198.18.2.3'))).status, 409, 'a taken name');
  t.equal((await put(`${base}/vm`, wl('vm', '198.18.2.4', '1'))).status, 409, 'a stale resourceVersion');
  const replaced = await put(`${base}/vm`, wl('vm', '198.18.2.5', first.metadata.resourceVersion));
  t.equal(replaced.status, 200);
  t.equal((((await replaced.json()) as { spec: { address: string } }).spec.address), '198.18.2.5');
  t.equal((await put(`${base}/gone`, wl('gone', '198.18.2.6'))).status, 404, 'PUT does not create');
  await post(base, wl('other', '198.18.2.7'));
  const selected = await getJson(api, `/apis/meshlet.io/v1alpha1/workloads?fieldSelector=${encodeURIComponent('metadata.name=vm')}`);
  t.same((selected.body['items'] as { metadata: { name: string } }[]).map((i) => i.metadata.name), ['vm']);
  const { events } = await readEvents(api, `/apis/meshlet.io/v1alpha1/workloads?watch=true&fieldSelector=${encodeURIComponent('metadata.name=other')}`, 1);
  t.same(events.map((e) => (e['object'] as { metadata: { name: string } }).metadata.name), ['other']);
});
