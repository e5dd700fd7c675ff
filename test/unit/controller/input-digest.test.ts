/**
 * The digest the state store compares: blind to file, order and key order, sees every value.
 */
import t from 'tap';
import { inputDigest } from '../../../src/controller/input-digest.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n  labels: {meshlet.io/mesh: enabled}\n';
const pod = (labels: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: demo\n  labels: ${labels}\nspec:\n  nodeName: n1\nstatus:\n  podIP: 198.18.1.10\n`;

t.test('equal objects from other files, in another order, keys in another order: one digest', async (t) => {
  const a = parseObjects([NS, pod('{app: web, tier: front}')].join('---\n'), 'a.yaml');
  const b = parseObjects([pod('{tier: front, app: web}'), NS].join('---\n'), 'b.yaml');
  t.equal(inputDigest(a, 'cluster.local'), inputDigest(b, 'cluster.local'));
  t.not(inputDigest(a, 'cluster.local'), inputDigest(a, 'other.local'), 'the trust domain counts');
  const c = parseObjects([NS, pod('{app: web, tier: back}')].join('---\n'), 'a.yaml');
  t.not(inputDigest(a, 'cluster.local'), inputDigest(c, 'cluster.local'), 'a label value counts');
  const d = parseObjects([NS, pod('{app: web, tier: front, source: x}')].join('---\n'), 'a.yaml');
  t.not(inputDigest(a, 'cluster.local'), inputDigest(d, 'cluster.local'), 'a label named "source" counts');
  t.not(inputDigest(a, 'cluster.local'), inputDigest([...a, ...a], 'cluster.local'), 'a duplicate counts');
});

t.test('an object that is not frozen is digested again each time: a change to it is seen', async (t) => {
  const objects = parseObjects(pod('{app: web}'), 'a.yaml');
  const before = inputDigest(objects, 'cluster.local');
  (objects[0] as unknown as { labels: Record<string, string> }).labels['app'] = 'api';
  t.not(inputDigest(objects, 'cluster.local'), before);
});
