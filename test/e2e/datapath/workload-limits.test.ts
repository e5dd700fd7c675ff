/**
 * A per-workload connection limit in a two-node lab (issue 18): pod `flood` on node1, annotated
 * `meshlet.io/max-connections: "5"`, opens 20 connections to a server on node2 and holds them;
 * its agent resets the 15 over the cap, while pod `quiet` on the same node still opens its own;
 * node1's metrics count the 15 refusals under the flooding workload only.
 */
import t from 'tap';
import { once } from 'node:events';
import { withLab, type LabTopology } from '../../../src/lab/index.js';
import { scrapeAgent } from '../../../bench/agent-pauses.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { metricTotal, oneWorkerAgent, startTcpServer, TCP_PEER as PEER } from './tcp-peer-lab.js';

const topology: LabTopology = {
  name: `wl${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'flood', namespace: 'demo', node: 'node1', serviceAccount: 'flood', labels: { app: 'flood' }, annotations: { 'meshlet.io/max-connections': '5' } },
    { name: 'quiet', namespace: 'demo', node: 'node1', serviceAccount: 'quiet', labels: { app: 'quiet' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] }],
};


t.test("a workload's connection limit refuses the excess of that workload only", async (t) => {
  if (!requireNamespaces(t)) return;
  // One data-path process: the cap is then exact (with N workers each admits floor(5 / N)).
  await withLab(topology, { agents: true, agentCommand: oneWorkerAgent }, async (lab) => {
    await startTcpServer(lab, 'server');
    const vip = lab.serviceVip('demo', 'server');
    // Held for up to 120 s, or until its stdin ends: the quiet pod connects meanwhile.
    const flood = lab.spawnNode('flood', PEER, ['hold', vip, '80', '20', '120'], { stdio: ['pipe', 'pipe', 'pipe'] });
    t.teardown(() => {
      flood.stdin?.end();
      flood.kill('SIGTERM');
    });
    const [line] = (await once(flood.stdout!, 'data')) as [Buffer];
    t.match(line.toString(), /^held 5 15\b/, 'five connections held, fifteen refused');
    const quiet = await lab.runNode('quiet', PEER, ['hold', vip, '80', '3', '0'], { timeoutMs: 60_000 });
    t.match(quiet.stdout, /"held":3,"failed":0/, `the quiet pod on the same node opens its 3 meanwhile: ${quiet.stdout.trim()}`);
    const metrics = await scrapeAgent(lab, 'node1');
    t.equal(metricTotal(metrics, 'meshlet_workload_limit_refusals_total', /workload="Pod\/demo\/flood"/), 15, 'node1 counts 15 refusals under the flooding pod');
    t.equal(metricTotal(metrics, 'meshlet_workload_limit_refusals_total', /workload="Pod\/demo\/quiet"/), 0, 'and none under the quiet one');
  });
});
