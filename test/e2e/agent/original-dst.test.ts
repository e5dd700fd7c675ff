/**
 * SO_ORIGINAL_DST through koffi against the real kernel, IPv4 and IPv6, on loopback inside a
 * namespace the test makes (nat OUTPUT REDIRECT there; nothing on the host is touched).
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const PROBE = join(REPO_ROOT, 'dist/test/e2e/agent/origdst-probe.js');

function sh(ns: string, cmd: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 15_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('original destination of redirected connections', async (t) => {
  if (!requireNamespaces(t)) return;
  const ns = `mlt-odst-${process.pid}`;
  spawnSync('ip', ['netns', 'del', ns]);
  t.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0, 'namespace made');
  t.teardown(() => void spawnSync('ip', ['netns', 'del', ns]));
  sh(ns, 'ip', ['link', 'set', 'lo', 'up']);

  await t.test('IPv4', async (t) => {
    // 127.0.0.1:9999 has no listener; the rule sends it to 127.0.0.1:15001.
    const rule = sh(ns, 'iptables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '127.0.0.1', '--dport', '9999', '-j', 'REDIRECT', '--to-ports', '15001']);
    t.equal(rule.code, 0, rule.stderr);
    const r = sh(ns, process.execPath, [PROBE, '127.0.0.1', '15001', '127.0.0.1', '9999']);
    const out = JSON.parse(r.stdout.trim() || '{}');
    t.same(out.dst, { address: '127.0.0.1', port: 9999, family: 4 }, r.stdout + r.stderr);
    t.equal(out.local.port, 15001, 'the connection really landed on the capture port');
  });

  await t.test('IPv6', async (t) => {
    const rule = sh(ns, 'ip6tables', ['-t', 'nat', '-A', 'OUTPUT', '-p', 'tcp', '-d', '::1', '--dport', '9998', '-j', 'REDIRECT', '--to-ports', '15002']);
    t.equal(rule.code, 0, rule.stderr);
    const r = sh(ns, process.execPath, [PROBE, '::1', '15002', '::1', '9998']);
    const out = JSON.parse(r.stdout.trim() || '{}');
    t.same(out.dst, { address: '::1', port: 9998, family: 6 }, r.stdout + r.stderr);
  });
});
