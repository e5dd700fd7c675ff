/**
 * The YAML directory source with the state store, on a real directory: adding, editing and
 * deleting files reaches a new version within a second; an invalid edit is rejected naming the
 * file, object and field, and the previous state stays; the fix publishes again. A vanished
 * directory keeps the state too.
 */
import t from 'tap';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { PublishedState } from '../../../../src/controller/contracts.js';
import { YamlDirectorySource } from '../../../../src/controller/registry/yaml-directory-source.js';
import { StateStore } from '../../../../src/controller/state-store.js';
import { MeshletError } from '../../../../src/mesh/errors.js';
import { recordingLogger, type Teardown } from '../../../helpers/registry-rig.js';
import { sleep, waitFor } from '../../../helpers/wait-for.js';

const silent = pino({ level: 'silent' });

const NS = 'apiVersion: v1\nkind: Namespace\nmetadata: {name: demo, labels: {meshlet.io/mesh: enabled}}\n';
const NODE = 'apiVersion: v1\nkind: Node\nmetadata: {name: node-a}\nstatus: {addresses: [{type: InternalIP, address: 198.18.0.1}]}\n';
const pod = (name: string, ip: string): string =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}, namespace: demo}\nspec: {nodeName: node-a, serviceAccountName: ${name}}\nstatus: {podIP: ${ip}}\n`;

/** An edit must reach subscribers within this (the brief's promise). */
const WITHIN_MS = 1_000;

async function rig(t: Teardown, opts: { logger?: ReturnType<typeof recordingLogger>['logger']; resyncMs?: number } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'cluster.yaml'), `${NS}---\n${NODE}`);
  await mkdir(join(dir, 'apps'));
  await writeFile(join(dir, 'apps', 'web.yaml'), pod('web', '198.18.1.10'));
  const logger = opts.logger ?? silent;
  const source = new YamlDirectorySource({ dir, logger, resyncMs: opts.resyncMs ?? 0 });
  t.teardown(() => source.close());
  const store = new StateStore({ logger });
  t.teardown(() => store.close());
  const seen: PublishedState[] = [];
  store.subscribe((s) => seen.push(s));
  await source.start();
  store.addSource(source);
  await waitFor('the first version', () => seen.length === 1);
  return { dir, source, store, seen };
}

/** Waits for the next version and checks it came within a second. */
async function nextVersion(seen: PublishedState[], count: number, what: string): Promise<PublishedState> {
  const started = Date.now();
  await waitFor(what, () => seen.length >= count, { timeoutMs: WITHIN_MS });
  const latest = seen[seen.length - 1];
  if (latest === undefined || Date.now() - started > WITHIN_MS) throw new Error(`${what}: too slow`);
  return latest;
}

const uids = (s: PublishedState | undefined): string[] => (s?.state.workloads ?? []).map((w) => w.uid);

t.test('add, edit and delete files: a new version each, within a second', async (t) => {
  const { dir, source, store, seen } = await rig(t);
  t.equal(source.name, `yaml:${dir}`);
  t.same(uids(seen[0]), ['Pod/demo/web']);

  await writeFile(join(dir, 'apps', 'api.yaml'), pod('api', '198.18.1.20'));
  t.same(uids(await nextVersion(seen, 2, 'a file added')), ['Pod/demo/api', 'Pod/demo/web']);

  await writeFile(join(dir, 'apps', 'api.yaml'), pod('api', '198.18.1.21'));
  const edited = await nextVersion(seen, 3, 'a file edited');
  t.same(edited.state.workloads.find((w) => w.name === 'api')?.addresses, ['198.18.1.21']);

  // An editor's save: write a temp file, then rename it over the original.
  await writeFile(join(dir, 'apps', '.web.yaml.swp'), pod('web', '198.18.1.11'));
  await rename(join(dir, 'apps', '.web.yaml.swp'), join(dir, 'apps', 'web.yaml'));
  const saved = await nextVersion(seen, 4, 'an editor save');
  t.same(saved.state.workloads.find((w) => w.name === 'web')?.addresses, ['198.18.1.11']);

  await mkdir(join(dir, 'apps', 'more', 'deeper'), { recursive: true });
  await writeFile(join(dir, 'apps', 'more', 'deeper', 'db.yaml'), pod('db', '198.18.1.30'));
  t.same(uids(await nextVersion(seen, 5, 'a file in a new subdirectory')), ['Pod/demo/api', 'Pod/demo/db', 'Pod/demo/web']);

  await rm(join(dir, 'apps', 'api.yaml'));
  t.same(uids(await nextVersion(seen, 6, 'a file deleted')), ['Pod/demo/db', 'Pod/demo/web']);

  // Other files change nothing. Proved by the next event rather than by a pause: were notes.txt
  // read, its broken YAML would reject every later read and the edit below would never publish;
  // were it published, the edit would be version 8.
  await writeFile(join(dir, 'notes.txt'), 'not yaml: [');
  await writeFile(join(dir, 'apps', 'web.yaml'), pod('web', '198.18.1.12'));
  const after = await nextVersion(seen, 7, 'an edit after notes.txt');
  t.same(after.state.workloads.find((w) => w.name === 'web')?.addresses, ['198.18.1.12'], 'the next version is the edit');
  t.equal(seen.length, 7, 'notes.txt published nothing');
  t.equal(store.status().rejections, 0, 'notes.txt was not read');
  const versions = seen.map((s) => Number(s.version));
  t.same(versions, [...versions].sort((a, b) => a - b), 'versions grow');
});

t.test('an invalid edit is rejected naming file, object and field; the fix publishes', async (t) => {
  const { logger, lines } = recordingLogger();
  const { dir, store, seen } = await rig(t, { logger });
  const good = store.current();
  const file = join(dir, 'apps', 'web.yaml');
  await writeFile(file, pod('web', '198.18.1.10').replace('serviceAccountName', 'serviceAcountName'));
  await waitFor('the rejection', () => store.status().rejections === 1, { timeoutMs: WITHIN_MS });
  const err = store.status().lastError;
  t.equal(err?.code, 'MESHLET_ERR_OBJECT_INVALID');
  t.same(err?.details, [`${file}:4 (document 1): Pod demo/web: spec.serviceAcountName: unknown field (did you mean serviceAccountName?)`]);
  t.match(lines.filter((l) => l['level'] === 50), [{ msg: /spec\.serviceAcountName/ }], 'the first error line names the field');
  t.equal(store.current(), good, 'the previous state stays');

  await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: demo\n');
  await waitFor('a syntax error', () => store.status().lastError?.code === 'MESHLET_ERR_YAML_PARSE', { timeoutMs: WITHIN_MS });
  t.match(store.status().lastError?.details[0], new RegExp(`^${file}:\\d+:\\d+ \\(document 1\\): YAML syntax error`));
  t.equal(seen.length, 1, 'nothing published while broken');

  await writeFile(file, pod('web', '198.18.1.12'));
  const fixed = await nextVersion(seen, 2, 'the fix');
  t.same(fixed.state.workloads[0]?.addresses, ['198.18.1.12']);
  t.equal(store.status().lastError, undefined);
});

t.test('a vanished directory keeps the previous state; it coming back applies', async (t) => {
  const { dir, store, seen, source } = await rig(t);
  const good = store.current();
  const moved = `${dir}-moved`;
  t.teardown(() => rm(moved, { recursive: true, force: true }));
  await rename(dir, moved);
  await source.reload();
  await waitFor('a rejection', () => store.status().rejections >= 1);
  t.match(store.status().lastError?.message, /cannot be read/);
  t.equal(store.current(), good);
  await rename(moved, dir);
  await writeFile(join(dir, 'apps', 'web.yaml'), pod('web', '198.18.1.13'));
  await source.reload();
  await waitFor('back', () => seen.length === 2);
  t.same(seen[1]?.state.workloads[0]?.addresses, ['198.18.1.13']);
});

t.test('a directory deleted and made again is read and watched again', async (t) => {
  const { dir, store, seen } = await rig(t, { resyncMs: 100 });
  const good = store.current();
  // Removed and made again in one step each, as a deploy tool would (a read in the middle of a
  // recursive rm would see a smaller, valid mesh, which is not what this test is about).
  await rename(dir, `${dir}-old`);
  await rm(`${dir}-old`, { recursive: true });
  await waitFor('a rejection', () => store.status().rejections >= 1);
  t.equal(store.current(), good, 'the previous state stays');
  const next = `${dir}-new`;
  t.teardown(() => rm(next, { recursive: true, force: true }));
  await mkdir(join(next, 'apps'), { recursive: true });
  await writeFile(join(next, 'cluster.yaml'), `${NS}---\n${NODE}`);
  await writeFile(join(next, 'apps', 'web.yaml'), pod('web', '198.18.1.14'));
  await rename(next, dir);
  const back = await nextVersion(seen, 2, 'the new directory read');
  t.same(back.state.workloads[0]?.addresses, ['198.18.1.14']);
  await writeFile(join(dir, 'apps', 'web.yaml'), pod('web', '198.18.1.15'));
  const edited = await nextVersion(seen, 3, 'an edit in the new directory');
  t.same(edited.state.workloads[0]?.addresses, ['198.18.1.15']);
});

t.test('reads that change nothing tell nobody; start() rejects a missing directory; close is idempotent', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-registry-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const source = new YamlDirectorySource({ dir, logger: silent, resyncMs: 50 });
  t.teardown(() => source.close());
  let changes = 0;
  source.onChange(() => changes++);
  await source.start();
  t.same(source.contents(), { source: `yaml:${dir}`, objects: [], problems: [], excluded: [] }, 'an empty directory is an empty set');
  // A read that finds nothing new tells nobody: once on demand (deterministic), then from the
  // resync timer, which re-reads every 50 ms. The pause is a negative check: no event marks
  // "nobody was told", so it gives the timer a few rounds to show.
  await source.reload();
  t.equal(changes, 1, 'one change: the first read; the reload found nothing new');
  await sleep(150);
  t.equal(changes, 1, 'the resync reads found nothing new either');
  await source.close();
  await source.close();

  const missing = new YamlDirectorySource({ dir: join(dir, 'nope'), logger: silent });
  t.teardown(() => missing.close());
  const err = await missing.start().then(() => undefined, (e: unknown) => e);
  t.type(err, MeshletError);
  t.match(err, { code: 'MESHLET_ERR_CONFIG_INVALID' });
  t.match((err as Error).message, /mesh config directory .*nope cannot be read/);
});
