/**
 * Writes a file so that readers see the old content or the new, never a part: a temporary
 * file beside it, synced, given its final mode, then renamed over the target.
 */
import { randomBytes } from 'node:crypto';
import { chmod, open, rename, unlink } from 'node:fs/promises';

/** Writes `text` to `path` atomically with `mode`. The temporary file never outlives a failure. */
export async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const handle = await open(tmp, 'wx', mode);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await chmod(tmp, mode); // open's mode is filtered by the umask; the final mode is not
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}
