/**
 * Source address preservation in a two-node lab with real agents, capture rules and return
 * path: a workload sees its meshed client's pod address, cross-node (through the tunnel) and
 * same-node (in-process), and a plaintext client's too (PERMISSIVE); with `--preserve-source
 * off` it sees the agent's address again.
 */
import t from 'tap';
import { once } from 'node:events';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Lab, REPO_ROOT, defaultAgentCommand, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/whoami-peer.js');
const SPOOF = join(REPO_ROOT, 'dist/test/e2e/datapath/spoof-probe.js');
const HTTP_PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/http-peer.js');
const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

/** node's `meshlet_source_address_total` by outcome (the workers' counts summed by the agent). */
async function sourceOutcomes(lab: Lab, node: string): Promise<Record<string, number>> {
  const r = await lab.runNode(node, HTTP_PEER, ['metrics', `http://${lab.nodeAddress(node)}:15020/metrics`, 'meshlet_source_address_total{'], { timeoutMs: 20_000 });
  const lines = ((JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Json)['lines'] ?? []) as string[];
  const counts: Record<string, number> = {};
  for (const line of lines) {
    const m = /outcome="([a-z_]+)"\} (\d+)/.exec(line);
    if (m !== null) counts[m[1] as string] = Number(m[2]);
  }
  return counts;
}

