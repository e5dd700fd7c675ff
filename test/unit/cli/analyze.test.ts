/**
 * `meshlet analyze DIR` (src/cli/analyze.ts, analyze-command.ts): a directory with one instance
 * of each problem gets each code once; a clean directory gets none; errors exit 1; YAML the
 * registry refuses exits 64 with every problem; -o json parses.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { analyze, analyzeDirectory } from '../../../src/cli/analyze-command.js';
import type { AnalyzeFinding } from '../../../src/cli/analyze.js';
import { BASE, PROBLEMS } from '../../helpers/analyze-fixtures.js';

function dirWith(t: { teardown(fn: () => void): void }, yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-analyze-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'mesh.yaml'), yaml);
  return dir;
}

function io(): { stdout: (s: string) => void; stderr: (s: string) => void; exit: (c: number) => void; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { stdout: (s) => out.push(s), stderr: (s) => err.push(s), exit: () => undefined, out, err };
}

t.test('a clean directory: no finding, exit 0', async (t) => {
  const dir = dirWith(t, BASE);
  t.same(await analyzeDirectory(dir, undefined), []);
  const out = io();
  t.equal(await analyze(out, dir, { output: 'table' }), 0);
  t.same(out.out, ['no problems found\n']);
});

t.test('each problem has its code, once, on its object; an error exits 1', async (t) => {
  const dir = dirWith(t, BASE + PROBLEMS);
  const findings = await analyzeDirectory(dir, undefined);
  const byCode = (code: string): AnalyzeFinding[] => findings.filter((f) => f.code === code);
  t.match(byCode('MA001'), [{ severity: 'warning', object: 'Pod demo/db-1', message: /STRICT mutual TLS, and 1 unmeshed pod in namespace demo \(batch\)/ }], 'a STRICT workload beside an unmeshed pod');
  t.match(byCode('MA002'), [{ severity: 'warning', object: 'Service legacy/old-db', message: /selects 1 pod, none meshed/ }]);
  t.match(byCode('MA003'), [{ severity: 'warning', object: 'Service demo/ghost', message: /matches no pod or workload/ }]);
  t.match(byCode('MA004'), [{ severity: 'error', object: 'HTTPRoute demo/to-nowhere', message: /ResolvedRefs False \(BackendNotFound\)/ }]);
  t.match(byCode('MA006'), [{ severity: 'warning', message: /for-nothing/ }]);
  t.match(byCode('MA007'), [{ severity: 'warning', message: /selects-nobody.*selects no meshed workload/ }]);
  t.match(byCode('MA008'), [{ severity: 'info', object: 'Pod demo/batch' }]);
  t.same(findings.map((f) => f.severity), [...findings.map((f) => f.severity)].sort((a, b) => ['error', 'warning', 'info'].indexOf(a) - ['error', 'warning', 'info'].indexOf(b)), 'errors first');
  const out = io();
  t.equal(await analyze(out, dir, { output: 'json' }), 1, 'an error-level finding exits 1');
  t.same(JSON.parse(out.out.join('')), findings, '-o json: the findings');
  const text = io();
  await analyze(text, dir, { output: 'table' });
  t.match(text.out.join(''), /^error MA004 HTTPRoute demo\/to-nowhere: /m);
  t.match(text.out.join(''), /1 error, \d+ other findings\n$/);
});

t.test('MeshTLS of one scope with different modes: MA005', async (t) => {
  const dir = dirWith(t, `${BASE}---
apiVersion: meshlet.io/v1alpha1
kind: MeshTLS
metadata: {name: a-strict, namespace: demo}
spec: {mode: STRICT}
---
apiVersion: meshlet.io/v1alpha1
kind: MeshTLS
metadata: {name: b-permissive, namespace: demo}
spec: {mode: PERMISSIVE}
`);
  const out = io();
  t.equal(await analyze(out, dir, { output: 'json' }), 1);
  t.match(JSON.parse(out.out.join('')), [{ code: 'MA005', severity: 'error', object: 'MeshTLS demo/a-strict,b-permissive', message: /ask for PERMISSIVE and STRICT/ }]);
});

t.test('YAML the registry refuses: exit 64 naming the problem; a bad -o: a usage error', async (t) => {
  const dir = dirWith(t, `${BASE}---\napiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: demo}\nspec: {clusterIP: not-an-ip, ports: [{port: 80}]}\n`);
  const out = io();
  t.equal(await analyze(out, dir, { output: 'table' }), 64);
  t.match(out.err.join(''), /not-an-ip/);
  await t.rejects(analyze(io(), dir, { output: 'xml' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /-o\/--output "xml"/ });
});
