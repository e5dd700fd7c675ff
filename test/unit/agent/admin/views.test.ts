/** `/workloads`: each local workload's connection cap on this agent, and where it comes from. */
import t from 'tap';
import type { Agent } from '../../../../src/agent/agent.js';
import { workloadsView } from '../../../../src/agent/admin/views.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../../src/mesh/types.js';

function workload(name: string, node: string, extra: Partial<WorkloadInfo> = {}): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [`198.18.1.${name.length}`], node, nodeAddress: '198.18.0.1',
    serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode: 'STRICT', namedPorts: [], ...extra,
  };
}

t.test('local workloads show their cap (annotation or default); others none', async (t) => {
  const capped = workload('capped', 'n1', { limits: { maxConnections: 40 } });
  const plain = workload('plainpod', 'n1');
  const remote = workload('remote-pod', 'n2', { limits: { maxConnections: 9 } });
  const snapshot: NodeSnapshot = { version: 'v1', node: 'n1', nodeAddress: '198.18.0.1', trustDomain: 'cluster.local', localWorkloads: [capped, plain], workloads: [capped, plain, remote], services: [] };
  const rows = workloadsView({ snapshot } as unknown as Agent, 512);
  t.same(rows.map((r) => [r['uid'], r['maxConnections'], r['limit']]), [
    ['Pod/demo/capped', 40, 'annotation'],
    ['Pod/demo/plainpod', 512, 'default'],
    ['Pod/demo/remote-pod', undefined, undefined],
  ]);
  t.equal('maxConnections' in (rows[2] ?? {}), false, 'no cap key on a workload of another node (its own agent enforces)');
});

t.test('a local workload with meshlet.io/max-bandwidth shows it in bits per second; others have no key', async (t) => {
  const limited = workload('limited', 'n1', { limits: { maxBandwidth: 8_000_000 } });
  const plain = workload('plainpod', 'n1');
  const snapshot: NodeSnapshot = { version: 'v1', node: 'n1', nodeAddress: '198.18.0.1', trustDomain: 'cluster.local', localWorkloads: [limited, plain], workloads: [limited, plain], services: [] };
  const rows = workloadsView({ snapshot } as unknown as Agent, 512);
  t.same(rows.map((r) => [r['uid'], r['maxBandwidth'], r['maxConnections'], r['limit']]), [
    ['Pod/demo/limited', 8_000_000, 512, 'default'],
    ['Pod/demo/plainpod', undefined, 512, 'default'],
  ]);
  t.equal('maxBandwidth' in (rows[1] ?? {}), false, 'no key when not limited');
});

t.test('a local workload with meshlet.io/max-agent-share shows it in percent; others have no key', async (t) => {
  const shared = workload('shared', 'n1', { limits: { maxAgentShare: 25 } });
  const plain = workload('plainpod', 'n1');
  const snapshot: NodeSnapshot = { version: 'v1', node: 'n1', nodeAddress: '198.18.0.1', trustDomain: 'cluster.local', localWorkloads: [shared, plain], workloads: [shared, plain], services: [] };
  const rows = workloadsView({ snapshot } as unknown as Agent, 512);
  t.same(rows.map((r) => [r['uid'], r['maxAgentShare'], r['maxBandwidth']]), [
    ['Pod/demo/shared', 25, undefined],
    ['Pod/demo/plainpod', undefined, undefined],
  ]);
  t.equal('maxAgentShare' in (rows[1] ?? {}), false, 'no key when not limited');
});
