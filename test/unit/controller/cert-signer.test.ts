/**
 * Node-authorized signing: a node gets certificates only for identities of meshed workloads
 * the current state schedules on it; every refusal is logged with node and identity; counters
 * follow; a new state takes effect at once.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { ControllerCertSigner } from '../../../src/controller/cert-signer.js';
import type { PublishedState, StateFeed } from '../../../src/controller/contracts.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { createCsr, certificateInfo } from '../../../src/mesh/x509.js';
import { newCa, newKey } from '../ca/ca-fixture.js';
import { captureLogs } from './auth/auth-fixtures.js';

const MESH = `
apiVersion: v1
kind: Node
metadata: { name: node-a }
status: { addresses: [{ type: InternalIP, address: 198.18.0.1 }] }
---
apiVersion: v1
kind: Node
metadata: { name: node-b }
status: { addresses: [{ type: InternalIP, address: 198.18.0.2 }] }
---
apiVersion: v1
kind: Node
metadata: { name: vm-host }
status: { addresses: [{ type: InternalIP, address: 198.18.0.3 }] }
---
apiVersion: v1
kind: Namespace
metadata: { name: demo, labels: { meshlet.io/mesh: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: legacy }
---
apiVersion: v1
kind: Pod
metadata: { name: web-1, namespace: demo }
spec: { serviceAccountName: web, nodeName: node-a, containers: [{ name: web, image: web }] }
status: { podIP: 198.18.1.11 }
---
apiVersion: v1
kind: Pod
metadata: { name: api-1, namespace: demo }
spec: { serviceAccountName: api, nodeName: node-b, containers: [{ name: api, image: api }] }
status: { podIP: 198.18.2.11 }
---
apiVersion: v1
kind: Pod
metadata: { name: batch, namespace: demo, labels: { meshlet.io/mesh: disabled } }
spec: { serviceAccountName: batch, nodeName: node-a, containers: [{ name: b, image: b }] }
status: { podIP: 198.18.1.12 }
---
apiVersion: v1
kind: Pod
metadata: { name: old, namespace: legacy }
spec: { serviceAccountName: old, nodeName: node-a, containers: [{ name: o, image: o }] }
status: { podIP: 198.18.1.13 }
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata: { name: vm-db, namespace: demo }
spec: { address: 198.18.2.30, node: vm-host, serviceAccount: db }
`;

// One workload key for every CSR: key generation is the slow part, and nothing here needs two.
const KEY = await newKey();

const WEB = 'spiffe://cluster.local/ns/demo/sa/web';
const API = 'spiffe://cluster.local/ns/demo/sa/api';
const DB = 'spiffe://cluster.local/ns/demo/sa/db';

function published(yaml: string, version: string): PublishedState {
  return { version, state: buildClusterState(parseObjects(yaml, 'mesh.yaml')), publishedAt: Date.now() };
}

/** A feed the test moves by hand. */
function manualFeed(initial: PublishedState | undefined): StateFeed & { set(s: PublishedState): void } {
  let current = initial;
  return {
    current: () => current,
    subscribe: () => () => undefined,
    set: (s) => (current = s),
  };
}

async function outcome(signer: ControllerCertSigner, node: string, identity: string, csrIdentity = identity): Promise<string> {
  const csr = createCsr({ identity: csrIdentity, privateKeyPem: KEY });
  try {
    const { chainPem } = await signer.sign(node, csr, identity);
    return `signed ${certificateInfo(chainPem).identities.join(',')}`;
  } catch (err) {
    if (isMeshletError(err)) return `${err.code}: ${err.message}`;
    throw err;
  }
}

