import t from 'tap';
import { createCommandRunner, invocation, isValidNetnsName } from '../../../src/iptables/runner.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

const node = process.execPath;

t.test('invocation: plain, or prefixed with ip netns exec', async (t) => {
  t.same(invocation('iptables-save', ['-t', 'nat']), { file: 'iptables-save', args: ['-t', 'nat'] });
  t.same(invocation('iptables-save', ['-t', 'nat'], 'mlt-ipt-1'), {
    file: 'ip',
    args: ['netns', 'exec', 'mlt-ipt-1', 'iptables-save', '-t', 'nat'],
  });
});

t.test('netns names: no paths, no empties', async (t) => {
  for (const good of ['mlt-ipt-1', 'node_a', 'n.1']) t.ok(isValidNetnsName(good), good);
  for (const bad of ['', '.', '..', '../etc', 'a/b', 'a b', 'x'.repeat(65)]) t.notOk(isValidNetnsName(bad), JSON.stringify(bad));
  t.throws(() => createCommandRunner({ netns: '../x' }), { code: 'MESHLET_ERR_CONFIG_INVALID' });
});

t.test('stdin in, stdout and exit code out', async (t) => {
  const runner = createCommandRunner();
  const echo = await runner.run(node, ['-e', 'process.stdin.pipe(process.stdout)'], { stdin: '*nat\nCOMMIT\n' });
  t.same(echo, { code: 0, stdout: '*nat\nCOMMIT\n', stderr: '' });
  const failing = await runner.run(node, ['-e', 'console.error("Error occurred at line: 7"); process.exit(2)']);
  t.equal(failing.code, 2);
  t.equal(failing.stderr, 'Error occurred at line: 7\n');
});

t.test('a missing command resolves with 127, like a shell', async (t) => {
  const result = await createCommandRunner().run('meshlet-no-such-command-xyz', ['--version']);
  t.equal(result.code, 127);
  t.match(result.stderr, 'command not found');
});

t.test('a command that ignores its stdin does not crash the runner', async (t) => {
  const big = 'x'.repeat(4 * 1024 * 1024);
  const result = await createCommandRunner().run(node, ['-e', 'process.exit(3)'], { stdin: big });
  t.equal(result.code, 3);
});

t.test('a command past its time limit is killed and rejected', async (t) => {
  const runner = createCommandRunner({ timeoutMs: 300 });
  const started = Date.now();
  let caught: unknown;
  try {
    await runner.run(node, ['-e', 'setTimeout(() => {}, 20000)']);
  } catch (err) {
    caught = err;
  }
  t.ok(isMeshletError(caught, 'MESHLET_ERR_HOST_TOOL'), 'MESHLET_ERR_HOST_TOOL');
  t.match((caught as Error).message, 'still running after 300 ms');
  t.ok(Date.now() - started < 10_000, 'did not wait for the command');
});

t.test('a command killed by a signal reports 128 + signal', async (t) => {
  // sh, not node: under tap, child node processes inherit tap's signal handlers via NODE_OPTIONS.
  const result = await createCommandRunner().run('sh', ['-c', 'kill -TERM $$']);
  t.equal(result.code, 128 + 15);
});
