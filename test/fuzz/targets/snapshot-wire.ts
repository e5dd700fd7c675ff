/**
 * The snapshot wire decoder (`decodeSnapshot`): what an agent does with the controller's bytes.
 * A compromised or buggy controller must not crash an agent or make it route by a bad entry:
 * everything decoded satisfies the model's invariants, and anything else is one
 * MESHLET_ERR_CONTROLLER (the agent's NACK). Encoding a valid state and decoding it gives the
 * state back; whatever the decoder accepts encodes and decodes to itself.
 */
import fc from 'fast-check';
import { isIP } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { objectsFromValue, parseObjects } from '../../../src/mesh/objects/parse.js';
import { computeSnapshot } from '../../../src/mesh/snapshot.js';
import { CLUSTER_ENCODING, decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../../src/mesh/snapshot-wire/encode.js';
import type { ClusterState } from '../../../src/mesh/cluster-types.js';
import type { MeshObject, NodeSnapshot } from '../../../src/mesh/types.js';
import { bytesCodec, typedValueCodec } from '../corpus.js';
import { holds, onlyMeshletError, same } from '../expect.js';
import { meshDocuments, meshYamlFiles } from '../fixtures.js';
import { edgeValue, mutatedBytes, mutatedSeed } from '../mutate.js';
import { property, type FuzzTarget } from '../fuzz-property.js';

const TD = 'cluster.local';

/** A snapshot's fields with its cluster view as JSON: what the structure-aware mutations edit. */
interface OpenWire {
  readonly expectNode: string;
  readonly wire: Record<string, unknown>;
  readonly view: unknown;
}

function open(wire: SnapshotWire): OpenWire {
  const { cluster, ...rest } = wire;
  return { expectNode: wire.node, wire: { ...rest, localWorkloadUids: [...wire.localWorkloadUids] }, view: JSON.parse(gunzipSync(cluster).toString('utf8')) as unknown };
}

/**
 * The wire again, its view gzipped. The wire itself stays an object: the agent builds it from
 * the decoded protobuf message, which always is one (its fields may hold anything).
 */
function close(o: unknown): { wire: unknown; expectNode: string } {
  const open = (typeof o === 'object' && o !== null ? o : {}) as Partial<Record<keyof OpenWire, unknown>>;
  const json = JSON.stringify(open.view);
  const fields = typeof open.wire === 'object' && open.wire !== null ? open.wire : {};
  return { wire: { ...fields, cluster: gzipSync(json ?? '') }, expectNode: typeof open.expectNode === 'string' ? open.expectNode : 'node-a' };
}

/** Decodes; the only error allowed is MESHLET_ERR_CONTROLLER, and what decodes is sound. */
function decodeChecked(wire: unknown, node: string): NodeSnapshot | undefined {
  const snap = onlyMeshletError(() => decodeSnapshot(wire as SnapshotWire, { node, trustDomain: TD }), ['MESHLET_ERR_CONTROLLER']);
  if (snap !== undefined) checkSnapshot(snap, node);
  return snap;
}

/** The invariants the agent relies on, checked independently of the decoder's own code. */
function checkSnapshot(s: NodeSnapshot, node: string): void {
  same([s.node, s.trustDomain], [node, TD], 'node and trust domain are the agent\'s');
  holds(typeof s.version === 'string' && s.version !== '', 'empty version');
  const uids = new Set<string>();
  const owner = new Map<string, string>();
  for (const w of s.workloads) {
    holds(!uids.has(w.uid), `workload ${w.uid} twice`);
    uids.add(w.uid);
    holds(w.uid === `${w.kind}/${w.namespace}/${w.name}`, `uid ${w.uid} of ${w.kind}/${w.namespace}/${w.name}`);
    holds(w.identity === `spiffe://${TD}/ns/${w.namespace}/sa/${w.serviceAccount}`, `workload ${w.uid} has identity ${w.identity}`);
    holds(w.addresses.length > 0, `workload ${w.uid} has no address`);
    for (const a of w.addresses) {
      holds(isIP(a) !== 0, `workload ${w.uid} address ${JSON.stringify(a)}`);
      holds((owner.get(a) ?? w.uid) === w.uid, `address ${a} of two workloads`);
      owner.set(a, w.uid);
    }
    holds(w.nodeAddress === '' || isIP(w.nodeAddress) !== 0, `workload ${w.uid} node address ${JSON.stringify(w.nodeAddress)}`);
    holds(w.tlsMode === 'STRICT' || w.tlsMode === 'PERMISSIVE', `tls mode ${String(w.tlsMode)}`);
    for (const p of w.namedPorts) holds(Number.isInteger(p.port) && p.port >= 1 && p.port <= 65535, `named port ${p.port}`);
  }
  for (const w of s.localWorkloads) holds(uids.has(w.uid) && w.node === node, `local workload ${w.uid} is not a workload of this node`);
  const keys = new Set<string>();
  for (const svc of s.services) {
    holds(!keys.has(svc.key) && svc.key === `${svc.namespace}/${svc.name}`, `service key ${svc.key}`);
    keys.add(svc.key);
    for (const v of svc.vips) holds(isIP(v) !== 0, `service ${svc.key} vip ${JSON.stringify(v)}`);
    const ports = new Set(svc.ports.map((p) => p.port));
    for (const e of svc.endpoints) {
      holds(isIP(e.address) !== 0, `endpoint address ${JSON.stringify(e.address)}`);
      holds(e.meshed === (e.identity !== undefined), `endpoint ${e.workload}: meshed ${e.meshed} with identity ${String(e.identity)}`);
      for (const [port, target] of Object.entries(e.targetPorts)) {
        holds(ports.has(Number(port)), `endpoint ${e.workload} target of port ${port}, not a Service port`);
        holds(Number.isInteger(target) && target >= 1 && target <= 65535, `endpoint target port ${String(target)}`);
      }
    }
  }
  // What the decoder accepts, encoded again, decodes to itself.
  const again = decodeSnapshot(snapshotToWire(encodeClusterView(s, s.version), s), { node, trustDomain: TD });
  same(again, s, 're-encoded snapshot decodes to itself');
}

function checkOpenWire(o: unknown): void {
  const { wire, expectNode } = close(o);
  decodeChecked(wire, expectNode);
}

function checkAnyWire(wire: unknown): void {
  decodeChecked(wire, 'node-a');
}

/** Wires with fields of any type and clusters of any bytes, gzip or not. */
function anyWire(good: SnapshotWire): fc.Arbitrary<unknown> {
  const field = <T>(valid: T): fc.Arbitrary<unknown> => fc.oneof({ weight: 3, arbitrary: fc.constant(valid) }, { weight: 1, arbitrary: edgeValue() });
  const cluster = fc.oneof(
    fc.uint8Array({ maxLength: 200 }),
    fc.string({ maxLength: 200 }).map((s) => new Uint8Array(gzipSync(s))),
    fc.jsonValue({ maxDepth: 4 }).map((v) => new Uint8Array(gzipSync(JSON.stringify(v)))),
    fc.constant(good.cluster),
    edgeValue(),
  );
  return fc.record({
    version: field(good.version),
    clusterEncoding: fc.oneof(field(CLUSTER_ENCODING), fc.string({ maxLength: 40 })),
    cluster,
    node: field(good.node),
    nodeAddress: field(good.nodeAddress),
    localWorkloadUids: fc.oneof(field(good.localWorkloadUids), fc.array(edgeValue(), { maxLength: 4 })),
  }, { requiredKeys: ['cluster'] });
}

/** Pods and Services with random names and addresses, to make clusters of many shapes. */
function extraObjects(): fc.Arbitrary<unknown[]> {
  const name = fc.stringMatching(/^[a-z]([a-z0-9-]{0,8}[a-z0-9])?$/);
  const app = fc.constantFrom('web', 'db', 'cart', 'client');
  const namespace = fc.constantFrom('demo', 'shop', 'legacy', 'meshlet-system');
  const pod = fc
    .record({ name, namespace, app, node: fc.constantFrom('node-a', 'node-b', 'node-c', ''), ip: fc.oneof(fc.ipV4(), fc.ipV6()), sa: fc.constantFrom('web', 'db', 'default', 'meshlet-controller'), port: fc.integer({ min: 1, max: 65535 }) })
    .map((p) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: p.name, namespace: p.namespace, labels: { app: p.app } },
      spec: { ...(p.node === '' ? {} : { nodeName: p.node }), serviceAccountName: p.sa, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: p.port }] }] },
      status: { podIP: p.ip },
    }));
  const service = fc
    .record({ name, namespace, app, vip: fc.oneof(fc.ipV4(), fc.ipV6()), port: fc.integer({ min: 1, max: 65535 }), target: fc.oneof(fc.constant('http'), fc.integer({ min: 1, max: 65535 })) })
    .map((s) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.name, namespace: s.namespace },
      spec: { clusterIP: s.vip, selector: { app: s.app }, ports: [{ name: 'http', port: s.port, targetPort: s.target }] },
    }));
  return fc.array(fc.oneof(pod, service), { maxLength: 12 });
}

