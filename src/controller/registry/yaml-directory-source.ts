/**
 * The YAML directory registry source (`--registry DIR`): every `*.yaml` under a directory,
 * watched recursively and re-read after an editor's burst of writes. A problem in any file
 * blocks the whole set (see {@link RegistryContents.problems}); a directory that vanishes does
 * too, so deleting the directory never empties the mesh.
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import type { ObjectProblem } from '../../mesh/objects/report.js';
import { ChangeListeners, type RegistryContents, type RegistrySource } from './registry-source.js';
import { TreeWatcher } from './tree-watcher.js';
import { readMeshDirectory, type MeshDirectoryRead } from './yaml-directory.js';
import { YamlFileCache } from './yaml-file-cache.js';

/** Options of {@link YamlDirectorySource}. */
export interface YamlDirectorySourceOptions {
  readonly dir: string;
  readonly logger: Logger;
  /**
   * Quiet time after the last file event before the directory is re-read. Editors write a file
   * in several steps (temp file, rename, chmod); 200 ms lets them finish, and keeps an edit
   * well within a second of reaching the store.
   */
  readonly debounceMs?: number;
  /**
   * The directory is re-read this often even without events, in case the watcher missed one
   * (network filesystems, a replaced directory). 0 turns it off. Default 30 s.
   */
  readonly resyncMs?: number;
}

const DEFAULT_DEBOUNCE_MS = 200;
const DEFAULT_RESYNC_MS = 30_000;
/** Re-reads run back to back while events keep arriving; past this many, wait for the next timer. */
const MAX_READS_IN_A_ROW = 8;

/** Watches a directory of mesh YAML. */
export class YamlDirectorySource implements RegistrySource {
  readonly name: string;
  private readonly dir: string;
  private readonly logger: Logger;
  private readonly debounceMs: number;
  private readonly resyncMs: number;
  private readonly listeners = new ChangeListeners();
  /** Files parsed at earlier reads: a change re-parses only the files it touched. */
  private readonly cache = new YamlFileCache();
  private current: RegistryContents | undefined;
  private fingerprint = '';
  private watcher: TreeWatcher | undefined;
  /** Inode of the directory the watcher follows: a directory replaced under its path is a new one. */
  private watchedInode: number | undefined;
  private debounceTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private dirty = false;
  private started = false;
  private closed = false;

  constructor(opts: YamlDirectorySourceOptions) {
    this.dir = opts.dir;
    this.name = `yaml:${opts.dir}`;
    this.logger = opts.logger.child({ component: 'registry-yaml' });
    this.debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.resyncMs = opts.resyncMs ?? DEFAULT_RESYNC_MS;
  }

