/**
 * planOutbound, every branch: never plaintext for a meshed workload, nothing before the first
 * snapshot, passthrough only where the snapshot says nothing is meshed (issue 9, finding 8).
 */
import t from 'tap';
import { EMPTY_SNAPSHOT } from '../../../../src/agent/proxy/data-plane.js';
import { hasSnapshot, planOutbound, type OutboundPlan } from '../../../../src/agent/policy/outbound-plan.js';
import { BalancerRegistry } from '../../../../src/agent/policy/balancer.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../../../src/mesh/types.js';

function workload(name: string, address: string, node: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name,
    identity: `spiffe://cluster.local/ns/demo/sa/${name}`, labels: {}, tlsMode: 'PERMISSIVE', namedPorts: [],
  };
}

function endpoint(w: WorkloadInfo | { uid: string; address: string }, meshed: boolean, targetPort: number): EndpointInfo {
  const address = 'addresses' in w ? (w.addresses[0] as string) : w.address;
  const base = { workload: w.uid, address, node: 'node2', nodeAddress: '198.18.0.12', meshed, targetPorts: { 80: targetPort } };
  return meshed ? { ...base, identity: `spiffe://cluster.local/ns/demo/sa/${w.uid.split('/')[2] as string}` } : base;
}

function service(name: string, vip: string, endpoints: EndpointInfo[]): ServiceInfo {
  return { key: `demo/${name}`, name, namespace: 'demo', vips: [vip], ports: [{ port: 80, targetPort: 8080 }], endpoints };
}

const client = workload('client', '198.18.1.10', 'node1');
const neighbour = workload('neighbour', '198.18.1.11', 'node1');
const server = workload('server', '198.18.2.10', 'node2');
const meshedSvc = service('meshed', '198.19.0.10', [endpoint(server, true, 8080)]);
const plainSvc = service('plain', '198.19.0.11', [endpoint({ uid: 'Pod/demo/plain', address: '198.18.2.20' }, false, 9090)]);
const emptySvc = service('empty', '198.19.0.12', []);
// The controller says the endpoint is meshed, but its workload is not in the view.
const ghostSvc = service('ghost', '198.19.0.13', [endpoint({ uid: 'Pod/demo/ghost', address: '198.18.2.30' }, true, 8080)]);

const snapshot: NodeSnapshot = {
  version: 'v7', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
  localWorkloads: [client, neighbour], workloads: [client, neighbour, server], services: [meshedSvc, plainSvc, emptySvc, ghostSvc],
};

const dst = (address: string, port: number) => ({ address, port, family: 4 as const });
const plan = (source: string, address: string, port: number): OutboundPlan => planOutbound(new WorkloadIndex(snapshot), source, dst(address, port), new BalancerRegistry().pick);

t.test('before any snapshot, every captured connection is refused, whatever its source and destination', async (t) => {
  const empty = new WorkloadIndex(EMPTY_SNAPSHOT);
  t.equal(hasSnapshot(empty), false);
  t.equal(hasSnapshot(new WorkloadIndex(snapshot)), true);
  for (const [source, address, port] of [['198.18.1.10', '198.18.2.10', 8080], ['198.18.9.9', '93.184.216.34', 443]] as const) {
    const p = planOutbound(empty, source, dst(address, port), () => { throw new Error('no pick before a snapshot'); });
    t.same({ kind: p.kind, why: p.kind === 'refuse' ? p.why : undefined, outcome: p.kind === 'refuse' ? p.outcome : undefined }, { kind: 'refuse', why: 'no-snapshot', outcome: 'no_route' }, `${source} -> ${address}:${port}`);
  }
});

t.test('a meshed source: tunnel to another node, in-process to this node', async (t) => {
  t.same(plan('198.18.1.10', '198.18.2.10', 8080), { kind: 'tunnel', source: client, workload: server, address: '198.18.2.10', port: 8080 });
  t.same(plan('198.18.1.10', '198.18.1.11', 8080), { kind: 'local', source: client, workload: neighbour, address: '198.18.1.11', port: 8080 });
  const viaVip = plan('198.18.1.10', '198.19.0.10', 80);
  t.same(viaVip, { kind: 'tunnel', source: client, workload: server, address: '198.18.2.10', port: 8080, service: meshedSvc });
});

