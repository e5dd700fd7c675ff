/**
 * `meshlet check` on a lab node, where an SRE runs it (the node's network namespace, its agent's
 * loopback admin port): ✔ on a healthy node (the controller's debug port, on the controller's
 * own loopback, is out of reach from a node: a warning, not a failure), then ✖ naming the fault
 * for capture rules changed by hand, and for the controller stopped (the node's agent lost its
 * link). Exit 1 from the first failure.
 */
import t from 'tap';
import { join } from 'node:path';
import { REPO_ROOT, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

const topology: LabTopology = {
  name: `ck${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] }],
};

interface Result { readonly name: string; readonly outcome: string; readonly detail: string }

t.test('meshlet check on a lab node: healthy, then drift and a stopped controller named', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, { controller: true }, async (lab) => {
    const check = async (): Promise<{ code: number; results: Result[]; raw: string }> => {
      const r = await lab.exec('node1', process.execPath, [CLI, 'check', '-o', 'json', '--admin-token-file', lab.adminTokenFile('node1')], { timeoutMs: 30_000 });
      let results: Result[] = [];
      try {
        results = JSON.parse(r.stdout) as Result[];
      } catch {
        // left empty: the assertions below fail, naming the output
      }
      return { code: r.code ?? -1, results, raw: r.stdout + r.stderr };
    };
    const failed = (results: readonly Result[]): string[] => results.filter((r) => r.outcome === 'fail').map((r) => r.name);

    const healthy = await check();
    t.equal(healthy.code, 0, `a healthy node passes (${healthy.raw})`);
    t.same(failed(healthy.results), [], 'nothing fails');
    t.same(healthy.results.filter((r) => r.outcome === 'ok').map((r) => r.name), ['agent', 'snapshot', 'certificates', 'capture rules', 'controller link', 'ready']);
    t.match(healthy.results.find((r) => r.name === 'controller'), { outcome: 'warn', detail: /^not checked/ }, 'the controller\'s loopback debug port is out of reach from a node');

    // Drift: one of the agent's rules removed by hand in the lab node's namespace.
    const save = await lab.exec('node1', 'iptables-save', ['-t', 'nat']);
    const rule = save.stdout.split('\n').find((l) => l.startsWith('-A MESHLET_PREROUTING -s '));
    t.ok(rule, 'found a capture rule to delete');
    await lab.exec('node1', 'iptables', ['-t', 'nat', '-D', ...(rule as string).slice(3).split(' ')]);
    const drifted = await check();
    t.equal(drifted.code, 1, 'drift fails the check');
    t.same(failed(drifted.results), ['capture rules'], 'named as such');

    // The controller stopped: the node's agent keeps serving but lost its link.
    await lab.stopController();
    let down = await check();
    for (let i = 0; i < 100 && !failed(down.results).includes('controller link'); i++) {
      await new Promise((r) => setTimeout(r, 200));
      down = await check();
    }
    t.equal(down.code, 1, 'a lost controller link fails the check');
    t.ok(failed(down.results).includes('controller link'), `the controller link is named (${down.raw})`);
  });
});
