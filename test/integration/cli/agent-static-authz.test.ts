/**
 * Static mode with AuthorizationPolicies: `meshlet agent --config DIR` refuses a directory with a
 * bad policy before binding anything, exits 64 (EX_USAGE) and names file, object and field for
 * each problem (an unknown field, a malformed principal and CIDR, an unsupported Istio field); a
 * valid directory's snapshot carries the policies.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { loadStaticSnapshot } from '../../../src/cli/static-source.js';
import { L7_YAML } from '../../unit/mesh/l7-fixture.js';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

function tempDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-static-authz-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const BAD_POLICIES = `apiVersion: meshlet.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: broken, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  rules:
  - from: [{source: {principals: ["spiffe://cluster.local/ns/demo/sa/client"], ipBlocks: ["10.0.0.0/99"]}}]
    to: [{operation: {methodz: ["GET"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: jwt, namespace: demo}
spec:
  rules:
  - from: [{source: {requestPrincipals: ["issuer/subject"]}}]
`;

const GOOD_POLICY = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: web-allow, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/demo/sa/client"]}}]
`;

function agent(dir: string, config: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [MAIN, 'agent', '--config', config, '--node', 'node-a', '--state-dir', join(dir, 'state'), '--admin-token-file', join(dir, 'admin-token'), '--no-iptables', '--workers', '1'],
      { timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr }),
    );
  });
}

t.test('a bad AuthorizationPolicy: exit 64, every problem named with file, object and field', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'mesh');
  mkdirSync(config);
  writeFileSync(join(config, 'mesh.yaml'), L7_YAML);
  writeFileSync(join(config, 'authz.yaml'), BAD_POLICIES);
  const run = await agent(dir, config);
  t.equal(run.code, 64, run.stderr);
  t.match(run.stderr, /authz\.yaml:\d+ \(document 1\): AuthorizationPolicy demo\/broken: spec\.rules\[0\]\.from\[0\]\.source\.principals\[0\]: drop the "spiffe:\/\/" prefix/, 'the malformed principal');
  t.match(run.stderr, /AuthorizationPolicy demo\/broken: spec\.rules\[0\]\.from\[0\]\.source\.ipBlocks\[0\]/, 'the malformed CIDR');
  t.match(run.stderr, /AuthorizationPolicy demo\/broken: spec\.rules\[0\]\.to\[0\]\.operation\.methodz: unknown field/, 'the unknown field');
  t.match(run.stderr, /authz\.yaml:\d+ \(document 2\): AuthorizationPolicy demo\/jwt: spec\.rules\[0\]\.from\[0\]\.source\.requestPrincipals: not supported/, 'the unsupported Istio field');
});

t.test('a valid directory: the snapshot carries the policies', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'mesh.yaml'), L7_YAML);
  writeFileSync(join(dir, 'authz.yaml'), GOOD_POLICY);
  const snapshot = await loadStaticSnapshot(dir, 'node-b', 'cluster.local');
  t.same(snapshot.authorizationPolicies?.map((p) => `${p.apiVersion} ${p.key} ${p.action}`), ['security.istio.io/v1 demo/web-allow ALLOW']);
});