/** A cluster from (mutated) fixture documents plus random objects; valid objects only. */
function clusterObjects(docs: readonly unknown[]): fc.Arbitrary<unknown[]> {
  return fc.tuple(fc.oneof(fc.constant({ seed: 0, value: docs as unknown }), mutatedSeed([docs], 3)), extraObjects()).map(([m, extra]) => [
    ...(Array.isArray(m.value) ? (m.value as unknown[]) : []),
    ...extra,
  ]);
}

function checkRoundTrip(docs: unknown): void {
  const objects: MeshObject[] = [];
  (Array.isArray(docs) ? docs : []).forEach((d, i) => {
    const r = objectsFromValue(d, { file: 'fuzz', doc: i });
    if (r.problems.length === 0) objects.push(...r.objects);
  });
  let state: ClusterState;
  try {
    state = buildClusterState(objects);
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_OBJECT_CONFLICT')) return;
    throw err;
  }
  const shared = encodeClusterView(state, 'v7');
  for (const node of new Set(['node-a', 'node-b', 'node-unknown', ...state.workloads.map((w): string => w.node)])) {
    if (node === '') continue;
    const want = computeSnapshot(state, node, 'v7');
    const got = decodeChecked(snapshotToWire(shared, want), node);
    holds(got !== undefined, `the agent refuses the controller's snapshot of a valid cluster (node ${node}): ${refusal(snapshotToWire(shared, want), node)}`);
    same(got, want, `decode(encode(state)) for ${node}`);
  }
}

