/**
 * Finding 7 of issue 9 at the controller's boundary: a file with an alias to an undefined
 * anchor is a MESHLET_ERR_YAML_PARSE problem naming the file and line; the previous state stays
 * while it is there, and a directory that has it at start reports it rather than crashing.
 */
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { PublishedState } from '../../../../src/controller/contracts.js';
import { loadMeshDirectory } from '../../../../src/controller/registry/yaml-directory.js';
import { YamlDirectorySource } from '../../../../src/controller/registry/yaml-directory-source.js';
import { StateStore } from '../../../../src/controller/state-store.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import type { Teardown } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';

const silent = pino({ level: 'silent' });
const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {meshlet.io/mesh: enabled}}\n';
const ALIAS = 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: *x\n';

async function tempDir(t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-alias-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function started(t: Teardown, dir: string): Promise<{ store: StateStore; seen: PublishedState[] }> {
  const source = new YamlDirectorySource({ dir, logger: silent, resyncMs: 0 });
  t.teardown(() => source.close());
  const store = new StateStore({ logger: silent });
  t.teardown(() => store.close());
  const seen: PublishedState[] = [];
  store.subscribe((s) => seen.push(s));
  await source.start();
  store.addSource(source);
  return { store, seen };
}

t.test('an alias edit is rejected with file and line; the previous state stays', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ns.yaml'), NS);
  const { store, seen } = await started(t, dir);
  await waitFor('the first version', () => seen.length === 1);
  const good = store.current();
  const file = join(dir, 'ns.yaml');
  await writeFile(file, ALIAS);
  await waitFor('the rejection', () => store.status().rejections >= 1);
  t.equal(store.status().lastError?.code, 'MESHLET_ERR_YAML_PARSE');
  t.same(store.status().lastError?.details, [`${file}:4:9 (document 1): YAML syntax error: alias *x refers to no anchor &x before it`]);
  t.equal(store.current(), good, 'the previous state stays');
  t.equal(seen.length, 1, 'nothing published');
});

t.test('at start the source starts and the problem is reported, naming the file', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'ns.yaml');
  await writeFile(file, ALIAS);
  const { store } = await started(t, dir);
  await waitFor('the rejection', () => store.status().rejections >= 1);
  t.equal(store.status().lastError?.code, 'MESHLET_ERR_YAML_PARSE');
  t.match(store.status().lastError?.details[0], `${file}:4:9`);
  t.equal(store.current(), undefined);
  const err = await loadMeshDirectory(dir).then(() => undefined, (e: unknown) => e);
  t.equal(isMeshletError(err, 'MESHLET_ERR_YAML_PARSE'), true, `loadMeshDirectory: ${String(err)}`);
});
