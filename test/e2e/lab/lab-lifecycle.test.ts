import t from 'tap';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MeshletError } from '../../../src/mesh/errors.js';
import { Lab, listLabNetns, withLab, type LabTopology } from '../../../src/lab/index.js';
import { runCommand } from '../../../src/lab/host-command.js';
import { parsePids } from '../../../src/lab/netns-cleanup.js';
import { waitFor } from '../../helpers/wait-for.js';
import { requireNamespaces } from '../helpers/require-root.js';

function small(name: string): LabTopology {
  return {
    name,
    nodes: [{ name: 'n1' }, { name: 'n2' }],
    namespaces: [{ name: 'app', labels: {} }],
    pods: [
      { name: 'p1', namespace: 'app', node: 'n1' },
      { name: 'p2', namespace: 'app', node: 'n2' },
    ],
    services: [],
  };
}

/** Whether `pid` runs inside `netns` (after `ip netns exec` has entered it). */
async function runsIn(netns: string, pid: number | undefined): Promise<boolean> {
  const res = await runCommand('ip', ['netns', 'pids', netns]);
  return pid !== undefined && parsePids(res.stdout).includes(pid);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

t.test('down removes every namespace, the processes and the directory; twice is fine', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up(small('tdown'), { agents: false });
  t.teardown(() => lab.down());
  t.same((await listLabNetns('tdown')).sort(), ['ml-tdown-fabric', 'ml-tdown-n1', 'ml-tdown-n2', 'ml-tdown-p1', 'ml-tdown-p2']);
  t.ok(existsSync(join(lab.dir, 'lab.json')), 'lab.json written');
  const sleeper = lab.spawn('p1', 'sleep', ['300']);
  await waitFor('the process in the pod namespace', () => runsIn('ml-tdown-p1', sleeper.pid));
  t.type(sleeper.pid, 'number', 'the process in the pod has a pid');
  t.equal(sleeper.pid === undefined ? undefined : alive(sleeper.pid), true, 'a process runs in the pod');
  const exited = once(sleeper, 'exit');
  await lab.down();
  await exited;
  t.same(await listLabNetns('tdown'), [], 'no ml-tdown-* namespace left');
  t.notOk(existsSync(lab.dir), 'lab directory removed');
  const again = lab.down();
  t.equal(again, lab.down(), 'a later down is the first one');
  await again;
  t.same(await listLabNetns('tdown'), [], 'and it leaves nothing behind either');
});

t.test('down can keep the logs', async (t) => {
  if (!requireNamespaces(t)) return;
  const lab = await Lab.up(small('tkeep'), { agents: false });
  t.teardown(async () => {
    await lab.down();
    const { rmSync } = await import('node:fs');
    rmSync(lab.dir, { recursive: true, force: true });
  });
  await lab.down({ keepLogs: true });
  t.ok(existsSync(join(lab.dir, 'logs')), 'logs/ kept');
  t.notOk(existsSync(join(lab.dir, 'lab.json')), 'lab.json removed, so the lab is not listed as up');
  t.same(await listLabNetns('tkeep'), []);
});

t.test('up removes a stale lab of the same name left by a killed run', async (t) => {
  if (!requireNamespaces(t)) return;
  const first = await Lab.up(small('tstale'), { agents: false });
  const sleeper = first.spawn('p2', 'sleep', ['300']);
  const exited = once(sleeper, 'exit');
  // Inside the namespace before the stale lab is removed: otherwise `ip netns exec` could find
  // the namespace gone and exit 1 on its own, and the kill would go untested.
  await waitFor('the process in the pod namespace', () => runsIn('ml-tstale-p2', sleeper.pid));
  writeFileSync(join(first.dir, 'leftover'), 'x');
  // "Forget" `first`: as if its process had been SIGKILLed. Only the kernel objects remain.
  const second = await Lab.up(small('tstale'), { agents: false });
  t.teardown(() => second.down());
  const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
  t.same({ code, signal }, { code: null, signal: 'SIGKILL' }, 'the process of the stale lab was killed');
  t.notOk(existsSync(join(second.dir, 'leftover')), 'the stale lab directory was replaced');
  const res = await second.exec('p1', 'ip', ['-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  t.match(res.stdout, /198\.18\.1\.10\/32/, 'the new lab is built and usable');
  t.equal((await listLabNetns('tstale')).length, 5, 'one set of namespaces');
});

t.test('an invalid topology touches nothing', async (t) => {
  if (!requireNamespaces(t)) return;
  const bad: LabTopology = { ...small('tbad'), pods: [{ name: 'p1', namespace: 'nope', node: 'n9' }] };
  const err: unknown = await Lab.up(bad, { agents: false }).then(() => undefined, (e: unknown) => e);
  t.type(err, MeshletError);
  t.match(err, { code: 'MESHLET_ERR_LAB' });
  t.match((err as Error).message, /node "n9" is not in nodes/, 'names the bad reference');
  t.match((err as Error).message, /namespace "nope" is not in namespaces/, 'and every other problem');
  t.same(await listLabNetns('tbad'), [], 'no namespace created');
});

t.test('withLab tears down when the callback throws', async (t) => {
  if (!requireNamespaces(t)) return;
  let dir = '';
  const listeners = process.listenerCount('SIGINT');
  await t.rejects(
    withLab(small('texc'), { agents: false }, async (lab) => {
      dir = lab.dir;
      t.equal((await listLabNetns('texc')).length, 5, 'lab is up inside the callback');
      throw new Error('boom');
    }),
    /boom/,
  );
  t.same(await listLabNetns('texc'), [], 'namespaces removed');
  t.notOk(existsSync(dir), 'directory removed');
  t.equal(process.listenerCount('SIGINT'), listeners, 'signal handlers removed');
});

t.test('withLab returns what the callback returns and cleans up', async (t) => {
  if (!requireNamespaces(t)) return;
  const address = await withLab(small('tret'), { agents: false }, async (lab) => lab.podAddress('p2'));
  t.equal(address, '198.18.2.10');
  t.same(await listLabNetns('tret'), []);
});