function refusal(wire: SnapshotWire, node: string): string {
  try {
    decodeSnapshot(wire, { node, trustDomain: TD });
    return '';
  } catch (err) {
    return err instanceof Error ? err.message.slice(0, 300) : String(err);
  }
}

/** The snapshot wire decoder. */
export function snapshotWireTarget(): FuzzTarget {
  const objects = meshYamlFiles()
    .filter((f) => f.name.includes('two-node'))
    .flatMap((f) => parseObjects(f.text, f.name));
  const state = buildClusterState(objects);
  const shared = encodeClusterView(state, 'v1');
  const wires = ['node-a', 'node-b'].map((node) => snapshotToWire(shared, computeSnapshot(state, node, 'v1')));
  const good = wires[0] as SnapshotWire;
  const opened = wires.map(open);
  const docs = meshDocuments();
  return {
    name: 'snapshot-wire',
    description: 'snapshot wire decoding on the agent (decodeSnapshot), encode/decode round trips',
    properties: [
      property({ name: 'wire-any', weight: 2, arbitrary: anyWire(good), check: checkAnyWire, codec: typedValueCodec<unknown>() }),
      property({
        name: 'view-mutated',
        weight: 4,
        arbitrary: mutatedSeed(opened, 4).map((m) => m.value),
        check: checkOpenWire,
        codec: typedValueCodec<unknown>(),
        seeds: () => opened,
      }),
      property({
        name: 'gzip-mutated',
        weight: 1,
        arbitrary: mutatedBytes([good.cluster]),
        check: (bytes) => checkAnyWire({ ...good, cluster: bytes }),
        codec: bytesCodec,
        seeds: () => [good.cluster],
      }),
      property({ name: 'round-trip', weight: 2, arbitrary: clusterObjects(docs), check: checkRoundTrip, codec: typedValueCodec<unknown[]>() }),
    ],
  };
}
