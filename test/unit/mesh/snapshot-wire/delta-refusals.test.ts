/**
 * What `applyDelta` and `decodeDelta` refuse, each by name, with the held view left as it was:
 * removals of keys not held, keys twice, entries a full snapshot would refuse, cross-entry
 * breaks (an address twice, a workload on a node's address, endpoints off their Service's
 * ports, a route or route policy left without its Service or route), the AuthorizationPolicy
 * count bound, a trust domain change, and bytes that are not a delta (wrong encoding, not gzip,
 * tampered, over the size bound, a gzip bomb, wrong layout).
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError, MeshletError } from '../../../../src/mesh/errors.js';
import type { AuthorizationPolicyData } from '../../../../src/mesh/authz/types.js';
import { serviceToWire, workloadToWire } from '../../../../src/mesh/snapshot-wire/encode.js';
import { routeToWire } from '../../../../src/mesh/snapshot-wire/routes.js';
import { authorizationPolicyToWire } from '../../../../src/mesh/snapshot-wire/authz.js';
import { MAX_CLUSTER_VIEW_BYTES } from '../../../../src/mesh/snapshot-wire/types.js';
import {
  applyDelta,
  CLUSTER_DELTA_ENCODING,
  decodeDelta,
  DELTA_SECTIONS,
  diffView,
  encodeDelta,
  keyedView,
  viewOfKeyed,
  type ClusterDelta,
  type DeltaSectionName,
  type KeyedClusterView,
} from '../../../../src/mesh/snapshot-wire/delta.js';
import { thrown } from '../fixture.js';
import { modelOf, stateOf, type Change } from './delta-fixture.js';

const TD = 'cluster.local';
const changes: Change[] = [
  { kind: 'pod', id: 0, spec: { ns: 0, app: 0, node: 0, sa: 0, optOut: false } },
  { kind: 'pod', id: 1, spec: { ns: 0, app: 1, node: 1, sa: 1, optOut: false } },
  { kind: 'service', id: 0, spec: { ns: 0, app: 0, named: false, grpcPort: true, policy: true } },
  { kind: 'service', id: 1, spec: { ns: 0, app: 1, named: true, grpcPort: false, policy: false } },
  { kind: 'route', id: 0, spec: { svc: 0, backend: 1, grpc: false, policy: true, prefix: 0 } },
  { kind: 'authz', id: 0, spec: { ns: 0, app: 0, deny: true, sa: 1, istio: true } },
  { kind: 'telemetry', id: 0, spec: { ns: 0, percentage: 10 } },
  { kind: 'zone', id: 0, spec: 'zone-a' },
];
const base = stateOf(modelOf(changes));
const held = keyedView(base);
const [p0, p1] = base.workloads;
const [s0, s1] = base.services;

t.test('the base view has what the cases change', async (t) => {
  t.equal(base.workloads.length, 2);
  t.equal(base.services.length, 2);
  t.equal(base.routes.length, 1);
  t.equal(base.routePolicies.length, 1);
  t.equal(base.authorizationPolicies.length, 1);
  t.equal(base.telemetry.length, 1);
  t.ok((s0?.endpoints.length ?? 0) > 0, 's0 has endpoints');
  t.equal(p0?.nodeAddress, '198.18.0.1');
});

/** A delta v1 -> v2 changing only what `sections` gives. */
function delta(sections: Partial<Record<DeltaSectionName, { upserted?: unknown[]; removed?: string[] }>>, extra: Partial<ClusterDelta> = {}): ClusterDelta {
  const all = Object.fromEntries(DELTA_SECTIONS.map((n) => [n, { upserted: sections[n]?.upserted ?? [], removed: sections[n]?.removed ?? [] }]));
  return { ...(all as Record<DeltaSectionName, { upserted: unknown[]; removed: string[] }>), fromVersion: 'v1', toVersion: 'v2', trustDomain: TD, ...extra };
}

