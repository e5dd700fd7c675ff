/**
 * The Kubernetes registry source against the fake API server: the first list, then add,
 * modify and delete converging; a cut watch resuming without a re-list; a forced 410 re-listing
 * and converging; bookmarks carrying the resourceVersion past a compaction; invalid objects left
 * out and named; errors retried with backoff; close() leaving nothing open.
 */
import t from 'tap';
import { pino } from 'pino';
import { MeshletError } from '../../../../src/mesh/errors.js';
import type { KubeJson } from '../../../helpers/fake-kube-api.js';
import { describeObjects, kubernetesSource, recordingLogger, startFakeApi } from '../../../helpers/registry-rig.js';
import { sleep, waitFor } from '../../../helpers/wait-for.js';

const logger = pino({ level: 'silent' });

const namespace = (name: string): KubeJson => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'meshlet.io/mesh': 'enabled' } } });
const node = (name: string, ip: string): KubeJson => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});
const pod = (name: string, ip: string, extra: KubeJson = {}): KubeJson => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'demo', labels: { app: 'web' } },
  spec: { nodeName: 'node-a', serviceAccountName: 'web', containers: [{ name: 'web', image: 'web:1' }] },
  status: { phase: 'Running', podIP: ip },
  ...extra,
});
const BASE = [namespace('demo'), node('node-a', '198.18.0.1'), pod('web-1', '198.18.1.11')];

const PODS = '/api/v1/pods';

t.test('the first list fills the set; add, modify and delete converge', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, BASE);
  const source = kubernetesSource(t, kubeConfig, logger);
  t.equal(source.contents(), undefined, 'nothing before the first list');
  let changes = 0;
  source.onChange(() => changes++);
  await source.start();
  t.same(describeObjects(source.contents()?.objects), ['Namespace demo', 'Node node-a', 'Pod demo/web-1']);
  t.equal(source.contents()?.source, 'kubernetes');
  t.equal(changes, 1, 'one change at sync');
  t.equal(source.status().length, 12, 'twelve resources are read');
  t.same(
    source.status().filter((s) => s.absent === true).map((s) => s.resource),
    ['trafficpolicies.meshlet.io', 'httproutes.gateway.networking.k8s.io', 'grpcroutes.gateway.networking.k8s.io', 'authorizationpolicies.meshlet.io', 'telemetries.meshlet.io', 'authorizationpolicies.security.istio.io'],
    'CRDs the API does not serve are absent (no objects), not a failure to start',
  );
  t.same(source.status().map((s) => [s.resource, s.synced, s.lists]), source.status().map((s) => [s.resource, true, 1]), 'every resource synced and listed once');
  await waitFor('six open watches', () => api.activeWatches() === 6);

  api.apply(pod('web-2', '198.18.1.12'));
  await waitFor('web-2 added', () => describeObjects(source.contents()?.objects).includes('Pod demo/web-2'));
  api.apply(pod('web-2', '198.18.1.99'));
  await waitFor('web-2 modified', () => source.contents()?.objects.some((o) => o.kind === 'Pod' && o.name === 'web-2' && o.addresses[0] === '198.18.1.99'));
  api.remove('v1', 'Pod', 'demo', 'web-2');
  await waitFor('web-2 deleted', () => !describeObjects(source.contents()?.objects).includes('Pod demo/web-2'));
  t.ok(changes >= 4, `listeners told of each change (sync, add, modify, delete): ${changes} changes`);
  const objects = source.contents()?.objects ?? [];
  t.equal(objects.find((o) => o.kind === 'Pod')?.source.file, 'kubernetes:Pod/demo/web-1', 'objects name where they came from');
});

