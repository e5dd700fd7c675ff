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

t.test('workloads their max-bandwidth throttled are named, most throttled first', async (t) => {
  const throttled = (workload: string, share: number, seconds: number): Record<string, unknown> => ({ ...row(workload, share), throttledSeconds: seconds, throttledBytes: 1 });
  const usage = { dataPathCpuCores: 0.5, workloads: [row('flood', 0.9), throttled('slow', 0.05, 2.25), throttled('slower', 0.01, 40)] };
  t.equal(usageLine(usage), 'bench/flood is using 90% of the agent, bench/slow 5%, bench/slower 1% (data path 0.50 cores); throttled by max-bandwidth since start: bench/slower 40.0 s, bench/slow 2.3 s');
  t.equal(usageLine({ dataPathCpuCores: 0, workloads: [throttled('slow', 0, 1)] }), 'no workload traffic in the last seconds (data path 0.00 cores); throttled by max-bandwidth since start: bench/slow 1.0 s');
});
