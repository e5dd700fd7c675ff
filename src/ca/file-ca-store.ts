/**
 * CA material in a directory: `ca.crt` (0644) and `ca.key` (0600). Several processes may start
 * on one empty directory at once (the lab starts every agent together): creation runs under an
 * exclusive lock file made with O_EXCL, and files appear by rename, so a reader sees either no
 * file or a whole one.
 */
import { mkdir, open, readFile, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeshletError } from '../mesh/errors.js';
import { writeFileAtomic } from '../ops/atomic-write.js';
import type { CaMaterial, CaStore } from './ca-store.js';

/** File names inside the CA directory. */
export const CA_CERT_FILE = 'ca.crt';
export const CA_KEY_FILE = 'ca.key';
export const CA_LOCK_FILE = 'ca.lock';

/** Options of {@link FileCaStore}. */
export interface FileCaStoreOptions {
  /**
   * How long a process waits for another one to finish creating the CA. Creating takes well
   * under a second (an RSA 2048 key); 20 s leaves room for a loaded 2-core host.
   */
  readonly lockTimeoutMs?: number;
  /** Pause between checks while waiting. */
  readonly pollMs?: number;
}

type ReadState = { kind: 'none' } | { kind: 'partial'; missing: string } | { kind: 'complete'; material: CaMaterial };

/** The file implementation of {@link CaStore}. */
export class FileCaStore implements CaStore {
  readonly location: string;
  readonly certificateName: string;
  readonly keyName: string;
  private readonly lockName: string;
  private readonly lockTimeoutMs: number;
  private readonly pollMs: number;

  constructor(dir: string, opts: FileCaStoreOptions = {}) {
    this.location = dir;
    this.certificateName = join(dir, CA_CERT_FILE);
    this.keyName = join(dir, CA_KEY_FILE);
    this.lockName = join(dir, CA_LOCK_FILE);
    this.lockTimeoutMs = opts.lockTimeoutMs ?? 20_000;
    this.pollMs = opts.pollMs ?? 50;
  }

  /** See {@link CaStore.loadOrCreate}. */
  async loadOrCreate(create: () => Promise<CaMaterial>): Promise<{ material: CaMaterial; created: boolean }> {
    await this.ensureDir();
    const deadline = Date.now() + this.lockTimeoutMs;
    // Bounded by the deadline: every pass either returns, throws, or sleeps pollMs.
    for (;;) {
      const state = await this.read();
      if (state.kind === 'complete') return { material: state.material, created: false };
      const lock = await this.tryLock();
      if (lock !== undefined) {
        try {
          return await this.createLocked(create);
        } finally {
          await this.unlock(lock);
        }
      }
      if (Date.now() >= deadline) throw await this.lockTimeout();
      await sleep(this.pollMs);
    }
  }

  /** Under the lock nobody else writes: what is there now is final. */
  private async createLocked(create: () => Promise<CaMaterial>): Promise<{ material: CaMaterial; created: boolean }> {
    const state = await this.read();
    if (state.kind === 'complete') return { material: state.material, created: false };
    if (state.kind === 'partial') {
      throw new MeshletError(
        'MESHLET_ERR_CA',
        `CA directory ${this.location} is incomplete: ${state.missing} is missing; restore it (or remove both files to start a new root, which invalidates every issued certificate)`,
      );
    }
    const material = await create();
    // Key first: a reader that finds ca.crt is then sure to find ca.key too.
    await this.writeAtomic(this.keyName, material.privateKeyPem, 0o600);
    await this.writeAtomic(this.certificateName, material.certificatePem, 0o644);
    return { material, created: true };
  }

  private async ensureDir(): Promise<void> {
    try {
      await mkdir(this.location, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_CA', `CA directory ${this.location} cannot be created: ${(err as Error).message}`, { cause: err });
    }
  }

  private async read(): Promise<ReadState> {
    const certificatePem = await this.readOptional(this.certificateName);
    const privateKeyPem = await this.readOptional(this.keyName);
    if (certificatePem !== undefined && privateKeyPem !== undefined) return { kind: 'complete', material: { certificatePem, privateKeyPem } };
    if (certificatePem === undefined && privateKeyPem === undefined) return { kind: 'none' };
    return { kind: 'partial', missing: certificatePem === undefined ? this.certificateName : this.keyName };
  }

  private async readOptional(path: string): Promise<string | undefined> {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new MeshletError('MESHLET_ERR_CA', `${path} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The lock, or undefined when another process holds it. */
  private async tryLock(): Promise<FileHandle | undefined> {
    try {
      const handle = await open(this.lockName, 'wx', 0o600);
      await handle.writeFile(`${process.pid} ${new Date().toISOString()}\n`);
      return handle;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
      throw new MeshletError('MESHLET_ERR_CA', `lock file ${this.lockName} cannot be created: ${(err as Error).message}`, { cause: err });
    }
  }

  private async unlock(handle: FileHandle): Promise<void> {
    await handle.close();
    await unlink(this.lockName);
  }

  /**
   * A crashed creator leaves its lock behind. Breaking a lock automatically would race with a
   * second waiter doing the same, so the operator is told which file to remove and why.
   */
  private async lockTimeout(): Promise<MeshletError> {
    const holder = (await this.readOptional(this.lockName))?.trim() ?? 'nobody (it is gone now)';
    return new MeshletError(
      'MESHLET_ERR_CA',
      `timed out after ${this.lockTimeoutMs} ms waiting for the CA lock ${this.lockName} (held by pid and time: ${holder}); if no meshlet process is creating the CA, remove the lock file`,
    );
  }

  private async writeAtomic(path: string, text: string, mode: number): Promise<void> {
    try {
      await writeFileAtomic(path, text, mode);
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_CA', `${path} cannot be written: ${(err as Error).message}`, { cause: err });
    }
  }
}
