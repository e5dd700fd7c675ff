/**
 * The object digest the state store compares where identity is not enough: blind to file and key
 * order, sees every value; and the store's "nothing changed" test through the incremental build.
 */
import { deepStrictEqual } from 'node:assert';
import t from 'tap';
import { objectDigest } from '../../../src/controller/input-digest.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { ClusterStateUpdater } from '../../../src/mesh/cluster-state-updater.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  labels: {meshlet.io/mesh: enabled}\n';
const NODE = 'apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\nstatus:\n  addresses: [{type: InternalIP, address: 198.18.0.1}]\n';
const pod = (labels: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: demo\n  labels: ${labels}\nspec:\n  nodeName: n1\nstatus:\n  podIP: 198.18.1.10\n`;
const frozen = (objects: MeshObject[]): MeshObject[] => objects.map((o) => Object.freeze(o));

t.test('equal objects from other files, keys in another order: one digest; every value counts', async (t) => {
  const [a] = parseObjects(pod('{app: web, tier: front}'), 'a.yaml');
  const [b] = parseObjects(`# moved\n${pod('{tier: front, app: web}')}`, 'b.yaml');
  t.equal(objectDigest(a!), objectDigest(b!));
  const [c] = parseObjects(pod('{app: web, tier: back}'), 'a.yaml');
  t.not(objectDigest(a!), objectDigest(c!), 'a label value counts');
  const [d] = parseObjects(pod('{app: web, tier: front, source: x}'), 'a.yaml');
  t.not(objectDigest(a!), objectDigest(d!), 'a label named "source" counts');
});

t.test('an object that is not frozen is digested again each time: a change to it is seen', async (t) => {
  const [o] = parseObjects(pod('{app: web}'), 'a.yaml');
  const before = objectDigest(o!);
  (o as unknown as { labels: Record<string, string> }).labels['app'] = 'api';
  t.not(objectDigest(o!), before);
});

t.test('unchanged: the same objects, or equal ones from another file; not another value, an extra object or a duplicate', async (t) => {
  const objects = frozen(parseObjects([NS, NODE, pod('{app: web}')].join('---\n'), 'a.yaml'));
  const updater = new ClusterStateUpdater('cluster.local', { digest: objectDigest });
  t.equal(updater.unchanged(objects), false, 'nothing built yet');
  updater.build(objects);
  t.equal(updater.unchanged([...objects].reverse()), true, 'the same objects, in another order');
  const moved = frozen(parseObjects(pod('{app: web}'), 'b.yaml'));
  t.equal(updater.unchanged([objects[0]!, objects[1]!, moved[0]!]), true, 'an equal pod from another file');
  const relabelled = frozen(parseObjects(pod('{app: api}'), 'a.yaml'));
  t.equal(updater.unchanged([objects[0]!, objects[1]!, relabelled[0]!]), false, 'a label value');
  t.equal(updater.unchanged([...objects, moved[0]!]), false, 'the pod twice (a duplicate)');
  t.equal(updater.unchanged([...objects, objects[2]!]), false, 'the same object twice');
  t.equal(updater.unchanged(objects.slice(0, 2)), false, 'a pod removed');
  t.equal(new ClusterStateUpdater('cluster.local').unchanged([objects[0]!, objects[1]!, moved[0]!]), false, 'without a digest, only identity counts');
});

t.test('an object that is not frozen and changed in place takes the full build, which sees the change', async (t) => {
  const objects = parseObjects([NS, NODE, pod('{app: web}')].join('---\n'), 'a.yaml');
  const updater = new ClusterStateUpdater('cluster.local', { digest: objectDigest });
  updater.build(objects);
  t.equal(updater.unchanged(objects), true);
  // (Its labels are frozen by the build: the state holds them. Its own fields are not.)
  (objects[2] as unknown as { nodeName: string }).nodeName = '';
  t.equal(updater.unchanged(objects), false, 'the in-place change is seen');
  deepStrictEqual(updater.build(objects), buildClusterState(objects));
  t.equal(updater.lastBuild, 'full');
  t.equal(updater.unchanged(objects), true, 'and its digest is kept again');
});
