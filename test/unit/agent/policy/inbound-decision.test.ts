/**
 * decideInbound, every branch: not a local workload (with and without an address-policy reason),
 * an agent port, an mTLS identity mismatch, plaintext under STRICT, and each way it allows.
 */
import t from 'tap';
import { decideInbound, type InboundVia } from '../../../../src/agent/policy/inbound-decision.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../../src/mesh/types.js';

function workload(name: string, address: string, node: string, tlsMode: WorkloadInfo['tlsMode']): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode, namedPorts: [],
  };
}

const open = workload('open', '198.18.1.10', 'node1', 'PERMISSIVE');
const strict = workload('strict', '198.18.1.11', 'node1', 'STRICT');
const remote = workload('remote', '198.18.2.10', 'node2', 'PERMISSIVE');
const snapshot: NodeSnapshot = {
  version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
  localWorkloads: [open, strict], workloads: [open, strict, remote], services: [],
};
const index = new WorkloadIndex(snapshot);
const PORTS: ReadonlySet<number> = new Set([15000, 15008]);
const mtls = (localIdentity: string): InboundVia => ({ kind: 'mtls', localIdentity, peerIdentity: 'spiffe://cluster.local/ns/other/sa/peer' });
const decide = (address: string, port: number, via: InboundVia) => decideInbound(index, { address, port }, via, PORTS);

t.test('refused: not a workload of this node', async (t) => {
  t.same(decide('198.18.2.10', 8080, mtls(remote.identity)), { allow: false, kind: 'policy_denied', reason: '198.18.2.10 is not a meshed workload on this node' });
  t.same(decide('203.0.113.5', 8080, { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' }), { allow: false, kind: 'policy_denied', reason: '203.0.113.5 is not a meshed workload on this node' });
  const loop = decide('127.0.0.1', 8080, { kind: 'plaintext', sourceAddress: '198.18.9.9' });
  t.equal(loop.allow, false);
  t.match(loop.allow ? '' : loop.reason, /^127\.0\.0\.1 (?!is not a meshed workload)/, 'the address policy says why');
});

t.test('refused: one of the agent\'s own ports, whatever the way in', async (t) => {
  for (const via of [mtls(open.identity), { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' } as const, { kind: 'plaintext', sourceAddress: '198.18.9.9' } as const]) {
    t.same(decide('198.18.1.10', 15008, via), { allow: false, kind: 'policy_denied', reason: "port 15008 is one of the agent's own ports, never a workload's" }, via.kind);
  }
});

t.test('refused: a tunnel opened for another identity', async (t) => {
  t.same(decide('198.18.1.10', 8080, mtls(strict.identity)), {
    allow: false, kind: 'policy_denied', reason: `tunnel was opened for ${strict.identity} but 198.18.1.10 is ${open.identity}`,
  });
});

t.test('refused: plaintext to a STRICT workload', async (t) => {
  t.same(decide('198.18.1.11', 8080, { kind: 'plaintext', sourceAddress: '198.18.9.9' }), { allow: false, kind: 'policy_denied', reason: 'MeshTLS STRICT: plaintext to Pod/demo/strict refused' });
});

t.test('allowed: matching mTLS, same-node mesh traffic (even STRICT), plaintext to PERMISSIVE', async (t) => {
  t.match(decide('198.18.1.11', 8080, mtls(strict.identity)), { allow: true, workload: strict });
  t.match(decide('198.18.1.11', 8080, { kind: 'local', sourceIdentity: 'spiffe://cluster.local/ns/other/sa/peer', sourceAddress: '198.18.9.9' }), { allow: true, workload: strict });
  t.match(decide('198.18.1.10', 8080, { kind: 'plaintext', sourceAddress: '198.18.9.9' }), { allow: true, workload: open });
});
