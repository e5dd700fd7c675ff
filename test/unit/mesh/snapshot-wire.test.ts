/**
 * The snapshot wire format: round trips (the two-node fixture and a 50-node, 5,000-pod,
 * 500-Service cluster), one shared encoding for every node, and validation that names each bad
 * field and changes nothing.
 */
import t, { type Test } from 'tap';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError, MeshletError } from '../../../src/mesh/errors.js';
import { buildClusterState, computeSnapshot, type ClusterState } from '../../../src/mesh/snapshot.js';
import {
  CLUSTER_ENCODING,
  decodeSnapshot,
  encodeClusterView,
  snapshotToWire,
  type SnapshotWire,
} from '../../../src/mesh/snapshot-wire/encode.js';
import { largeClusterState } from '../controller/agent-api/large-cluster.js';
import { thrown, twoNodeObjects } from './fixture.js';

const TD = 'cluster.local';

function wireFor(state: ClusterState, node: string, version = 'v1'): SnapshotWire {
  return snapshotToWire(encodeClusterView(state, version), computeSnapshot(state, node, version));
}

const twoNode = buildClusterState(twoNodeObjects());
const good = wireFor(twoNode, 'node-a');

/** The decoded JSON of the good snapshot's cluster view. */
type View = { [k: string]: unknown } & { workloads: Record<string, unknown>[]; services: Record<string, unknown>[] };

/** The good snapshot with its cluster view changed by `mutate`. */
function withView(mutate: (view: View) => void, wire: SnapshotWire = good): SnapshotWire {
  const view = JSON.parse(gunzipSync(wire.cluster).toString('utf8')) as View;
  mutate(view);
  return { ...wire, cluster: gzipSync(JSON.stringify(view)) };
}

/** Decodes, expecting a failure; returns the error's message. */
function failure(t: Test, wire: SnapshotWire, expected = { node: 'node-a', trustDomain: TD }): string {
  const err = thrown(() => decodeSnapshot(wire, expected));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), 'MESHLET_ERR_CONTROLLER');
  return err instanceof MeshletError ? err.message : '';
}

function endpointIndex(view: View): [number, number] {
  const s = view.services.findIndex((svc) => (svc['endpoints'] as unknown[]).length > 0);
  return [s, 0];
}

t.test('decode(encode(s)) is computeSnapshot for every node of the two-node fixture', async (t) => {
  for (const node of ['node-a', 'node-b', 'node-unknown']) {
    const wire = wireFor(twoNode, node, 'v42');
    t.strictSame(decodeSnapshot(wire, { node, trustDomain: TD }), computeSnapshot(twoNode, node, 'v42'), node);
  }
  t.equal(good.clusterEncoding, CLUSTER_ENCODING);
  t.same(good.localWorkloadUids, ['Pod/demo/client', 'Pod/demo/web-1', 'Pod/shop/cart'], 'the node part names local workloads by uid');
});

t.test('at 50 nodes, 5,000 pods and 500 Services the cluster view is encoded once and shared', async (t) => {
  const state = largeClusterState({ nodes: 50, pods: 5000, services: 500 });
  t.equal(state.services.length, 500);
  t.ok(state.workloads.length > 4800, `${state.workloads.length} meshed workloads`);
  const shared = encodeClusterView(state, 'v9');
  const wires = ['node-0', 'node-17', 'node-49'].map((node) => snapshotToWire(shared, computeSnapshot(state, node, 'v9')));
  for (const wire of wires) {
    t.equal(wire.cluster, shared.bytes, `${wire.node} carries the very same bytes`);
    t.strictSame(decodeSnapshot(wire, { node: wire.node, trustDomain: TD }), computeSnapshot(state, wire.node, 'v9'), `${wire.node} round trip`);
  }
  const json = JSON.stringify({ workloads: state.workloads, services: state.services }).length;
  t.ok(shared.bytes.length < json / 5, `gzip: ${shared.bytes.length} bytes for ${json} bytes of JSON`);
});

