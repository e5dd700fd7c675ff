/**
 * `meshlet check --pre` run for real inside a lab node's network namespace (made by the test,
 * so the host is not read or changed): it passes on the fresh node, and names the port when a
 * process holds one of the agent's; its scratch namespace for the nat probe is gone after.
 */
import t from 'tap';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

const topology: LabTopology = {
  name: `chk${process.pid % 100000}`,
  nodes: [{ name: 'node1' }],
  namespaces: [],
  pods: [],
  services: [],
};

t.test('check --pre on a lab node: ✔, then ✖ naming a port another process holds', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, { agents: false }, async (lab) => {
    const ok = await lab.exec('node1', process.execPath, [CLI, 'check', '--pre'], { timeoutMs: 60_000 });
    t.equal(ok.code, 0, ok.stdout + ok.stderr);
    t.match(ok.stdout, /^✔ nat table: a REDIRECT rule loads/m);
    t.match(ok.stdout, /^✔ port 15008: free on 0\.0\.0\.0/m);
    t.match(ok.stdout, /Status check results are ✔/);

    const holder = lab.spawn('node1', process.execPath, ['-e', "require('net').createServer().listen(15008, '0.0.0.0', () => console.log('listening')); setTimeout(() => process.exit(0), 60000)"]);
    await once(holder.stdout!, 'data');
    const busy = await lab.exec('node1', process.execPath, [CLI, 'check', '--pre', '-o', 'json'], { timeoutMs: 60_000 });
    holder.kill('SIGKILL');
    t.equal(busy.code, 1, 'a port in use fails the check');
    const results = JSON.parse(busy.stdout) as Array<{ name: string; outcome: string; detail: string }>;
    t.match(results.find((r) => r.name === 'port 15008'), { outcome: 'fail', detail: /EADDRINUSE/ });
    t.same(results.filter((r) => r.outcome === 'fail').map((r) => r.name), ['port 15008'], 'nothing else');

    const left = await lab.exec('node1', 'ip', ['netns', 'list']);
    t.notMatch(left.stdout, /meshlet-check-/, 'the scratch namespace is removed');
  });
});
