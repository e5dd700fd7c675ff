/**
 * The lab's default agent command line: in controller mode each agent gets its own state
 * directory (its persisted snapshot), never the host's /var/lib/meshlet (issue 9, finding 8).
 */
import t from 'tap';
import { loadAgentConfig } from '../../../src/agent/config.js';
import { defaultAgentCommand, type AgentContext } from '../../../src/lab/index.js';
import { argsToFlags } from '../install/install-files.js';

const base: AgentContext = {
  node: 'node-a', netns: 'meshlet-lab-node-a', nodeAddress: '10.77.0.11', labDir: '/run/meshlet/lab/l',
  configDir: '/run/meshlet/lab/l/config', stateDir: '/run/meshlet/lab/l/state', logFile: '/run/meshlet/lab/l/logs/node-a.log',
  adminTokenFile: '/run/meshlet/lab/l/admin/node-a.token', agentStateDir: '/run/meshlet/lab/l/state/agents/node-a',
};

function configOf(ctx: AgentContext) {
  const args = defaultAgentCommand(ctx.node, ctx).args;
  t.equal(args[1], 'agent');
  return loadAgentConfig(argsToFlags(args.slice(2)), {});
}

t.test('controller mode: the node\'s own state directory', async (t) => {
  const ctx: AgentContext = { ...base, controller: { address: '10.77.0.1:15012', caFile: '/run/meshlet/lab/l/state/controller/ca/ca.crt', tokenFile: '/run/meshlet/lab/l/state/tokens/node-a' } };
  t.equal(configOf(ctx).stateDir, '/run/meshlet/lab/l/state/agents/node-a');
});

t.test('static mode: the lab\'s shared state directory (the CA)', async (t) => {
  t.equal(configOf(base).stateDir, '/run/meshlet/lab/l/state');
});