t.test('watches ask for bookmarks and a server-side timeout, and resume from the last resourceVersion', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, BASE);
  const source = kubernetesSource(t, kubeConfig, logger);
  await source.start();
  await waitFor('watches', () => api.activeWatches() === 6);
  const first = api.requestsTo(PODS, 'watch')[0];
  t.match(first?.query, { allowWatchBookmarks: 'true', timeoutSeconds: '300', resourceVersion: /^\d+$/ });
  t.equal(first?.authorization, 'Bearer fake-token');

  // A clean end (the server's timeout, a restarted API server behind a load balancer).
  api.apply(pod('web-2', '198.18.1.12'));
  await waitFor('web-2', () => describeObjects(source.contents()?.objects).includes('Pod demo/web-2'));
  const seen = api.store.rev;
  t.equal(api.cutWatches(), 6);
  api.apply(pod('web-3', '198.18.1.13'));
  await waitFor('web-3 after the cut', () => describeObjects(source.contents()?.objects).includes('Pod demo/web-3'));
  const resumed = api.requestsTo(PODS, 'watch').at(-1);
  t.equal(resumed?.query['resourceVersion'], String(seen), 'resumed from the last event seen');
  t.equal(api.requestsTo(PODS, 'list').length, 1, 'no re-list');

  // An abrupt cut (a reset connection): ListWatch gives up, the informer restarts it.
  api.cutWatches({ abrupt: true });
  api.remove('v1', 'Pod', 'demo', 'web-3');
  await waitFor('web-3 deleted after the reset', () => !describeObjects(source.contents()?.objects).includes('Pod demo/web-3'));
  t.equal(api.requestsTo(PODS, 'list').length, 1, 'still no re-list: the resourceVersion was kept');
  const restarts = source.status().find((s) => s.resource === 'pods')?.restarts ?? 0;
  t.ok(restarts >= 1, `restarted after the error (restarts: ${restarts})`);
});

t.test('a forced 410 Gone: re-list, and deletions missed meanwhile are applied', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, [...BASE, pod('old', '198.18.1.20')]);
  const { logger: recording, lines } = recordingLogger();
  const source = kubernetesSource(t, kubeConfig, recording);
  await source.start();
  await waitFor('watches', () => api.activeWatches() === 6);
  api.cutWatches({ abrupt: true });
  await waitFor('watches closed', () => api.activeWatches() === 0);
  // While nobody watches: one pod deleted, one added, then history is compacted.
  api.remove('v1', 'Pod', 'demo', 'old');
  api.apply(pod('new', '198.18.1.21'));
  api.expireHistory();
  await waitFor('converged', () => {
    const names = describeObjects(source.contents()?.objects);
    return names.includes('Pod demo/new') && !names.includes('Pod demo/old');
  });
  t.equal(api.requestsTo(PODS, 'list').length, 2, 'pods were listed again');
  const watchedFrom = api.requestsTo(PODS, 'watch').map((r) => Number(r.query['resourceVersion']));
  const compactedRev = api.store.compactedRev;
  t.ok(watchedFrom.some((rev) => rev < compactedRev), `a watch from a too-old resourceVersion was tried first (watched from ${watchedFrom.join(', ')}; history starts at ${compactedRev})`);
  // Every watch that retries from before the compaction ends with 410; only the pods' one is
  // sure to have happened by now (the others retry on their own schedule).
  const podsEnded = lines.filter((l) => l['msg'] === 'watch ended by the API server' && l['resource'] === 'pods');
  t.same(podsEnded.map((l) => l['code']), [410], 'the pods watch ended once, with 410, logged');
  await waitFor('watching again', () => api.activeWatches('pods') === 1);
  api.apply(pod('newer', '198.18.1.22'));
  await waitFor('events after the re-list', () => describeObjects(source.contents()?.objects).includes('Pod demo/newer'));
});

