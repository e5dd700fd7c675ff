/**
 * The endpoint -> Services table of `requestService`, derived from the previous one (its
 * generated-sequence property is in `index-tables.test.ts`, through `lookups`): here the cases a
 * derive of whole Services never makes, which the counts are for.
 */
import t from 'tap';
import { buildEndpointServices, deriveEndpointServices } from '../../../../src/agent/state/endpoint-services.js';
import type { ServicePortEntry } from '../../../../src/agent/state/workload-index.js';
import type { EndpointInfo, ServiceInfo } from '../../../../src/mesh/types.js';

const endpoint = (address: string, targetPorts: Record<number, number>): EndpointInfo => ({ workload: `Pod/demo/${address}`, address, node: 'n', nodeAddress: '198.18.0.1', meshed: true, targetPorts });

function entries(key: string, ports: number[], endpoints: EndpointInfo[]): ServicePortEntry[] {
  const [namespace, name] = key.split('/') as [string, string];
  const service = { key, namespace, name, vips: [], ports: ports.map((port) => ({ port, targetPort: 8080 })), endpoints } as unknown as ServiceInfo;
  return service.ports.map((port) => ({ key: `${key}|${port.port}`, service, port, endpoints: endpoints.filter((e) => e.targetPorts[port.port] !== undefined) }));
}

const lookup = (table: ReturnType<typeof buildEndpointServices>, k: string): readonly string[] | undefined => table.get(k)?.keys;

t.test('one port of two taken out: the Service stays for the target port the other still sends to', async (t) => {
  const ep = endpoint('198.18.1.1', { 80: 8080, 81: 8080 });
  const [p80, p81] = entries('demo/web', [80, 81], [ep]) as [ServicePortEntry, ServicePortEntry];
  const other = entries('demo/api', [80], [ep]);
  const table = buildEndpointServices([...other, p80, p81]);
  t.same(lookup(table, '198.18.1.1|8080'), ['demo/api', 'demo/web']);
  const one = deriveEndpointServices(table, { removed: [p81], added: [] });
  t.same(one === undefined ? 'undefined' : lookup(one, '198.18.1.1|8080'), ['demo/api', 'demo/web'], 'port 80 still sends there');
  const none = one === undefined ? undefined : deriveEndpointServices(one, { removed: [p80], added: [] });
  t.same(none === undefined ? 'undefined' : lookup(none, '198.18.1.1|8080'), ['demo/api'], 'the last row gone: the Service goes');
  t.same(lookup(table, '198.18.1.1|8080'), ['demo/api', 'demo/web'], 'the previous table is left as it was');
});

t.test('a change that does not match the table (a row taken out that is not in it) is refused: the caller builds afresh', async (t) => {
  const [p80] = entries('demo/web', [80], [endpoint('198.18.1.1', { 80: 8080 })]) as [ServicePortEntry];
  t.equal(deriveEndpointServices(buildEndpointServices([]), { removed: [p80], added: [] }), undefined);
});

t.test('added Services are inserted in key order', async (t) => {
  const ep = endpoint('198.18.1.1', { 80: 8080 });
  const table = buildEndpointServices(entries('demo/b', [80], [ep]));
  const next = deriveEndpointServices(table, { removed: [], added: [...entries('demo/c', [80], [ep]), ...entries('demo/a', [80], [ep])] });
  t.same(next === undefined ? 'undefined' : lookup(next, '198.18.1.1|8080'), ['demo/a', 'demo/b', 'demo/c']);
});
