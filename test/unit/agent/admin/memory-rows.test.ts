/**
 * `/memory`'s rows from the registries' JSON: one row per process with its kinds, the primary
 * first and the workers by index (worker-10 after worker-2), other families and unknown kinds
 * left out.
 */
import t from 'tap';
import { memoryRows, type MetricsJson } from '../../../../src/agent/admin/metrics.js';

function registry(process: string, values: Record<string, number>, extra: MetricsJson = []): MetricsJson {
  return [
    ...extra,
    {
      name: 'meshlet_process_memory_bytes', help: '', type: 'gauge', aggregator: 'sum',
      values: Object.entries(values).map(([kind, value]) => ({ labels: { process, kind }, value })),
    },
  ] as unknown as MetricsJson;
}

t.test('a row per process, primary first, workers by index', async (t) => {
  const rows = memoryRows([
    registry('agent', { rss: 100, rss_anon: 40 }),
    registry('worker-10', { rss: 70 }),
    registry('worker-2', { rss: 60, heap_used: 12 }),
  ]);
  t.same(rows, [{ process: 'agent', rss: 100, rss_anon: 40 }, { process: 'worker-2', rss: 60, heap_used: 12 }, { process: 'worker-10', rss: 70 }]);
});

t.test('other families and unknown kinds are left out', async (t) => {
  const other = [{ name: 'meshlet_agent_workers', help: '', type: 'gauge', aggregator: 'sum', values: [{ labels: { process: 'agent', kind: 'rss' }, value: 9 }] }] as unknown as MetricsJson;
  t.same(memoryRows([registry('agent', { rss: 100, swap: 5 }, other)]), [{ process: 'agent', rss: 100 }]);
  t.same(memoryRows([other]), [], 'no memory family: no rows');
});