t.test('bookmarks move the resourceVersion on: no re-list after a compaction', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, BASE);
  const source = kubernetesSource(t, kubeConfig, logger);
  await source.start();
  await waitFor('watches', () => api.activeWatches() === 6);
  // Nodes change a lot; pods see none of it, so their resourceVersion falls behind.
  for (let i = 2; i < 6; i++) api.apply(node(`node-${i}`, `198.18.0.${i}`));
  t.equal(api.bookmark(), 6, 'every watch asked for bookmarks');
  await waitFor('bookmarks received', () => source.status().filter((s) => s.absent !== true).every((s) => s.bookmarks === 1));
  t.same(describeObjects(source.contents()?.objects).filter((n) => n.startsWith('Pod')), ['Pod demo/web-1'], 'a bookmark is not an object');
  api.expireHistory();
  api.cutWatches();
  await waitFor('watching again', () => api.requestsTo(PODS, 'watch').length === 2 && api.activeWatches() === 6);
  t.equal(api.requestsTo(PODS, 'watch')[1]?.query['resourceVersion'], String(api.store.compactedRev), 'resumed from the bookmark');
  t.equal(api.requestsTo(PODS, 'list').length, 1, 'no re-list');
});

t.test('an invalid object is left out and named; the rest applies', async (t) => {
  const bad = pod('bad', 'not-an-ip');
  const { api, kubeConfig } = await startFakeApi(t, [...BASE, bad]);
  const { logger: recording, lines } = recordingLogger();
  const source = kubernetesSource(t, kubeConfig, recording);
  await source.start();
  const contents = source.contents();
  t.same(describeObjects(contents?.objects), ['Namespace demo', 'Node node-a', 'Pod demo/web-1']);
  t.same(contents?.problems, [], 'nothing blocks');
  t.equal(contents?.excluded.length, 1);
  t.match(contents?.excluded[0]?.text, /^kubernetes:Pod\/demo\/bad \(document 1\): Pod demo\/bad: status\.podIP: must be an IPv4 or IPv6 address, got "not-an-ip"$/);
  t.same(lines.filter((l) => l['msg'] === 'Kubernetes object left out: it fails validation').map((l) => l['object']), ['Pod/demo/bad'], 'logged naming the object');
  api.apply({ apiVersion: 'meshlet.io/v1alpha1', kind: 'MeshTLS', metadata: { name: 'm', namespace: 'demo' }, spec: { mode: 'strict' } });
  await waitFor('the MeshTLS reported', () => source.contents()?.excluded.length === 2);
  t.match(source.contents()?.excluded.map((p) => p.text).join('\n'), /MeshTLS demo\/m: spec\.mode: must be one of STRICT, PERMISSIVE, got "strict" \(did you mean STRICT\?\)/);
  api.apply(pod('bad', '198.18.1.30'));
  await waitFor('fixed', () => source.contents()?.excluded.length === 1 && describeObjects(source.contents()?.objects).includes('Pod demo/bad'));
});

t.test('fields a newer Kubernetes adds do not make objects invalid', async (t) => {
  const future = pod('future', '198.18.1.40', {
    spec: { nodeName: 'node-a', containers: [{ name: 'c', image: 'x', futureContainerField: true }], futureSpecField: { a: 1 } },
    status: { phase: 'Running', podIP: '198.18.1.40', futureStatusField: 'x' },
  });
  const { kubeConfig } = await startFakeApi(t, [...BASE, future]);
  const source = kubernetesSource(t, kubeConfig, logger);
  await source.start();
  t.same(source.contents()?.excluded, []);
  t.same(describeObjects(source.contents()?.objects).filter((n) => n.startsWith('Pod ')), ['Pod demo/future', 'Pod demo/web-1'], 'the pod with unknown fields is in');
});

t.test('errors are retried with backoff until the API answers', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, BASE);
  api.failNext('/api/v1/nodes', 500, 2);
  api.failNext('/apis/meshlet.io/v1alpha1/workloads', 404, 1);
  api.failNext('/apis/meshlet.io/v1alpha1/meshtlses', 403, 1);
  const { logger: recording, lines } = recordingLogger();
  const source = kubernetesSource(t, kubeConfig, recording);
  await source.start();
  const status = source.status();
  t.match(status.find((s) => s.resource === 'nodes'), { synced: true, restarts: 2, lastError: /GET \/api\/v1\/nodes\?limit=500: 500 injected failure 500/ });
  t.match(status.find((s) => s.resource === 'workloads.meshlet.io')?.lastError, /are meshlet's CustomResourceDefinitions installed\?/);
  t.match(status.find((s) => s.resource === 'meshtlses.meshlet.io')?.lastError, /RBAC: the controller needs list and watch on meshtlses\.meshlet\.io/);
  t.equal(lines.filter((l) => l['msg'] === 'Kubernetes list/watch failed; retrying').length, 4);
  // A watch refused with a 500 goes the same way.
  api.failNext(PODS, 500, 1);
  api.cutWatches();
  api.apply(pod('web-2', '198.18.1.12'));
  await waitFor('web-2 after a refused watch', () => describeObjects(source.contents()?.objects).includes('Pod demo/web-2'));
});

