/**
 * Which commands `meshlet` registers (and so which modules it loads) for its first argument:
 * the named command alone, the whole tree for no command, an unknown one, or `completion`.
 */
import t from 'tap';
import { buildProgram } from '../../../src/cli/program.js';

const names = async (first: string | undefined): Promise<string[]> => (await buildProgram(first)).commands.map((c) => c.name());

t.test('a named command is registered alone', async (t) => {
  t.same(await names('log-level'), ['log-level']);
  t.same(await names('agent'), ['agent'], 'a daemon too');
  t.same(await names('lab'), ['lab']);
});

t.test('no command, an unknown one, help and completion get the whole tree', async (t) => {
  const all = await names(undefined);
  t.ok(all.length >= 17, `${all.length} commands`);
  t.same(await names('statsu'), all, 'an unknown command: "did you mean" needs them all');
  t.same(await names('--help'), all);
  t.same(await names('help'), all);
  t.same(await names('completion'), all, 'completion prints scripts for every command');
});
