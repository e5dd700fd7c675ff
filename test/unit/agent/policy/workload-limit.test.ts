/** The pure decisions of the per-workload connection cap (docs/workload-limits.md). */
import t from 'tap';
import { admitsConnection, defaultMaxConnections, FALLBACK_OPEN_FILES, processCap, workloadCap } from '../../../../src/agent/policy/workload-limit.js';
import type { WorkloadInfo } from '../../../../src/mesh/types.js';

const base: WorkloadInfo = {
  uid: 'Pod/demo/a', kind: 'Pod', name: 'a', namespace: 'demo', addresses: ['198.18.1.2'], node: 'n', nodeAddress: '198.18.0.1',
  serviceAccount: 'a', identity: 'spiffe://cluster.local/ns/demo/sa/a', labels: {}, tlsMode: 'STRICT', namedPorts: [],
};

t.test('the default is a quarter of the connections the descriptors allow (two each)', async (t) => {
  t.equal(defaultMaxConnections(1_048_576), 131_072);
  t.equal(defaultMaxConnections(1024), 128);
  t.equal(defaultMaxConnections(undefined), FALLBACK_OPEN_FILES / 8, 'unknown: the fallback limit');
  t.equal(defaultMaxConnections(3), 1, 'never zero: a workload can always connect once');
});

t.test('the annotation overrides the default, up or down', async (t) => {
  t.equal(workloadCap(base, 100), 100);
  t.equal(workloadCap({ ...base, limits: { maxConnections: 5 } }, 100), 5);
  t.equal(workloadCap({ ...base, limits: { maxConnections: 500 } }, 100), 500);
  t.equal(workloadCap({ ...base, limits: {} }, 100), 100);
});

t.test('each worker admits its part, so the agent never holds more than the cap', async (t) => {
  t.equal(processCap(10, 1), 10);
  t.equal(processCap(10, 4), 2, 'floor: 4 x 2 = 8 <= 10');
  t.equal(processCap(3, 2), 1);
  t.equal(processCap(1, 4), 1, 'below the worker count: one each');
  t.equal(processCap(10, 0), 10, 'no worker count: this process alone');
  for (const [cap, workers] of [[7, 3], [100, 8], [1_000_000, 16], [16, 16]] as const) {
    t.equal(processCap(cap, workers) * workers <= cap, true, `${workers} workers at cap ${cap}: within it`);
  }
});

t.test('one more fits only under the cap', async (t) => {
  t.equal(admitsConnection(0, 1), true);
  t.equal(admitsConnection(4, 5), true);
  t.equal(admitsConnection(5, 5), false);
  t.equal(admitsConnection(6, 5), false);
});
