/**
 * Issue 9, finding 1, at the edges where addresses enter the controller and the agent: mesh
 * objects (Workload, Pod status, Service cluster IPs) and the snapshot wire decoder refuse every
 * address the one address policy refuses, with a message naming the object, field and value,
 * while the other objects of the same file are kept.
 */
import t, { type Test } from 'tap';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError, MeshletError } from '../../../src/mesh/errors.js';
import { collectObjects, parseObjects } from '../../../src/mesh/objects/parse.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../../src/mesh/snapshot-wire/encode.js';
import { thrown, twoNodeObjects } from './fixture.js';

const BAD = ['127.0.0.1', '169.254.169.254', '::ffff:127.0.0.1', 'fe80::1%eth0', '0.0.0.0', '::', 'ff02::1'];

const workloadDoc = (name: string, address: string): string =>
  `apiVersion: meshlet.io/v1alpha1\nkind: Workload\nmetadata: {name: ${name}, namespace: demo}\nspec: {address: "${address}", node: node-a}\n`;

t.test('a Workload with a refused address is refused by name, field and value; the others are kept', async (t) => {
  const docs = [workloadDoc('good-1', '198.18.2.30'), ...BAD.map((a, i) => workloadDoc(`bad-${i}`, a)), workloadDoc('good-2', '2001:db8::30')];
  const { objects, problems } = collectObjects(docs.join('---\n'), 'workloads.yaml');
  t.same(objects.map((o) => o.name), ['good-1', 'good-2'], 'the good ones are kept');
  t.equal(problems.length, BAD.length, 'one problem per bad Workload');
  BAD.forEach((address, i) => {
    const line = problems[i]?.text ?? '';
    t.match(line, `Workload demo/bad-${i}: spec.address: ${JSON.stringify(address)} `, `${address}: object, field and value`);
    t.match(line, /; not a workload address$/, `${address}: says why`);
  });
  t.match(problems[0]?.text, /"127\.0\.0\.1" is a loopback address/);
  t.match(problems[1]?.text, /"169\.254\.169\.254" is a link-local address .*metadata/);
  t.match(problems[2]?.text, /IPv4-mapped/);
  t.match(problems[3]?.text, /zone id/);
});

t.test('parseObjects throws MESHLET_ERR_OBJECT_INVALID for such a Workload', async (t) => {
  const err = thrown(() => parseObjects(workloadDoc('meta', '169.254.169.254'), 'w.yaml'));
  t.ok(isMeshletError(err, 'MESHLET_ERR_OBJECT_INVALID'), 'MESHLET_ERR_OBJECT_INVALID');
  t.match((err as Error).message, 'Workload demo/meta: spec.address: "169.254.169.254" is a link-local address');
});

t.test('Pod status IPs and Service cluster IPs go through the same policy', async (t) => {
  const pod = (name: string, status: string): string =>
    `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: demo}\nspec: {nodeName: node-a}\nstatus: ${status}\n`;
  const svc = (name: string, spec: string): string => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: demo}\nspec: ${spec}\n`;
  const docs = [
    pod('ok', '{podIP: 198.18.1.5}'),
    pod('loop', '{podIP: 127.0.0.1}'),
    pod('meta', '{podIP: 198.18.1.6, podIPs: [{ip: 198.18.1.6}, {ip: "fe80::1"}]}'),
    svc('web', '{clusterIP: 10.96.0.10, ports: [{port: 80}]}'),
    svc('metadata', '{clusterIP: 169.254.169.254, ports: [{port: 80}]}'),
    svc('loopy', '{clusterIPs: [10.96.0.11, "::1"], ports: [{port: 80}]}'),
    svc('headless', '{clusterIP: None, ports: [{port: 80}]}'),
  ];
  const { objects, problems } = collectObjects(docs.join('---\n'), 'k8s.yaml');
  t.same(objects.map((o) => `${o.kind}/${o.name}`), ['Pod/ok', 'Service/web', 'Service/headless']);
  const texts = problems.map((p) => p.text);
  t.equal(texts.length, 4, texts.join('\n'));
  t.match(texts[0], 'Pod demo/loop: status.podIP: "127.0.0.1" is a loopback address');
  t.match(texts[1], 'Pod demo/meta: status.podIPs[1].ip: "fe80::1" is a link-local address');
  t.match(texts[2], 'Service demo/metadata: spec.clusterIP: "169.254.169.254" is a link-local address');
  t.match(texts[3], 'Service demo/loopy: spec.clusterIPs[1]: "::1" is a loopback address');
});

// The wire decoder: a controller that is broken, old or hostile must not hand an agent such an address.

const TD = 'cluster.local';
const state = buildClusterState(twoNodeObjects());
const good: SnapshotWire = snapshotToWire(encodeClusterView(state, 'v1'), computeSnapshot(state, 'node-a', 'v1'));
type View = { workloads: Record<string, unknown>[]; services: Record<string, unknown>[] };

function withView(mutate: (view: View) => void): SnapshotWire {
  const view = JSON.parse(gunzipSync(good.cluster).toString('utf8')) as View;
  mutate(view);
  return { ...good, cluster: gzipSync(JSON.stringify(view)) };
}

function failure(t: Test, wire: SnapshotWire): string {
  const err = thrown(() => decodeSnapshot(wire, { node: 'node-a', trustDomain: TD }));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), 'refused as MESHLET_ERR_CONTROLLER (the NACK reason)');
  return err instanceof MeshletError ? err.message : '';
}

t.test('the fixture decodes (so the failures below are the addresses)', async (t) => {
  t.equal(decodeSnapshot(good, { node: 'node-a', trustDomain: TD }).version, 'v1');
});

t.test('a workload, endpoint or VIP address the policy refuses is named in the decode error', async (t) => {
  for (const address of ['127.0.0.1', '169.254.169.254', '::ffff:127.0.0.1', 'fe80::1%eth0', '0.0.0.0']) {
    const w = failure(t, withView((v) => void (v.workloads[0] as { addresses: string[] }).addresses.splice(0, 1, address)));
    t.match(w, `cluster.workloads[0].addresses[0]: ${JSON.stringify(address)} `, `workload ${address}`);
    const s = failure(t, withView((v) => void (v.services[0] as { vips: string[] }).vips.splice(0, 1, address)));
    t.match(s, `cluster.services[0].vips[0]: ${JSON.stringify(address)} `, `vip ${address}`);
  }
  const e = failure(t, withView((v) => {
    const svc = v.services.find((s) => (s['endpoints'] as unknown[]).length > 0) as { endpoints: { address: string }[] };
    (svc.endpoints[0] as { address: string }).address = '127.0.0.1';
  }));
  t.match(e, /endpoints\[0\]\.address: "127\.0\.0\.1" is a loopback address/);
});

t.test("a workload with a node's address is refused", async (t) => {
  const view = JSON.parse(gunzipSync(good.cluster).toString('utf8')) as View;
  const nodeAddress = String(view.workloads[0]?.['nodeAddress']);
  t.not(nodeAddress, '', 'the fixture has node addresses');
  const msg = failure(t, withView((v) => void (v.workloads[1] as { addresses: string[] }).addresses.splice(0, 1, nodeAddress)));
  t.match(msg, `cluster.workloads[1].addresses[0]: ${JSON.stringify(nodeAddress)} is one of the node's own addresses`);
});