const topology: LabTopology = {
  name: `sa${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [
    { name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } },
    { name: 'plain', labels: {} },
  ],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'near', namespace: 'demo', node: 'node1', serviceAccount: 'near', labels: { app: 'near' } },
    { name: 'far', namespace: 'demo', node: 'node2', serviceAccount: 'far', labels: { app: 'far' } },
    { name: 'outsider', namespace: 'plain', node: 'node1', labels: { app: 'outsider' } },
  ],
  services: [
    { name: 'far', namespace: 'demo', selector: { app: 'far' }, ports: [{ port: 80, targetPort: 8080 }] },
    { name: 'near', namespace: 'demo', selector: { app: 'near' }, ports: [{ port: 80, targetPort: 8080 }] },
  ],
};

type Json = Record<string, unknown>;

async function ask(lab: Lab, pod: string, host: string, port: number): Promise<Json> {
  const r = await lab.runNode(pod, PEER, ['ask', host, String(port)], { timeoutMs: 40_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Json;
  } catch {
    return { ok: false, error: `peer printed ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)} code ${r.code}` };
  }
}

async function startServer(lab: Lab, pod: string): Promise<ChildProcess> {
  const child = lab.spawnNode(pod, PEER, ['server', '8080']);
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`server in ${pod} did not start`)), 20_000)),
  ])) as [Buffer];
  if (!line.toString().includes('listening')) throw new Error(`server in ${pod}: ${line.toString()}`);
  return child;
}

t.test('the destination workload sees the client pod address', async (t) => {
  if (!requireNamespaces(t)) return;
  let preserve = 'on';
  const agentCommand: NonNullable<Parameters<typeof withLab>[1]>['agentCommand'] = (node, ctx) => {
    const base = defaultAgentCommand(node, ctx);
    return { ...base, args: [...base.args, '--drain-seconds', '2', '--preserve-source', preserve] };
  };
  await withLab(topology, { agents: false, agentCommand }, async (lab) => {
    for (const node of ['node1', 'node2']) await lab.startAgent(node);
    for (const pod of ['near', 'far']) await startServer(lab, pod);
    const client = lab.podAddress('client');

    await t.test('cross-node, through the tunnel (pod address and Service VIP)', async (t) => {
      const direct = await ask(lab, 'client', lab.podAddress('far'), 8080);
      t.equal(direct['ok'], true, JSON.stringify(direct));
      t.equal(direct['seen'], client);
      const viaVip = await ask(lab, 'client', lab.serviceVip('demo', 'far'), 80);
      t.equal(viaVip['seen'], client, JSON.stringify(viaVip));
    });

    await t.test('same-node, in-process', async (t) => {
      const r = await ask(lab, 'client', lab.serviceVip('demo', 'near'), 80);
      t.equal(r['ok'], true, JSON.stringify(r));
      t.equal(r['seen'], client);
    });

    await t.test('a plaintext client of a PERMISSIVE workload on another node', async (t) => {
      const r = await ask(lab, 'outsider', lab.podAddress('far'), 8080);
      t.equal(r['ok'], true, JSON.stringify(r));
      t.equal(r['seen'], lab.podAddress('outsider'));
    });

    await t.test('attack: a peer with a real certificate claims another workload\'s address', async (t) => {
      // node1's client identity, honest about its pod, then claiming near's (another identity)
      // and far's own address (the destination's), and one no workload has.
      const claims = [client, lab.podAddress('near'), lab.podAddress('far'), '198.18.9.99'];
      const r = await lab.runNode('node1', SPOOF, [
        join(lab.dir, 'state', 'ca'), lab.nodeAddress('node2'), '15008', 'spiffe://cluster.local/ns/demo/sa/client', 'spiffe://cluster.local/ns/demo/sa/far',
        `${lab.podAddress('far')}:8080`, ...claims,
      ], { timeoutMs: 40_000 });
      const seen = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as Record<string, string>;
      t.equal(seen[client], client, 'the honest claim is preserved (the probe works)');
      for (const lie of claims.slice(1)) t.equal(seen[lie], lab.nodeAddress('node2'), `claiming ${lie}: the workload sees the agent's address`);
      const log = lab.agentLog('node2');
      t.match(log, /"reason":"identity_mismatch"/, 'the refused claim is logged with its reason');
      const counts = await sourceOutcomes(lab, 'node2');
      t.equal(counts['identity_mismatch'], 2, 'near\'s and far\'s addresses: counted');
      t.equal(counts['unknown_source'], 1, 'an address no workload has: counted');
      t.ok((counts['preserved'] ?? 0) >= 4, `preserved connections counted (${counts['preserved']})`);
    });

    await t.test('the return path is in place and in sync on both nodes', async (t) => {
      for (const node of ['node1', 'node2']) {
        const mangle = await lab.exec(node, 'iptables-save', ['-t', 'mangle']);
        t.match(mangle.stdout, /-A MESHLET_RETURN -p tcp -m socket --transparent -j MARK --set-xmark 0x1000\/0x1000/, `${node}: mark rule`);
        const rules = await lab.exec(node, 'ip', ['rule', 'show']);
        t.match(rules.stdout, /fwmark 0x1000\/0x1000 lookup 1533/, `${node}: ip rule`);
      }
    });

    await t.test('drift detection sees a removed piece of the return path; meshlet status shows preservation', async (t) => {
      const status = async (): Promise<Json> => {
        const r = await lab.exec('node2', process.execPath, [CLI, 'status', '-o', 'json', '--admin-token-file', lab.adminTokenFile('node2')], { timeoutMs: 20_000 });
        return JSON.parse(r.stdout) as Json;
      };
      const before = await status();
      t.same(before['sourcePreservation'], { configured: 'on', active: true });
      t.equal((before['iptables'] as Json)['inSync'], true);
      const rule = ['fwmark', '0x1000/0x1000', 'lookup', '1533', 'pref', '32000'];
      t.equal((await lab.exec('node2', 'ip', ['rule', 'del', ...rule])).code, 0);
      const after = (await status())['iptables'] as Json;
      t.equal(after['inSync'], false);
      const detail = after['detail'] as { returnPath?: { ipv4?: { missing?: string[] } } };
      t.same(detail.returnPath?.ipv4?.missing, ['ip rule add fwmark 0x1000/0x1000 lookup 1533 pref 32000']);
      t.equal((await lab.exec('node2', 'ip', ['rule', 'add', ...rule])).code, 0, 'put back for the next steps');
    });

    await t.test('with --preserve-source off the workload sees the agent again', async (t) => {
      preserve = 'off';
      // An upgrade makes a new agent process with the command as it is now.
      for (const node of ['node1', 'node2']) await (await lab.upgradeAgent(node)).oldExited;
      const cross = await ask(lab, 'client', lab.podAddress('far'), 8080);
      t.equal(cross['ok'], true, JSON.stringify(cross));
      t.not(cross['seen'], client, `seen ${String(cross['seen'])}`);
      const same = await ask(lab, 'client', lab.serviceVip('demo', 'near'), 80);
      t.equal(same['ok'], true, JSON.stringify(same));
      t.not(same['seen'], client, `seen ${String(same['seen'])}`);
    });
  });
});