t.test('a node gets certificates for its own meshed workloads only', async (t) => {
  const ca = await newCa(t);
  const logs = captureLogs();
  const signer = new ControllerCertSigner({ ca, feed: manualFeed(published(MESH, 'v1')), logger: logs.logger, ttlSeconds: 3600 });

  t.equal(await outcome(signer, 'node-a', WEB), `signed ${WEB}`, 'node-a runs web');
  t.equal(await outcome(signer, 'vm-host', DB), `signed ${DB}`, 'a Workload on a systemd host');
  t.equal(
    await outcome(signer, 'node-a', API),
    `MESHLET_ERR_CERT_NOT_AUTHORIZED: node node-a may not have a certificate for ${API}: no meshed workload with identity ${API} is scheduled on node node-a (state v1)`,
    'api runs on node-b, not node-a',
  );
  t.match(await outcome(signer, 'node-a', 'spiffe://cluster.local/ns/demo/sa/batch'), /^MESHLET_ERR_CERT_NOT_AUTHORIZED/, 'an opted-out pod has no mesh identity');
  t.match(await outcome(signer, 'node-a', 'spiffe://cluster.local/ns/legacy/sa/old'), /^MESHLET_ERR_CERT_NOT_AUTHORIZED/, 'a pod in a namespace not enrolled');
  t.match(await outcome(signer, 'node-a', 'spiffe://cluster.local/ns/demo/sa/nobody'), /^MESHLET_ERR_CERT_NOT_AUTHORIZED/, 'an unknown identity');
  t.match(await outcome(signer, 'node-z', WEB), /^MESHLET_ERR_CERT_NOT_AUTHORIZED/, 'an unknown node');
  t.match(await outcome(signer, 'node-a', WEB, API), /^MESHLET_ERR_CERT: CSR asks for .*sa\/api, not the identity being issued/, 'a CSR for another identity is still refused by the CA');

  const refusals = logs.lines.filter((l) => l.msg === 'certificate refused: node not authorized for identity');
  t.same(refusals.map((l) => [l['node'], l['identity'], l['level']]), [
    ['node-a', API, 40],
    ['node-a', 'spiffe://cluster.local/ns/demo/sa/batch', 40],
    ['node-a', 'spiffe://cluster.local/ns/legacy/sa/old', 40],
    ['node-a', 'spiffe://cluster.local/ns/demo/sa/nobody', 40],
    ['node-z', WEB, 40],
  ], 'every refusal is a warning with node and identity');
  t.equal(logs.lines.filter((l) => l.msg === 'certificate issued').length, 2, 'every issue is logged');
  t.same(signer.counters(), { signed: 2, refused: 5, invalid: 1 });
});

t.test('the answer carries the chain and the trust bundle, with the configured TTL', async (t) => {
  const ca = await newCa(t);
  const signer = new ControllerCertSigner({ ca, feed: manualFeed(published(MESH, 'v1')), logger: captureLogs().logger, ttlSeconds: 600 });
  const answer = await signer.sign('node-a', createCsr({ identity: WEB, privateKeyPem: KEY }), WEB);
  t.equal(answer.trustBundlePem, ca.trustBundlePem);
  const leaf = new X509Certificate(answer.chainPem);
  t.ok(leaf.verify(new X509Certificate(ca.trustBundlePem).publicKey));
  const life = new Date(leaf.validTo).getTime() - Date.now();
  t.ok(life <= 600_000, `lives at most 600000 ms (found ${life})`);
  t.ok(life > 500_000, `lives more than 500000 ms (found ${life})`);
});

t.test('no state yet: everything is refused', async (t) => {
  const ca = await newCa(t);
  const logs = captureLogs();
  const signer = new ControllerCertSigner({ ca, feed: manualFeed(undefined), logger: logs.logger });
  t.equal(await outcome(signer, 'node-a', WEB), `MESHLET_ERR_CERT_NOT_AUTHORIZED: node node-a may not have a certificate for ${WEB}: the controller has no cluster state yet`);
  t.equal(logs.lines.filter((l) => l.msg === 'certificate refused: node not authorized for identity' && l['node'] === 'node-a').length, 1);
  t.same(signer.counters(), { signed: 0, refused: 1, invalid: 0 });
});

t.test('a new state takes effect at once: a pod that moved is signed on its new node only', async (t) => {
  const ca = await newCa(t);
  const feed = manualFeed(published(MESH, 'v1'));
  const signer = new ControllerCertSigner({ ca, feed, logger: captureLogs().logger });
  t.equal(await outcome(signer, 'node-a', WEB), `signed ${WEB}`);
  feed.set(published(MESH.replace('nodeName: node-a, containers: [{ name: web', 'nodeName: node-b, containers: [{ name: web'), 'v2'));
  t.match(await outcome(signer, 'node-a', WEB), /^MESHLET_ERR_CERT_NOT_AUTHORIZED: .*\(state v2\)/);
  t.equal(await outcome(signer, 'node-b', WEB), `signed ${WEB}`);
});
