/**
 * The agent's install path after a delta (issue 17): certificates are reconciled again only when
 * the local identities change (a derived index keeps the same set), and the persisted snapshot
 * is written coalesced: the first snapshot at once, the later ones not per push, the newest one
 * at the drain. In-process, no listeners bound.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent } from '../../../src/agent/agent.js';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { SnapshotStore } from '../../../src/agent/control/snapshot-store.js';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';

const TD = 'cluster.local';

function workload(name: string, address: string, node: string, sa = name): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: sa,
    identity: `spiffe://${TD}/ns/demo/sa/${sa}`, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

t.test('a changed remote workload reconciles no certificate and writes no snapshot; the drain writes the newest', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-derive-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  const quiet = pino({ level: 'silent' });
  const ca = await CertificateAuthority.loadOrCreate({ dir: join(dir, 'ca'), trustDomain: TD, logger: quiet });
  const signer = { sign: async (csr: string, identity: string) => ({ chainPem: ca.sign(csr, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const store = new SnapshotStore({ dir: stateDir, logger: quiet });
  const saved: string[] = [];
  const save = store.save.bind(store);
  store.save = (s: NodeSnapshot) => {
    saved.push(s.version);
    return save(s);
  };
  const config = loadAgentConfig({ node: 'node1', config: '/unused', stateDir, bind: '127.0.0.1', outboundPort: 0, inboundPort: 0, tunnelPort: 0, readinessPort: 0 }, {});
  const agent = new Agent({ config, logger: quiet, signer, capture: null, snapshotStore: store });
  const reconciled: number[] = [];
  const reconcile = agent.identities.reconcile.bind(agent.identities);
  agent.identities.reconcile = (ids) => {
    reconciled.push(ids.size);
    return reconcile(ids);
  };

  const client = workload('client', '198.18.1.10', 'node1');
  const server = workload('server', '198.18.2.10', 'node2');
  const v1: NodeSnapshot = { version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: TD, localWorkloads: [client], workloads: [client, server], services: [] };
  await agent.applySnapshot(v1);
  t.same(reconciled, [1], 'the first snapshot reconciles its one identity');
  t.same(saved, ['v1'], 'the first snapshot is saved at once');

  // v2: the remote workload changed (a new object), the local list is the same array.
  const server2 = { ...server, labels: { v: '2' } };
  await agent.applySnapshot({ ...v1, version: 'v2', workloads: [client, server2] });
  await agent.applySnapshot({ ...v1, version: 'v3', workloads: [client, { ...server2, labels: { v: '3' } }] });
  t.same(reconciled, [1], 'no local identity came or went: no reconcile');
  t.equal(agent.snapshot.version, 'v3');
  t.same(saved, ['v1'], 'within the coalescing interval: not saved per push');

  // v4: the local workload's identity changes.
  const client4 = workload('client', '198.18.1.10', 'node1', 'client-v4');
  await agent.applySnapshot({ ...v1, version: 'v4', localWorkloads: [client4], workloads: [client4, server2] });
  t.same(reconciled, [1, 1], 'a new local identity: reconciled');
  t.ok(agent.identities.get(client4.identity), 'and its certificate issued');

  await agent.destroy();
  await store.flush();
  t.same(saved, ['v1', 'v4'], 'the drain wrote the newest, only it');
  t.equal((await new SnapshotStore({ dir: stateDir, logger: quiet }).load({ node: 'node1', trustDomain: TD }))?.version, 'v4');
});
