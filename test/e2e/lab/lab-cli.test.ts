import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listLabNetns } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const CLI = fileURLToPath(new URL('../helpers/lab-cli.js', import.meta.url));

function cli(args: readonly string[]): { code: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, [CLI, 'lab', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

t.test('lab up --detach, status, exec, down', async (t) => {
  if (!requireNamespaces(t)) return;
  t.teardown(() => void cli(['down', '--name', 'tcli']));
  const up = cli(['up', '--name', 'tcli', '--no-agents', '--detach']);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stdout, /pod  client +198\.18\.1\.10 +demo\/client/, 'prints the pod addresses');
  t.match(up.stdout, /svc  demo\/server +198\.19\.0\.10 +80->8080/, 'and the Service VIP');
  t.match(up.stdout, /meshlet lab down --name tcli/);
  t.equal((await listLabNetns('tcli')).length, 6, 'fabric, 2 nodes, 3 pods');

  const status = cli(['status', '--name', 'tcli']);
  t.equal(status.code, 0, status.stderr);
  t.match(status.stdout, /namespaces present: 6\/6/);

  const addr = cli(['exec', 'client', '--name', 'tcli', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  t.equal(addr.code, 0, addr.stderr);
  t.match(addr.stdout, /198\.18\.1\.10\/32/, 'exec runs inside the pod');
  t.equal(cli(['exec', 'node2', '--name', 'tcli', '--', 'sh', '-c', 'exit 5']).code, 5, 'exit code passed through');
  const unknown = cli(['exec', 'nobody', '--name', 'tcli', '--', 'true']);
  t.equal(unknown.code, 64);
  t.match(unknown.stderr, /has no pod or node "nobody"/);

  const down = cli(['down', '--name', 'tcli']);
  t.equal(down.code, 0, down.stderr);
  t.match(down.stdout, /removed 6 namespaces/);
  t.same(await listLabNetns('tcli'), []);
  t.notOk(existsSync('/run/meshlet/lab/tcli'), 'directory removed');
  t.match(cli(['down', '--name', 'tcli']).stdout, /nothing was up/, 'down twice is fine');
  t.match(cli(['status', '--name', 'tcli']).stdout, /lab tcli: not up/);
});

t.test('lab up with a bad topology file exits 64 and builds nothing', async (t) => {
  if (!requireNamespaces(t)) return;
  const dir = t.testdir({});
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'name: tclibad\nnodes: [{name: n1}]\npods: [{name: p, namespace: ghost, node: n1}]\nextra: 1\n');
  const res = cli(['up', '--topology', file, '--no-agents', '--detach']);
  t.equal(res.code, 64);
  t.match(res.stderr, /topology\.extra: unknown field/);
  t.same(await listLabNetns('tclibad'), []);
});

t.test('lab up in the foreground stays until Ctrl-C, then tears down', async (t) => {
  if (!requireNamespaces(t)) return;
  const child = spawn(process.execPath, [CLI, 'lab', 'up', '--name', 'tclifg', '--nodes', '1', '--no-agents'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
    cli(['down', '--name', 'tclifg']);
  });
  let out = '';
  const ready = new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      if (out.includes('Ctrl-C')) resolve();
    }),
  );
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await ready;
  t.match(out, /pod  server +198\.18\.1\.11/, 'one node: the server runs on node1 too');
  t.equal((await listLabNetns('tclifg')).length, 5);
  const exited = once(child, 'exit');
  child.kill('SIGINT');
  const [code] = (await exited) as [number | null];
  clearTimeout(timer);
  t.equal(code, 130);
  t.same(await listLabNetns('tclifg'), [], 'torn down');
});
