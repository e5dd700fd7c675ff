/**
 * Issue 9, finding 1, in the agent: the workload index drops every snapshot entry with an address
 * the address policy refuses (and says which), so neither the data path nor the capture rules
 * ever see one; decideInbound never lets a connection reach a refused address or an agent port.
 */
import t from 'tap';
import { agentPortSet } from '../../../src/agent/proxy/inbound.js';
import { decideInbound } from '../../../src/agent/policy/inbound-decision.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { EndpointInfo, NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const NODE_ADDRESS = '198.18.0.11';

function workload(name: string, address: string, node = 'node1'): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? NODE_ADDRESS : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

const good = workload('good', '198.18.1.10');
const bad = [
  workload('loop', '127.0.0.1'),
  workload('meta', '169.254.169.254'),
  workload('mapped', '::ffff:127.0.0.1'),
  workload('zone', 'fe80::1%eth0'),
  workload('any', '0.0.0.0'),
  workload('self', NODE_ADDRESS),
  workload('other-node', '198.18.0.12'),
];
const remoteBad = workload('remote-meta', '169.254.169.254', 'node2');
const remoteGood = workload('remote', '198.18.2.10', 'node2');

const snapshot: NodeSnapshot = {
  version: 'v1', node: 'node1', nodeAddress: NODE_ADDRESS, trustDomain: 'cluster.local',
  localWorkloads: [good, ...bad],
  workloads: [good, ...bad, remoteGood],
  services: [
    {
      key: 'demo/web', name: 'web', namespace: 'demo', vips: ['10.96.0.10', '169.254.169.254'],
      ports: [{ port: 80, targetPort: 15000 }],
      endpoints: [
        { workload: 'Pod/demo/plain', address: '127.0.0.1', node: 'node1', nodeAddress: NODE_ADDRESS, meshed: false, targetPorts: { 80: 15000 } },
      ],
    },
  ],
};

t.test('local workloads with refused addresses are dropped, the good one kept', async (t) => {
  const index = new WorkloadIndex(snapshot);
  t.same([...index.localByAddress.keys()], ['198.18.1.10']);
  t.same(index.localAddresses, ['198.18.1.10'], 'what the capture rules get');
  t.same([...index.localIdentities], [good.identity], 'no certificate for a dropped workload');
  for (const w of bad) t.equal(index.localWorkload(w.addresses[0] ?? ''), undefined, `${w.name} not served`);
  t.same([...index.byAddress.keys()].sort(), ['198.18.1.10', '198.18.2.10']);
});

t.test('every refusal is listed with what, field, address and reason', async (t) => {
  const index = new WorkloadIndex({ ...snapshot, workloads: [...snapshot.workloads, remoteBad] });
  const rows = index.refused.map((r) => `${r.what} ${r.field} ${r.address}`);
  t.same(rows, [
    ...bad.map((w) => `${w.uid} addresses ${w.addresses[0]}`),
    'Pod/demo/remote-meta addresses 169.254.169.254',
    'Service demo/web vips 169.254.169.254',
    'Service demo/web endpoints 127.0.0.1',
  ]);
  t.match(index.refused.find((r) => r.what === 'Pod/demo/self')?.reason, "one of the node's own addresses");
  t.match(index.refused.find((r) => r.what === 'Pod/demo/other-node')?.reason, "one of the node's own addresses", 'another node is a node too');
});

t.test('the host addresses the agent passes in are refused too', async (t) => {
  const onBridge = workload('bridge', '10.244.0.1');
  const index = new WorkloadIndex({ ...snapshot, localWorkloads: [onBridge], workloads: [onBridge], services: [] }, { nodeAddresses: ['10.244.0.1'] });
  t.same(index.localAddresses, []);
  t.equal(index.refused[0]?.address, '10.244.0.1');
});

t.test('a Service cannot route pods to the metadata service or to loopback', async (t) => {
  const index = new WorkloadIndex(snapshot);
  t.same(index.resolveOutbound('169.254.169.254', 80, first), { kind: 'passthrough', address: '169.254.169.254', port: 80 }, 'a refused VIP is no VIP');
  t.equal(index.resolveOutbound('10.96.0.10', 80, first).kind, 'no-endpoints', 'the loopback endpoint is gone');
});

t.test('loopback workloads only when a test asks for them', async (t) => {
  const index = new WorkloadIndex(snapshot, { allowLoopback: true });
  t.same(index.localAddresses, ['198.18.1.10', '127.0.0.1']);
});

const AGENT_PORTS = agentPortSet({ outbound: 15001, inbound: 15006, tunnel: 15008, readiness: 15021, admin: 15000, metrics: 15020 });

t.test('agentPortSet: every configured port, 0 left out, bound ports added', async (t) => {
  t.same([...AGENT_PORTS].sort(), [15000, 15001, 15006, 15008, 15020, 15021]);
  t.same([...agentPortSet({ admin: 0, tunnel: 15008 }, [40001])].sort(), [15008, 40001]);
});

t.test('decideInbound: a CONNECT to 127.0.0.1:<admin port> is refused, whatever the snapshot says', async (t) => {
  const index = new WorkloadIndex(snapshot);
  for (const via of [{ kind: 'mtls', localIdentity: bad[0]?.identity ?? '', peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' }, { kind: 'plaintext', sourceAddress: '198.18.9.9' }] as const) {
    const d = decideInbound(index, { address: '127.0.0.1', port: 15000 }, via, AGENT_PORTS);
    t.same(d, { allow: false, kind: 'policy_denied', reason: "127.0.0.1 is a loopback address (127.0.0.0/8, ::1): it would reach the node's own services" }, via.kind);
  }
  const meta = decideInbound(index, { address: '169.254.169.254', port: 80 }, { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' }, AGENT_PORTS);
  t.equal(meta.allow, false);
  t.match(!meta.allow && meta.reason, /link-local/);
  const self = decideInbound(index, { address: NODE_ADDRESS, port: 10250 }, { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' }, AGENT_PORTS);
  t.match(!self.allow && self.reason, "one of the node's own addresses");
});

t.test("decideInbound: a meshed workload's address on an agent port is refused", async (t) => {
  const index = new WorkloadIndex(snapshot);
  for (const port of AGENT_PORTS) {
    const d = decideInbound(index, { address: '198.18.1.10', port }, { kind: 'mtls', localIdentity: good.identity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, AGENT_PORTS);
    t.same(d, { allow: false, kind: 'policy_denied', reason: `port ${port} is one of the agent's own ports, never a workload's` }, `port ${port}`);
  }
  const ok = decideInbound(index, { address: '198.18.1.10', port: 8080 }, { kind: 'mtls', localIdentity: good.identity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, AGENT_PORTS);
  t.equal(ok.allow, true, 'any other port of the workload is fine');
});

function first(e: { endpoints: readonly EndpointInfo[] }): EndpointInfo | undefined {
  return e.endpoints[0];
}
