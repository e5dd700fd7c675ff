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
import { portProtocol } from '../../../src/mesh/port-protocol.js';
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

t.test('route regular expressions a node holds are bounded: routes charged oldest first, the newest over the budget refused by name', async (t) => {
  const { MAX_NODE_ROUTE_REGEXES } = await import('../../../src/mesh/validate/regex.js');
  const { regexCount } = await import('../../../src/mesh/routes.js');
  const base = snapshot.routes?.find((r) => r.kind === 'HTTPRoute');
  if (base === undefined || base.kind !== 'HTTPRoute') throw new Error('no HTTPRoute');
  // Each attacking route: 100 matches with a path regex and one header regex (200 patterns).
  const many = (name: string, created: number) => ({
    ...base,
    name,
    creationTimestamp: created,
    rules: [{
      ...base.rules[0]!,
      matches: Array.from({ length: 100 }, (_, i) => ({
        path: { type: 'RegularExpression' as const, value: `/${name}/${i}/[a-z]+` },
        headers: [{ name: 'x-n', match: { type: 'RegularExpression' as const, value: `v${i}.*` } }],
        queryParams: [],
      })),
    }],
  });
  t.equal(regexCount(many('x', 0).rules), 200, 'path and header patterns counted');
  const held = regexCount(snapshot.routes);
  // Listed newest first: the order of the snapshot must not decide who is kept.
  const routes = [many('r4', 4_000), many('r3', 3_000), many('r2', 2_000), many('r1', 1_000), ...(snapshot.routes ?? [])];
  const index = new WorkloadIndex({ ...snapshot, routes });
  const kept = Math.floor((MAX_NODE_ROUTE_REGEXES - held) / 200);
  const refusedNames = index.refusedRoutes.map((r) => r.route);
  t.same(refusedNames, ['r4', 'r3', 'r2', 'r1'].slice(0, 4 - kept).map((n) => `HTTPRoute demo/${n}`), `the newest routes beyond ${MAX_NODE_ROUTE_REGEXES} patterns are refused (${kept} of the 4 fit)`);
  t.match(index.refusedRoutes[0]?.reason, new RegExp(`200 regular expressions would take the node over ${MAX_NODE_ROUTE_REGEXES}`));
  t.same(index.routesOf(entryOf(index, 'demo/web|80')).filter((r) => r.name === 'web' || r.name === 'greeter').length, 2, 'the fixture\'s older routes still apply');
  t.ok(index.routesOf(entryOf(index, 'demo/web|80')).some((r) => r.name === 'r1'), 'the oldest attacking route fits and applies');
});

t.test('a pattern compiled for one snapshot is reused by the next (the same compiled matcher)', async (t) => {
  const a = new WorkloadIndex(snapshot);
  const b = new WorkloadIndex(JSON.parse(JSON.stringify(snapshot)) as NodeSnapshot);
  const regexOf = (index: WorkloadIndex) => {
    const web = index.routesOf(entryOf(index, 'demo/web|80')).find((r) => r.kind === 'HTTPRoute');
    const path = web?.kind === 'HTTPRoute' ? web.rules[0]?.matches[0]?.path : undefined;
    return path?.type === 'RegularExpression' ? path.regex : undefined;
  };
  t.ok(regexOf(a) !== undefined);
  t.equal(regexOf(a), regexOf(b));
});
