/**
 * The agent API's per-version cache: one encoding per state version, and per-node wire
 * snapshots equal to the ones made from a whole per-node snapshot.
 */
import t from 'tap';
import { ClusterViewCache } from '../../../../src/controller/agent-api/cluster-view-cache.js';
import type { PublishedState } from '../../../../src/controller/contracts.js';
import { computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { snapshotToWire } from '../../../../src/mesh/snapshot-wire/encode.js';
import { largeClusterState } from './large-cluster.js';

t.test('wireFor equals snapshotToWire(computeSnapshot) for every node, an unknown one too; one encoding', async (t) => {
  const state = largeClusterState({ nodes: 5, pods: 300, services: 20 });
  const published: PublishedState = { version: '7', state, publishedAt: 1 };
  const cache = new ClusterViewCache();
  const nodes = [...state.nodes.keys(), 'not-a-node'];
  for (const node of nodes) {
    const expected = snapshotToWire(cache.get(published), computeSnapshot(state, node, '7'));
    t.same(cache.wireFor(published, node), expected, node);
  }
  t.ok((cache.wireFor(published, nodes[0] ?? '').localWorkloadUids.length) > 0, 'a node has local workloads');
  t.same(cache.wireFor(published, 'not-a-node').localWorkloadUids, []);
  t.equal(cache.encodings, 1);
  cache.wireFor({ ...published, version: '8' }, nodes[0] ?? '');
  t.equal(cache.encodings, 2, 'a new version is encoded again');
});

t.test('a node part alone encodes nothing: a version every agent takes as a delta is never gzipped whole', async (t) => {
  const state = largeClusterState({ nodes: 3, pods: 60, services: 6 });
  const published: PublishedState = { version: '9', state, publishedAt: 1 };
  const cache = new ClusterViewCache();
  const part = cache.nodePart(published, 'node-1');
  const { version: _v, clusterEncoding: _e, cluster: _c, ...expected } = snapshotToWire(cache.get({ ...published }), computeSnapshot(state, 'node-1', '9'));
  t.same(part, expected, 'the node part of the full wire snapshot');
  t.equal(cache.encodings, 1, 'only the get() above encoded');
});
