/**
 * The registry's parse cache: unchanged files are reused, changed, replaced and deleted files
 * are not, and a file written just before its read is never trusted by its stat alone.
 */
import t from 'tap';
import { mkdtemp, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMeshDirectory } from '../../../../src/controller/registry/yaml-directory.js';
import { YamlFileCache } from '../../../../src/controller/registry/yaml-file-cache.js';

const ns = (name: string): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-cache-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const names = (read: Awaited<ReturnType<typeof readMeshDirectory>>): string[] => read.objects.map((o) => o.name);
/** [reused by stat, read but same text, parsed]. */
const counts = (c: YamlFileCache): number[] => [c.reused, c.sameText, c.parsed];

t.test('unchanged files are reused; changed, replaced and deleted ones are read again', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), ns('aa'));
  await writeFile(join(dir, 'b.yaml'), ns('bb'));
  const cache = new YamlFileCache({ racyWindowMs: 0 });
  const first = await readMeshDirectory(dir, cache);
  t.same([names(first), counts(cache)], [['aa', 'bb'], [0, 0, 2]]);

  const again = await readMeshDirectory(dir, cache);
  t.same([names(again), counts(cache)], [['aa', 'bb'], [2, 0, 2]], 'nothing read or parsed again');
  t.equal(again.fingerprint, first.fingerprint, 'same contents, same fingerprint');
  t.equal(again.objects[0], first.objects[0], 'the very objects of the first parse');
  t.ok(Object.isFrozen(again.objects[0]), 'frozen, since they are handed out again');

  // Same size, in place: the stat key still differs (mtime/ctime), once the file clock (coarse,
  // up to 10 ms a tick) has moved on; within one tick the racy window guards it, tested below.
  await new Promise((resolve) => setTimeout(resolve, 30));
  await writeFile(join(dir, 'a.yaml'), ns('ab'));
  const edited = await readMeshDirectory(dir, cache);
  t.same([names(edited), counts(cache)], [['ab', 'bb'], [3, 0, 3]]);
  t.not(edited.fingerprint, first.fingerprint);

  await writeFile(join(dir, '.b.tmp'), ns('bc'));
  await rename(join(dir, '.b.tmp'), join(dir, 'b.yaml'));
  t.same(names(await readMeshDirectory(dir, cache)), ['ab', 'bc'], 'an atomic replacement is a new file');

  await rm(join(dir, 'a.yaml'));
  t.same(names(await readMeshDirectory(dir, cache)), ['bc']);
  t.equal(cache.size, 1, 'the deleted file is dropped from the cache');
});

t.test('a file changed within the racy window is read at every read; parsed only when its text changed', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), ns('aa'));
  const cache = new YamlFileCache({ racyWindowMs: 60_000 });
  await readMeshDirectory(dir, cache);
  await readMeshDirectory(dir, cache);
  t.same(counts(cache), [0, 1, 1], 'read again, not parsed again');

  // Within the window the stat is never trusted, so even a same-size rewrite in the same clock
  // tick (which could leave the stat as it was) is seen: the text is compared.
  await writeFile(join(dir, 'a.yaml'), ns('ab'));
  const read = await readMeshDirectory(dir, cache);
  t.same([names(read), counts(cache)], [['ab'], [0, 1, 2]]);
});

t.test('touching a file (new mtime, same text) costs a read, not a parse', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'a.yaml'), ns('aa'));
  const cache = new YamlFileCache({ racyWindowMs: 0 });
  const first = await readMeshDirectory(dir, cache);
  await utimes(join(dir, 'a.yaml'), new Date(), new Date(Date.now() - 60_000));
  const touched = await readMeshDirectory(dir, cache);
  t.same(counts(cache), [0, 1, 1]);
  t.equal(touched.fingerprint, first.fingerprint);
  await readMeshDirectory(dir, cache);
  t.same(counts(cache), [1, 1, 1], 'and its new stat is kept');
});

t.test('problems are the same from the cache, naming file and field', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'bad.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: Not_A_Name\n');
  const cache = new YamlFileCache({ racyWindowMs: 0 });
  const first = await readMeshDirectory(dir, cache);
  const second = await readMeshDirectory(dir, cache);
  t.equal(cache.reused, 1);
  t.equal(first.problems.length, 1);
  t.same(second.problems, first.problems);
  t.match(JSON.stringify(second.problems[0]), /bad\.yaml/);
  t.match(JSON.stringify(second.problems[0]), /name/);
});
