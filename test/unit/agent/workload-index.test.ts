import t from 'tap';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { decideInbound } from '../../../src/agent/policy/inbound-decision.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

function workload(name: string, address: string, node: string, tlsMode: 'STRICT' | 'PERMISSIVE' = 'PERMISSIVE'): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`,
    kind: 'Pod',
    name,
    namespace: 'demo',
    addresses: [address],
    node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12',
    serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`,
    labels: { app: name },
    tlsMode,
    namedPorts: [],
  };
}

/** No agent port in the way: these checks are about addresses and identities. */
const NO_PORTS: ReadonlySet<number> = new Set();

const client = workload('client', '198.18.1.10', 'node1');
const local = workload('local', '198.18.1.11', 'node1', 'STRICT');
const s1 = workload('server-a', '198.18.2.10', 'node2');
const s2 = workload('server-b', '198.18.2.11', 'node2');

const snapshot: NodeSnapshot = {
  version: 'v1',
  node: 'node1',
  nodeAddress: '198.18.0.11',
  trustDomain: 'cluster.local',
  localWorkloads: [client, local],
  workloads: [client, local, s1, s2],
  services: [
    {
      key: 'demo/server',
      name: 'server',
      namespace: 'demo',
      vips: ['198.19.0.10'],
      ports: [{ port: 80, targetPort: 8080 }, { port: 81, targetPort: 'metrics' }],
      endpoints: [
        { workload: s1.uid, address: '198.18.2.10', node: 'node2', nodeAddress: '198.18.0.12', meshed: true, identity: s1.identity, targetPorts: { 80: 8080 } },
        { workload: s2.uid, address: '198.18.2.11', node: 'node2', nodeAddress: '198.18.0.12', meshed: true, identity: s2.identity, targetPorts: { 80: 8080 } },
        { workload: 'Pod/demo/plain', address: '198.18.2.20', node: 'node2', nodeAddress: '198.18.0.12', meshed: false, targetPorts: { 80: 9090 } },
      ],
    },
  ],
};

t.test('Service VIP round robin over endpoints, meshed and not', async (t) => {
  const index = new WorkloadIndex(snapshot);
  const { pick } = new BalancerRegistry();
  const picks = [0, 1, 2, 3].map(() => index.resolveOutbound('198.19.0.10', 80, pick));
  t.same(picks.map((p) => p.kind), ['meshed', 'meshed', 'plaintext', 'meshed']);
  t.same(picks.map((p) => ('address' in p ? `${p.address}:${p.port}` : '')), ['198.18.2.10:8080', '198.18.2.11:8080', '198.18.2.20:9090', '198.18.2.10:8080']);
  const first = picks[0];
  t.match(first, { kind: 'meshed', local: false, service: { key: 'demo/server' } });
});

t.test('a Service port with no endpoint for it', async (t) => {
  const index = new WorkloadIndex(snapshot);
  t.equal(index.resolveOutbound('198.19.0.10', 81, (e) => e.endpoints[0]).kind, 'no-endpoints');
});

t.test('direct pod IPs and passthrough', async (t) => {
  const index = new WorkloadIndex(snapshot);
  const remote = index.resolveOutbound('198.18.2.11', 8080, noPick);
  t.match(remote, { kind: 'meshed', local: false, workload: { name: 'server-b' } });
  const same = index.resolveOutbound('198.18.1.11', 8080, noPick);
  t.match(same, { kind: 'meshed', local: true }, 'same-node workload is local');
  t.same(index.resolveOutbound('198.18.9.9', 443, noPick), { kind: 'passthrough', address: '198.18.9.9', port: 443 });
  t.same([...index.localIdentities].sort(), [client.identity, local.identity].sort());
});

t.test('inbound policy: no open relay, identity must match, STRICT refuses plaintext', async (t) => {
  const index = new WorkloadIndex(snapshot);
  const notLocal = decideInbound(index, { address: '198.18.2.10', port: 8080 }, { kind: 'mtls', localIdentity: s1.identity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, NO_PORTS);
  t.equal(notLocal.allow, false, 'a workload on another node is not ours to connect to');
  const unknown = decideInbound(index, { address: '203.0.113.5', port: 8080 }, { kind: 'mtls', localIdentity: client.identity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, NO_PORTS);
  t.equal(unknown.allow, false, 'an arbitrary address is refused');
  const mismatch = decideInbound(index, { address: '198.18.1.11', port: 8080 }, { kind: 'mtls', localIdentity: client.identity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, NO_PORTS);
  t.equal(mismatch.allow, false, 'tunnel opened for another identity is refused');
  t.equal(decideInbound(index, { address: '198.18.1.11', port: 8080 }, { kind: 'mtls', localIdentity: local.identity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' }, NO_PORTS).allow, true);
  t.equal(decideInbound(index, { address: '198.18.1.11', port: 8080 }, { kind: 'plaintext', sourceAddress: '198.18.9.9' }, NO_PORTS).allow, false, 'STRICT refuses plaintext');
  t.equal(decideInbound(index, { address: '198.18.1.10', port: 8080 }, { kind: 'plaintext', sourceAddress: '198.18.9.9' }, NO_PORTS).allow, true, 'PERMISSIVE accepts plaintext');
  t.equal(decideInbound(index, { address: '198.18.1.11', port: 8080 }, { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' }, NO_PORTS).allow, true, 'same-node mesh traffic is allowed under STRICT');
});

function noPick(): never {
  throw new Error('a workload address picks no endpoint');
}
