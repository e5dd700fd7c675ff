/**
 * YAML aliases the library cannot resolve (an alias to an anchor that does not exist, too many
 * aliases) are syntax problems naming the file and line, never untyped exceptions
 * (issue 9, finding 7: `name: *x` threw a bare ReferenceError and stopped the controller).
 */
import t from 'tap';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { collectObjects, parseObjects } from '../../../src/mesh/objects/parse.js';
import { thrown } from './fixture.js';

const NAMESPACE_WITH_ALIAS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: *x\n';

t.test('an alias to an undefined anchor is MESHLET_ERR_YAML_PARSE naming file, line and alias', async (t) => {
  const err = thrown(() => parseObjects(NAMESPACE_WITH_ALIAS, 'mesh/ns.yaml'));
  t.equal(isMeshletError(err), true, `a MeshletError, got ${String(err)}`);
  if (!isMeshletError(err)) return;
  t.equal(err.code, 'MESHLET_ERR_YAML_PARSE');
  t.same(err.details, ['mesh/ns.yaml:4:9 (document 1): YAML syntax error: alias *x refers to no anchor &x before it']);
});

t.test('the other documents of the file still parse; the bad one yields nothing', async (t) => {
  const text = `apiVersion: v1\nkind: Namespace\nmetadata: {name: good}\n---\n${NAMESPACE_WITH_ALIAS}`;
  const { objects, problems } = collectObjects(text, 'f.yaml');
  t.same(
    objects.map((o) => o.name),
    ['good'],
  );
  t.same(problems, [{ kind: 'syntax', text: 'f.yaml:8:9 (document 2): YAML syntax error: alias *x refers to no anchor &x before it' }]);
});

t.test('an alias used before its anchor is unresolved too; a defined one still works', async (t) => {
  const early = collectObjects('a: *x\nb: &x 1\n', 'f.yaml');
  t.same(early.problems, [{ kind: 'syntax', text: 'f.yaml:1:4 (document 1): YAML syntax error: alias *x refers to no anchor &x before it' }]);
  const fine = collectObjects('apiVersion: v1\nkind: Namespace\nmetadata: {name: &n demo, labels: {team: *n}}\n', 'f.yaml');
  t.same(fine.problems, []);
  t.same(fine.objects[0]?.kind === 'Namespace' ? fine.objects[0].labels : undefined, { team: 'demo' });
});

t.test('an alias bomb is refused as a syntax problem, not an exception', async (t) => {
  // Ten levels of ten aliases each: 10^10 nodes if expanded.
  let text = 'a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n';
  for (let i = 1; i < 10; i++) text += `a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]\n`;
  const { objects, problems } = collectObjects(text, 'bomb.yaml');
  t.same(objects, []);
  t.same(problems, [{ kind: 'syntax', text: 'bomb.yaml:1:1 (document 1): YAML syntax error: Excessive alias count indicates a resource exhaustion attack' }]);
});
