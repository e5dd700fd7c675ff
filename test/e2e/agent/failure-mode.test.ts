/**
 * The agent's failure mode, in a lab: node1's agent fails open (lifts its rules when it
 * stops), node2's fails closed (the default: rules stay, meshed traffic is refused).
 */
import t from 'tap';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, defaultAgentCommand, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');

const topology: LabTopology = {
  name: `fm${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [],
};

async function ping(lab: Lab, host: string): Promise<boolean> {
  const r = await lab.runNode('client', PEER, ['ping', host, '8080'], { timeoutMs: 15_000 });
  return r.stdout.includes('"ok":true');
}

async function meshletRules(lab: Lab, node: string): Promise<boolean> {
  return (await lab.exec(node, 'iptables-save', ['-t', 'nat'])).stdout.includes('MESHLET');
}

t.test('fail open lifts the rules while the agent is down; fail closed refuses', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(
    topology,
    {
      agentCommand: (node, ctx) => {
        const base = defaultAgentCommand(node, ctx);
        return { ...base, args: [...base.args, '--failure-mode', node === 'node1' ? 'open' : 'closed', '--drain-seconds', '2'] };
      },
    },
    async (lab) => {
      const server = lab.spawnNode('server', PEER, ['server', '8080']);
      await once(server.stdout!, 'data');
      const serverIp = lab.podAddress('server');
      t.ok(await ping(lab, serverIp), 'meshed traffic flows');

      await lab.stopAgent('node1', 'SIGTERM');
      t.notOk(await meshletRules(lab, 'node1'), 'fail open: node1 lifted its rules when its agent stopped');
      t.ok(await ping(lab, serverIp), 'fail open: traffic flows unmeshed while the agent is down');
      t.match(lab.agentLog('node1'), /fail-open: capture rules lifted/);
      await lab.startAgent('node1');
      t.ok(await meshletRules(lab, 'node1'), 'rules are back with the agent');
      t.ok(await ping(lab, serverIp), 'and traffic is meshed again');

      await lab.stopAgent('node2', 'SIGTERM');
      t.ok(await meshletRules(lab, 'node2'), 'fail closed: node2 kept its rules');
      t.notOk(await ping(lab, serverIp), 'fail closed: meshed traffic to node2 is refused while its agent is down');
      await lab.startAgent('node2');
      t.ok(await ping(lab, serverIp), 'back when the agent is');
    },
  );
});
