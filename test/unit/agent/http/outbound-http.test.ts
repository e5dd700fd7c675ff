/**
 * OutboundHttp's resilience states at a new index: the state of a Service port gone from the
 * snapshot is dropped once idle, the others kept (`hasServicePort` checks a state's key against
 * the index's per-Service table; it replaced a set of every Service port key per index).
 */
import t from 'tap';
import { hasServicePort } from '../../../../src/agent/http/outbound-http.js';
import { ServiceStates } from '../../../../src/agent/policy/resilience/service-state.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, ServiceInfo } from '../../../../src/mesh/types.js';

function service(name: string, ports: number[]): ServiceInfo {
  return { key: `demo/${name}`, name, namespace: 'demo', vips: [`198.19.0.${name.length}`], ports: ports.map((port) => ({ port, targetPort: 8080 })), endpoints: [] };
}

const index = (services: ServiceInfo[]): WorkloadIndex => {
  const snap: NodeSnapshot = { version: 'v', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services };
  return new WorkloadIndex(snap);
};

t.test('hasServicePort: a Service port of the index, by its entry key', async (t) => {
  const has = hasServicePort(index([service('web', [80, 81]), service('db', [5432])]));
  t.equal(has('demo/web|80'), true);
  t.equal(has('demo/web|81'), true);
  t.equal(has('demo/db|5432'), true);
  t.equal(has('demo/web|82'), false, 'another port');
  t.equal(has('demo/api|80'), false, 'another Service');
  t.equal(has('demo/web|080'), false, 'not the entry key (a port spelt otherwise)');
  t.equal(has('demo/web'), false, 'no port');
  t.equal(has('|80'), false, 'no Service');
});

t.test('retain with it: a removed port idle goes, a busy one stays until idle, the kept ones stay', async (t) => {
  const states = new ServiceStates();
  const kept = states.get('demo/web|80');
  const busy = states.get('demo/web|81');
  states.get('demo/db|5432');
  busy.requests = 1;
  const next = index([service('web', [80])]);
  states.retain(hasServicePort(next));
  t.equal(states.size, 2, 'db gone; web|81 busy, kept for now');
  t.equal(states.get('demo/web|80'), kept, 'the kept port keeps its state');
  busy.requests = 0;
  states.retain(hasServicePort(next));
  t.equal(states.size, 1, 'web|81 idle: gone');
});
