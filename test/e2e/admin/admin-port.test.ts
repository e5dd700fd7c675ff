/**
 * The admin port in a lab: reachable on the node's loopback, never from a pod (neither the
 * node's address nor the pod's own loopback), while /metrics is reachable for scraping; on
 * the node's loopback (where every hostNetwork pod is too) only the public endpoints answer
 * without the admin token; with it, POST /quitquitquit drains and exits the agent.
 */
import t from 'tap';
import { join } from 'node:path';
import { REPO_ROOT, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const PROBE = join(REPO_ROOT, 'dist/test/e2e/admin/admin-probe.js');

const topology: LabTopology = {
  name: `adm${process.pid % 100000}`,
  nodes: [{ name: 'node1' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [{ name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } }],
  services: [],
};

interface ProbeResult {
  ok: boolean;
  status?: number;
  body?: string;
  error?: string;
}

async function probe(lab: Lab, where: string, method: string, url: string, tokenFile?: string): Promise<ProbeResult> {
  const r = await lab.runNode(where, PROBE, tokenFile === undefined ? [method, url] : [method, url, tokenFile], { timeoutMs: 15_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ProbeResult;
}

t.test('the admin API answers on the node loopback only; pods cannot reach it', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, {}, async (lab) => {
    const nodeIp = lab.nodeAddress('node1');
    const local = await probe(lab, 'node1', 'GET', 'http://127.0.0.1:15000/ready');
    t.match(local, { ok: true, status: 200 }, 'node loopback: /ready answers');
    const token = lab.adminTokenFile('node1');
    t.match(await probe(lab, 'node1', 'GET', 'http://127.0.0.1:15000/certs'), { ok: true, status: 401 }, 'node loopback without the token: 401');
    const certs = await probe(lab, 'node1', 'GET', 'http://127.0.0.1:15000/certs', token);
    t.match(JSON.parse(certs.body ?? '[]'), [{ identity: 'spiffe://cluster.local/ns/demo/sa/client' }], 'the pod identity certificate');

    for (const url of [`http://${nodeIp}:15000/`, 'http://127.0.0.1:15000/']) {
      const fromPod = await probe(lab, 'client', 'GET', url);
      t.equal(fromPod.ok, false, `pod -> ${url} fails (${fromPod.error ?? fromPod.status})`);
    }
    const fromNodeAddress = await probe(lab, 'node1', 'GET', `http://${nodeIp}:15000/`);
    t.equal(fromNodeAddress.ok, false, 'not bound on the node address either');

    const metrics = await probe(lab, 'client', 'GET', `http://${nodeIp}:15020/metrics`);
    t.match(metrics, { ok: true, status: 200 }, '/metrics is scrapeable from the network');
    t.match(metrics.body, /meshlet_config_info\{version="/);

    t.match(await probe(lab, 'node1', 'POST', 'http://127.0.0.1:15000/quitquitquit'), { ok: true, status: 401 }, 'POST /quitquitquit without the token: 401');
    t.match(await probe(lab, 'node1', 'GET', 'http://127.0.0.1:15000/ready'), { ok: true, status: 200 }, 'and the agent is still up');
    t.match(await probe(lab, 'node1', 'GET', 'http://127.0.0.1:15000/quitquitquit', token), { ok: true, status: 405 }, 'GET /quitquitquit: 405');
    t.match(await probe(lab, 'node1', 'POST', 'http://127.0.0.1:15000/quitquitquit', token), { ok: true, status: 202 });
    // Bounded wait for the drain (default deadline 20 s, idle here) to end the process.
    for (let i = 0; i < 100 && !/"msg":"drained"/.test(lab.agentLog('node1')); i++) await new Promise((r) => setTimeout(r, 100));
    t.match(lab.agentLog('node1'), /quit requested through the admin API/);
    t.match(lab.agentLog('node1'), /"msg":"drained"/, 'the agent drained');
  });
});