/** Applies `d` to `view`, expecting a refusal naming each of `expected`; the view must be unchanged. */
function refused(t: Test, d: ClusterDelta, expected: (string | RegExp)[], view: KeyedClusterView = held): MeshletError | undefined {
  const before = JSON.stringify(viewOfKeyed(view));
  const indexes = JSON.stringify([[...view.addressOwners], [...view.canonicalAddresses], [...view.nodeAddresses]]);
  const err = thrown(() => applyDelta(view, 'v1', d));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), 'refused with MESHLET_ERR_CONTROLLER');
  const message = err instanceof Error ? err.message : '';
  for (const e of expected) t.match(message, e);
  t.equal(JSON.stringify(viewOfKeyed(view)), before, 'the held view is unchanged');
  t.equal(JSON.stringify([[...view.addressOwners], [...view.canonicalAddresses], [...view.nodeAddresses]]), indexes, 'its indexes are unchanged');
  return err instanceof MeshletError ? err : undefined;
}

const w0 = workloadToWire(p0!) as unknown as Record<string, unknown>;
const newPod = (name: string, patch: Record<string, unknown>): Record<string, unknown> => ({
  ...w0, uid: `Pod/ns0/${name}`, name, addresses: ['198.18.1.99'], ...patch,
});

t.test('keys: a removal of a key not held, a key twice, a key both removed and upserted', async (t) => {
  for (const section of DELTA_SECTIONS.filter((s) => s !== 'endpoints')) {
    refused(t, delta({ [section]: { removed: ['ns0/nope'] } }), [`delta.${section}.removed[0]: "ns0/nope" is not held (nothing to remove)`]);
  }
  refused(t, delta({ workloads: { removed: [p0!.uid, p0!.uid] } }), [`delta.workloads.removed[1]: "${p0!.uid}" appears twice`]);
  refused(t, delta({ workloads: { upserted: [w0], removed: [p0!.uid] } }), [`delta.workloads.upserted[0].uid: "${p0!.uid}" is also removed by this delta`]);
  refused(t, delta({ workloads: { upserted: [w0, w0] } }), [`delta.workloads.upserted[1].uid: "${p0!.uid}" appears twice`]);
  refused(t, delta({ endpoints: { removed: [s0!.key] } }), ["delta.endpoints.removed: must be empty: a Service's endpoints are removed with the Service"]);
});

t.test('a malformed entry is refused as a full snapshot refuses it, named in the delta', async (t) => {
  refused(t, delta({ workloads: { upserted: [newPod('x', { addresses: ['198.18.1.999'] })] } }), ['delta.workloads.upserted[0].addresses[0]: "198.18.1.999" is not an IP address']);
  refused(t, delta({ workloads: { upserted: [newPod('x', { identity: 'spiffe://evil.example/ns/ns0/sa/sa0' })] } }), ['delta.workloads.upserted[0].identity: "spiffe://evil.example/ns/ns0/sa/sa0" is outside the trust domain']);
  refused(t, delta({ workloads: { upserted: [newPod('x', { addresses: ['127.0.0.1'] })] } }), ['delta.workloads.upserted[0].addresses[0]: "127.0.0.1" is a loopback address']);
  refused(t, delta({ workloads: { upserted: ['not an object'] } }), ['delta.workloads.upserted[0]: must be an object, got "not an object"']);
  const service = { ...serviceToWire(s1!), vips: ['not-an-ip'] } as Record<string, unknown>;
  refused(t, delta({ services: { upserted: [service] } }), ['delta.services.upserted[0].vips[0]: "not-an-ip" is not an IP address']);
  const policy = { ...authorizationPolicyToWire(base.authorizationPolicies[0]!), audience: 'x' };
  refused(t, delta({ authorizationPolicies: { upserted: [policy] } }), ['delta.authorizationPolicies.upserted[0] ns0/az0: "audience": is not a field of an AuthorizationPolicy here']);
  const telemetry = { namespace: 'ns0', name: 't9', creationTimestamp: 0, tracing: { collector: 'gopher://x', samplingPercentage: 10 } };
  refused(t, delta({ telemetry: { upserted: [telemetry] } }), [/^delta "v1" -> "v2" is invalid: delta\.telemetry\.upserted\[0\]\.tracing\.collector: /]);
  refused(t, delta({}, { nodeZones: { 'node-a': 'bad zone!' } }), ['delta.nodeZones["node-a"]: "bad zone!" is not a zone']);
});

