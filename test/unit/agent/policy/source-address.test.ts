/**
 * chooseSource: a tunnel's claimed client address is used only for a workload of the peer's
 * identity on the peer's node; every other claim (another workload's address, an unknown one,
 * one of another node's pods) falls back to the agent's address with its reason.
 */
import t from 'tap';
import { chooseSource, SOURCE_FALLBACK_REASONS, type SourceVia } from '../../../../src/agent/policy/source-address.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../../src/mesh/types.js';

const NODE_ADDRESS: Record<string, string> = { node1: '198.18.0.10', node2: '198.18.0.11', node3: '198.18.0.12' };

function workload(name: string, addresses: string[], node: string, sa = name): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses, node,
    nodeAddress: NODE_ADDRESS[node] ?? '', serviceAccount: sa,
    identity: `spiffe://cluster.local/ns/demo/sa/${sa}`, labels: {}, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}

const server = workload('server', ['198.18.1.10', 'fd00::1:10'], 'node1');
const client = workload('client', ['198.18.2.10', 'fd00::2:10'], 'node2');
// Same identity as client, on another node: node2 may not speak for it.
const clientTwin = workload('client-twin', ['198.18.3.10'], 'node3', 'client');
const other = workload('other', ['198.18.2.11'], 'node2');
const snapshot: NodeSnapshot = {
  version: 'v1', node: 'node1', nodeAddress: '198.18.0.10', trustDomain: 'cluster.local',
  localWorkloads: [server], workloads: [server, client, clientTwin, other], services: [],
};
const index = new WorkloadIndex(snapshot);
const tunnel = (claimed: string | undefined, peerAddress = '198.18.0.11'): SourceVia => ({ kind: 'mtls', peerIdentity: client.identity, peerAddress, claimed });

t.test('a tunnel: the client workload of the peer identity on the peer node is preserved', async (t) => {
  t.same(chooseSource(index, tunnel('198.18.2.10'), '198.18.1.10'), { preserve: true, address: '198.18.2.10' });
  t.same(chooseSource(index, tunnel('FD00:0::2:10'), 'fd00::1:10'), { preserve: true, address: 'fd00::2:10' }, 'IPv6, compared canonically');
  t.same(chooseSource(index, tunnel('198.18.2.10', '::ffff:198.18.0.11'), '198.18.1.10'), { preserve: true, address: '198.18.2.10' }, 'an IPv4-mapped peer address');
});

t.test('attack: a peer claims another workload\'s address (another identity)', async (t) => {
  t.same(chooseSource(index, tunnel('198.18.2.11'), '198.18.1.10'), { preserve: false, reason: 'identity_mismatch' });
  t.same(chooseSource(index, tunnel('198.18.1.10'), '198.18.1.10'), { preserve: false, reason: 'identity_mismatch' }, 'the destination\'s own address');
});

t.test('attack: a peer claims a workload of its identity on another node', async (t) => {
  t.same(chooseSource(index, tunnel('198.18.3.10'), '198.18.1.10'), { preserve: false, reason: 'node_mismatch' });
});

t.test('attack: a peer claims an address no workload has, or none', async (t) => {
  t.same(chooseSource(index, tunnel('203.0.113.7'), '198.18.1.10'), { preserve: false, reason: 'unknown_source' });
  t.same(chooseSource(index, tunnel('198.18.0.11'), '198.18.1.10'), { preserve: false, reason: 'unknown_source' }, 'the peer node\'s own address');
  t.same(chooseSource(index, tunnel(undefined), '198.18.1.10'), { preserve: false, reason: 'no_claim' });
  t.same(chooseSource(index, tunnel('not-an-address'), '198.18.1.10'), { preserve: false, reason: 'no_claim' });
});

t.test('families must match', async (t) => {
  t.same(chooseSource(index, tunnel('fd00::2:10'), '198.18.1.10'), { preserve: false, reason: 'family_mismatch' });
  t.same(chooseSource(index, { kind: 'local', address: '198.18.2.10', port: 40000 }, 'fd00::1:10'), { preserve: false, reason: 'family_mismatch' });
});

t.test('captured here: the kernel\'s source is used, IPv4-mapped or not', async (t) => {
  t.same(chooseSource(index, { kind: 'local', address: '198.18.1.11', port: 40000 }, '198.18.1.10'), { preserve: true, address: '198.18.1.11' });
  t.same(chooseSource(index, { kind: 'plaintext', address: '::ffff:203.0.113.9', port: 40000 }, '198.18.1.10'), { preserve: true, address: '203.0.113.9' });
  t.same(chooseSource(index, { kind: 'local', address: '', port: 40000 }, '198.18.1.10'), { preserve: false, reason: 'no_claim' });
});

t.test('a workload calling itself keeps the agent address (its replies would stay in its namespace)', async (t) => {
  t.same(chooseSource(index, { kind: 'local', address: '198.18.1.10', port: 40000 }, '198.18.1.10'), { preserve: false, reason: 'hairpin' });
});

t.test('off by configuration or capability wins over everything', async (t) => {
  t.same(chooseSource(index, tunnel('198.18.2.10'), '198.18.1.10', 'disabled'), { preserve: false, reason: 'disabled' });
  t.same(chooseSource(index, { kind: 'local', address: '198.18.1.11', port: 40000 }, '198.18.1.10', 'not_permitted'), { preserve: false, reason: 'not_permitted' });
});

t.test('the reason list is complete and unique', async (t) => {
  t.equal(new Set(SOURCE_FALLBACK_REASONS).size, SOURCE_FALLBACK_REASONS.length);
  t.equal(SOURCE_FALLBACK_REASONS.length, 9);
});
