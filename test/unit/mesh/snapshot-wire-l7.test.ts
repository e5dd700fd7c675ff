/**
 * Routes, TrafficPolicies, opaque ports and zones on the controller->agent wire: encode then
 * decode gives the snapshot back, regular expressions work after it, and a bad route from a
 * peer is refused naming the field.
 */
import t from 'tap';
import { gunzipSync, gzipSync } from 'node:zlib';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../../src/mesh/snapshot-wire/encode.js';
import { compileRoute } from '../../../src/mesh/routes.js';
import { matchRoute } from '../../../src/agent/policy/route-match.js';
import { thrown } from './fixture.js';
import { l7Objects } from './l7-fixture.js';

const TD = 'cluster.local';
const state = buildClusterState(l7Objects());
const snapshot = computeSnapshot(state, 'node-a', 'v1');
const wire = snapshotToWire(encodeClusterView(state, 'v1'), snapshot);

/** The wire with its cluster view JSON changed by `mutate`. */
function mutated(mutate: (view: Record<string, any>) => void): SnapshotWire {
  const view = JSON.parse(gunzipSync(wire.cluster).toString('utf8')) as Record<string, any>;
  mutate(view);
  return { ...wire, cluster: gzipSync(JSON.stringify(view)) };
}

function failure(w: SnapshotWire): string[] {
  const err = thrown(() => decodeSnapshot(w, { node: 'node-a', trustDomain: TD }));
  if (!isMeshletError(err, 'MESHLET_ERR_CONTROLLER')) throw new Error(`expected MESHLET_ERR_CONTROLLER, got ${String(err)}`);
  return [...err.details];
}

t.test('encode then decode gives the snapshot back, L7 fields included', async (t) => {
  const decoded = decodeSnapshot(wire, { node: 'node-a', trustDomain: TD });
  t.strictSame(decoded, snapshot);
  t.equal(decoded.zone, 'zone-a');
  t.equal(decoded.routes?.length, 2);
  t.same(decoded.services.find((s) => s.name === 'db')?.opaquePorts, [5432, 9187]);
  t.equal(decoded.services.find((s) => s.name === 'web')?.trafficPolicy?.policy, 'demo/sticky');
  t.equal(decoded.services.find((s) => s.name === 'web')?.endpoints[0]?.zone, 'zone-a');
  const http = decoded.routes?.find((r) => r.kind === 'HTTPRoute');
  t.equal(http?.rules[1]?.backendRefs[2]?.invalid?.startsWith('BackendNotFound'), true, 'the unresolved backend stays marked');
  const compiled = decoded.routes?.map(compileRoute) ?? [];
  const hit = matchRoute(compiled, { method: 'GET', path: '/api/v1/x', query: '', headers: { 'x-user': 'alice' } });
  t.equal(hit?.ruleIndex, 0, 'the regular expressions work after the wire');
});

t.test('the agent store\'s view of a snapshot keeps routes and the zone', async (t) => {
  const again = snapshotToWire(encodeClusterView(clusterViewOfSnapshot(snapshot), 'v1'), snapshot);
  t.strictSame(decodeSnapshot(again, { node: 'node-a', trustDomain: TD }), snapshot);
});

t.test('an older controller without routes or zones decodes to none', async (t) => {
  const old = mutated((v) => {
    delete v['routes'];
    delete v['nodeZones'];
  });
  const decoded = decodeSnapshot(old, { node: 'node-a', trustDomain: TD });
  t.equal(decoded.routes, undefined, 'none');
  t.equal(decoded.zone, undefined);
});

t.test('a bad route, policy or zone from a peer names the field', async (t) => {
  const cases: [string, (v: Record<string, any>) => void, RegExp][] = [
    ['not an RE2 pattern', (v) => { v['routes'][1].object.spec.rules[0].matches[0].path.value = '/(a)\\1'; }, /^cluster\.routes\[1\]: HTTPRoute demo\/web: spec\.rules\[0\]\.matches\[0\]\.path\.value: regular expression .* refused: does not compile as RE2: .*\(RE2 has no backreferences\)/],
    ['unknown field', (v) => { v['routes'][0].object.spec.rules[0].mirror = {}; }, /^cluster\.routes\[0\]: GRPCRoute demo\/greeter: spec\.rules\[0\]\.mirror: unknown field/],
    ['not a route kind', (v) => { v['routes'][0].object.kind = 'Pod'; }, /^cluster\.routes\[0\]\.object\.kind: "Pod" is not HTTPRoute or GRPCRoute$/],
    ['parent not in the view', (v) => { v['routes'][1].object.spec.parentRefs[0].name = 'ghost'; }, /^cluster\.routes\[1\]\.object\.spec\.parentRefs\[0\]: Service demo\/ghost is not a Service of the cluster view$/],
    ['invalid mark on no backend', (v) => { v['routes'][1].invalid = [[7, 0, 'x']]; }, /^cluster\.routes\[1\]\.invalid\[0\]: must be \[rule, backendRef, reason\]/],
    ['duplicate route', (v) => { v['routes'].push(v['routes'][0]); }, /^cluster\.routes\[2\]: GRPCRoute\/demo\/greeter appears twice$/],
    ['bad balancer', (v) => { v['services'].find((s: any) => s.name === 'web').trafficPolicy.balancer.maglevTableSize = 65536; }, /^cluster\.services\[\d\]\.trafficPolicy\.balancer: maglevTableSize: 65536 \(a prime/],
    ['bad hash key', (v) => { v['services'].find((s: any) => s.name === 'web').trafficPolicy.hashKeys = [{ kind: 'body' }]; }, /trafficPolicy\.hashKeys\[0\]: is not \{kind: header\|cookie, name\}/],
    ['opaque port not of the Service', (v) => { v['services'].find((s: any) => s.name === 'db').opaquePorts = [1]; }, /^cluster\.services\[\d\]\.opaquePorts\[0\]: 1 is not a port of the Service$/],
    ['bad zone', (v) => { v['nodeZones']['node-a'] = 'zone a!'; }, /^cluster\.nodeZones\["node-a"\]: "zone a!" is not a zone/],
    ['bad endpoint zone', (v) => { v['services'][0].endpoints[0].zone = 7; }, /^cluster\.services\[0\]\.endpoints\[0\]\.zone: must be a string, got 7$/],
  ];
  for (const [name, mutate, want] of cases) {
    const lines = failure(mutated(mutate));
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), name);
  }
});
