/**
 * Services' endpoints through the selector index: for generated clusters, the same endpoints,
 * in the same order, as a scan of every workload of the Service's namespace.
 */
import fc from 'fast-check';
import t from 'tap';
import type { StateWorkload } from '../../../src/mesh/cluster-types.js';
import { buildServices, SelectorIndex } from '../../../src/mesh/service-endpoints.js';
import { selectorMatches } from '../../../src/mesh/tls-mode.js';
import type { ServiceObject } from '../../../src/mesh/types.js';

const SOURCE = { file: 'gen.yaml', doc: 0 };
// Few keys and values, so selectors match often, several labels overlap, and some match nothing.
const labelsArb = fc.dictionary(fc.constantFrom('app', 'tier', 'a\u0000b', 'a'), fc.constantFrom('x', 'y', 'b\u0000x', ''), { maxKeys: 3 });
const nsArb = fc.constantFrom('ns0', 'ns1', 'ns2');

/** A meshed pod workload on node1. */
function workload(i: number, namespace: string, labels: Record<string, string>, hasAddress: boolean): StateWorkload {
  return {
    uid: `Pod/${namespace}/p${String(i).padStart(3, '0')}`,
    kind: 'Pod',
    name: `p${i}`,
    namespace,
    labels,
    addresses: hasAddress ? [`198.18.1.${i + 1}`] : [],
    node: 'node1',
    nodeAddress: '198.18.0.10',
    serviceAccount: 'default',
    identity: `spiffe://cluster.local/ns/${namespace}/sa/default`,
    namedPorts: [],
    hostNetwork: false,
    meshed: true,
    source: SOURCE,
  };
}

const workloadsArb = fc.array(fc.tuple(nsArb, labelsArb, fc.boolean()), { maxLength: 40 }).map((list) =>
  list.map(([namespace, labels, hasAddress], i) => workload(i, namespace, labels, hasAddress)).sort((a, b) => (a.uid < b.uid ? -1 : 1)),
);

const servicesArb = fc.array(fc.tuple(nsArb, fc.option(labelsArb, { nil: undefined })), { maxLength: 15 }).map((list) =>
  list.map(([namespace, selector], i) => ({
    kind: 'Service',
    name: `s${i}`,
    namespace,
    clusterIPs: [`198.19.0.${i + 1}`],
    ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
    ...(selector === undefined ? {} : { selector }),
  }) as unknown as ServiceObject),
);

/** Fixed, as the project's other property tests: a failure reproduces. */
const SEED = 20261207;

/** The Services whose indexed endpoints differ from a scan of their namespace. */
function mismatches(members: readonly StateWorkload[], services: readonly ServiceObject[]): string[] {
  const built = buildServices(services, members);
  const out: string[] = [];
  for (const [i, s] of services.entries()) {
    const scanned = s.selector === undefined ? [] : members.filter((m) => m.namespace === s.namespace && m.addresses.length > 0 && selectorMatches(s.selector as Record<string, string>, m.labels)).map((m) => m.uid);
    const got = built[i]?.endpoints.map((e) => e.workload) ?? [];
    if (JSON.stringify(got) !== JSON.stringify(scanned)) out.push(`${s.namespace}/${s.name}: ${JSON.stringify(got)} != ${JSON.stringify(scanned)}`);
  }
  return out;
}

t.test('indexed endpoints equal a scan of the namespace, order included', async (t) => {
  const run = fc.check(fc.property(workloadsArb, servicesArb, (members, services) => mismatches(members, services).length === 0), { seed: SEED, numRuns: 500 });
  t.equal(run.failed, false, fc.defaultReportMessage(run) ?? '500 generated clusters');
});

t.test('two labels whose key and value would join alike stay apart (a workload carrying both is one endpoint)', async (t) => {
  const both = workload(0, 'ns0', { a: 'b\u0000x', 'a\u0000b': 'x' }, true);
  const service = { kind: 'Service', name: 's', namespace: 'ns0', clusterIPs: ['198.19.0.1'], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }], selector: { a: 'b\u0000x' } } as unknown as ServiceObject;
  t.same(mismatches([both], [service]), []);
  t.same(buildServices([service], [both])[0]?.endpoints.map((e) => e.workload), [both.uid], 'listed once');
});

t.test('candidates: the rarest label of the selector, every workload for an empty selector', async (t) => {
  const w = (uid: string, labels: Record<string, string>): StateWorkload => ({ uid, namespace: 'ns', labels } as unknown as StateWorkload);
  const members = [w('a', { app: 'web', tier: 'x' }), w('b', { app: 'web', tier: 'y' }), w('c', { app: 'web', tier: 'x' }), w('d', { app: 'db' })];
  const index = new SelectorIndex(members);
  t.same(index.candidates('ns', { app: 'web', tier: 'y' }).map((m) => m.uid), ['b']);
  t.same(index.candidates('ns', {}).map((m) => m.uid), ['a', 'b', 'c', 'd']);
  t.same(index.candidates('ns', { app: 'none' }).map((m) => m.uid), []);
  t.same(index.candidates('other', { app: 'web' }).map((m) => m.uid), []);
});

t.test('endpoints with equal target-port maps share one object; a named port still resolves per workload', async (t) => {
  const named = (i: number, port: number): StateWorkload => ({ ...workload(i, 'ns0', { app: 'x' }, true), namedPorts: [{ name: 'web', port }] }) as StateWorkload;
  const members = [named(0, 9090), named(1, 9090), named(2, 9191)];
  const service = (name: string, targetPort: number | string): ServiceObject =>
    ({ kind: 'Service', name, namespace: 'ns0', clusterIPs: ['198.19.0.1'], ports: [{ name: 'http', port: 80, targetPort, protocol: 'TCP' }], selector: { app: 'x' } }) as unknown as ServiceObject;
  const [numeric, byName, other] = buildServices([service('a', 8080), service('b', 'web'), service('c', 8080)], members);
  const maps = (s: typeof numeric): Readonly<Record<number, number>>[] => s?.endpoints.map((e) => e.targetPorts) ?? [];
  t.same(maps(numeric), [{ 80: 8080 }, { 80: 8080 }, { 80: 8080 }]);
  t.equal(new Set([...maps(numeric), ...maps(other)]).size, 1, 'one object for every equal map, across Services');
  t.same(maps(byName), [{ 80: 9090 }, { 80: 9090 }, { 80: 9191 }], 'each workload its own named port');
  t.equal(maps(byName)[0], maps(byName)[1], 'equal named resolutions share too');
  t.not(maps(byName)[0], maps(byName)[2]);
});
