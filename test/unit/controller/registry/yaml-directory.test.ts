/**
 * Loading a directory of mesh YAML: which files are read, and one error for all their problems.
 */
import t from 'tap';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMeshDirectory, readMeshDirectory } from '../../../../src/controller/registry/yaml-directory.js';
import { isMeshletError, type MeshletError } from '../../../../src/mesh/errors.js';

const FIXTURES = fileURLToPath(new URL('../../../../../test/fixtures/mesh/', import.meta.url));

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function loadError(dir: string): Promise<MeshletError> {
  const err = await loadMeshDirectory(dir).then(() => undefined, (e: unknown) => e);
  if (!isMeshletError(err)) throw new Error(`expected a MeshletError, got ${String(err)}`);
  return err;
}

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: demo\n';

t.test('the two-node fixture directory loads', async (t) => {
  const dir = join(FIXTURES, 'two-node');
  const { state, files } = await loadMeshDirectory(dir, { trustDomain: 'lab.local' });
  t.same(files, ['meshtls.yaml', 'namespaces.yaml', 'nodes.yaml', 'pods.yaml', 'services.yaml', 'workloads.yaml'].map((f) => join(dir, f)));
  t.equal(state.workloads.length, 6);
  t.equal(state.trustDomain, 'lab.local');
  t.equal(state.workloads[0]?.identity, 'spiffe://lab.local/ns/demo/sa/client');
});

t.test('recursive, sorted, .yaml and .yml, dotfiles and other files skipped, symlinked files followed', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'b-sub', 'deeper'), { recursive: true });
  await mkdir(join(dir, '.git'));
  await mkdir(join(dir, '..2025_01_10'));
  await writeFile(join(dir, 'z.yml'), NS);
  await writeFile(join(dir, 'b-sub', 'deeper', 'n.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: deep\n');
  await writeFile(join(dir, '.hidden.yaml'), 'this: [is not read\n');
  await writeFile(join(dir, '.git', 'x.yaml'), 'nor: [this\n');
  await writeFile(join(dir, 'README.txt'), 'not yaml: [\n');
  // A ConfigMap volume: the real file lives in a dot-directory, the visible name is a symlink.
  await writeFile(join(dir, '..2025_01_10', 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: linked\n');
  await symlink(join(dir, '..2025_01_10', 'a.yaml'), join(dir, 'a.yaml'));
  await symlink(dir, join(dir, 'loop')); // a directory symlink is not followed
  const { state, files } = await loadMeshDirectory(dir);
  t.same(files, [join(dir, 'a.yaml'), join(dir, 'b-sub', 'deeper', 'n.yaml'), join(dir, 'z.yml')]);
  t.same([...state.namespaces.keys()], ['deep', 'demo', 'linked']);
});

t.test('an empty directory is an empty mesh', async (t) => {
  const { state, files } = await loadMeshDirectory(await tempDir(t));
  t.same([files, state.workloads, state.services], [[], [], []]);
});

t.test('a duplicate pod IP across two files names both', async (t) => {
  const dir = join(FIXTURES, 'duplicate-pod-ip');
  const err = await loadError(dir);
  t.equal(err.code, 'MESHLET_ERR_OBJECT_CONFLICT');
  t.equal(
    err.message,
    `duplicate address 198.18.1.50: Pod demo/api in ${join(dir, 'team-a.yaml')} (document 1) and Pod demo/api-copy in ${join(dir, 'team-b.yaml')} (document 1)`,
  );
});

t.test('problems from every file come in one error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), `${NS}---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: demo}\nspec: {nodname: x}\n`);
  await writeFile(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 99999}]\n');
  await writeFile(join(dir, 'c.yaml'), 'apiVersion: v1\nkind: [oops\n');
  const err = await loadError(dir);
  t.equal(err.code, 'MESHLET_ERR_YAML_PARSE', 'the worst problem sets the code');
  t.equal(err.details.length, 3);
  t.match(err.details[0], new RegExp(`^${join(dir, 'a.yaml')}:9 \\(document 2\\): Pod demo/p: spec\\.nodname: unknown field \\(did you mean nodeName\\?\\)$`));
  t.match(err.details[1], new RegExp(`^${join(dir, 'b.yaml')}:5 \\(document 1\\): Service default/s: spec\\.ports\\[0\\]\\.port: must be a port number 1\\.\\.65535, got 99999$`));
  t.match(err.details[2], new RegExp(`^${join(dir, 'c.yaml')}:\\d+:\\d+ \\(document 1\\): YAML syntax error`));
  t.match(err.message, /^3 problems in mesh objects:\n/);
});

t.test('a missing directory or a file is a configuration error naming it', async (t) => {
  const dir = await tempDir(t);
  const missing = await loadError(join(dir, 'nope'));
  t.equal(missing.code, 'MESHLET_ERR_CONFIG_INVALID');
  t.match(missing.message, new RegExp(`mesh config directory ${join(dir, 'nope')} cannot be read`));
  await writeFile(join(dir, 'f.yaml'), NS);
  const notDir = await loadError(join(dir, 'f.yaml'));
  t.equal(notDir.code, 'MESHLET_ERR_CONFIG_INVALID');
  t.match(notDir.message, /is not a directory/);
});

t.test('readMeshDirectory collects every problem instead of throwing, with the valid objects', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), NS);
  await writeFile(join(dir, 'b.yaml'), 'apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: demo}\nspec: {nodname: x}\n');
  const read = await readMeshDirectory(dir);
  t.same(read.files, [join(dir, 'a.yaml'), join(dir, 'b.yaml')]);
  t.same(read.objects.map((o) => `${o.kind} ${o.name}`), ['Namespace demo']);
  t.equal(read.problems.length, 1);
  t.match(read.problems[0]?.text, /b\.yaml:4 \(document 1\): Pod demo\/p: spec\.nodname: unknown field/);
  const missing = await readMeshDirectory(join(dir, 'nope')).then(() => undefined, (e: unknown) => e);
  t.ok(isMeshletError(missing, 'MESHLET_ERR_CONFIG_INVALID'), 'only an unreadable directory throws');
});
