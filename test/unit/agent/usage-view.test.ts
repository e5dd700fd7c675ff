/**
 * `/usage` from the metrics registry's JSON (summed over worker processes): per local workload
 * its recent cores and share of the data path's CPU, its totals, busiest first.
 */
import t from 'tap';
import { usageView } from '../../../src/agent/admin/usage-view.js';
import type { MetricsJson } from '../../../src/agent/admin/metrics.js';

function metric(name: string, type: 'counter' | 'gauge', values: Array<{ labels: Record<string, string>; value: number }>): MetricsJson[number] {
  return { name, help: '', type, aggregator: 'sum', values } as unknown as MetricsJson[number];
}

const JSON_IN: MetricsJson = [
  metric('meshlet_workload_agent_cpu_seconds_total', 'counter', [
    { labels: { namespace: 'bench', workload: 'flood' }, value: 40 },
    { labels: { namespace: 'bench', workload: 'quiet' }, value: 2 },
  ]),
  metric('meshlet_workload_agent_cpu_usage', 'gauge', [
    { labels: { namespace: 'bench', workload: 'flood' }, value: 0.6 },
    { labels: { namespace: 'bench', workload: 'quiet' }, value: 0.1 },
  ]),
  metric('meshlet_workload_bytes_total', 'counter', [
    { labels: { namespace: 'bench', workload: 'flood', direction: 'outbound' }, value: 9e9 },
    { labels: { namespace: 'bench', workload: 'quiet', direction: 'outbound' }, value: 1e6 },
    { labels: { namespace: 'bench', workload: 'quiet', direction: 'inbound' }, value: 5e5 },
  ]),
  metric('meshlet_data_path_cpu_usage', 'gauge', [{ labels: {}, value: 0.8 }]),
];

t.test('rows per workload, busiest first, share of the data path', async (t) => {
  const v = usageView(JSON_IN);
  t.equal(v.dataPathCpuCores, 0.8);
  t.same(v.workloads.map((w) => w.workload), ['flood', 'quiet']);
  t.equal(v.workloads[0]?.share, 0.6 / 0.8, 'its recent cores over the data path\'s');
  t.equal(v.workloads[0]?.cpuSeconds, 40);
  t.equal(v.workloads[1]?.bytesOutbound, 1e6);
  t.equal(v.workloads[1]?.bytesInbound, 5e5);
});

t.test('an idle data path: shares are 0, totals stay', async (t) => {
  const v = usageView([JSON_IN[0] as MetricsJson[number]]);
  t.equal(v.dataPathCpuCores, 0);
  t.same(v.workloads.map((w) => w.share), [0, 0]);
  t.same(v.workloads.map((w) => w.workload), ['flood', 'quiet'], 'by total CPU when no recent figure');
});

t.test('no usage metrics at all: no rows', async (t) => {
  t.same(usageView([]), { dataPathCpuCores: 0, workloads: [] });
});

t.test('throttling by max-bandwidth per workload, summed over the workers\' series', async (t) => {
  const v = usageView([
    ...JSON_IN,
    metric('meshlet_workload_throttled_seconds_total', 'counter', [
      { labels: { namespace: 'bench', workload: 'flood' }, value: 3.5 },
      { labels: { namespace: 'bench', workload: 'flood' }, value: 1.5 },
    ]),
    metric('meshlet_workload_throttled_bytes_total', 'counter', [{ labels: { namespace: 'bench', workload: 'flood' }, value: 4e6 }]),
  ]);
  t.same(v.workloads.map((w) => [w.workload, w.throttledSeconds, w.throttledBytes]), [['flood', 5, 4e6], ['quiet', 0, 0]]);
});

t.test('the rate a share limit holds a workload to, summed over the workers\' series; 0 when not held', async (t) => {
  const v = usageView([
    ...JSON_IN,
    metric('meshlet_workload_share_limit_bytes_per_second', 'gauge', [
      { labels: { namespace: 'bench', workload: 'flood' }, value: 3e6 },
      { labels: { namespace: 'bench', workload: 'flood' }, value: 2e6 },
    ]),
  ]);
  t.same(v.workloads.map((w) => [w.workload, w.shareLimitBytesPerSecond]), [['flood', 5e6], ['quiet', 0]]);
});
