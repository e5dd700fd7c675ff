import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerLabCommand } from '../../../src/cli/lab-command.js';

/** Runs `meshlet lab ARGS` in-process; none of these cases may touch the kernel. */
async function run(args: readonly string[], baseDir: string): Promise<{ out: string[]; err: string[]; code: number | undefined }> {
  const out: string[] = [];
  const err: string[] = [];
  let code: number | undefined;
  const program = new Command('meshlet').exitOverride();
  registerLabCommand(program, { print: (l) => out.push(l), printError: (l) => err.push(l), setExitCode: (c) => (code = c), baseDir });
  await program.parseAsync(['lab', ...args], { from: 'user' });
  return { out, err, code };
}

t.test('usage errors exit 64 before anything is built', async (t) => {
  const dir = t.testdir({});
  const nodes = await run(['up', '--nodes', 'zero', '--no-agents'], dir);
  t.equal(nodes.code, 64);
  t.match(nodes.err.join('\n'), /node count must be a positive integer/);

  const timeout = await run(['up', '--ready-timeout', '-5'], dir);
  t.equal(timeout.code, 64);
  t.match(timeout.err.join('\n'), /--ready-timeout must be a positive number/);

  const name = await run(['up', '--name', 'Bad-Name', '--no-agents'], dir);
  t.equal(name.code, 64);
  t.match(name.err.join('\n'), /lab name "Bad-Name" must match/);

  const file = join(dir, 'topo.yaml');
  writeFileSync(file, 'name: x\nnodes: [{name: n1}]\npods: [{name: p, namespace: ghost, node: n1}]\n');
  const topo = await run(['up', '--topology', file], dir);
  t.equal(topo.code, 64);
  t.match(topo.err.join('\n'), /namespace "ghost" is not in namespaces/);
});

t.test('exec needs a lab that is up and a member of it', async (t) => {
  const dir = t.testdir({});
  const res = await run(['exec', 'client', '--name', 'nolab', '--', 'true'], dir);
  t.equal(res.code, 64);
  t.match(res.err.join('\n'), /lab nolab is not up/);
});

t.test('down refuses a name that is not a lab name (nothing is removed)', async (t) => {
  const dir = t.testdir({ keep: 'me' });
  const res = await run(['down', '--name', '../..'], dir);
  t.equal(res.code, 1);
  t.match(res.err.join('\n'), /lab name "\.\.\/\.\." must match/);
});
