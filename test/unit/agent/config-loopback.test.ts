/** `loopbackWorkloads`: a test-only switch, off by default, never from the environment. */
import t from 'tap';
import { loadAgentConfig } from '../../../src/agent/config.js';

const base = { node: 'node1', config: '/etc/meshlet/mesh' };

t.test('off by default', async (t) => {
  t.equal(loadAgentConfig(base, {}).loopbackWorkloads, false);
});

t.test('on only when a caller passes the flag as true', async (t) => {
  t.equal(loadAgentConfig({ ...base, loopbackWorkloads: true }, {}).loopbackWorkloads, true);
  t.equal(loadAgentConfig({ ...base, loopbackWorkloads: 'true' }, {}).loopbackWorkloads, false, 'a string (as from a command line) is not true');
});

t.test('no environment variable turns it on', async (t) => {
  const env = { MESHLET_LOOPBACK_WORKLOADS: 'true', MESHLET_ALLOW_LOOPBACK: '1', LOOPBACK_WORKLOADS: 'true' };
  t.equal(loadAgentConfig(base, env).loopbackWorkloads, false);
});