t.test('start() gives up after syncTimeoutMs naming what is missing, and closes', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, BASE);
  api.failNext('/apis/meshlet.io/v1alpha1/meshtlses', 404, 1_000);
  const source = kubernetesSource(t, kubeConfig, logger, { syncTimeoutMs: 300 });
  const err = await source.start().then(() => undefined, (e: unknown) => e);
  t.type(err, MeshletError);
  t.match(err, { code: 'MESHLET_ERR_REGISTRY' });
  t.match((err as Error).message, /^Kubernetes resources not listed within 300 ms:\n {2}- meshtlses\.meshlet\.io: GET \/apis\/meshlet\.io\/v1alpha1\/meshtlses\?limit=500: 404/);
  await waitFor('closed: nothing is left watching', () => api.activeWatches() === 0);
  const tries = api.requestsTo('/apis/meshlet.io/v1alpha1/meshtlses', 'list').length;
  // A negative check: no event marks "a retry did not happen", so give one the time to show
  // (the rig's restart backoff, FAST, is 20-200 ms: a retrying source would list again here).
  await sleep(300);
  t.equal(api.requestsTo('/apis/meshlet.io/v1alpha1/meshtlses', 'list').length, tries, 'no retries after close');
});

t.test('close() is idempotent and ends every watch; a closed source cannot start', async (t) => {
  const { api, kubeConfig } = await startFakeApi(t, BASE);
  const source = kubernetesSource(t, kubeConfig, logger);
  await source.start();
  await waitFor('watches', () => api.activeWatches() === 6);
  await source.close();
  await source.close();
  await waitFor('watches closed on the server', () => api.activeWatches() === 0);
  const err = await source.start().then(() => undefined, (e: unknown) => e);
  t.type(err, MeshletError);
  t.match(err, { code: 'MESHLET_ERR_CLOSED' });
  const requests = api.requests.length;
  // A negative check: give a stray re-list or re-watch the time to show.
  await sleep(200);
  t.equal(api.requests.length, requests, 'no request after close');
});

t.test('wrong credentials: 401 explained, and start() times out', async (t) => {
  const { api } = await startFakeApi(t, BASE);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(api.kubeconfig().replace('token: fake-token', 'token: wrong'));
  // The explanation, once the API has answered (however long a loaded machine takes).
  const waiting = kubernetesSource(t, kubeConfig, logger, { syncTimeoutMs: 120_000 });
  const started = waiting.start().then(() => undefined, (e: unknown) => e);
  await waitFor('a 401 answered', () => (waiting.status().some((s) => s.lastError !== undefined) ? true : undefined));
  t.match(waiting.status().find((s) => s.lastError !== undefined)?.lastError, /401 Unauthorized \(the credentials were refused\)/);
  await waiting.close();
  t.match(await started, { code: 'MESHLET_ERR_CLOSED' }, 'closed while starting');
  // The timeout names every resource not listed, with its last error (or none yet).
  const source = kubernetesSource(t, kubeConfig, logger, { syncTimeoutMs: 200 });
  const err = await source.start().then(() => undefined, (e: unknown) => e);
  t.match(err, { code: 'MESHLET_ERR_REGISTRY', message: /Kubernetes resources not listed within 200 ms/ });
  const details = (err as { details?: string[] }).details ?? [];
  t.ok(details.length > 0, 'each resource named');
  for (const d of details) t.match(d, /: (401 Unauthorized \(the credentials were refused\)|no answer yet)/, d);
});
