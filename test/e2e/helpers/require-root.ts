/**
 * The gate of every namespace (e2e) test: are we root, and can this host make network
 * namespaces? When not, the test says so loudly and skips, and in CI (`CI=true`) a skip is a
 * failure, because a skipped namespace suite looks like a pass.
 *
 * @module
 */

import { spawnSync } from 'node:child_process';

/** The part of a tap test this helper uses (the root `t` or a subtest). */
export interface GateableTest {
  fail(message: string): boolean;
  plan(n: number, comment?: string): void;
}

let cached: string | null | undefined;

function run(args: readonly string[]): { ok: boolean; why: string } {
  const res = spawnSync('ip', [...args], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
  if (res.error !== undefined) return { ok: false, why: `ip ${args.join(' ')}: ${res.error.message}` };
  if (res.status !== 0) return { ok: false, why: `ip ${args.join(' ')} exited ${res.status}: ${res.stderr.trim()}` };
  return { ok: true, why: '' };
}

/** Why namespace tests cannot run here, or null when they can. Probed once per process. */
export function namespacesUnavailableReason(): string | null {
  if (cached !== undefined) return cached;
  cached = probe();
  return cached;
}

function probe(): string | null {
  if (process.platform !== 'linux') return `platform is ${process.platform}, network namespaces need Linux`;
  if (process.getuid?.() !== 0) return `not root (uid ${process.getuid?.()}); run the namespace tests as root`;
  const list = run(['netns', 'list']);
  if (!list.ok) return `ip does not work: ${list.why} (install iproute2: npm run setup-host)`;
  // A real probe: root in a container without CAP_SYS_ADMIN cannot make namespaces.
  const name = `ml-probe${process.pid}`;
  const add = run(['netns', 'add', name]);
  if (!add.ok) return `cannot create a network namespace: ${add.why}`;
  run(['netns', 'del', name]);
  return null;
}

/**
 * True when namespace tests can run. Otherwise prints `NAMESPACE TESTS NOT RUN: <why>` to
 * stderr and fails the test when `process.env.CI === 'true'`, or skips it (`plan(0)`) outside
 * CI; the caller then returns at once:
 *
 * ```ts
 * t.test('pods talk', async (t) => { if (!requireNamespaces(t)) return; ... });
 * ```
 */
export function requireNamespaces(t: GateableTest): boolean {
  const why = namespacesUnavailableReason();
  if (why === null) return true;
  console.error(`NAMESPACE TESTS NOT RUN: ${why}`);
  if (process.env['CI'] === 'true') t.fail(`namespace tests must run in CI: ${why}`);
  else t.plan(0, `NAMESPACE TESTS NOT RUN: ${why}`);
  return false;
}
