/**
 * The real Lease client (`kubernetesLeaseApi`) against a fake API server that keeps one Lease
 * with the API server's optimistic concurrency (resourceVersion; 409 on a stale one).
 */
import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector, kubernetesLeaseApi, type LeaseApi } from '../../../../src/controller/leader-election.js';
import { FakeKubeApi, statusBody } from '../../../helpers/fake-kube-api.js';
import { waitFor } from '../../../helpers/wait-for.js';

const PATH = '/apis/coordination.k8s.io/v1/namespaces/meshlet-system/leases';

t.test('two electors through the real client: one leads, the other takes over after a release', async (t) => {
  const api = await FakeKubeApi.start();
  t.teardown(() => api.close());
  let lease: Record<string, unknown> | undefined;
  let rv = 0;
  const store = (body: string): { status: number; body: unknown } => {
    const obj = JSON.parse(body) as { metadata: Record<string, unknown>; spec: unknown };
    lease = { ...obj, metadata: { ...obj.metadata, resourceVersion: String(++rv) } };
    return { status: 200, body: lease };
  };
  api.route('GET', `${PATH}/meshlet-controller`, () => (lease ? { status: 200, body: lease } : { status: 404, body: statusBody(404, 'NotFound', 'leases "meshlet-controller" not found') }));
  api.route('POST', PATH, (_req, body) => (lease ? { status: 409, body: statusBody(409, 'AlreadyExists', 'exists') } : { ...store(body), status: 201 }));
  api.route('PUT', `${PATH}/meshlet-controller`, (_req, body) => {
    const sent = (JSON.parse(body) as { metadata: { resourceVersion?: string } }).metadata.resourceVersion;
    if (sent !== (lease?.['metadata'] as { resourceVersion?: string } | undefined)?.resourceVersion) return { status: 409, body: statusBody(409, 'Conflict', 'the object has been modified') };
    return store(body);
  });
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  const logger = pino({ level: 'silent' });
  const a = new LeaderElector({ api: kubernetesLeaseApi(kc), identity: 'ctl-a', logger, renewIntervalMs: 50 });
  const bApi = kubernetesLeaseApi(kc);
  let bReads = 0;
  const countedApi: LeaseApi = {
    read: () => {
      bReads++;
      return bApi.read();
    },
    create: (holder, durationSeconds) => bApi.create(holder, durationSeconds),
    update: (next) => bApi.update(next),
  };
  const b = new LeaderElector({ api: countedApi, identity: 'ctl-b', logger, retryIntervalMs: 50 });
  await a.acquire(() => t.fail('a should not lose'));
  t.equal((lease?.['spec'] as { holderIdentity: string }).holderIdentity, 'ctl-a', 'the Lease names a');
  const renewedAt = rv;
  let bLeads = false;
  const bWaits = b.acquire(() => undefined).then(() => (bLeads = true));
  // Events, not a pause: b has read the Lease three times (each a refused try) and a has
  // renewed twice in the meantime (each a new resourceVersion).
  await waitFor('three tries by b and two renewals by a', () => bReads >= 3 && rv >= renewedAt + 2);
  t.equal(bLeads, false, 'b waits while a renews');
  await a.release();
  await bWaits;
  t.equal(bLeads, true, 'b leads once a released the Lease');
  t.equal((lease?.['spec'] as { holderIdentity: string }).holderIdentity, 'ctl-b');
  await b.release();
});