  /**
   * Reads the directory once, then watches it. Rejects with MESHLET_ERR_CONFIG_INVALID when the
   * directory cannot be read; problems inside files are not a rejection, they are contents.
   */
  async start(): Promise<void> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', `registry source ${this.name} is closed`);
    if (this.started) throw new MeshletError('MESHLET_ERR_REGISTRY', `registry source ${this.name} is already started`);
    this.started = true;
    let first: MeshDirectoryRead;
    try {
      first = await readMeshDirectory(this.dir, this.cache);
      for (let i = 1; i < MAX_READS_IN_A_ROW && first.vanished.length > 0; i++) first = await readMeshDirectory(this.dir, this.cache);
    } catch (err) {
      this.started = false; // the directory may appear; start() can be tried again
      throw err;
    }
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', `registry source ${this.name} was closed while starting`);
    // Still changing under us: offered as problems, so the store refuses it rather than publish half.
    const vanished = first.vanished.map((path): ObjectProblem => ({ kind: 'syntax', text: `${path}: removed while the directory was read` }));
    this.accept(first.objects, [...first.problems, ...vanished], first.files.length, vanished.length === 0 ? first.fingerprint : `${first.fingerprint}:${JSON.stringify(vanished)}`);
    this.openWatcher();
    if (this.resyncMs > 0) {
      // A resync never cuts an editor's burst short: with a read already scheduled, it waits.
      this.resyncTimer = setInterval(() => {
        if (this.debounceTimer === undefined) this.schedule(0);
      }, this.resyncMs);
      this.resyncTimer.unref();
    }
  }

  contents(): RegistryContents | undefined {
    return this.current;
  }

  onChange(fn: () => void): () => void {
    return this.listeners.add(fn);
  }

  /** Re-reads the directory now and resolves when done (tests, a SIGHUP). */
  async reload(): Promise<void> {
    if (this.closed) return;
    if (this.reading !== undefined) {
      // A read is under way with what the disk held when it started: read again after it.
      this.dirty = true;
      return this.reading;
    }
    this.reading = this.readUntilClean().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.debounceTimer);
    clearInterval(this.resyncTimer);
    this.watcher?.close();
    this.watcher = undefined;
    this.listeners.clear();
    await this.reading;
  }

  private openWatcher(): void {
    this.watcher?.close();
    this.watcher = undefined;
    const watcher = new TreeWatcher({
      root: this.dir,
      onChange: () => this.schedule(this.debounceMs),
      onError: (err) => {
        this.logger.warn({ dir: this.dir, err: err.message }, 'registry directory watch failed; re-opened after the next successful read');
        this.schedule(this.debounceMs);
      },
    });
    try {
      this.watchedInode = statSync(this.dir).ino;
      watcher.resync();
    } catch (err) {
      watcher.close();
      this.logger.warn({ dir: this.dir, err: (err as Error).message }, 'cannot watch the registry directory; re-reading it on the resync timer');
      return;
    }
    this.watcher = watcher;
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    clearTimeout(this.debounceTimer);
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.reload();
    }, delayMs);
    this.debounceTimer.unref();
  }

  /** Reads until no event arrived during the last read, a bounded number of times. */
  private async readUntilClean(): Promise<void> {
    for (let i = 0; i < MAX_READS_IN_A_ROW && !this.closed; i++) {
      this.dirty = false;
      await this.readOnce();
      if (!this.dirty) return;
    }
    if (this.dirty) this.schedule(this.debounceMs);
  }

  private async readOnce(): Promise<void> {
    try {
      const read = await readMeshDirectory(this.dir, this.cache);
      if (this.closed) return;
      if (read.vanished.length > 0) {
        // A mix of before and after a change (a file deleted, a directory moved away): never
        // offered, it could hold half of the objects. The loop reads again.
        this.dirty = true;
        return;
      }
      this.accept(read.objects, read.problems, read.files.length, read.fingerprint);
      // Deleted and made again (or swapped for another): the watcher still follows the old one.
      if (this.watcher === undefined || currentInode(this.dir) !== this.watchedInode) this.openWatcher();
      else this.watcher.resync(); // subdirectories come and go
    } catch (err) {
      // The directory itself is gone or unreadable: a blocking problem, so the last good state
      // stays in effect rather than an empty mesh.
      const text = err instanceof Error ? err.message : String(err);
      const problems: ObjectProblem[] = [{ kind: 'syntax', text }];
      if (!this.closed) this.accept([], problems, 0, JSON.stringify(problems));
    }
  }

  /**
   * Takes a new read; tells listeners only when it differs from the last one (`fingerprint`
   * digests its objects and problems, see {@link MeshDirectoryRead.fingerprint}).
   */
  private accept(objects: RegistryContents['objects'], problems: readonly ObjectProblem[], files: number, fingerprint: string): void {
    if (fingerprint === this.fingerprint) return;
    this.fingerprint = fingerprint;
    this.current = Object.freeze({ source: this.name, objects, problems, excluded: [] });
    this.logger.debug({ files, objects: objects.length, problems: problems.length, parsedFiles: this.cache.parsed, reusedFiles: this.cache.reused, sameTextFiles: this.cache.sameText }, 'registry directory read');
    for (const err of this.listeners.notify()) this.logger.error({ err: (err as Error).message }, 'registry change listener failed');
  }
}

function currentInode(dir: string): number | undefined {
  try {
    return statSync(dir).ino;
  } catch {
    return undefined;
  }
}