t.test('each bad field of the cluster view is named', async (t) => {
  const cases: [string, (v: View) => void, string][] = [
    ['address', (v) => ((v.workloads[0] as { addresses: string[] }).addresses[0] = '198.18.1.999'), 'cluster.workloads[0].addresses[0]: "198.18.1.999" is not an IP address'],
    ['no address', (v) => (v.workloads[0]!['addresses'] = []), 'cluster.workloads[0].addresses: must hold at least one address'],
    ['kind type', (v) => (v.workloads[1]!['kind'] = 5), 'cluster.workloads[1].kind: must be a string, got 5'],
    ['uid', (v) => (v.workloads[0]!['uid'] = 'Pod/demo/other'), 'cluster.workloads[0].uid: "Pod/demo/other" is not "Pod/demo/client"'],
    ['foreign identity', (v) => (v.workloads[0]!['identity'] = 'spiffe://evil.example/ns/demo/sa/client'), 'cluster.workloads[0].identity: "spiffe://evil.example/ns/demo/sa/client" is outside the trust domain'],
    ['identity of another account', (v) => (v.workloads[0]!['identity'] = 'spiffe://cluster.local/ns/demo/sa/admin'), 'is not the identity of its service account, spiffe://cluster.local/ns/demo/sa/client'],
    ['not spiffe', (v) => (v.workloads[2]!['identity'] = 'https://x'), 'cluster.workloads[2].identity: "https://x" is not a SPIFFE ID'],
    ['port', (v) => ((v.workloads[0] as { namedPorts: { port: number }[] }).namedPorts[0] = { port: 70000 }), 'cluster.workloads[0].namedPorts[0].port: must be a port number 1..65535, got 70000'],
    ['tls mode', (v) => (v.workloads[0]!['tlsMode'] = 'LOOSE'), 'cluster.workloads[0].tlsMode: "LOOSE" is not STRICT or PERMISSIVE'],
    ['label', (v) => (v.workloads[0]!['labels'] = { app: 'has space' }), 'cluster.workloads[0].labels.app: "has space" is not a label value'],
    ['node name', (v) => (v.workloads[0]!['node'] = 'Node_A'), 'cluster.workloads[0].node: "Node_A" is not a DNS-1123 subdomain'],
    ['duplicate uid', (v) => v.workloads.push(v.workloads[0]!), 'cluster.workloads[6].uid: "Pod/demo/client" appears twice'],
    ['shared address', (v) => (v.workloads[1]!['addresses'] = v.workloads[0]!['addresses']), 'cluster.workloads[1].addresses: 198.18.1.10 is also the address of Pod/demo/client'],
    ['vip', (v) => (v.services[0]!['vips'] = ['nope']), 'cluster.services[0].vips[0]: "nope" is not an IP address'],
    ['service key', (v) => (v.services[0]!['key'] = 'demo/other'), 'cluster.services[0].key: "demo/other" is not "demo/db"'],
    ['target port', (v) => ((v.services[1] as { ports: { targetPort: unknown }[] }).ports[0]!.targetPort = -1), 'cluster.services[1].ports[0].targetPort: -1 is not a port number or a port name'],
    ['services type', (v) => ((v as Record<string, unknown>)['services'] = 'all'), 'cluster.services: must be a list, got "all"'],
  ];
  for (const [name, mutate, expected] of cases) {
    t.match(failure(t, withView(mutate)), expected, name);
  }
});

t.test('bad endpoints are named', async (t) => {
  const view = JSON.parse(gunzipSync(good.cluster).toString('utf8')) as View;
  const [s] = endpointIndex(view);
  const at = `cluster.services[${s}].endpoints[0]`;
  const endpoint = (v: View): Record<string, unknown> => (v.services[s]!['endpoints'] as Record<string, unknown>[])[0]!;
  const cases: [string, (v: View) => void, string][] = [
    ['identity missing', (v) => delete endpoint(v)['identity'], `${at}.identity: must be a string`],
    ['meshed type', (v) => (endpoint(v)['meshed'] = 'yes'), `${at}.meshed: must be true or false, got "yes"`],
    ['target port of no Service port', (v) => (endpoint(v)['targetPorts'] = { 1234: 80 }), `${at}.targetPorts["1234"]: is not a port of the Service`],
    ['workload uid', (v) => (endpoint(v)['workload'] = 'demo'), `${at}.workload: "demo" is not a workload uid`],
    ['node address', (v) => (endpoint(v)['nodeAddress'] = 'node-a'), `${at}.nodeAddress: "node-a" is not an IP address`],
  ];
  for (const [name, mutate, expected] of cases) t.match(failure(t, withView(mutate)), expected, name);
});

