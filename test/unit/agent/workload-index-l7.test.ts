/**
 * The WorkloadIndex's L7 lookups: routes per Service port (compiled once), TrafficPolicy,
 * opaque ports and this node's zone; and routes still matching after a snapshot crosses to a
 * worker process (structured clone) or through JSON, since the snapshot is plain data.
 */
import t from 'tap';
import { deserialize, serialize } from 'node:v8';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import type { NodeSnapshot } from '../../../src/mesh/types.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { matchRoute } from '../../../src/agent/policy/route-match.js';
import { portProtocol } from '../../../src/agent/http/port-protocol.js';
import { l7Objects } from '../mesh/l7-fixture.js';
import { decodeStoredSnapshot, encodeStoredSnapshot } from '../../../src/agent/control/snapshot-store.js';

const snapshot = computeSnapshot(buildClusterState(l7Objects()), 'node-a', 'v1');

function entryOf(index: WorkloadIndex, key: string) {
  const e = index.serviceEntries.find((s) => s.key === key);
  if (e === undefined) throw new Error(`no entry ${key}`);
  return e;
}

t.test('routesOf: the routes of a Service port, compiled once per snapshot', async (t) => {
  const index = new WorkloadIndex(snapshot);
  const web = entryOf(index, 'demo/web|80');
  const routes = index.routesOf(web);
  t.same(routes.map((r) => `${r.kind}/${r.name}`), ['GRPCRoute/greeter', 'HTTPRoute/web']);
  t.equal(index.routesOf(web), routes, 'the same array each call (the matcher caches by it)');
  t.same(index.routesOf(entryOf(index, 'demo/web-v2|80')), [], 'no route on web-v2');
  t.equal(matchRoute(routes, { method: 'GET', path: '/api/v3/a', query: '', headers: { 'x-user': 'bob' } })?.ruleIndex, 0);
  t.equal(matchRoute(routes, { method: 'GET', path: '/api/v3/a', query: '', headers: { 'x-user': 'eve' } }), undefined);
  t.equal(matchRoute(routes, { method: 'GET', path: '/shop/cart', query: '', headers: {} })?.ruleIndex, 1);
  t.same(index.refusedRoutes, []);
});

t.test('a parentRef with a port attaches to that port only', async (t) => {
  const route = snapshot.routes?.find((r) => r.kind === 'HTTPRoute');
  if (route === undefined) throw new Error('no HTTPRoute');
  const other = { ...snapshot, routes: [{ ...route, parents: [{ namespace: 'demo', name: 'db', port: 8000 }] }] };
  const index = new WorkloadIndex(other);
  t.equal(index.routesOf(entryOf(index, 'demo/db|8000')).length, 1);
  t.equal(index.routesOf(entryOf(index, 'demo/db|5432')).length, 0);
});

t.test('trafficPolicyOf, opaquePortsOf and zone', async (t) => {
  const index = new WorkloadIndex(snapshot);
  t.equal(index.trafficPolicyOf('demo/web')?.balancer.algorithm, 'maglev');
  t.equal(index.trafficPolicyOf('demo/db'), undefined);
  const db = entryOf(index, 'demo/db|5432');
  t.same([...index.opaquePortsOf('demo/db')], [5432, 9187]);
  t.equal(portProtocol(db.port, { opaquePorts: index.opaquePortsOf(db.service.key) }), 'tcp', 'declared opaque: never sniffed');
  const admin = entryOf(index, 'demo/db|8000');
  t.not(portProtocol(admin.port, { opaquePorts: index.opaquePortsOf(admin.service.key) }), 'tcp', 'a port not listed is not opaque');
  t.equal(index.opaquePortsOf('demo/web').size, 0);
  t.equal(index.zone, 'zone-a');
});

t.test('after structured clone (worker IPC) and JSON, regular expressions still match', async (t) => {
  const paths: [string, NodeSnapshot][] = [
    ['structured clone', deserialize(serialize(snapshot)) as NodeSnapshot],
    ['JSON', JSON.parse(JSON.stringify(snapshot)) as NodeSnapshot],
    ['the state file', decodeStoredSnapshot(encodeStoredSnapshot(snapshot, new Date(0)), { node: 'node-a', trustDomain: 'cluster.local' })],
  ];
  for (const [name, copy] of paths) {
    t.same(copy, snapshot, `${name}: the snapshot survives whole`);
    const index = new WorkloadIndex(copy);
    const routes = index.routesOf(entryOf(index, 'demo/web|80'));
    t.equal(matchRoute(routes, { method: 'GET', path: '/api/v9/z', query: '', headers: { 'x-user': 'alice' } })?.ruleIndex, 0, `${name}: path and header regex`);
    const grpc = matchRoute(routes, { method: 'POST', path: '/helloworld.Greeter/SayHello', query: '', headers: { 'content-type': 'application/grpc' } });
    t.equal(grpc?.route.kind, 'GRPCRoute', `${name}: gRPC service regex`);
  }
});
