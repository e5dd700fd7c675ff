/**
 * `meshlet policy explain`, `meshlet policy check` and `meshlet proxy-config policies` through
 * commander with a captured io: offline on a YAML directory written to a temporary directory,
 * and through an in-process agent's admin API; their output and exit codes (0 allowed or clean,
 * 1 denied or errors, 64 bad input).
 */
import { Command, CommanderError } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { registerPolicyCommand } from '../../../src/cli/policy-command.js';
import { registerProxyConfigCommand } from '../../../src/cli/proxy-config-command.js';
import type { ExplainResult } from '../../../src/mesh/authz/explain-query.js';
import { adminRig } from '../agent/admin-rig.js';
import { meshDirectory, meshSnapshot } from '../../unit/cli/policy-fixture.js';

interface Run {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | undefined;
}

async function meshlet(...args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const io: AdminIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c) };
  const program = new Command('meshlet').exitOverride();
  registerPolicyCommand(program, io);
  registerProxyConfigCommand(program, io);
  try {
    await program.parseAsync(['node', 'meshlet', ...args]);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  return { stdout, stderr, code };
}

const CLIENT_TO_WEB = ['--source', 'pod/demo/client', '--destination', 'svc/demo/web:80'];

const BROKEN = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: demo}
spec:
  action: CUSTOM
  rules: [{}]
`;

t.test('explain offline: allowed exits 0, the verdict line first, then the policies rule by rule', async (t) => {
  const dir = meshDirectory(t);
  const run = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--path', '/api/orders', '--config', dir);
  t.equal(run.code, 0, run.stderr);
  t.equal(run.stdout.split('\n')[0], 'ALLOWED  by ALLOW demo/allow-client rules[1]');
  t.match(run.stdout, /^ {2}evaluated {4}request GET \/api\/orders host web\.demo\.svc\.cluster\.local \(port protocol http\)$/m);
  t.match(run.stdout, /^ {2}DENY {3}demo\/deny-admin {2}\(selector, security\.istio\.io\/v1\) {2}no rule matched\n {4}✖ rules\[0\]\n {8}✖ to\[0\]\.operation\.paths: "\/api\/orders" vs \["\/admin\/\*"\]/m);
  t.match(run.stdout, /^ {4}✔ rules\[1\]$/m);
  t.match(run.stdout, /\n2 destination workloads: 2 allowed, 0 denied\n$/);
});

t.test('explain offline: denied exits 1, with the failed fields', async (t) => {
  const dir = meshDirectory(t);
  const run = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--method', 'DELETE', '--path', '/api/x', '-H', 'X-User: bob', '--config', dir);
  t.equal(run.code, 1, run.stderr);
  t.match(run.stdout, /^DENIED {2}/);
  t.match(run.stdout, /✖ to\[0\]\.operation\.methods: "DELETE" vs \["GET"\]/);
  t.match(run.stdout, /headers x-user: bob/);
  const json = await meshlet('policy', 'explain', '--source', 'plaintext:198.18.1.11', '--destination', 'svc/other/db', '--config', dir, '-o', 'json');
  t.equal(json.code, 1);
  const result = JSON.parse(json.stdout) as ExplainResult;
  t.equal(result.allowed, false);
  t.equal(result.targets[0]?.mode, 'connection-opaque');
});

t.test('explain: bad input exits 64 naming what is wrong', async (t) => {
  const dir = meshDirectory(t);
  const unknown = await meshlet('policy', 'explain', '--source', 'pod/demo/nope', '--destination', 'svc/demo/web:80', '--config', dir);
  t.equal(unknown.code, 64);
  t.equal(unknown.stderr, 'meshlet policy explain: source "pod/demo/nope": no meshed workload demo/nope\n');
  const noSource = await meshlet('policy', 'explain', '--destination', 'svc/demo/web:80', '--config', dir);
  t.equal(noSource.code, 64);
  t.match(noSource.stderr, /--source: required/);
  const td = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--trust-domain', 'x.y');
  t.equal(td.code, 64);
  t.match(td.stderr, /--trust-domain: only with --config/);
  const port = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--port', 'http', '--config', dir);
  t.equal(port.code, 64);
  t.match(port.stderr, /--port "http": want a port number/);
  const option = await meshlet('policy', 'explain', '--nope');
  t.equal(option.code, 64);
  const yaml = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--config', meshDirectory(t, BROKEN));
  t.equal(yaml.code, 64);
  t.match(yaml.stderr, /policies\.yaml:\d+ \(document 1\): AuthorizationPolicy demo\/broken: spec\.action: .*CUSTOM/);
});

t.test('check: warnings only exit 0, errors exit 1, each line file: policy: field: severity: message', async (t) => {
  const warnings = await meshlet('policy', 'check', meshDirectory(t));
  t.equal(warnings.code, 0, warnings.stderr);
  t.match(warnings.stdout, /\/policies\.yaml: demo\/allow-client: rules\[1\]: warning: L7 fields, and the workloads are also reached on opaque ports \(Pod\/demo\/web-1 port 9000, Pod\/demo\/web-2 port 9000\)/);
  t.match(warnings.stdout, /\n3 AuthorizationPolicies checked: 0 errors, 2 warnings\n$/);
  const dir = meshDirectory(t, `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: typo, namespace: other}
