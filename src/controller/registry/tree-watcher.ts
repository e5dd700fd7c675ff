/**
 * Watches a directory tree with one non-recursive watch per directory.
 *
 * Not `fs.watch(dir, { recursive: true })`: on Linux, Node 20 emulates it by watching files,
 * and a file replaced by rename (how editors, `kubectl cp` and atomic writers save) stops
 * producing events after the first replacement (checked on this machine: 3 events for the
 * first rename, 0 for the next two). A directory watch (inotify on the directory) sees every
 * create, rename and write of its entries, whatever their inode.
 */
import { readdirSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

/** More directories than this are not watched (the resync timer still covers them). */
const MAX_DIRECTORIES = 1_000;

/** Options of {@link TreeWatcher}. */
export interface TreeWatcherOptions {
  readonly root: string;
  /** Any change anywhere in the tree. */
  readonly onChange: () => void;
  /** A watch failed; the caller decides (e.g. re-read and `resync()`). */
  readonly onError: (err: Error) => void;
}

/** One watch per directory of a tree, skipping dot-directories. */
export class TreeWatcher {
  private readonly root: string;
  private readonly onChange: () => void;
  private readonly onError: (err: Error) => void;
  private readonly watchers = new Map<string, FSWatcher>();
  private closed = false;

  constructor(opts: TreeWatcherOptions) {
    this.root = opts.root;
    this.onChange = opts.onChange;
    this.onError = opts.onError;
  }

  /** Directories watched now. */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Watches every directory of the tree that is not watched yet and stops watching those that
   * are gone. Call it after each read: new subdirectories appear at any time.
   * @throws when the root itself cannot be watched
   */
  resync(): void {
    if (this.closed) return;
    const dirs = listDirectories(this.root);
    for (const [dir, w] of this.watchers) {
      if (!dirs.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    for (const dir of dirs) {
      if (this.watchers.has(dir)) continue;
      let w: FSWatcher;
      try {
        w = watch(dir, () => this.onChange());
      } catch (err) {
        if (dir === this.root) throw err;
        continue; // removed meanwhile: the next resync drops it
      }
      w.on('error', (err) => {
        w.close();
        this.watchers.delete(dir);
        this.onError(err);
      });
      this.watchers.set(dir, w);
    }
  }

  /** Stops every watch. Idempotent. */
  close(): void {
    this.closed = true;
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }
}

/** The root and its subdirectories (not dot-directories, not through symlinks), bounded. */
function listDirectories(root: string): Set<string> {
  const out = new Set<string>([root]);
  const queue = [root];
  while (queue.length > 0 && out.size < MAX_DIRECTORIES) {
    const dir = queue.shift() as string;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      if (!e.isDirectory() || e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      out.add(p);
      queue.push(p);
      if (out.size >= MAX_DIRECTORIES) break;
    }
  }
  return out;
}