t.test('a meshed source reaches what the snapshot says is not meshed in plain TCP', async (t) => {
  t.same(plan('198.18.1.10', '93.184.216.34', 443), { kind: 'direct', mode: 'passthrough', address: '93.184.216.34', port: 443, source: client });
  t.same(plan('198.18.1.10', '198.19.0.11', 80), { kind: 'direct', mode: 'plaintext', address: '198.18.2.20', port: 9090, source: client, service: plainSvc });
});

t.test('a meshed source: a service without endpoints, or with a meshed endpoint the snapshot lacks, is refused', async (t) => {
  // The reason is prose for the log: matched apart, the rest of the plan compared whole.
  const { reason: emptyReason, ...empty } = plan('198.18.1.10', '198.19.0.12', 80) as Extract<OutboundPlan, { kind: 'refuse' }>;
  t.same(empty, { kind: 'refuse', why: 'no-endpoints', outcome: 'no_route', source: client, service: emptySvc });
  t.type(emptyReason, 'string');
  const { reason, ...ghost } = plan('198.18.1.10', '198.19.0.13', 80) as Extract<OutboundPlan, { kind: 'refuse' }>;
  t.same(ghost, { kind: 'refuse', why: 'meshed-endpoint-unknown', outcome: 'no_route', source: client, service: ghostSvc });
  t.match(reason, /Pod\/demo\/ghost .* refused rather than sent in plaintext/);
});

t.test('a source the snapshot does not know: refused towards meshed destinations, passed through elsewhere', async (t) => {
  for (const [address, port] of [['198.18.2.10', 8080], ['198.18.1.11', 8080], ['198.19.0.10', 80], ['198.19.0.13', 80]] as const) {
    const p = plan('198.18.1.99', address, port);
    t.same(p.kind === 'refuse' ? [p.why, p.outcome] : p.kind, ['unidentified-source', 'denied'], `${address}:${port} refused`);
  }
  // Positively not meshed: no workload there, or a Service whose endpoints are all plain.
  t.same(plan('198.18.1.99', '93.184.216.34', 443), { kind: 'direct', mode: 'passthrough', address: '93.184.216.34', port: 443 });
  t.same(plan('198.18.1.99', '198.19.0.11', 80), { kind: 'direct', mode: 'passthrough', address: '198.19.0.11', port: 80 });
  // A VIP port the Service does not have is not the mesh's business either.
  t.same(plan('198.18.1.99', '198.19.0.10', 81), { kind: 'direct', mode: 'passthrough', address: '198.19.0.10', port: 81 });
});

t.test('checking an unidentified source moves no round-robin cursor', async (t) => {
  const two = service('two', '198.19.0.20', [endpoint(server, true, 8080), endpoint({ uid: 'Pod/demo/plain', address: '198.18.2.20' }, false, 9090)]);
  const index = new WorkloadIndex({ ...snapshot, services: [two] });
  const { pick } = new BalancerRegistry();
  t.equal(planOutbound(index, '198.18.1.99', dst('198.19.0.20', 80), () => { throw new Error('an unidentified source picks nothing'); }).kind, 'refuse', 'one meshed endpoint makes the VIP meshed');
  t.match(planOutbound(index, '198.18.1.10', dst('198.19.0.20', 80), pick), { kind: 'tunnel', address: '198.18.2.10' }, 'the first pick is still the first endpoint');
  t.match(planOutbound(index, '198.18.1.10', dst('198.19.0.20', 80), pick), { kind: 'direct', mode: 'plaintext', address: '198.18.2.20' });
});

t.test('the plan carries out the picker\'s choice of endpoint', async (t) => {
  const two = service('two', '198.19.0.20', [endpoint(server, true, 8080), endpoint({ uid: 'Pod/demo/plain', address: '198.18.2.20' }, false, 9090)]);
  const index = new WorkloadIndex({ ...snapshot, services: [two] });
  const second = (e: { endpoints: readonly EndpointInfo[] }) => e.endpoints[1];
  t.same(planOutbound(index, '198.18.1.10', dst('198.19.0.20', 80), second), { kind: 'direct', mode: 'plaintext', address: '198.18.2.20', port: 9090, source: client, service: two });
  t.match(planOutbound(index, '198.18.1.10', dst('198.19.0.20', 80), () => undefined), { kind: 'refuse', why: 'no-endpoints' }, 'a picker with nothing to give: no route');
});
