import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { listLabNetns } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const HOLDER = fileURLToPath(new URL('../helpers/lab-holder.js', import.meta.url));

interface Held {
  code: number | null;
  signal: NodeJS.Signals | null;
  dir: string;
  stderr: string;
}

/** Runs lab-holder; calls `act` once its lab is up; resolves when it exited (bounded). */
async function hold(name: string, then: string, act: (pid: number) => void = () => undefined): Promise<Held> {
  const child = spawn(process.execPath, [HOLDER, '--name', name, '--then', then], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let dir = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  child.stdout.on('data', (d: Buffer) => {
    const line = d.toString('utf8').trim().split('\n')[0] ?? '';
    try {
      dir = (JSON.parse(line) as { dir: string }).dir;
    } catch {
      return;
    }
    if (child.pid !== undefined) act(child.pid);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  clearTimeout(timer);
  return { code, signal, dir, stderr };
}

for (const [name, sig, code] of [
  ['tsigterm', 'SIGTERM', 143],
  ['tsigint', 'SIGINT', 130],
  // tap's timeout of a test file
  ['tsigalrm', 'SIGALRM', 142],
] as const) {
  t.test(`${sig} to a process holding a lab tears it down`, async (t) => {
    if (!requireNamespaces(t)) return;
    const res = await hold(name, 'wait', (pid) => process.kill(pid, sig));
    t.equal(res.code, code, `exits with ${code} (${res.stderr})`);
    t.not(res.dir, '', 'the lab was up');
    t.same(await listLabNetns(name), [], 'no namespace left');
    t.notOk(existsSync(res.dir), 'directory removed');
  });
}

t.test('process.exit() inside the callback: the exit handler cleans up', async (t) => {
  if (!requireNamespaces(t)) return;
  const res = await hold('texit', 'exit');
  t.equal(res.code, 7, res.stderr);
  t.same(await listLabNetns('texit'), [], 'no namespace left');
  t.notOk(existsSync(res.dir), 'directory removed');
});

t.test('a throwing callback: cleaned up, error surfaces', async (t) => {
  if (!requireNamespaces(t)) return;
  const res = await hold('tthrow', 'throw');
  t.not(res.code, 0);
  t.match(res.stderr, /thrown on purpose/);
  t.same(await listLabNetns('tthrow'), [], 'no namespace left');
});
