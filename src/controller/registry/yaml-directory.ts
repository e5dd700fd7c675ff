/**
 * Reading a directory of mesh YAML (the controller's YAML registry, the agent's static mode,
 * systemd hosts, the lab): every `*.yaml` and `*.yml` under it, parsed and checked together. Problems from all files are collected into one
 * error, so one run shows everything to fix.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MeshletError } from '../../mesh/errors.js';
import { buildClusterState, type ClusterState } from '../../mesh/cluster-state.js';
import { collectObjects } from '../../mesh/objects/parse.js';
import { problemsError, type ObjectProblem } from '../../mesh/objects/report.js';
import type { MeshObject } from '../../mesh/types.js';
import { parseDigest, statKey, textHash, type ParsedYamlFile, type YamlFileCache } from './yaml-file-cache.js';

/** Options of {@link loadMeshDirectory}. */
export interface LoadMeshDirectoryOptions {
  /** SPIFFE trust domain; default `cluster.local`. */
  readonly trustDomain?: string | undefined;
}

/** A directory deeper than this is a symlink loop or a mistake, not a mesh configuration. */
const MAX_DEPTH = 16;
/** A YAML file larger than this is not hand-written mesh configuration; refuse it rather than stall. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** What {@link readMeshDirectory} found: the valid objects and every problem, per file. */
export interface MeshDirectoryRead {
  /** Every YAML file read, sorted by path. */
  readonly files: readonly string[];
  /** Valid objects of every file, in file order. */
  readonly objects: readonly MeshObject[];
  /** Syntax and content problems of every file, each naming file, object and field. */
  readonly problems: readonly ObjectProblem[];
  /**
   * Files and directories listed but gone when read: the directory changed during the read,
   * which then holds a mix of before and after. Read again (the change's own event follows).
   */
  readonly vanished: readonly string[];
  /**
   * A digest of every file's path and what it yielded: equal fingerprints mean equal objects
   * and problems, without comparing them.
   */
  readonly fingerprint: string;
}

/**
 * Reads and validates every YAML file under `dir` (recursive, sorted, dotfiles and
 * dot-directories skipped, which also skips a Kubernetes ConfigMap volume's `..data`
 * directories), collecting the problems instead of throwing. Conflicts between objects are not
 * checked here: that is the cluster state's job. Throws MESHLET_ERR_CONFIG_INVALID only when
 * `dir` itself cannot be read. With a `cache`, files unchanged since the last read (same
 * inode, size, mtime and ctime) are not read or parsed again.
 */
export async function readMeshDirectory(dir: string, cache?: YamlFileCache): Promise<MeshDirectoryRead> {
  const vanished: string[] = [];
  const files = await listYamlFiles(dir, vanished);
  const objects: MeshObject[] = [];
  const problems: ObjectProblem[] = [];
  const fingerprint = createHash('sha256');
  for (const file of files) {
    const parsed = await readParsed(file, cache);
    if (parsed === undefined) {
      vanished.push(file);
      continue;
    }
    if (!('digest' in parsed)) {
      problems.push(parsed);
      fingerprint.update(JSON.stringify([file, parsed]));
      continue;
    }
    for (const o of parsed.objects) objects.push(o);
    for (const p of parsed.problems) problems.push(p);
    fingerprint.update(JSON.stringify([file, parsed.digest]));
  }
  cache?.retain(files);
  return { files, objects, problems, vanished, fingerprint: fingerprint.digest('base64') };
}

/**
 * Loads every YAML file under `dir` (see {@link readMeshDirectory}) and builds the state.
 * Throws MESHLET_ERR_CONFIG_INVALID when `dir` cannot be read, and otherwise one error with the
 * problems of all files (MESHLET_ERR_YAML_PARSE, MESHLET_ERR_OBJECT_INVALID); conflicts between
 * objects (MESHLET_ERR_OBJECT_CONFLICT) are checked once every file is valid.
 */