t.test('bad node fields and envelopes are named', async (t) => {
  t.match(failure(t, { ...good, node: 'node-b' }), 'node: "node-b" is not this agent\'s node "node-a"');
  t.match(failure(t, { ...good, nodeAddress: '198.18.0.300' }), 'nodeAddress: "198.18.0.300" is not an IP address');
  t.match(failure(t, { ...good, version: '' }), 'version: "" must not be empty');
  t.match(failure(t, { ...good, localWorkloadUids: ['Pod/demo/nobody'] }), 'localWorkloadUids[0]: "Pod/demo/nobody" is not a workload of the cluster view');
  t.match(failure(t, { ...good, localWorkloadUids: ['Pod/demo/web-2'] }), 'localWorkloadUids[0]: "Pod/demo/web-2" runs on node "node-b", not "node-a"');
  t.match(failure(t, { ...good, localWorkloadUids: ['Pod/demo/client', 'Pod/demo/client'] }), 'localWorkloadUids[1]: "Pod/demo/client" appears twice');
  t.match(failure(t, good, { node: 'node-a', trustDomain: 'other.example' }), 'cluster.trustDomain: "cluster.local" is not this agent\'s trust domain');
  t.match(failure(t, withView((v) => (v['version'] = 'v0'))), 'cluster.version: "v0" is not the snapshot\'s version "v1"');
  t.match(failure(t, withView((v) => (v['format'] = 'meshlet.cluster.v2'))), 'cluster.format: "meshlet.cluster.v2" is not "meshlet.cluster.v1"');
  t.match(failure(t, { ...good, clusterEncoding: 'meshlet.cluster.v2+cbor' }), 'cluster: encoding "meshlet.cluster.v2+cbor" is not "meshlet.cluster.v1+json+gzip"');
  t.match(failure(t, { ...good, cluster: Buffer.from('not gzip') }), 'cluster: not a gzip stream');
  t.match(failure(t, { ...good, cluster: gzipSync('{"truncated') }), 'cluster: not JSON');
  t.match(failure(t, { ...good, cluster: gzipSync('[1,2]') }), 'cluster: must be a JSON object, got a list');
  t.match(failure(t, { ...good, cluster: gzipSync(Buffer.from([0x7b, 0xff, 0x7d])) }), 'not a gzip stream of UTF-8 text');
});

t.test('several problems are counted, listed in details, and the first ones are in the message', async (t) => {
  const wire = withView((v) => {
    for (const w of v.workloads) w['tlsMode'] = 'NONE';
  });
  const err = thrown(() => decodeSnapshot({ ...wire, nodeAddress: 'x' }, { node: 'node-a', trustDomain: TD }));
  if (!(err instanceof MeshletError)) throw new Error('expected a MeshletError');
  t.match(err.message, /^snapshot "v1" is invalid \(7 problems\): cluster\.workloads\[0\]\.tlsMode: "NONE"/);
  t.match(err.message, '; and 2 more');
  t.equal(err.details.length, 7);
  t.ok(err.details.includes('nodeAddress: "x" is not an IP address'));
});

t.test('unknown fields are ignored: a newer controller may add some', async (t) => {
  const wire = withView((v) => {
    v['extra'] = true;
    v.workloads[0]!['extra'] = { nested: 1 };
  });
  t.strictSame(decodeSnapshot(wire, { node: 'node-a', trustDomain: TD }), computeSnapshot(twoNode, 'node-a', 'v1'), 'and left out of the result');
});

t.test('a bad value repeated in many places is named at every place (checks are remembered per decode)', async (t) => {
  const wire = withView((v) => {
    for (const w of v.workloads) w['nodeAddress'] = '198.18.0.300';
  });
  const err = thrown(() => decodeSnapshot(wire, { node: 'node-a', trustDomain: TD }));
  if (!(err instanceof MeshletError)) throw new Error('expected a MeshletError');
  const workloads = (JSON.parse(gunzipSync(good.cluster).toString('utf8')) as View).workloads.length;
  t.equal(err.details.filter((d) => d.endsWith('.nodeAddress: "198.18.0.300" is not an IP address')).length, workloads);
  // The good decode after it remembers nothing of the bad one.
  t.equal(decodeSnapshot(good, { node: 'node-a', trustDomain: TD }).workloads.length, workloads);
  t.match(failure(t, good, { node: 'node-a', trustDomain: 'other.example' }), 'is not this agent\'s trust domain');
});
