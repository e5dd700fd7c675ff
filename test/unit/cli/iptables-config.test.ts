import t from 'tap';
import { fileURLToPath } from 'node:url';
import { captureSpecFromOptions } from '../../../src/cli/iptables-command.js';

const FIXTURES = fileURLToPath(new URL('../../../../test/fixtures/mesh/', import.meta.url));

t.test('--config and --node capture the node\'s meshed workloads, as the agent would', async (t) => {
  const spec = await captureSpecFromOptions({ config: `${FIXTURES}two-node`, node: 'node-a' });
  t.same([...spec.workloadIps].sort(), ['198.18.1.10', '198.18.1.11', '198.18.1.20', 'fd00:198:18:1::20'].sort());
  const other = await captureSpecFromOptions({ config: `${FIXTURES}two-node`, node: 'node-b', workloadIp: ['198.18.2.99'] });
  t.ok(other.workloadIps.includes('198.18.2.99'), '--workload-ip adds to the config');
  t.notOk(other.workloadIps.includes('198.18.1.10'), 'another node\'s workloads are not captured');
});

t.test('--config without --node, and a bad directory, are usage errors naming the problem', async (t) => {
  await t.rejects(captureSpecFromOptions({ config: `${FIXTURES}two-node` }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--config and --node go together/ });
  await t.rejects(captureSpecFromOptions({ config: `${FIXTURES}duplicate-pod-ip`, node: 'node-a' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /198\.18\.1\.50/ });
});
