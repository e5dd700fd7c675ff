/**
 * A per-workload bandwidth limit in a two-node lab (issue 18): pod `limited` on node1, annotated
 * `meshlet.io/max-bandwidth: "8M"` (1,000,000 bytes per second), sends 4 MiB to a server on
 * node2 while its neighbour `free` on the same node sends 32 MiB to the same server. The limited
 * transfer takes at least 3 s (its floor is about 4.1 s: a wide margin, checked on the slow side
 * only), arrives whole, and node1's metrics count the throttling under the limited workload and
 * none under its neighbour. Then the same limit at L7: a 4 MiB HTTP download and a 4 MiB upload
 * through a Service port declared `http` take at least 3 s each. The same topology helpers as
 * the connection-cap test (`workload-limits.test.ts`) and the L7 tests (`l7-lab.ts`).
 */
import t from 'tap';
import { withLab, type LabTopology } from '../../../src/lab/index.js';
import { scrapeAgent } from '../../../bench/agent-pauses.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { metricTotal, oneWorkerAgent, startTcpServer, tcpPeer } from './tcp-peer-lab.js';
import { peer as httpPeer, startServer as startHttpServer } from './l7-lab.js';

const MIB = 1024 * 1024;
const LIMITED_BYTES = 4 * MIB;
const FREE_BYTES = 32 * MIB;

const topology: LabTopology = {
  name: `bw${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'limited', namespace: 'demo', node: 'node1', serviceAccount: 'limited', labels: { app: 'limited' }, annotations: { 'meshlet.io/max-bandwidth': '8M' } },
    { name: 'free', namespace: 'demo', node: 'node1', serviceAccount: 'free', labels: { app: 'free' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
    { name: 'web', namespace: 'demo', node: 'node2', serviceAccount: 'web', labels: { app: 'web' } },
  ],
  services: [
    { name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] },
    // Declared HTTP: served at L7 by the source agent, each request on its own.
    { name: 'web', namespace: 'demo', selector: { app: 'web' }, ports: [{ name: 'http', port: 81, targetPort: 8080 }] },
  ],
};


t.test("a workload's bandwidth limit slows its transfer, not its neighbour's", async (t) => {
  if (!requireNamespaces(t)) return;
  // One data-path process: it holds the whole limit (with N workers each holds 1/N of it).
  await withLab(topology, { agents: true, agentCommand: oneWorkerAgent }, async (lab) => {
    await startTcpServer(lab, 'server');
    const vip = lab.serviceVip('demo', 'server');
    const started = performance.now();
    const limitedRun = tcpPeer(lab, 'limited', ['send', vip, '80', String(LIMITED_BYTES), '0'], 90_000).then((r) => ({ r, seconds: (performance.now() - started) / 1000 }));
    const freeRun = tcpPeer(lab, 'free', ['send', vip, '80', String(FREE_BYTES), '0'], 90_000);
    const [limited, free] = await Promise.all([limitedRun, freeRun]);

    t.equal(limited.r['ok'], true, `the limited transfer completed: ${JSON.stringify(limited.r)}`);
    const server = limited.r['server'] as { received?: number; sha256?: string } | null;
    t.equal(server?.received, LIMITED_BYTES, 'every byte arrived: delayed, never dropped');
    t.equal(server?.sha256, limited.r['sentSha256'], 'intact');
    // 4 MiB at 1,000,000 bytes/s less the 100,000-byte burst: about 4.1 s at the least.
    t.ok(limited.seconds >= 3, `4 MiB under an 8 Mbit/s limit took ${limited.seconds.toFixed(2)} s (at least 3 s)`);

    t.equal(free['ok'], true, `the neighbour's transfer completed: ${JSON.stringify(free)}`);
    t.equal((free['server'] as { received?: number } | null)?.received, FREE_BYTES, 'all of it');

    const metrics = await scrapeAgent(lab, 'node1');
    const limitedSeconds = metricTotal(metrics, 'meshlet_workload_throttled_seconds_total', /workload="limited"/);
    const limitedBytes = metricTotal(metrics, 'meshlet_workload_throttled_bytes_total', /workload="limited"/);
    t.ok(limitedSeconds >= 2, `node1 counts the limited pod's throttled time (${limitedSeconds.toFixed(2)} s)`);
    t.ok(limitedBytes >= 1 * MIB, `and its throttled bytes (${limitedBytes})`);
    t.equal(metricTotal(metrics, 'meshlet_workload_throttled_seconds_total', /workload="free"/), 0, 'the neighbour was never throttled');
    t.equal(metricTotal(metrics, 'meshlet_workload_throttled_bytes_total', /workload="free"/), 0, 'nor charged');

    // L7: the request and response bodies are charged to the same bucket.
    await startHttpServer(lab, 'web');
    const web = lab.serviceVip('demo', 'web');
    const t0 = performance.now();
    const down = await httpPeer(lab, 'limited', ['download', `http://${web}:81/download?bytes=${LIMITED_BYTES}`, String(LIMITED_BYTES)], 90_000);
    const downSeconds = (performance.now() - t0) / 1000;
    t.equal(down['sha256'], down['expectedSha256'], `the HTTP download arrived whole: ${JSON.stringify(down)}`);
    t.ok(downSeconds >= 3, `a 4 MiB HTTP download under the limit took ${downSeconds.toFixed(2)} s (at least 3 s)`);
    const t1 = performance.now();
    const up = await httpPeer(lab, 'limited', ['upload', `http://${web}:81/upload`, String(LIMITED_BYTES)], 90_000);
    const upSeconds = (performance.now() - t1) / 1000;
    t.equal((up['server'] as { sha256?: string } | undefined)?.sha256, up['sentSha256'], `the HTTP upload arrived whole: ${JSON.stringify(up)}`);
    t.ok(upSeconds >= 3, `a 4 MiB HTTP upload under the limit took ${upSeconds.toFixed(2)} s (at least 3 s)`);
  });
});
