/**
 * The route of `--node NAME`: through Kubernetes whenever a kubeconfig is there; without one
 * (a systemd host) only this host, by its name or short name, on its local port; another host
 * is an error saying what to do, a name that is no node name a usage error.
 */
import t from 'tap';
import { nodeRoute } from '../../../src/cli/admin-session.js';

t.test('with a kubeconfig, every node goes through Kubernetes', async (t) => {
  t.equal(nodeRoute('node-a', 'laptop', true), 'kubernetes');
  t.equal(nodeRoute('laptop', 'laptop', true), 'kubernetes', 'this host too: the agent may be a pod');
});

t.test('without one, this host is its local port, by its name or short name', async (t) => {
  t.equal(nodeRoute('web-1', 'web-1', false), 'local');
  t.equal(nodeRoute('web-1', 'web-1.example.org', false), 'local');
  t.equal(nodeRoute('web-1.example.org', 'web-1.example.org', false), 'local');
  t.equal(nodeRoute('web-1', 'Web-1', false), 'local', 'a host name in capitals is the lowercase node name');
});

t.test('without one, another host is an error that says what to do', async (t) => {
  t.throws(() => nodeRoute('web-2', 'web-1', false), { code: 'MESHLET_ERR_NODE_AGENT', message: /no kubeconfig .* and web-2 is not this host \(web-1\): on a systemd node, run the command there \(ssh web-2\)/ });
});

t.test('a name that is no node name is a usage error', async (t) => {
  // The name goes into a field selector: a comma or '=' would add terms of its own.
  for (const bad of ['Node_A', '', '-a', 'a'.repeat(254), 'a b', 'node-a,metadata.name=x', 'node-a=x']) {
    t.throws(() => nodeRoute(bad, 'web-1', true), { code: 'MESHLET_ERR_CONFIG_INVALID' }, JSON.stringify(bad).slice(0, 20));
  }
});
