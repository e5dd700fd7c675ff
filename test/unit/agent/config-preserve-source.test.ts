/** `--preserve-source on|off` (env MESHLET_PRESERVE_SOURCE): on by default, off with --no-iptables unless asked, else an error. */
import t from 'tap';
import { loadAgentConfig } from '../../../src/agent/config.js';

const base = { node: 'node1', config: '/etc/meshlet' };

t.test('defaults follow who manages the rules', async (t) => {
  t.equal(loadAgentConfig(base, {}).preserveSource, 'on', 'the agent applies the return path with its rules');
  t.equal(loadAgentConfig({ ...base, iptables: false }, {}).preserveSource, 'off', 'with --no-iptables nobody applies the return path');
  t.equal(loadAgentConfig({ ...base, iptables: false, preserveSource: 'on' }, {}).preserveSource, 'on', 'unless asked for');
});

t.test('flag and environment', async (t) => {
  t.equal(loadAgentConfig({ ...base, preserveSource: 'off' }, {}).preserveSource, 'off');
  t.equal(loadAgentConfig(base, { MESHLET_PRESERVE_SOURCE: 'off' }).preserveSource, 'off', 'from the environment');
  t.equal(loadAgentConfig({ ...base, preserveSource: 'on' }, { MESHLET_PRESERVE_SOURCE: 'off' }).preserveSource, 'on', 'the flag wins');
});

t.test('anything else names the flag and the value', async (t) => {
  t.throws(() => loadAgentConfig({ ...base, preserveSource: 'yes' }, {}), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--preserve-source.*yes/ });
});
