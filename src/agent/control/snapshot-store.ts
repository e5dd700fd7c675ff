/**
 * The last good snapshot, kept across agent restarts: `<state-dir>/agent-snapshot.json`, written
 * atomically (mode 0600) each time the agent accepts a snapshot from the controller and read
 * once at start, so an agent that restarts while its controller is down still knows which of
 * its workloads are meshed (and refuses their traffic rather than passing it in plaintext).
 *
 * The file holds the snapshot in its wire form (the cluster view gzipped, base64 here) and is
 * read back through the same decoder as the controller's bytes ({@link decodeSnapshot}): the
 * file is as untrusted as the network. A checksum catches a torn or edited file before that.
 * No private key is ever written: certificates are requested again from the controller.
 */
import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import { formatValue } from '../../mesh/validate/values.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire, type SnapshotWire } from '../../mesh/snapshot-wire/encode.js';
import type { SnapshotExpectations } from '../../mesh/snapshot-wire/decode.js';
import type { NodeSnapshot } from '../../mesh/types.js';
import { writeFileAtomic } from '../../ops/atomic-write.js';

/** The file's name inside the state directory. */
export const SNAPSHOT_FILE_NAME = 'agent-snapshot.json';
/** It lists every workload and Service of the cluster: readable by root only. */
export const SNAPSHOT_FILE_MODE = 0o600;
/** The state directory, when the agent makes it. */
const STATE_DIR_MODE = 0o700;
/** The `format` field: a new layout gets a new name, and an agent refuses names it does not know. */
export const SNAPSHOT_FILE_FORMAT = 'meshlet.agent-snapshot.v1';
/**
 * Largest state file read: 96 MiB. The agent accepts snapshot messages of up to 64 MiB from the
 * controller (controller-tls.ts); base64 makes that a third larger. A bigger file is not ours
 * (or is damaged) and is refused unread, so it cannot take the agent's memory.
 */
export const MAX_SNAPSHOT_FILE_BYTES = 96 * 1024 * 1024;

/** The stored snapshot's wire form as JSON (the cluster bytes in base64). */
interface StoredWire {
  readonly version: string;
  readonly clusterEncoding: string;
  readonly cluster: string;
  readonly node: string;
  readonly nodeAddress: string;
  readonly localWorkloadUids: readonly string[];
}

/** The file's shape. */
interface StoredFile {
  readonly format: string;
  readonly version: string;
  readonly savedAt: string;
  /** sha256 (hex) of `JSON.stringify(wire)`. */
  readonly sha256: string;
  readonly wire: StoredWire;
}

/** The file's text for `snapshot`. Pure (but gzips the cluster view: about 40 ms at 5,000 pods). */
export function encodeStoredSnapshot(snapshot: NodeSnapshot, savedAt: Date): string {
  // The whole view of the snapshot: its routes and its node's zone travel too.
  const view = encodeClusterView(clusterViewOfSnapshot(snapshot), snapshot.version);
  const wire = snapshotToWire(view, snapshot);
  const stored: StoredWire = {
    version: wire.version,
    clusterEncoding: wire.clusterEncoding,
    cluster: Buffer.from(wire.cluster).toString('base64'),
    node: wire.node,
    nodeAddress: wire.nodeAddress,
    localWorkloadUids: wire.localWorkloadUids,
  };
  const file: StoredFile = { format: SNAPSHOT_FILE_FORMAT, version: snapshot.version, savedAt: savedAt.toISOString(), sha256: digest(stored), wire: stored };
  return `${JSON.stringify(file)}\n`;
}

/**
 * Decodes a state file's text: format, checksum, then the snapshot decoder with the agent's own
 * node and trust domain. Pure.
 * @throws MeshletError MESHLET_ERR_STATE_FILE saying what is wrong (the decoder's error as `cause`).
 */
export function decodeStoredSnapshot(text: string, expected: SnapshotExpectations): NodeSnapshot {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`, err);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw bad(`not a JSON object: ${formatValue(parsed)}`);
  const file = parsed as Record<string, unknown>;
  if (file['format'] !== SNAPSHOT_FILE_FORMAT) throw bad(`format ${formatValue(file['format'])} is not ${JSON.stringify(SNAPSHOT_FILE_FORMAT)}`);
  const stored = file['wire'];
  if (typeof stored !== 'object' || stored === null || Array.isArray(stored)) throw bad(`wire: not an object: ${formatValue(stored)}`);
  if (file['sha256'] !== digest(stored)) throw bad('checksum mismatch: the file is torn or was edited');
  const w = stored as Record<string, unknown>;
  if (typeof w['cluster'] !== 'string') throw bad(`wire.cluster: not a string: ${formatValue(w['cluster'])}`);
  const wire: SnapshotWire = {
    version: w['version'] as string,
    clusterEncoding: w['clusterEncoding'] as string,
    cluster: Buffer.from(w['cluster'], 'base64'),
    node: w['node'] as string,
    nodeAddress: w['nodeAddress'] as string,
    localWorkloadUids: w['localWorkloadUids'] as string[],
  };
  let snapshot: NodeSnapshot;
  try {
    // The decoder checks every field as unknown, whatever the type above says.
    snapshot = decodeSnapshot(wire, expected);
  } catch (err) {
    throw bad((err as Error).message, err);
  }
  if (file['version'] !== snapshot.version) throw bad(`version ${formatValue(file['version'])} is not the snapshot's ${JSON.stringify(snapshot.version)}`);
  return snapshot;
}

function digest(stored: unknown): string {
  return createHash('sha256').update(JSON.stringify(stored)).digest('hex');
}