export async function loadMeshDirectory(
  dir: string,
  opts: LoadMeshDirectoryOptions = {},
): Promise<{ state: ClusterState; files: string[] }> {
  const { files, objects, problems, vanished } = await readMeshDirectory(dir);
  const all = [...problems, ...vanished.map((path): ObjectProblem => ({ kind: 'syntax', text: `${path}: removed while the directory was read` }))];
  if (all.length > 0) throw problemsError(all);
  return { state: buildClusterState(objects, { trustDomain: opts.trustDomain }), files: [...files] };
}

/**
 * Every YAML file under `dir`, sorted by path. Subdirectories removed during the walk are
 * added to `vanished` when given, and otherwise fail the listing.
 */
export async function listYamlFiles(dir: string, vanished?: string[]): Promise<string[]> {
  let info;
  try {
    info = await stat(dir);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `mesh config directory ${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  if (!info.isDirectory()) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `mesh config directory ${dir} is not a directory`);
  const out: string[] = [];
  await walk(dir, 0, out, vanished);
  return out.sort();
}

async function walk(dir: string, depth: number, out: string[], vanished: string[] | undefined): Promise<void> {
  if (depth > MAX_DEPTH) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `mesh config directory nests deeper than ${MAX_DEPTH} levels at ${dir}`);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (depth > 0 && vanished !== undefined && isNotFound(err)) {
      vanished.push(dir);
      return;
    }
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `mesh config directory ${dir} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      await walk(path, depth + 1, out, vanished);
    } else if (/\.ya?ml$/.test(entry.name) && (entry.isFile() || (entry.isSymbolicLink() && (await isFile(path))))) {
      // Symlinked files are followed (ConfigMap volumes are made of them); symlinked
      // directories are not, so a link loop cannot recurse.
      out.push(path);
    }
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * The file parsed (from `cache` when unchanged), a problem naming the file when it cannot be
 * read, or undefined when it is gone. The stat is taken before the read, so what is cached is
 * never older than its key says: a write after the stat changes the key, and the next read
 * reads the file again.
 */
async function readParsed(file: string, cache: YamlFileCache | undefined): Promise<ParsedYamlFile | ObjectProblem | undefined> {
  let text: string;
  let info;
  try {
    info = await stat(file, { bigint: true });
    if (info.size > BigInt(MAX_FILE_BYTES)) return { kind: 'syntax', text: `${file}: larger than ${MAX_FILE_BYTES} bytes, not read` };
    const cached = cache?.byStat(file, statKey(info));
    if (cached !== undefined) return cached;
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isNotFound(err)) return undefined;
    return { kind: 'syntax', text: `${file}: cannot be read: ${(err as Error).message}` };
  }
  const key = statKey(info);
  const hash = textHash(text);
  let parsed = cache?.byText(file, hash, key);
  if (parsed === undefined) {
    const result = parseFile(text, file);
    // Frozen: the same objects are handed out again while the file is unchanged, and digests
    // of them are kept (see controller/input-digest.ts).
    for (const o of result.objects) deepFreeze(o);
    parsed = { key, textHash: hash, objects: result.objects, problems: result.problems, digest: parseDigest(result.objects, result.problems) };
  }
  cache?.set(file, parsed, info, BigInt(Date.now()) * 1_000_000n);
  return parsed;
}

/**
 * {@link collectObjects}, with any untyped throw from the YAML library (a bug or a case it
 * reports by exception) turned into a syntax problem naming the file: one bad file must never
 * stop the controller or lose the state it serves.
 */
function parseFile(text: string, file: string): { objects: readonly MeshObject[]; problems: readonly ObjectProblem[] } {
  try {
    return collectObjects(text, file);
  } catch (err) {
    const why = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    return { objects: [], problems: [{ kind: 'syntax', text: `${file}: YAML syntax error: ${why}` }] };
  }
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  for (const v of Object.values(value)) deepFreeze(v);
  Object.freeze(value);
}

function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === 'ENOENT';
}
