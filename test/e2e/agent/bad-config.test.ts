/**
 * Bad mesh YAML stops the agent before it binds a port or applies a rule: exit code 64 and a
 * message naming the file and the field. Run in a namespace the test makes, so that "nothing
 * applied" can be checked against that namespace's real nat table.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../../src/lab/index.js';
import { requireNamespaces } from '../helpers/require-root.js';

const CLI = join(REPO_ROOT, 'dist/src/cli/main.js');

const NS_YAML = `apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {meshlet.io/mesh: enabled}}
---
apiVersion: v1
kind: Node
metadata: {name: node1}
status: {addresses: [{type: InternalIP, address: 198.18.0.11}]}
`;

function pod(name: string, ip: string, extra = ''): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: demo}
spec:
  nodeName: node1
  serviceAccountName: default
  containers: [{name: app, image: lab}]${extra}
status: {podIP: ${ip}, podIPs: [{ip: ${ip}}]}
`;
}

const CASES: Array<{ name: string; files: Record<string, string>; expect: RegExp[] }> = [
  {
    name: 'malformed YAML',
    files: { 'base.yaml': NS_YAML, 'broken.yaml': 'apiVersion: v1\nkind: Pod\nmetadata: [unclosed\n' },
    expect: [/broken\.yaml/],
  },
  {
    name: 'an unknown field',
    files: { 'base.yaml': NS_YAML, 'pods.yaml': pod('a', '198.18.1.10', '\n  nodname: node1') },
    expect: [/pods\.yaml/, /spec\.nodname/],
  },
  {
    name: 'a duplicate pod IP',
    files: { 'base.yaml': NS_YAML, 'a.yaml': pod('a', '198.18.1.10'), 'b.yaml': pod('b', '198.18.1.10') },
    expect: [/a\.yaml/, /b\.yaml/, /198\.18\.1\.10/],
  },
];

t.test('bad config: exit 64, a clear error, nothing applied', async (t) => {
  if (!requireNamespaces(t)) return;
  const ns = `mlt-badcfg-${process.pid}`;
  spawnSync('ip', ['netns', 'del', ns]);
  t.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  t.teardown(() => void spawnSync('ip', ['netns', 'del', ns]));
  const before = spawnSync('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' }).stdout;

  for (const c of CASES) {
    await t.test(c.name, async (t) => {
      const root = mkdtempSync(join(tmpdir(), 'meshlet-badcfg-'));
      t.teardown(() => rmSync(root, { recursive: true, force: true }));
      const config = join(root, 'config');
      const state = join(root, 'state');
      mkdirSync(config);
      for (const [f, text] of Object.entries(c.files)) writeFileSync(join(config, f), text);
      const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, CLI, 'agent', '--node', 'node1', '--config', config, '--state-dir', state], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      t.equal(r.status, 64, `exit code 64 (stderr: ${r.stderr})`);
      for (const re of c.expect) t.match(r.stderr, re, `the error names ${re.source}`);
      t.notOk(existsSync(join(state, 'ca')), 'no CA was created');
      const after = spawnSync('ip', ['netns', 'exec', ns, 'iptables-save', '-t', 'nat'], { encoding: 'utf8' }).stdout;
      t.notMatch(after, /MESHLET/, 'no rule was applied');
      t.equal(after.replace(/^#.*$/gm, ''), before.replace(/^#.*$/gm, ''), 'nat table unchanged');
    });
  }
});
