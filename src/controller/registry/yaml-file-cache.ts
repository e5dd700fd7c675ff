/**
 * Parsed YAML files kept between reads of a registry directory, so a change to one file costs
 * the parse of that file, not of the whole directory (5,000 pods in 50 files: ~1.5 s of YAML
 * parsing per change before, one file's ~30 ms after).
 *
 * A file is taken from the cache without reading it only when its device, inode, size, mtime
 * and ctime (nanoseconds) are the ones it had when it was parsed, and that stat was "trusted":
 * taken at least {@link RACY_WINDOW_NS} after the file's last change. Within that window a
 * second same-size write in the same clock tick could leave every stat field equal (git's
 * "racily clean" problem). Any other file is read again, and parsed again only when its text
 * differs from the text parsed (compared by hash): a touched or just-written file costs a read
 * and a hash, not a parse.
 */
import { createHash } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import type { ObjectProblem } from '../../mesh/objects/report.js';
import type { MeshObject } from '../../mesh/types.js';

/** One parsed file. */
export interface ParsedYamlFile {
  /** The file's stat key when it was read (see {@link statKey}). */
  readonly key: string;
  /** A hash of the text parsed. */
  readonly textHash: string;
  readonly objects: readonly MeshObject[];
  readonly problems: readonly ObjectProblem[];
  /**
   * A digest of what the file yielded (objects and problems), so a read of the directory can
   * tell "nothing changed" without serializing every object again.
   */
  readonly digest: string;
}

/** A stat taken sooner than this after the file's last change is not trusted (see above). */
const RACY_WINDOW_NS = 1_000_000_000n;

/** Options of {@link YamlFileCache}. */
export interface YamlFileCacheOptions {
  /** See {@link RACY_WINDOW_NS}; tests set 0 to trust the stat of files they have just written. */
  readonly racyWindowMs?: number;
}

/** The identity of one version of a file, as far as `stat` can tell. */
export function statKey(info: BigIntStats): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeNs}:${info.ctimeNs}`;
}

/** The hash of a file's text (see {@link ParsedYamlFile.textHash}). */
export function textHash(text: string): string {
  return createHash('sha256').update(text).digest('base64');
}

/** The digest of a file's parse result (see {@link ParsedYamlFile.digest}). */
export function parseDigest(objects: readonly MeshObject[], problems: readonly ObjectProblem[]): string {
  return createHash('sha256').update(JSON.stringify([objects, problems])).digest('base64');
}

interface Entry {
  readonly parsed: ParsedYamlFile;
  /** The stat was taken outside the racy window: an equal stat later means an equal file. */
  readonly trusted: boolean;
}

/** Parse results by path. Not shared between directories' readers; entries of gone files are dropped. */
export class YamlFileCache {
  private readonly entries = new Map<string, Entry>();
  private readonly racyWindowNs: bigint;
  /** Since creation (tests, logs): files taken by stat alone, read but not parsed (same text), parsed. */
  reused = 0;
  sameText = 0;
  parsed = 0;

  constructor(opts: YamlFileCacheOptions = {}) {
    this.racyWindowNs = opts.racyWindowMs === undefined ? RACY_WINDOW_NS : BigInt(Math.max(0, Math.round(opts.racyWindowMs))) * 1_000_000n;
  }

  /** The cached parse of `path` if its trusted stat key is still `key`: no need to read the file. */
  byStat(path: string, key: string): ParsedYamlFile | undefined {
    const entry = this.entries.get(path);
    if (entry === undefined || !entry.trusted || entry.parsed.key !== key) return undefined;
    this.reused += 1;
    return entry.parsed;
  }

  /** The cached parse of `path` if it was parsed from a text with `hash`, now under stat `key`. */
  byText(path: string, hash: string, key: string): ParsedYamlFile | undefined {
    const entry = this.entries.get(path);
    if (entry === undefined || entry.parsed.textHash !== hash) {
      this.parsed += 1;
      return undefined;
    }
    this.sameText += 1;
    return entry.parsed.key === key ? entry.parsed : { ...entry.parsed, key };
  }

  /** Keeps `parsed` for `path`; its stat is trusted unless the file changed within the racy window. */
  set(path: string, parsed: ParsedYamlFile, info: BigIntStats, nowNs: bigint): void {
    // A zero window trusts every stat outright: `nowNs` comes from a millisecond clock, so a file
    // changed earlier in the same millisecond can look newer than "now".
    const trusted =
      this.racyWindowNs === 0n || (nowNs - info.mtimeNs >= this.racyWindowNs && nowNs - info.ctimeNs >= this.racyWindowNs);
    this.entries.set(path, { parsed, trusted });
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
