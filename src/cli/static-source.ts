/**
 * Static mode: the agent computes its own snapshot from a directory of mesh YAML, and reloads
 * it when a file changes. A bad edit is logged with every problem and changes nothing: the
 * last good snapshot stays in effect.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { computeSnapshot } from '../mesh/snapshot.js';
import type { NodeSnapshot } from '../mesh/types.js';
import { TreeWatcher } from '../controller/registry/tree-watcher.js';
import { loadMeshDirectory } from '../controller/registry/yaml-directory.js';

/** Loads the directory once and computes this node's snapshot. Throws on bad input. */
export async function loadStaticSnapshot(dir: string, node: string, trustDomain: string): Promise<NodeSnapshot> {
  const { state } = await loadMeshDirectory(dir, { trustDomain });
  const draft = computeSnapshot(state, node, 'draft');
  // The version is a digest of the content, so an edit that changes nothing for this node
  // yields the same version and is not re-applied.
  const digest = createHash('sha256').update(JSON.stringify({ ...draft, version: '' })).digest('hex').slice(0, 12);
  return { ...draft, version: `static-${digest}` };
}

/** Watches `dir` and calls `onSnapshot` with each new valid snapshot (debounced). */
export class StaticSnapshotWatcher {
  private watcher: TreeWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastVersion: string;
  private running = false;
  private dirty = false;
  private closed = false;
  private readonly dir: string;
  private readonly node: string;
  private readonly trustDomain: string;
  private readonly logger: Logger;
  private readonly onSnapshot: (s: NodeSnapshot) => void;

  constructor(opts: {
    dir: string;
    node: string;
    trustDomain: string;
    logger: Logger;
    initialVersion: string;
    onSnapshot: (s: NodeSnapshot) => void;
  }) {
    this.dir = opts.dir;
    this.node = opts.node;
    this.trustDomain = opts.trustDomain;
    this.logger = opts.logger;
    this.lastVersion = opts.initialVersion;
    this.onSnapshot = opts.onSnapshot;
  }

  /** Starts watching (one watch per directory: see TreeWatcher for why not a recursive one). */
  start(): void {
    this.watcher = new TreeWatcher({
      root: this.dir,
      onChange: () => this.schedule(),
      onError: (err) => {
        this.logger.warn({ err: err.message }, 'config watch failed; re-opened on the next reload');
        this.schedule();
      },
    });
    this.watcher.resync();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    // Editors write a file in several steps; 200 ms lets them finish.
    this.timer = setTimeout(() => void this.reload(), 200);
    this.timer.unref();
  }

  /**
   * Re-reads the directory now. Reloads never overlap: a change seen during a reload runs one
   * more reload after it, so an older read can never be applied after a newer one.
   */
  async reload(): Promise<void> {
    if (this.running) {
      this.dirty = true;
      return;
    }
    this.running = true;
    try {
      do {
        this.dirty = false;
        await this.reloadOnce();
      } while (this.dirty && !this.closed);
    } finally {
      this.running = false;
    }
  }

  private async reloadOnce(): Promise<void> {
    try {
      this.watcher?.resync(); // subdirectories come and go
      const snapshot = await loadStaticSnapshot(this.dir, this.node, this.trustDomain);
      if (this.closed || snapshot.version === this.lastVersion) return;
      this.lastVersion = snapshot.version;
      this.onSnapshot(snapshot);
    } catch (err) {
      const e = err as Error & { details?: readonly string[] };
      this.logger.error({ err: e.message, problems: e.details }, 'config directory rejected; the previous snapshot stays in effect');
    }
  }

  /** Stops watching. Idempotent. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }
}
