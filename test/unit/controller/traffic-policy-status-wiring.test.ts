/**
 * The whole controller in Kubernetes mode against the fake API server: TrafficPolicy status is
 * written for every policy (Accepted, Conflicted, TargetNotFound, Invalid), and a policy fixed
 * later gets its new status. Checks the wiring in controller.ts, not the decisions (unit tests).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { loadControllerConfig } from '../../../src/controller/config.js';
import { Controller } from '../../../src/controller/controller.js';
import type { FakeResource, KubeJson } from '../../helpers/fake-kube-api.js';
import { startFakeApi } from '../../helpers/registry-rig.js';
import { waitFor } from '../../helpers/wait-for.js';

const POLICIES: FakeResource = { group: 'meshlet.io', version: 'v1alpha1', resource: 'trafficpolicies', kind: 'TrafficPolicy', namespaced: true };
const BASE = '/apis/meshlet.io/v1alpha1/namespaces/demo/trafficpolicies';

const service: KubeJson = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'demo' }, spec: { clusterIP: '198.19.0.10', ports: [{ name: 'http', port: 80 }] } };
const policy = (name: string, spec: KubeJson): KubeJson => ({ apiVersion: 'meshlet.io/v1alpha1', kind: 'TrafficPolicy', metadata: { name, namespace: 'demo', generation: 1 }, spec });

type Written = { ancestors: { ancestorRef: { name: string }; conditions: { reason: string; message: string }[] }[] };

t.test('every TrafficPolicy gets its status; a fixed one gets the new one', async (t) => {
  const { api } = await startFakeApi(t);
  api.store.resources.push(POLICIES);
  // The fake sets creationTimestamp itself (to the second); a tie is broken by name, so the
  // names are in age order too.
  api.apply(
    service,
    policy('p1-older', { targetRefs: [{ kind: 'Service', name: 'web' }] }),
    policy('p2-newer', { targetRefs: [{ kind: 'Service', name: 'web' }, { kind: 'Service', name: 'gone' }] }),
    policy('p3-broken', { targetRefs: [{ kind: 'Service', name: 'web' }], retry: { numRetries: 11 } }),
  );
  const written = new Map<string, Written>();
  for (const name of ['p1-older', 'p2-newer', 'p3-broken']) {
    api.route('PUT', `${BASE}/${name}/status`, (_req, body) => {
      const sent = JSON.parse(body) as KubeJson & { status: Written };
      written.set(name, sent.status);
      return { status: 200, body: api.store.upsert(sent) };
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-ctl-policy-status-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, api.kubeconfig());
  const config = loadControllerConfig({ kubernetes: true, kubeconfig, leaderElect: false, listen: '127.0.0.1:0', metricsPort: '0', debugPort: '0', stateDir: join(dir, 'state'), debounceMs: '20' }, {});
  const controller = new Controller(config, pino({ level: 'silent' }));
  await controller.start();
  t.teardown(() => controller.close());
  const reasons = (name: string): string[] => (written.get(name)?.ancestors ?? []).map((a) => `${a.ancestorRef.name} ${a.conditions[0]?.reason}`);
  await waitFor('three statuses', () => written.size === 3);
  t.same(reasons('p1-older'), ['web Accepted']);
  t.same(reasons('p2-newer'), ['web Conflicted', 'gone TargetNotFound']);
  t.same(reasons('p3-broken'), ['web Invalid']);
  t.match(written.get('p3-broken')?.ancestors[0]?.conditions[0]?.message, /TrafficPolicy demo\/p3-broken: spec\.retry\.numRetries: must be an integer 0\.\.10, got 11/);
  // Fixed: valid now, and the newest of three on web.
  const stored = api.store.get(POLICIES, 'demo', 'p3-broken') as KubeJson;
  api.store.upsert({ ...stored, spec: { targetRefs: [{ kind: 'Service', name: 'web' }], retry: { numRetries: 2 } } });
  await waitFor('the fixed policy\'s status', () => reasons('p3-broken')[0] === 'web Conflicted');
  t.same(reasons('p3-broken'), ['web Conflicted']);
});
