/**
 * `meshlet lab up` on a terminal shows each long step (the network, each agent until ready) as
 * it runs and leaves ✔ lines for the steps done, ✖ for the step that failed; stdout says the
 * same as without a terminal. Root: it builds real namespaces (removed at the end).
 */
import t from 'tap';
import { Command, CommanderError } from 'commander';
import { registerLabCommand } from '../../../src/cli/lab-command.js';
import type { ProgressSink } from '../../../src/cli/progress.js';
import { DEFAULT_LAB_BASE_DIR } from '../../../src/lab/index.js';
import { downLabByName } from '../../../src/lab/lab-admin.js';
import { requireNamespaces } from '../helpers/require-root.js';

interface Run {
  out: string[];
  err: string[];
  progress: string[];
  code: number | undefined;
}

async function lab(args: readonly string[]): Promise<Run> {
  const run: Run = { out: [], err: [], progress: [], code: undefined };
  const progress: ProgressSink = { write: (s) => void run.progress.push(s), color: false };
  const program = new Command('meshlet').exitOverride();
  registerLabCommand(program, { print: (l) => void run.out.push(l), printError: (l) => void run.err.push(l), setExitCode: (c) => (run.code = c), progress });
  try {
    await program.parseAsync(['node', 'meshlet', 'lab', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return run;
}

/** The lines progress left (finished steps), without the in-place rewrites. */
const finished = (r: Run): string[] => r.progress.filter((p) => p.endsWith('\n')).map((p) => p.replace('\r\x1b[K', '').replace(/\(\d+\.\d+s\)\n$/, '(Ns)'));

t.test('lab up shows its steps, each finished with ✔', async (t) => {
  if (!requireNamespaces(t)) return;
  const name = `pg${process.pid % 1_000_000}`;
  t.teardown(() => downLabByName(name, { baseDir: DEFAULT_LAB_BASE_DIR }));
  const up = await lab(['up', '--name', name, '--nodes', '1', '--detach']);
  t.equal(up.code, undefined, up.err.join('\n'));
  t.same(finished(up), ['✔ building the network: 1 nodes, 3 pods (Ns)', '✔ starting the agent of node1 (1/1) and waiting until it is ready (Ns)']);
  t.equal(up.progress[0]?.startsWith('\r\x1b[K⠋ building the network'), true, 'the step is shown as it starts');
  t.match(up.out.join('\n'), /meshlet lab down --name pg\d+/);
});

t.test('a step that fails is left with ✖ before the error', async (t) => {
  if (!requireNamespaces(t)) return;
  const name = `pf${process.pid % 1_000_000}`;
  t.teardown(() => downLabByName(name, { baseDir: DEFAULT_LAB_BASE_DIR }));
  const up = await lab(['up', '--name', name, '--nodes', '1', '--detach', '--ready-timeout', '1']);
  t.equal(up.code, 1);
  t.same(finished(up), ['✔ building the network: 1 nodes, 3 pods (Ns)', '✖ starting the agent of node1 (1/1) and waiting until it is ready (Ns)']);
  t.match(up.err.join('\n'), /meshlet lab: /);
});