spec:
  selector: {matchLabels: {app: dbb}}
  rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/client"], notPrincipals: ["cluster.local/ns/demo/sa/client"]}}]}]
`);
  const errors = await meshlet('policy', 'check', dir);
  t.equal(errors.code, 1);
  t.same(errors.stdout.split('\n').map((l) => l.replace(dir, 'DIR')), [
    'DIR/policies.yaml: other/typo: spec.selector: error: selects no meshed workload (matchLabels {"app":"dbb"} match no meshed workload of namespace other): it has no effect',
    'DIR/policies.yaml: other/typo: rules[0]: error: can never match: from[0].source: every value of principals is excluded by notPrincipals',
    '1 AuthorizationPolicies checked: 2 errors, 0 warnings',
    '',
  ]);
  const json = await meshlet('policy', 'check', dir, '-o', 'json');
  const parsed = JSON.parse(json.stdout) as { policies: number; errors: number; warnings: number; findings: Array<{ severity: string; field: string }> };
  t.same(parsed.findings.map((f) => `${f.severity} ${f.field}`), ['error spec.selector', 'error rules[0]']);
  t.same([parsed.policies, parsed.errors, parsed.warnings], [1, 2, 0], 'the summary line\'s counts');
  const other = await meshlet('policy', 'check', dir, '--trust-domain', 'example.org');
  t.match(other.stdout, /rules\[0\]\.from\[0\]\.source\.principals\[0\]: error: "cluster\.local\/ns\/demo\/sa\/client": trust domain cluster\.local is not the mesh's \(example\.org\)/);
});

t.test('check: bad YAML or an unreadable directory exit 64 with every problem', async (t) => {
  const dir = meshDirectory(t, BROKEN);
  writeFileSync(join(dir, 'more.yaml'), 'kind: [\n');
  const run = await meshlet('policy', 'check', dir);
  t.equal(run.code, 64);
  t.match(run.stderr, /^meshlet policy check: 2 problems:\n/);
  t.match(run.stderr, /AuthorizationPolicy demo\/broken: spec\.action/);
  t.match(run.stderr, /more\.yaml/);
  t.equal(run.stdout, '');
  const missing = await meshlet('policy', 'check', join(dir, 'nope'));
  t.equal(missing.code, 64);
  t.match(missing.stderr, /cannot be read/);
  t.equal((await meshlet('policy', 'check')).code, 64, 'no directory');
});

t.test('through the agent: explain answers as offline, a bad query exits 64, proxy-config policies', async (t) => {
  const rig = await adminRig(t);
  await rig.agent.applySnapshot(meshSnapshot('node1'));
  const admin = ['--admin', rig.admin.replace('http://', ''), '--admin-token-file', rig.tokenFile];
  const online = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--path', '/admin/x', ...admin, '-o', 'json');
  const offline = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--path', '/admin/x', '--config', meshDirectory(t), '-o', 'json');
  t.equal(online.code, 1, online.stderr);
  t.equal(offline.code, 1, offline.stderr);
  const a = JSON.parse(online.stdout) as ExplainResult;
  const b = JSON.parse(offline.stdout) as ExplainResult;
  t.same(a.targets.map((x) => x.explanation), b.targets.map((x) => x.explanation), 'the same explanation');
  const table = await meshlet('policy', 'explain', ...CLIENT_TO_WEB, '--path', '/api/x', ...admin);
  t.equal(table.code, 0, table.stderr);
  t.match(table.stdout, /^ALLOWED {2}by ALLOW demo\/allow-client rules\[1\]\n/);
  const bad = await meshlet('policy', 'explain', '--source', 'pod/demo/nope', '--destination', 'svc/demo/web:80', ...admin);
  t.equal(bad.code, 64);
  t.match(bad.stderr, /^meshlet policy explain: source "pod\/demo\/nope": no meshed workload demo\/nope/);
  const policies = await meshlet('proxy-config', 'policies', ...admin);
  t.equal(policies.code, 0, policies.stderr);
  t.same(policies.stdout.split('\n'), [
    'WORKLOAD         POLICY               ACTION  BY        RULES  L7   PORTS',
    'Pod/demo/client  (none: all allowed)',
    'Pod/demo/web-1   demo/deny-admin      DENY    selector  1      yes  all',
    'Pod/demo/web-1   demo/allow-client    ALLOW   selector  2      yes  all',
    '',
  ]);
});
