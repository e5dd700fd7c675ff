/**
 * `meshlet status`'s agent-usage line from `/usage` (issue 18): the busiest local workload's
 * share of the agent ("is using N% of the agent"), the next ones, how many more, the data
 * path's CPU; no traffic and an older agent said plainly.
 */
import t from 'tap';
import { usageLine } from '../../../src/cli/status-command.js';

const row = (workload: string, share: number): Record<string, unknown> => ({ namespace: 'bench', workload, share, cpuCores: share, cpuSeconds: 1, bytesOutbound: 0, bytesInbound: 0 });

t.test('the busiest first, then the next two and how many more', async (t) => {
  const usage = { dataPathCpuCores: 0.97, workloads: [row('flood', 0.82), row('client', 0.03), row('a', 0.02), row('b', 0.01), row('idle', 0)] };
  t.equal(usageLine(usage), 'bench/flood is using 82% of the agent, bench/client 3%, bench/a 2%, 1 more (data path 0.97 cores)');
});

t.test('one workload', async (t) => {
  t.equal(usageLine({ dataPathCpuCores: 0.5, workloads: [row('flood', 0.9)] }), 'bench/flood is using 90% of the agent (data path 0.50 cores)');
});

t.test('no traffic in the last interval', async (t) => {
  t.equal(usageLine({ dataPathCpuCores: 0.01, workloads: [row('idle', 0)] }), 'no workload traffic in the last seconds (data path 0.01 cores)');
  t.equal(usageLine({ workloads: 'bad' }), 'no workload traffic in the last seconds (data path 0.00 cores)', 'a malformed answer is not trusted');
});

t.test('no /usage: an older agent', async (t) => {
  t.equal(usageLine(undefined), 'unknown (no /usage: an older agent)');
  t.equal(usageLine(null), 'unknown (no /usage: an older agent)');
});

t.test('workloads their limits throttled are named, most throttled first', async (t) => {
  const throttled = (workload: string, share: number, seconds: number): Record<string, unknown> => ({ ...row(workload, share), throttledSeconds: seconds, throttledBytes: 1 });
  const usage = { dataPathCpuCores: 0.5, workloads: [row('flood', 0.9), throttled('slow', 0.05, 2.25), throttled('slower', 0.01, 40)] };
  t.equal(usageLine(usage), 'bench/flood is using 90% of the agent, bench/slow 5%, bench/slower 1% (data path 0.50 cores); throttled by limits since start: bench/slower 40.0 s, bench/slow 2.3 s');
  t.equal(usageLine({ dataPathCpuCores: 0, workloads: [throttled('slow', 0, 1)] }), 'no workload traffic in the last seconds (data path 0.00 cores); throttled by limits since start: bench/slow 1.0 s');
});

t.test('workloads their share limit holds now are named, lowest rate first, before the throttled ones', async (t) => {
  const held = (workload: string, share: number, rate: number): Record<string, unknown> => ({ ...row(workload, share), throttledSeconds: 3, throttledBytes: 1, shareLimitBytesPerSecond: rate });
  const usage = { dataPathCpuCores: 1, workloads: [held('flood', 0.3, 12_345_678), held('batch', 0.2, 2_000_000), row('quiet', 0.1)] };
  t.equal(usageLine(usage), 'bench/flood is using 30% of the agent, bench/batch 20%, bench/quiet 10% (data path 1.00 cores); held to its share now: bench/batch at 2.0 MB/s, bench/flood at 12.3 MB/s; throttled by limits since start: bench/flood 3.0 s, bench/batch 3.0 s');
  t.equal(usageLine({ dataPathCpuCores: 1, workloads: [{ ...row('x', 0.5), shareLimitBytesPerSecond: 'fast' }] }), 'bench/x is using 50% of the agent (data path 1.00 cores)', 'a malformed rate is not trusted');
});
