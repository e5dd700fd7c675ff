/**
 * Static mode with L7 objects: `meshlet agent --config DIR` refuses an invalid HTTPRoute before
 * binding anything, exits 64 (EX_USAGE) and names file, object and field; a valid directory's
 * snapshot carries the routes.
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
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-static-routes-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const BAD_ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: broken, namespace: demo}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
    - matches: [{path: {type: RegularExpression, value: "/(?<=a)b"}}]
      backendRefs: [{name: web, port: 80}]
`;

t.test('an invalid HTTPRoute: exit 64 naming file, object and field', async (t) => {
  const dir = tempDir(t);
  const config = join(dir, 'mesh');
  mkdirSync(config);
  writeFileSync(join(config, 'mesh.yaml'), L7_YAML);
  writeFileSync(join(config, 'routes.yaml'), BAD_ROUTE);
  const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      [MAIN, 'agent', '--config', config, '--node', 'node-a', '--state-dir', join(dir, 'state'), '--admin-token-file', join(dir, 'admin-token'), '--no-iptables', '--workers', '1'],
      { timeout: 60_000 },
      (err, _stdout, stderr) => resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stderr }),
    );
  });
  t.equal(run.code, 64, run.stderr);
  t.match(run.stderr, /routes\.yaml:7 \(document 1\): HTTPRoute demo\/broken: spec\.rules\[0\]\.matches\[0\]\.path\.value: regular expression "\/\(\?<=a\)b" refused: does not compile as RE2: .*\(RE2 has no lookahead or lookbehind\)$/m);
});

t.test('a valid directory: the snapshot carries routes, policies and the zone', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'mesh.yaml'), L7_YAML);
  const snapshot = await loadStaticSnapshot(dir, 'node-b', 'cluster.local');
  t.same(snapshot.routes?.map((r) => `${r.kind}/${r.name}`), ['GRPCRoute/greeter', 'HTTPRoute/web']);
  t.equal(snapshot.zone, 'zone-b');
  t.equal(snapshot.services.find((s) => s.name === 'web')?.trafficPolicy?.policy, 'demo/sticky');
});