function bad(why: string, cause?: unknown): MeshletError {
  return new MeshletError('MESHLET_ERR_STATE_FILE', `persisted snapshot: ${why}`, cause === undefined ? {} : { cause });
}

/** Options of {@link SnapshotStore}. */
export interface SnapshotStoreOptions {
  /** The state directory (`--state-dir`); made (0700) at the first save when missing. */
  readonly dir: string;
  readonly logger: Logger;
  /** Bound of the file read at start (default {@link MAX_SNAPSHOT_FILE_BYTES}). */
  readonly maxBytes?: number;
  /** Told each failed load or save (a metric). */
  readonly onFailure?: (operation: 'load' | 'save') => void;
}

/** Reads and writes the persisted snapshot. Never throws: a failure is logged and counted. */
export class SnapshotStore {
  /** The file's path. */
  readonly path: string;
  private readonly dir: string;
  private readonly logger: Logger;
  private readonly maxBytes: number;
  private readonly onFailure: (operation: 'load' | 'save') => void;
  /** The newest snapshot waiting for the write in progress to finish. */
  private pending: NodeSnapshot | undefined;
  private writing: Promise<void> | undefined;
  /** Whether the last save failed: failures are logged once until a save works again. */
  private failing = false;

  constructor(opts: SnapshotStoreOptions) {
    this.dir = opts.dir;
    this.path = join(opts.dir, SNAPSHOT_FILE_NAME);
    this.logger = opts.logger;
    this.maxBytes = opts.maxBytes ?? MAX_SNAPSHOT_FILE_BYTES;
    this.onFailure = opts.onFailure ?? (() => undefined);
  }

  /**
   * The persisted snapshot, or undefined when there is none or it cannot be used (logged as an
   * error with the reason; the agent then starts without it).
   */
  async load(expected: SnapshotExpectations): Promise<NodeSnapshot | undefined> {
    let text: string | undefined;
    try {
      text = await this.read();
    } catch (err) {
      return this.unusable(err);
    }
    if (text === undefined) {
      this.logger.info({ path: this.path }, 'no persisted snapshot; captured traffic is refused until the controller sends one');
      return undefined;
    }
    try {
      const snapshot = decodeStoredSnapshot(text, expected);
      this.logger.info(
        { path: this.path, version: snapshot.version, localWorkloads: snapshot.localWorkloads.length, workloads: snapshot.workloads.length },
        'persisted snapshot loaded',
      );
      return snapshot;
    } catch (err) {
      return this.unusable(err);
    }
  }

  private unusable(err: unknown): undefined {
    this.onFailure('load');
    this.logger.error(
      { path: this.path, code: (err as MeshletError).code, err: (err as Error).message },
      'persisted snapshot ignored; captured traffic is refused until the controller sends one',
    );
    return undefined;
  }

  /** The file's text, undefined when it does not exist. @throws MeshletError MESHLET_ERR_STATE_FILE */
  private async read(): Promise<string | undefined> {
    let handle;
    try {
      handle = await open(this.path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new MeshletError('MESHLET_ERR_STATE_FILE', `persisted snapshot: cannot open ${this.path}: ${(err as Error).message}`, { cause: err });
    }
    try {
      const { size } = await handle.stat();
      if (size > this.maxBytes) throw new MeshletError('MESHLET_ERR_STATE_FILE', `persisted snapshot: ${size} bytes, more than the ${this.maxBytes} read at most`);
      // Read at most the bound plus one byte, whatever stat said: the file may grow meanwhile.
      const buf = Buffer.alloc(Math.min(size, this.maxBytes) + 1);
      const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
      if (bytesRead > this.maxBytes) throw new MeshletError('MESHLET_ERR_STATE_FILE', `persisted snapshot: more than the ${this.maxBytes} bytes read at most`);
      return buf.subarray(0, bytesRead).toString('utf8');
    } catch (err) {
      if (err instanceof MeshletError) throw err;
      throw new MeshletError('MESHLET_ERR_STATE_FILE', `persisted snapshot: cannot read ${this.path}: ${(err as Error).message}`, { cause: err });
    } finally {
      await handle.close();
    }
  }

  /**
   * Persists `snapshot` in the background: one write at a time, and a snapshot that arrives
   * during a write replaces any one still waiting (only the newest matters). The promise
   * resolves once it, or a newer one, is on disk or has failed (logged); it never rejects.
   */
  save(snapshot: NodeSnapshot): Promise<void> {
    this.pending = snapshot;
    this.writing ??= this.drainWrites();
    return this.writing;
  }

  /** Resolves when no write is in progress. */
  async flush(): Promise<void> {
    await this.writing;
  }

  private async drainWrites(): Promise<void> {
    try {
      for (let next = this.pending; next !== undefined; next = this.pending) {
        this.pending = undefined;
        await this.write(next);
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async write(snapshot: NodeSnapshot): Promise<void> {
    try {
      await mkdir(this.dir, { recursive: true, mode: STATE_DIR_MODE });
      await writeFileAtomic(this.path, encodeStoredSnapshot(snapshot, new Date()), SNAPSHOT_FILE_MODE);
      if (this.failing) this.logger.info({ path: this.path, version: snapshot.version }, 'snapshot persisted again');
      this.failing = false;
    } catch (err) {
      this.onFailure('save');
      // Once per run of failures (a full disk fails every snapshot): the counter has the rest.
      if (!this.failing) {
        this.logger.error(
          { path: this.path, version: snapshot.version, err: (err as Error).message },
          'snapshot not persisted; a restart while the controller is down would start without it',
        );
      }
      this.failing = true;
    }
  }
}
