/**
 * Static mode with an invalid TrafficPolicy: `meshlet agent --config DIR` refuses it before
 * binding anything, exits 64 (EX_USAGE) and names file, line, object and field of every
 * problem; `meshlet policy explain --config DIR` (the directory read the same way) exits 64
 * with the same lines. Nothing is half-applied: the valid policy of the same directory does
 * not get served alone.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import t, { type Test } from 'tap';
import type { AdminIo } from '../../../src/cli/admin-client.js';
import { registerPolicyCommand } from '../../../src/cli/policy-command.js';
import { L7_YAML } from '../../unit/mesh/l7-fixture.js';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

function meshDir(t: Test, extra: string): { root: string; config: string } {
  const root = mkdtempSync(join(tmpdir(), 'meshlet-static-policy-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const config = join(root, 'mesh');
  mkdirSync(config);
  writeFileSync(join(config, 'mesh.yaml'), L7_YAML);
  writeFileSync(join(config, 'policies.yaml'), extra);
  return { root, config };
}

/** Two bad fields in one policy (a value out of range, an unknown field), a good policy after it. */
const BAD_POLICY = `apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: broken, namespace: demo}
spec:
  targetRefs: [{group: "", kind: Service, name: web-v2}]
  retry:
    numRetries: 11
  timeout: {http: {requestTimout: 2s}}
---
apiVersion: meshlet.io/v1alpha1
kind: TrafficPolicy
metadata: {name: fine, namespace: demo}
spec:
  targetRefs: [{group: "", kind: Service, name: web-v2}]
  retry: {}
`;

const RETRY_LINE = /^.*policies\.yaml:7 \(document 1\): TrafficPolicy demo\/broken: spec\.retry\.numRetries: must be an integer 0\.\.10, got 11$/m;
const TIMEOUT_LINE = /^.*policies\.yaml:8 \(document 1\): TrafficPolicy demo\/broken: spec\.timeout\.http\.requestTimout: /m;

t.test('the agent: exit 64 naming file, object and every bad field; nothing bound', async (t) => {
  const { root, config } = meshDir(t, BAD_POLICY);
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, 'agent', '--config', config, '--node', 'node-a', '--state-dir', join(root, 'state'), '--admin-token-file', join(root, 'admin-token'), '--no-iptables', '--workers', '1'],
      { timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr }),
    );
  });
  t.equal(run.code, 64, run.stderr);
  t.match(run.stderr, RETRY_LINE);
  t.match(run.stderr, TIMEOUT_LINE);
  t.notMatch(run.stderr, /TrafficPolicy demo\/fine/, 'the valid policy is not blamed');
  t.notMatch(run.stdout, /listening|ready/i, 'nothing was bound or served');
});

t.test('meshlet policy explain --config: the same directory, the same refusal', async (t) => {
  const { config } = meshDir(t, BAD_POLICY);
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const io: AdminIo = { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c) };
  const program = new Command('meshlet').exitOverride();
  registerPolicyCommand(program, io);
  try {
    await program.parseAsync(['node', 'meshlet', 'policy', 'explain', '--config', config, '--source', 'pod/demo/client', '--destination', 'svc/demo/web:80']);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
  }
  t.equal(code, 64, stderr);
  t.match(stderr, RETRY_LINE);
  t.match(stderr, TIMEOUT_LINE);
  t.equal(stdout, '', 'no verdict printed');
});
