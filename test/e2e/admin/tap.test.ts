/**
 * `meshlet tap` against a real agent in a lab node, run where an SRE runs it (the node's
 * network namespace, the agent's loopback admin port; the lab's agents run their data path
 * in worker processes): a connection a pod opens while it runs shows, open then close, and a
 * tap whose filter the connection does not match shows nothing of it, only the failed
 * connection that follows.
 */
import t from 'tap';
import { once } from 'node:events';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { REPO_ROOT, withLab, type Lab, type LabTopology } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';
import { waitFor } from '../../helpers/wait-for.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');
const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');

const topology: LabTopology = {
  name: `tp${process.pid % 100000}`,
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  namespaces: [{ name: 'demo', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'client', namespace: 'demo', node: 'node1', serviceAccount: 'client', labels: { app: 'client' } },
    { name: 'server', namespace: 'demo', node: 'node2', serviceAccount: 'server', labels: { app: 'server' } },
  ],
  services: [{ name: 'server', namespace: 'demo', selector: { app: 'server' }, ports: [{ port: 80, targetPort: 8080 }] }],
};

type Line = Record<string, unknown>;

/** A `meshlet tap` running on a node: its JSON lines as they come, and its exit code. */
function startTap(lab: Lab, node: string, args: string[]): { lines: Line[]; stderr: () => string; exited: Promise<number | null> } {
  // --duration bounds it whatever happens; the tests end it sooner with --max.
  const child: ChildProcess = lab.spawn(node, process.execPath, [CLI, 'tap', '-o', 'json', '--duration', '120', '--admin-token-file', lab.adminTokenFile(node), ...args]);
  const lines: Line[] = [];
  let rest = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    rest += d;
    let nl: number;
    while ((nl = rest.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(rest.slice(0, nl)) as Line);
      rest = rest.slice(nl + 1);
    }
  });
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  return { lines, stderr: () => err, exited };
}

async function startServer(lab: Lab): Promise<ChildProcess> {
  const child = lab.spawnNode('server', PEER, ['server', '8080']);
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  if (!line.toString().includes('listening')) throw new Error(`server: ${line.toString()}`);
  return child;
}

const events = (lines: Line[]): Line[] => lines.filter((l) => !String(l['type']).startsWith('tap.'));

t.test('meshlet tap on a lab node shows a connection opened while it runs; filters hide the rest', async (t) => {
  if (!requireNamespaces(t)) return;
  await withLab(topology, { controller: true }, async (lab) => {
    const server = await startServer(lab);
    const vip = lab.serviceVip('demo', 'server');
    const mine = startTap(lab, 'node1', ['--workload', 'demo/client', '--kind', 'connection', '--max', '2']);
    const failed = startTap(lab, 'node1', ['--outcome', 'failed', '--max', '1']);
    await waitFor('both taps have started', () => mine.lines.length > 0 && failed.lines.length > 0, { timeoutMs: 30_000 });
    t.match(mine.lines[0], { type: 'tap.start', filter: { workload: 'demo/client', kind: 'connection' } });
    t.ok(Number(mine.lines[0]?.['processes']) >= 1, 'at least one data-path process tapped');

    const ok = await lab.runNode('client', PEER, ['ping', vip, '80'], { timeoutMs: 30_000 });
    t.match(ok.stdout, /"ok":true/, 'the ping went through the mesh');
    t.equal(await mine.exited, 0, `the tap exited 0 after its two events (${mine.stderr()})`);
    const seen = events(mine.lines);
    t.same(seen.map((e) => e['type']), ['connection.open', 'connection.close'], 'an open, then a close');
    t.match(seen[1], { direction: 'outbound', src_workload: 'Pod/demo/client', service: 'demo/server', outcome: 'ok', security_policy: 'mutual_tls' });
    t.equal(seen[1]?.['id'], seen[0]?.['id'], 'of the same connection');
    t.equal(seen[1]?.['worker'], seen[0]?.['worker'], 'carried by one process');

    // Now one that fails (nothing listens behind the Service): the failed-only tap shows it, and nothing before it.
    server.kill();
    await once(server, 'exit');
    const refused = await lab.runNode('client', PEER, ['ping', vip, '80'], { timeoutMs: 30_000 });
    t.match(refused.stdout, /"ok":false/, 'with no server the ping fails');
    t.equal(await failed.exited, 0, `the failed-only tap exited 0 after its event (${failed.stderr()})`);
    const shown = events(failed.lines);
    t.equal(shown.length, 1, 'one event');
    t.equal(shown[0]?.['type'], 'connection.close', 'a close (an open has no outcome yet)');
    t.not(shown[0]?.['outcome'], 'ok', `a failure (${String(shown[0]?.['outcome'])}, flags ${String(shown[0]?.['response_flags'])})`);
    t.not(`${String(shown[0]?.['worker'])}/${String(shown[0]?.['id'])}`, `${String(seen[1]?.['worker'])}/${String(seen[1]?.['id'])}`, 'not the ok connection before it');
  });
});