t.test('addresses: no address twice, no workload on a node address, no node address on a workload', async (t) => {
  refused(t, delta({ workloads: { upserted: [newPod('x', { addresses: [p1!.addresses[0]] })] } }), [`delta.workloads.upserted[0].addresses: ${p1!.addresses[0]} is also the address of ${p1!.uid}`]);
  refused(t, delta({ workloads: { upserted: [newPod('x', { addresses: ['198.18.0.1'] })] } }), [/delta\.workloads\.upserted\[0\]\.addresses\[0\]: "198\.18\.0\.1" is .*node/]);
  refused(t, delta({ workloads: { upserted: [newPod('x', { nodeAddress: p1!.addresses[0] })] } }), [`delta.workloads.upserted[0].nodeAddress: "${p1!.addresses[0]}" is the address of a workload of the view`]);
  // An address moving from one workload to another in one delta is not a conflict.
  const moved = applyDelta(held, 'v1', delta({ workloads: { upserted: [newPod('x', { addresses: [p1!.addresses[0]] })], removed: [p1!.uid] } }));
  t.equal(moved.addressOwners.get(p1!.addresses[0]!), 'Pod/ns0/x');
  t.equal(held.addressOwners.get(p1!.addresses[0]!), p1!.uid, 'the held view still has its owner');
});

t.test('endpoints and Services: only on the view\'s Services and their ports', async (t) => {
  const eps = serviceToWire(s0!).endpoints as unknown as Record<string, unknown>[];
  refused(t, delta({ endpoints: { upserted: [{ service: 'ns0/ghost', endpoints: eps }] } }), ['delta.endpoints.upserted[0].service: "ns0/ghost" is not a Service of the view']);
  const offPort = eps.map((e) => ({ ...e, targetPorts: { 81: 8080 } }));
  refused(t, delta({ endpoints: { upserted: [{ service: s0!.key, endpoints: offPort }] } }), ['delta.endpoints.upserted[0].endpoints[0].targetPorts["81"]: is not a port of the Service']);
  // s0 loses its grpc port (9090): its held endpoints still target it.
  const narrowed = { ...serviceToWire(s0!), ports: serviceToWire(s0!).ports.filter((p) => p.port !== 9090) };
  refused(t, delta({ services: { upserted: [narrowed] } }), [/delta\.services\.upserted\[0\] \(held endpoints\)\.endpoints\[0\]\.targetPorts\["9090"\]: is not a port of the Service/]);
  // ... unless new endpoints come with it.
  const fitted = eps.map((e) => ({ ...e, targetPorts: { 80: 8080 } }));
  const ok = applyDelta(held, 'v1', delta({ services: { upserted: [narrowed] }, endpoints: { upserted: [{ service: s0!.key, endpoints: fitted }] } }));
  t.same(ok.services.get(s0!.key)?.endpoints.map((e) => e.targetPorts), fitted.map(() => ({ 80: 8080 })));
  // A Service whose port 80 a route is attached to.
  const noHttp = { ...serviceToWire(s0!), ports: serviceToWire(s0!).ports.filter((p) => p.port !== 80) };
  refused(t, delta({ services: { upserted: [noHttp] }, endpoints: { upserted: [{ service: s0!.key, endpoints: [] }] } }), [`route ${'HTTPRoute/ns0/r0'} parentRefs[0]: port 80 is no longer a port of Service ns0/s0`]);
  refused(t, delta({ services: { removed: [s0!.key] } }), ['delta.services: route HTTPRoute/ns0/r0 parentRefs[0]: Service ns0/s0 is no longer a Service of the view']);
});

t.test('routes and route policies: on Services and routes of the view', async (t) => {
  const route = routeToWire(base.routes[0]!) as unknown as { object: Record<string, unknown> };
  const ghost = JSON.parse(JSON.stringify(route).replaceAll('"s0"', '"ghost"')) as unknown;
  refused(t, delta({ routes: { upserted: [ghost] } }), ['delta.routes.upserted[0].object.spec.parentRefs[0]: Service ns0/ghost is not a Service of the cluster view']);
  refused(t, delta({ routes: { removed: ['HTTPRoute/ns0/r0'] } }), ['delta.routes: route HTTPRoute/ns0/r0: is removed but its TrafficPolicy is not']);
  const policy = { route: 'HTTPRoute/ns0/r9', policy: { policy: 'ns0/tp', resilience: { timeout: { http: { requestTimeout: '2s' } } } } };
  refused(t, delta({ routePolicies: { upserted: [policy] } }), ['delta.routePolicies.upserted[0].route: "HTTPRoute/ns0/r9" is not a route of the cluster view']);
  // Removing both goes through.
  const gone = applyDelta(held, 'v1', delta({ routes: { removed: ['HTTPRoute/ns0/r0'] }, routePolicies: { removed: ['HTTPRoute/ns0/r0'] } }));
  t.equal(gone.routes.size, 0);
  t.equal(gone.routePolicies.size, 0);
});

