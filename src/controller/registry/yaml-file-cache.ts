/**
 * Parsed YAML files kept between reads of a registry directory, so a change to one file costs
 * the parse of that file, not of the whole directory (5,000 pods in 50 files: ~1.5 s of YAML
 * parsing per change before, one file's ~30 ms after).
 *
 * A file is taken from the cache only when its inode, size, mtime and ctime (nanoseconds) are
 * the ones it had when it was parsed. A file changed within {@link RACY_WINDOW_NS} of its read
 * is not cached at all: a second write in the same clock tick could leave every stat field
 * equal (git's "racily clean" problem), and re-parsing it once more is cheap.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { ObjectProblem } from '../../mesh/objects-report.js';
import type { MeshObject } from '../../mesh/types.js';

/** One parsed file. */
export interface ParsedYamlFile {
  /** The file's stat key when it was read (see {@link statKey}). */
  readonly key: string;
  readonly objects: readonly MeshObject[];
  readonly problems: readonly ObjectProblem[];
  /**
   * A digest of what the file yielded (objects and problems), so a read of the directory can
   * tell "nothing changed" without serializing every object again.
   */
  readonly digest: string;
}

/** Files changed more recently than this before their read are never cached (see above). */
const RACY_WINDOW_NS = 1_000_000_000n;

/** Options of {@link YamlFileCache}. */
export interface YamlFileCacheOptions {
  /** See {@link RACY_WINDOW_NS}; tests set 0 to cache files they have just written. */
  readonly racyWindowMs?: number;
}

/** The identity of one version of a file, as far as `stat` can tell. */
export function statKey(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/** The digest of a file's parse result (see {@link ParsedYamlFile.digest}). */
export function parseDigest(objects: readonly MeshObject[], problems: readonly ObjectProblem[]): string {
  return createHash('sha256').update(JSON.stringify([objects, problems])).digest('base64');
}

/** Parse results by path. Not shared between directories' readers; entries of gone files are dropped. */
export class YamlFileCache {
  private readonly entries = new Map<string, ParsedYamlFile>();
  private readonly racyWindowNs: bigint;
  /** Files served from the cache and files parsed, since creation (tests, logs). */
  hits = 0;
  misses = 0;

  constructor(opts: YamlFileCacheOptions = {}) {
    this.racyWindowNs = opts.racyWindowMs === undefined ? RACY_WINDOW_NS : BigInt(Math.max(0, Math.round(opts.racyWindowMs))) * 1_000_000n;
  }

  /** The cached parse of `path` if the file is still the one parsed. */
  get(path: string, key: string): ParsedYamlFile | undefined {
    const entry = this.entries.get(path);
    if (entry === undefined || entry.key !== key) {
      this.misses += 1;
      return undefined;
    }
    this.hits += 1;
    return entry;
  }

  /** Keeps `entry` for `path` unless the file was changed too recently to trust its stat. */
  set(path: string, entry: ParsedYamlFile, info: BigIntStats, nowNs: bigint): void {
    if (nowNs - info.mtimeNs < this.racyWindowNs || nowNs - info.ctimeNs < this.racyWindowNs) {
      this.entries.delete(path);
      return;
    }
    this.entries.set(path, entry);
  }

  /** Drops every entry whose path is not in `paths` (files deleted or renamed away). */
  retain(paths: readonly string[]): void {
    const keep = new Set(paths);
    for (const path of this.entries.keys()) if (!keep.has(path)) this.entries.delete(path);
  }

  /** How many files are cached. */
  get size(): number {
    return this.entries.size;
  }
}
