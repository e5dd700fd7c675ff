/**
 * `--pin` in a real bench lab: the harness pins itself to the load CPUs, the agents (with two
 * workers each) and the HAProxy pair start under `taskset -c <proxy CPUs>`, and the servers and
 * a load tool inherit the load CPUs. Read back from `/proc/<pid>/status` (`Cpus_allowed_list`)
 * of each started process. Needs root, namespaces, taskset, haproxy, iperf3 and sockperf; the
 * lab goes with `withLab`, and its absence is checked.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { pino } from 'pino';
import { benchOptions } from '../../../bench/bench-options.js';
import { prepareFixture } from '../../../bench/bench-fixture.js';
import { agentCommand } from '../../../bench/bench-runner.js';
import { benchTopology } from '../../../bench/bench-topology.js';
import { cpusAllowed, formatCpuList, parseCpusAllowed, pinProcess, readOnlineCpus } from '../../../bench/cpu-pinning.js';
import { hardFdLimit } from '../../../bench/machine-facts.js';
import { processTree } from '../../../bench/proc-stats.js';
import { listLabNetns, withLab } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const TOOLS = ['taskset', 'haproxy', 'iperf3', 'sockperf'];

function on(pid: number): string {
  const cpus = cpusAllowed(pid);
  return cpus === undefined ? `pid ${pid} gone` : formatCpuList(cpus);
}

t.test('--pin puts the agents, their workers and HAProxy on the proxy CPUs, servers and load on the others', async (t) => {
  if (!requireNamespaces(t)) return;
  const missing = TOOLS.filter((cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0);
  const online = readOnlineCpus();
  if (missing.length > 0 || online.length < 2) {
    const why = missing.length > 0 ? `missing ${missing.join(', ')} (node scripts/setup-bench.mjs installs them)` : `one online CPU: nothing to pin apart`;
    console.error(`BENCH PINNING TEST NOT RUN: ${why}`);
    if (process.env['CI'] === 'true') t.fail(`the bench pinning test must run in CI: ${why}`);
    else t.plan(0, `BENCH PINNING TEST NOT RUN: ${why}`);
    return;
  }
  const name = `bp${process.pid % 100_000}`;
  const options = benchOptions({ pin: true, workers: '2', name });
  const pin = options.pin;
  if (pin === undefined) throw new Error('--pin gave no pinning');
  const proxies = formatCpuList(pin.proxies);
  const load = formatCpuList(pin.load);
  // What main.ts does first: this process (the harness) onto the load CPUs.
  pinProcess(process.pid, pin.load);
  t.equal(on(process.pid), load, 'the harness runs on the load CPUs');

  const logger = pino({ level: 'warn' }, pino.destination(2));
  await withLab(benchTopology(name), { agents: true, agentCommand: agentCommand(options, undefined), readyTimeoutMs: 60_000, logger }, async (lab) => {
    const fixture = await prepareFixture(lab, { paths: ['direct', 'meshlet', 'haproxy'], haproxyThreads: 1, fdLimit: hardFdLimit(), logger, proxyCpus: pin.proxies });

    for (const node of ['node1', 'node2']) {
      const pid = lab.agentPid(node);
      t.type(pid, 'number', `${node}'s agent runs`);
      const tree = pid === undefined ? [] : processTree(pid);
      t.ok(tree.length >= 3, `${node}'s agent has its two workers (processes ${tree.join(', ')})`);
      t.same(tree.map(on), tree.map(() => proxies), `${node}'s agent and every worker on CPU ${proxies}`);
    }
    const pair = fixture.proxyPids.haproxy;
    t.equal(pair.length, 2, 'both HAProxy processes of the pair');
    t.same(pair.map(on), pair.map(() => proxies), `the HAProxy pair on CPU ${proxies}`);
    t.ok(fixture.serverPids.length >= 6, `the servers of both server pods (${fixture.serverPids.length})`);
    t.same(fixture.serverPids.map(on), fixture.serverPids.map(() => load), `every server on CPU ${load}`);
    // The load tools are started with lab.exec from the harness, like this one.
    const r = await lab.exec('pclient', 'cat', ['/proc/self/status'], { timeoutMs: 30_000 });
    t.equal(r.code, 0);
    t.same(parseCpusAllowed(r.stdout), pin.load, `a load tool in a client pod on CPU ${load}`);
  });
  t.same(await listLabNetns(name), [], 'the lab is gone');
});
