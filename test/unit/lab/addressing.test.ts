import t from 'tap';
import { FABRIC_CIDR, POD_GATEWAY, SERVICE_CIDR, ipv4InCidr, planLab, type LabTopology } from '../../../src/lab/index.js';
import { intToIpv4, ipv4ToInt, nodeAddressAt, podAddressAt, podCidrAt, serviceVipAt } from '../../../src/lab/addressing.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

const topology: LabTopology = {
  name: 'unit',
  nodes: [{ name: 'alpha' }, { name: 'beta' }, { name: 'gamma' }],
  namespaces: [{ name: 'shop', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'a', namespace: 'shop', node: 'alpha' },
    { name: 'b', namespace: 'shop', node: 'beta', serviceAccount: 'bee', labels: { app: 'b' } },
    { name: 'c', namespace: 'shop', node: 'alpha', meshDisabled: true, labels: { app: 'c' } },
    { name: 'd', namespace: 'shop', node: 'gamma' },
  ],
  services: [
    { name: 's1', namespace: 'shop', selector: { app: 'b' }, ports: [{ port: 80 }] },
    { name: 's2', namespace: 'shop', selector: { app: 'c' }, ports: [{ port: 443, targetPort: 8443, name: 'https' }] },
  ],
};

t.test('node, pod and Service addresses follow the documented scheme', async (t) => {
  const plan = planLab(topology);
  t.same(
    plan.nodes.map((n) => [n.name, n.address, n.podCidr, n.netns, n.fabricIface]),
    [
      ['alpha', '198.18.0.10', '198.18.1.0/24', 'ml-unit-alpha', 'alpha'],
      ['beta', '198.18.0.11', '198.18.2.0/24', 'ml-unit-beta', 'beta'],
      ['gamma', '198.18.0.12', '198.18.3.0/24', 'ml-unit-gamma', 'gamma'],
    ],
  );
  t.same(
    plan.pods.map((p) => [p.name, p.address, p.hostIface, p.netns, p.index]),
    [
      ['a', '198.18.1.10', 'veth0', 'ml-unit-a', 0],
      ['b', '198.18.2.10', 'veth0', 'ml-unit-b', 0],
      ['c', '198.18.1.11', 'veth1', 'ml-unit-c', 1],
      ['d', '198.18.3.10', 'veth0', 'ml-unit-d', 0],
    ],
  );
  t.same(plan.services.map((s) => [s.name, s.vip]), [['s1', '198.19.0.10'], ['s2', '198.19.0.11']]);
  t.equal(plan.fabricNetns, 'ml-unit-fabric');
});

t.test('pods and services get their defaults', async (t) => {
  const plan = planLab(topology);
  const byName = new Map(plan.pods.map((p) => [p.name, p]));
  t.equal(byName.get('a')?.serviceAccount, 'default');
  t.equal(byName.get('b')?.serviceAccount, 'bee');
  t.same(byName.get('c')?.labels, { app: 'c', 'meshlet.io/mesh': 'disabled' }, 'meshDisabled becomes the opt-out label');
  t.same(byName.get('a')?.labels, {});
  t.same(plan.services[0]?.ports, [{ port: 80, targetPort: 80 }], 'targetPort defaults to port');
  t.same(plan.services[1]?.ports, [{ port: 443, targetPort: 8443, name: 'https' }]);
});

t.test('the plan is deterministic and stays inside the benchmark range', async (t) => {
  t.same(planLab(topology), planLab(JSON.parse(JSON.stringify(topology)) as LabTopology), 'same topology, same plan');
  const plan = planLab(topology);
  for (const n of plan.nodes) t.ok(ipv4InCidr(n.address, FABRIC_CIDR), `${n.address} in the fabric`);
  for (const p of plan.pods) {
    t.ok(ipv4InCidr(p.address, '198.18.0.0/15'), `${p.address} in 198.18.0.0/15`);
    t.notOk(ipv4InCidr(p.address, FABRIC_CIDR), `${p.address} not in the fabric subnet`);
    const node = plan.nodes.find((n) => n.name === p.node);
    t.not(node, undefined, `pod ${p.address} is on a known node (${p.node})`);
    t.ok(node !== undefined && ipv4InCidr(p.address, node.podCidr), `${p.address} in its node's subnet ${node?.podCidr}`);
  }
  for (const s of plan.services) t.ok(ipv4InCidr(s.vip, SERVICE_CIDR), `${s.vip} in ${SERVICE_CIDR}`);
  t.ok(ipv4InCidr(POD_GATEWAY, '169.254.0.0/16'), 'the gateway is link-local');
});

t.test('address arithmetic at the edges', async (t) => {
  t.equal(nodeAddressAt(0), '198.18.0.10');
  t.equal(nodeAddressAt(199), '198.18.0.209');
  t.equal(podCidrAt(199), '198.18.200.0/24');
  t.equal(podAddressAt(199, 199), '198.18.200.209');
  t.equal(serviceVipAt(0), '198.19.0.10');
  t.equal(serviceVipAt(246), '198.19.1.0', 'VIPs carry into the next octet');
  t.equal(intToIpv4(ipv4ToInt('198.19.255.254')), '198.19.255.254');
  t.throws(() => ipv4ToInt('198.18.0'), RangeError);
  t.throws(() => ipv4ToInt('198.18.0.256'), RangeError);
  t.ok(ipv4InCidr('10.1.2.3', '0.0.0.0/0'));
  t.notOk(ipv4InCidr('198.20.0.1', '198.18.0.0/15'));
});

t.test('planLab refuses an invalid topology', async (t) => {
  let err: unknown;
  try {
    planLab({ ...topology, pods: [...topology.pods, { name: 'a', namespace: 'shop', node: 'alpha' }] });
  } catch (e) {
    err = e;
  }
  t.ok(isMeshletError(err, 'MESHLET_ERR_LAB'), 'MESHLET_ERR_LAB');
  t.match((err as Error).message, /duplicate pod .*"a"/);
});
