/**
 * Which policies select a workload (namespace, selector, mesh, mesh-selector, targetRef with its
 * ports) and in which order they are evaluated.
 */
import t from 'tap';
import { selectPolicies } from '../../../../src/mesh/authz/select.js';
import type { ServiceInfo } from '../../../../src/mesh/types.js';
import { API_WORKLOAD, policy } from './fixture.js';

const service = (name: string, namespace: string, endpoints: readonly { workload: string; targetPorts: Record<number, number> }[]): ServiceInfo => ({
  key: `${namespace}/${name}`,
  name,
  namespace,
  vips: ['10.96.0.1'],
  ports: [],
  endpoints: endpoints.map((e) => ({ ...e, address: '10.0.0.2', node: 'n1', nodeAddress: '192.168.0.1', meshed: true })),
});

t.test('a policy with no selector selects every workload of its namespace only', async (t) => {
  const ns = policy('demo/all', 'ALLOW', []);
  const other = policy('other/all', 'ALLOW', []);
  const got = selectPolicies([ns, other], API_WORKLOAD, []);
  t.equal(got.length, 1);
  t.equal(got[0]?.policy, ns);
  t.equal(got[0]?.selectedBy, 'namespace');
  t.equal(got[0]?.ports, undefined, 'every port');
});

t.test('a selector selects the workloads of its namespace whose labels include matchLabels', async (t) => {
  const yes = policy('yes', 'ALLOW', [], { selector: { app: 'api' } });
  const no = policy('no', 'ALLOW', [], { selector: { app: 'api', tier: 'db' } });
  const elsewhere = policy('other/yes', 'ALLOW', [], { selector: { app: 'api' } });
  const empty = policy('empty', 'ALLOW', [], { selector: {} });
  const got = selectPolicies([yes, no, elsewhere, empty], API_WORKLOAD, []);
  t.same(got.map((s) => [s.policy.key, s.selectedBy]), [['demo/empty', 'namespace'], ['demo/yes', 'selector']]);
});

t.test('the root namespace: mesh-wide without a selector, every namespace with one', async (t) => {
  const mesh = policy('meshlet-system/all', 'DENY', []);
  const meshSel = policy('meshlet-system/api', 'DENY', [], { selector: { app: 'api' } });
  const meshOther = policy('meshlet-system/db', 'DENY', [], { selector: { app: 'db' } });
  const got = selectPolicies([mesh, meshSel, meshOther], API_WORKLOAD, []);
  t.same(got.map((s) => [s.policy.key, s.selectedBy]), [['meshlet-system/all', 'mesh'], ['meshlet-system/api', 'mesh-selector']]);
  const custom = selectPolicies([policy('istio-system/all', 'DENY', [])], API_WORKLOAD, [], 'istio-system');
  t.equal(custom[0]?.selectedBy, 'mesh', 'another root namespace');
  t.equal(selectPolicies([mesh], API_WORKLOAD, [], 'istio-system').length, 0, 'meshlet-system is then an ordinary namespace');
});

t.test('targetRefs select the endpoints of the Services, on their target ports', async (t) => {
  const services = [
    service('api', 'demo', [{ workload: 'Pod/demo/api', targetPorts: { 80: 8080, 443: 8443 } }, { workload: 'Pod/demo/other', targetPorts: { 80: 8080 } }]),
    service('admin', 'demo', [{ workload: 'Pod/demo/api', targetPorts: { 9000: 9090 } }]),
    service('api', 'other', [{ workload: 'Pod/demo/api', targetPorts: { 1: 1 } }]),
  ];
  const p = policy('by-ref', 'ALLOW', [], { targetServices: ['api', 'admin', 'missing'] });
  const got = selectPolicies([p], API_WORKLOAD, services);
  t.equal(got.length, 1);
  t.equal(got[0]?.selectedBy, 'targetRef');
  t.same([...(got[0]?.ports ?? [])].sort(), [8080, 8443, 9090], 'ports of the Services in the policy namespace');
  const none = selectPolicies([policy('by-ref', 'ALLOW', [], { targetServices: ['missing'] })], API_WORKLOAD, services);
  t.equal(none.length, 0, 'a workload behind none of the Services');
  const notBehind = selectPolicies([p], { ...API_WORKLOAD, uid: 'Pod/demo/lonely' }, services);
  t.equal(notBehind.length, 0, 'a workload of the namespace that is no endpoint');
});

t.test('order: DENY, ALLOW, AUDIT, each by creation time, then key, then apiVersion', async (t) => {
  const ps = [
    policy('audit', 'AUDIT', []),
    policy('allow-b', 'ALLOW', [], { creationTimestamp: 5 }),
    policy('allow-a', 'ALLOW', [], { creationTimestamp: 5 }),
    policy('allow-old', 'ALLOW', [], { creationTimestamp: 1 }),
    policy('deny', 'DENY', [], { creationTimestamp: 9 }),
    policy('allow-a', 'ALLOW', [], { creationTimestamp: 5, apiVersion: 'meshlet.io/v1alpha1' }),
  ];
  const got = selectPolicies(ps, API_WORKLOAD, []);
  t.same(
    got.map((s) => `${s.policy.action} ${s.policy.key} ${s.policy.apiVersion}`),
    [
      'DENY demo/deny security.istio.io/v1',
      'ALLOW demo/allow-old security.istio.io/v1',
      'ALLOW demo/allow-a meshlet.io/v1alpha1',
      'ALLOW demo/allow-a security.istio.io/v1',
      'ALLOW demo/allow-b security.istio.io/v1',
      'AUDIT demo/audit security.istio.io/v1',
    ],
  );
});

t.test('a label named like an Object prototype key is not matched by accident', async (t) => {
  const p = policy('proto', 'ALLOW', [], { selector: { constructor: 'x' } });
  t.equal(selectPolicies([p], API_WORKLOAD, []).length, 0);
});
