/**
 * Fairness between a node's workloads in a two-node lab (issue 18): a flooding pod and a quiet
 * pod on node1, both to a server pod on node2. While the flood runs, the quiet pod's pings keep
 * completing (a functional check with a wide margin, not a timing test); the agents attribute
 * the bytes and the CPU to the workload that caused them; and node2's agent, which receives the
 * flood beside the quiet pod's session, shrank the flooding session's window at least once.
 */
import t from 'tap';
import { Lab, withLab, type LabTopology } from '../../../src/lab/index.js';
import { scrapeAgent } from '../../../bench/agent-pauses.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { metricTotal, oneWorkerAgent, startTcpServer, tcpPeer, type Json } from './tcp-peer-lab.js';

const MB = 1024 * 1024;
/** The flood: several seconds at the 60-150 MB/s an agent moves on a loaded 2-core machine. */
const FLOOD_BYTES = 400 * MB;
/** The quiet pod pings every 100 ms for this long, the flood starting with it. */
const WATCH_SECONDS = 8;

const topology: LabTopology = {
  name: `fr${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'quiet', namespace: 'demo', node: 'node1', serviceAccount: 'quiet', labels: { app: 'quiet' } },
    { name: 'flood', namespace: 'demo', node: 'node1', serviceAccount: 'flood', labels: { app: 'flood' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] }],
};


const peer = (lab: Lab, pod: string, args: string[], timeoutMs = 70_000): Promise<Json> => tcpPeer(lab, pod, args, timeoutMs);
const startServer = startTcpServer;


t.test('a flooding pod beside a quiet pod: the quiet one keeps being served, the agents say who used them', async (t) => {
  if (!requireNamespaces(t)) return;
  // One data-path process per agent: the window governor decides between the sessions of one
  // process (with several, the kernel's scheduler shares the cores between them).
  await withLab(topology, { agents: true, agentCommand: oneWorkerAgent }, async (lab) => {
    await startServer(lab, 'server');
    const vip = lab.serviceVip('demo', 'server');
    // The quiet pod's pings and the flood start together; the flood lasts seconds, the pings 8 s.
    const quiet = peer(lab, 'quiet', ['watch', vip, '80', String(WATCH_SECONDS)]);
    const flood = peer(lab, 'flood', ['send', vip, '80', String(FLOOD_BYTES), '0']);
    const watch = await quiet;
    const flooded = await flood;
    t.equal(flooded['ok'], true, `the flood completed: ${JSON.stringify(flooded)}`);
    t.equal(watch['ok'], true, `the quiet pod's connection stayed up: ${JSON.stringify(watch)}`);
    // 80 pings are due in 8 s; a generous floor, not a latency bound.
    t.ok(Number(watch['pongs']) >= 10, `the quiet pod's pings kept completing during the flood (${String(watch['pongs'])} answered)`);

    const node1 = await scrapeAgent(lab, 'node1');
    const floodBytes = metricTotal(node1, 'meshlet_workload_bytes_total', /workload="flood"/);
    const quietBytes = metricTotal(node1, 'meshlet_workload_bytes_total', /workload="quiet"/);
    t.ok(floodBytes >= FLOOD_BYTES, `node1 counts the flood's bytes under the flood (${floodBytes})`);
    t.ok(quietBytes > 0, `and the pings under the quiet pod (${quietBytes})`);
    t.ok(quietBytes < floodBytes / 100, 'not the flood\'s bytes');
    const floodCpu = metricTotal(node1, 'meshlet_workload_agent_cpu_seconds_total', /workload="flood"/);
    const quietCpu = metricTotal(node1, 'meshlet_workload_agent_cpu_seconds_total', /workload="quiet"/);
    t.ok(floodCpu > quietCpu, `node1's CPU goes to the flood first (${floodCpu} s against ${quietCpu} s)`);
    const node2 = await scrapeAgent(lab, 'node2');
    t.ok(metricTotal(node2, 'meshlet_workload_bytes_total', /workload="server"/) >= FLOOD_BYTES, 'node2 counts it under its local workload, the destination');
    t.ok(metricTotal(node2, 'meshlet_tunnel_window_shrinks_total') >= 1, 'node2 shrank the flooding session\'s window while the quiet session was active');
    // The per-turn budget acts where a turn writes the flood into a pod: node2. (On node1 the
    // flood pauses no more than the tunnel stream's back-pressure already does: none counted.)
    t.ok(metricTotal(node2, 'meshlet_turn_budget_pauses_total') >= 1, 'node2 paused the flood at its per-turn budget');
  });
});
