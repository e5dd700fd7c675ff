/**
 * `npm start` runs `meshlet demo`: this runs the same walkthrough (with --exit, under another
 * lab name so a developer's running demo is left alone) and checks that every step behaved.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

t.test('the demo walkthrough passes and cleans up', async (t) => {
  if (!requireNamespaces(t)) return;
  const name = `dm${process.pid % 100000}`;
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'dist/src/cli/main.js'), 'demo', '--exit', '--name', name], {
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.slice(-2000)})`);
  t.match(r.stdout, /all checks behaved as expected/);
  t.match(r.stdout, /server got: hello over mTLS/);
  t.match(r.stdout, /legacy is now captured by its node agent/);
  const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`ml-${name}-`));
  t.same(left, [], 'no namespace left behind');
});
