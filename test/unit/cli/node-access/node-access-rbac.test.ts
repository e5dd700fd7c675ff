/**
 * The Role and ClusterRole `meshlet-node-access` that docs/sre-cli.md tells operators to bind
 * grant every call `--node` makes (NODE_ACCESS_CALLS), in the right scope, and nothing else.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { NODE_ACCESS_CALLS } from '../../../../src/cli/node-access/agent-pod.js';

const doc = readFileSync(new URL('../../../../../docs/sre-cli.md', import.meta.url), 'utf8');
const section = doc.slice(doc.indexOf('### RBAC for `--node`'));
const block = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }
interface Obj { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[] }
const objects = parseAllDocuments(block).map((d) => d.toJS() as Obj);

/** `scope resource verb` for every grant of the roles. */
function grants(): string[] {
  return objects
    .filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
    .flatMap((o) => (o.rules ?? []).flatMap((r) => r.resources.flatMap((res) => r.verbs.map((v) => `${o.kind === 'Role' ? `namespace:${o.metadata.namespace ?? ''}` : 'cluster'} ${res} ${v}`))))
    .sort();
}

t.test('the documented roles grant exactly what --node asks', async (t) => {
  t.not(block, '', 'the YAML block is in the doc');
  const wanted = NODE_ACCESS_CALLS.flatMap((c) => c.verbs.map((v) => `${c.scope === 'namespace' ? 'namespace:meshlet-system' : 'cluster'} ${c.resource} ${v}`)).sort();
  t.ok(wanted.length > 0, 'the code declares its calls');
  t.same(grants(), wanted);
});

t.test('the bindings name both roles', async (t) => {
  const refs = objects.filter((o) => o.kind.endsWith('Binding')).map((o) => `${o.kind} -> ${(o as unknown as { roleRef: { kind: string; name: string } }).roleRef.kind}/${(o as unknown as { roleRef: { name: string } }).roleRef.name}`).sort();
  t.same(refs, ['ClusterRoleBinding -> ClusterRole/meshlet-node-access', 'RoleBinding -> Role/meshlet-node-access']);
});
