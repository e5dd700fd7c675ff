/**
 * Issue 9, finding 5 (signer): no node gets a certificate for the controller's identity, even
 * from a state that (wrongly) schedules a workload with it on that node; the state store reports
 * workloads left out for it.
 */
import t from 'tap';
import { ControllerCertSigner } from '../../../src/controller/cert-signer.js';
import type { PublishedState, StateFeed } from '../../../src/controller/contracts.js';
import { StateStore } from '../../../src/controller/state-store.js';
import type { RegistryContents, RegistrySource } from '../../../src/controller/registry/registry-source.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { controllerIdentity } from '../../../src/mesh/snapshot-wire/encode.js';
import { createCsr } from '../../../src/mesh/x509.js';
import { newCa, newKey } from '../ca/ca-fixture.js';
import { captureLogs } from './auth/auth-fixtures.js';

const CONTROLLER = controllerIdentity('cluster.local');
const MESH = `
apiVersion: v1
kind: Node
metadata: { name: node-a }
status: { addresses: [{ type: InternalIP, address: 198.18.0.1 }] }
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata: { name: db, namespace: demo }
spec: { address: 198.18.1.30, node: node-a, serviceAccount: db }
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata: { name: fake-controller, namespace: meshlet-system }
spec: { address: 198.18.1.50, node: node-a, serviceAccount: meshlet-controller }
`;

t.test('a CSR for the controller identity is refused even when a state schedules it on the node', async (t) => {
  const ca = await newCa(t);
  const built = buildClusterState(parseObjects(MESH, 'mesh.yaml'));
  const db = built.workloads[0];
  if (db === undefined) throw new Error('fixture: db is meshed');
  // A state as an older controller (or a bug) would have built it: the identity on node-a.
  const state = { ...built, workloads: [...built.workloads, { ...db, uid: 'Workload/meshlet-system/fake-controller', identity: CONTROLLER }] };
  const published: PublishedState = { version: 'v1', state, publishedAt: Date.now() };
  const feed: StateFeed = { current: () => published, subscribe: () => () => undefined };
  const logs = captureLogs();
  const signer = new ControllerCertSigner({ ca, feed, logger: logs.logger });
  const key = await newKey();
  const err = await signer.sign('node-a', createCsr({ identity: CONTROLLER, privateKeyPem: key }), CONTROLLER).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.equal(isMeshletError(err, 'MESHLET_ERR_CERT_NOT_AUTHORIZED'), true, `refused: ${String(err)}`);
  t.match((err as Error).message, /the controller's identity, which is never issued to a node/);
  t.same(signer.counters(), { signed: 0, refused: 1, invalid: 0 });
  t.equal(logs.lines.filter((l) => l['msg'] === 'certificate refused: node not authorized for identity').length, 1, 'the refusal is logged');
  const ok = await signer.sign('node-a', createCsr({ identity: 'spiffe://cluster.local/ns/demo/sa/db', privateKeyPem: key }), 'spiffe://cluster.local/ns/demo/sa/db');
  t.match(ok.chainPem, /BEGIN CERTIFICATE/, 'other identities on the node are still signed');
});

t.test('the state store publishes the rest and lists the refused workload in its status', async (t) => {
  const objects = parseObjects(MESH, 'mesh.yaml');
  const contents: RegistryContents = { source: 'test', objects, problems: [], excluded: [] };
  const source: RegistrySource = {
    name: 'test',
    start: async () => undefined,
    contents: () => contents,
    onChange: () => () => undefined,
    close: async () => undefined,
  };
  const logs = captureLogs();
  const store = new StateStore({ logger: logs.logger, debounceMs: 0 });
  t.teardown(() => store.close());
  store.addSource(source);
  store.flush();
  t.same(
    store.current()?.state.workloads.map((w) => w.uid),
    ['Workload/demo/db'],
  );
  t.equal(store.status().excluded.length, 1);
  t.match(store.status().excluded[0], /Workload meshlet-system\/fake-controller: left out of the mesh/);
  t.equal(logs.lines.filter((l) => l['msg'] === 'workloads left out of the mesh').length, 1, 'logged once');
  store.flush();
  t.equal(logs.lines.filter((l) => l['msg'] === 'workloads left out of the mesh').length, 1, 'not again for the same set');
  t.equal(store.status().excluded.length, 1, 'still reported');
});