t.test('AuthorizationPolicies: at most 20,000, as in a full view', async (t) => {
  const one = base.authorizationPolicies[0]!;
  const many: AuthorizationPolicyData[] = Array.from({ length: 20_000 }, (_, i) => ({ ...one, name: `p${i}`, key: `ns0/p${i}` }));
  const full = keyedView({ ...base, authorizationPolicies: many });
  t.equal(full.authorizationPolicies.size, 20_000);
  refused(t, delta({ authorizationPolicies: { upserted: [authorizationPolicyToWire({ ...one, name: 'extra', key: 'ns0/extra' })] } }), ['delta.authorizationPolicies: leaves 20001 policies, more than 20000'], full);
  const tooMany = Array.from({ length: 20_001 }, (_, i) => authorizationPolicyToWire({ ...one, name: `q${i}`, key: `ns0/q${i}` }));
  refused(t, delta({ authorizationPolicies: { upserted: tooMany } }), ['delta.authorizationPolicies.upserted: holds 20001 policies, more than 20000']);
  // Replacing one of the 20,000 keeps the count.
  const replaced = applyDelta(full, 'v1', delta({ authorizationPolicies: { upserted: [authorizationPolicyToWire({ ...many[0]!, action: 'ALLOW' })] } }));
  t.equal(replaced.authorizationPolicies.size, 20_000);
});

t.test('versions and trust domain', async (t) => {
  refused(t, delta({}, { trustDomain: 'evil.example' }), ['delta.trustDomain: "evil.example" is not the held view\'s "cluster.local" (a full snapshot is needed)']);
  refused(t, delta({}, { toVersion: 'v1' }), ['delta.toVersion: "v1" must be a new version']);
  const err = refused(t, delta({ workloads: { removed: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] } }), ['(7 problems)', '; and 2 more']);
  t.equal(err?.details.length, 7, 'every problem in details');
});

/** Decodes bytes, expecting a refusal naming `expected`. */
function undecodable(t: Test, bytes: Uint8Array, expected: string | RegExp, encoding = CLUSTER_DELTA_ENCODING, maxBytes?: number): void {
  const err = thrown(() => decodeDelta(encoding, bytes, maxBytes === undefined ? {} : { maxBytes }));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), 'refused with MESHLET_ERR_CONTROLLER');
  t.match(err instanceof Error ? err.message : '', expected);
}

const good = encodeDelta(diffView(base, stateOf(modelOf([...changes, { kind: 'pod', id: 2, spec: { ns: 1, app: 0, node: 2, sa: 0, optOut: false } }])), 'v1', 'v2'));
const json = (value: unknown): Uint8Array => gzipSync(JSON.stringify(value));
const goodJson = JSON.parse(gunzipSync(good.bytes).toString('utf8')) as Record<string, unknown>;

