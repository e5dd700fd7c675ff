/**
 * The SRE commands against a real agent in a lab node, run where an SRE runs them: on the
 * node (its network namespace), talking to the agent's loopback admin port.
 */
import t from 'tap';
import { join } from 'node:path';
import { REPO_ROOT, withLab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

const topology: LabTopology = {
  name: `sr${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] }],
};

/** A CLI call that has not ended by then is hung. */
const CLI_BOUND_MS = 90_000;

t.test('meshlet status, proxy-config and log-level on a lab node', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, { controller: true }, async (lab) => {
    // The agent's token file: in a lab each node's is in the lab directory (a real node: /run/meshlet/admin-token).
    // The bound only stops a hung command: five CLI processes start at once beside the lab's
    // agents and controller, which on a 2-core machine under stress-ng took over 20 s each.
    const run = (args: string[]) => lab.exec('node1', process.execPath, [CLI, ...args, '--admin-token-file', lab.adminTokenFile('node1')], { timeoutMs: CLI_BOUND_MS });
    // The read-only calls and the refused ones change nothing on the node: run them together.
    const [status, workloads, table, noToken, unreachable] = await Promise.all([
      run(['status']),
      run(['proxy-config', 'workloads', '-o', 'json']),
      run(['proxy-config', 'services']),
      lab.exec('node1', process.execPath, [CLI, 'log-level', 'info', '--admin-token-file', `${lab.adminTokenFile('node1')}.missing`], { timeoutMs: CLI_BOUND_MS }),
      lab.exec('node2', process.execPath, [CLI, 'status', '--admin', '127.0.0.1:1'], { timeoutMs: CLI_BOUND_MS }),
    ]);
    t.equal(status.code, 0, `status exits 0 on a healthy node (${status.stdout}${status.stderr})`);
    t.match(status.stdout, /healthy/);
    t.match(status.stdout, /controller\s+connected/, 'the controller connection is shown');
    t.match(status.stdout, /iptables\s+in sync/);

    t.equal(workloads.code, 0, workloads.stderr);
    t.match(workloads.stdout, /Pod\/demo\/client/, 'the local workload is listed');
    t.equal(table.code, 0, table.stderr);
    t.match(table.stdout, /demo\/server/);
    t.ok(table.stdout.split('\n').every((l) => l.length <= 100), 'the table fits 100 columns');

    const level = await run(['log-level', 'debug', '--component', 'outbound']);
    t.equal(level.code, 0, level.stderr);
    const dump = await run(['proxy-config', 'config', '-o', 'json']);
    t.equal(dump.code, 0, dump.stderr);

    // Drift: remove one of the agent's rules by hand; status turns unhealthy (exit 2).
    const save = await lab.exec('node1', 'iptables-save', ['-t', 'nat']);
    const rule = save.stdout.split('\n').find((l) => l.startsWith('-A MESHLET_PREROUTING -s '));
    t.ok(rule, 'found a capture rule to delete');
    await lab.exec('node1', 'iptables', ['-t', 'nat', '-D', ...(rule as string).slice(3).split(' ')]);
    const drifted = await run(['status']);
    t.equal(drifted.code, 2, `status exits 2 when the rules drifted (${drifted.stdout})`);
    t.match(drifted.stdout, /UNHEALTHY/);

    t.equal(noToken.code, 1, 'without the admin token log-level exits 1');
    t.match(noToken.stderr, /answered 401: cannot read the admin token file/);

    t.equal(unreachable.code, 1, 'an unreachable admin port exits 1');
  });
});