t.test('decode: bytes that are not a delta', async (t) => {
  t.ok(good.bytes.length < 1000, `the good delta is ${good.bytes.length} bytes`);
  t.equal(decodeDelta(good.encoding, good.bytes).toVersion, 'v2', 'the good one decodes');
  undecodable(t, good.bytes, 'delta is invalid: encoding "meshlet.cluster.v1+json+gzip" is not "meshlet.cluster-delta.v1+json+gzip"', 'meshlet.cluster.v1+json+gzip');
  undecodable(t, Buffer.from('hello'), /delta is invalid: not a gzip stream of UTF-8 JSON of at most 268435456 bytes/);
  const tampered = Buffer.from(good.bytes);
  tampered[tampered.length - 6]! ^= 0xff;
  undecodable(t, tampered, /delta is invalid: not a gzip stream/);
  undecodable(t, gzipSync(Buffer.from([0xff, 0xfe, 0x00])), /not a gzip stream of UTF-8 JSON/);
  undecodable(t, gzipSync('{"format":'), /not a gzip stream of UTF-8 JSON .*JSON/);
  undecodable(t, json([1, 2]), 'delta is invalid: must be a JSON object, got a list');
  undecodable(t, json({ ...goodJson, format: 'meshlet.cluster.v1' }), 'delta.format: "meshlet.cluster.v1" is not "meshlet.cluster-delta.v1"');
  undecodable(t, json({ ...goodJson, fromVersion: 7 }), 'delta.fromVersion: must be a non-empty string, got 7');
  undecodable(t, json({ ...goodJson, workloads: [] }), 'delta.workloads: must be an object {upserted, removed}, got a list');
  undecodable(t, json({ ...goodJson, services: { upserted: {}, removed: [] } }), 'delta.services.upserted: must be a list, got a mapping');
  undecodable(t, json({ ...goodJson, routes: { upserted: [], removed: [5, ''] } }), /delta\.routes\.removed\[0\]: must be a key \(a non-empty string\), got 5; delta\.routes\.removed\[1\]: /);
  undecodable(t, json({ ...goodJson, nodeZones: 'zone-a' }), 'delta.nodeZones: must be an object, got "zone-a"');
});

t.test('decode: the size bound (a full view\'s, 256 MiB), also against a gzip bomb', async (t) => {
  undecodable(t, good.bytes, /at most 100 bytes/, CLUSTER_DELTA_ENCODING, 100);
  t.equal(decodeDelta(good.encoding, good.bytes, { maxBytes: gunzipSync(good.bytes).length }).toVersion, 'v2', 'exactly at the bound: accepted');
  // 257 gzip members of 1 MiB of zeros each: 257 MiB out of about 260 KB in.
  const member = gzipSync(Buffer.alloc(1 << 20));
  const bomb = Buffer.concat(Array.from({ length: MAX_CLUSTER_VIEW_BYTES / (1 << 20) + 1 }, () => member));
  t.ok(bomb.length < 1 << 20, `${bomb.length} bytes of bomb`);
  undecodable(t, bomb, `not a gzip stream of UTF-8 JSON of at most ${MAX_CLUSTER_VIEW_BYTES} bytes`);
});

t.test('a tampered entry in good bytes is refused when applied, the held view unchanged', async (t) => {
  const upserted = (goodJson['workloads'] as { upserted: Record<string, unknown>[] }).upserted;
  t.equal(upserted.length, 1, 'the delta adds one pod');
  const bad = { ...goodJson, workloads: { upserted: [{ ...upserted[0], identity: 'spiffe://cluster.local/ns/kube-system/sa/admin' }], removed: [] } };
  refused(t, decodeDelta(CLUSTER_DELTA_ENCODING, json(bad)), [/delta\.workloads\.upserted\[0\]\.identity: "spiffe:\/\/cluster\.local\/ns\/kube-system\/sa\/admin" is not the identity of its service account/]);
});

t.test('any byte of a delta flipped: refused by name, or (gzip header fields) the very same delta', async (t) => {
  const original = decodeDelta(good.encoding, good.bytes);
  let refusals = 0;
  let same = 0;
  fc.assert(
    fc.property(fc.integer({ min: 0, max: good.bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
      const bytes = Buffer.from(good.bytes);
      bytes[at]! ^= xor;
      let decoded: ClusterDelta;
      try {
        decoded = applyOk(decodeDelta(good.encoding, bytes));
      } catch (err) {
        if (!isMeshletError(err, 'MESHLET_ERR_CONTROLLER')) throw err;
        refusals += 1;
        return;
      }
      t.strictSame(decoded, original, `byte ${at} ^ ${xor}: decodes to the same delta`);
      same += 1;
    }),
    { seed: 1717, numRuns: 300 },
  );
  t.ok(refusals > 250, `${refusals} refused`);
  t.equal(refusals + same, 300, `${same} unchanged (gzip header bytes 3-9: text flag, time, extra flags, OS)`);
});

/** `d`, once it applied to the held view (throws as applyDelta does). */
function applyOk(d: ClusterDelta): ClusterDelta {
  applyDelta(held, 'v1', d);
  return d;
}
