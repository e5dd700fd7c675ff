/**
 * The new agent's end of the handover: connects to the old agent's handover socket, asks for
 * its listeners, checks every line and socket it gets, and later tells the old agent it serves.
 * No old agent there (no socket file, nobody listening): a fresh start.
 */
import { MeshletError } from '../../mesh/errors.js';
import { libc } from '../../ops/libc.js';
import { encodeLine, HANDOVER_VERSION, MAX_ENTRIES, MAX_LINE_BYTES, parseHandoverReply, type ListenerEntry } from './handover-protocol.js';
import { closeFds, connectUnix, receiveWithFds, sendWithFds } from './scm-rights.js';

/** How long the new agent waits for each line of the old agent's answer. */
export const REPLY_TIMEOUT_MS = 10_000;

/** Listeners handed over and the open connection to the old agent. */
export interface Takeover {
  readonly entries: readonly ListenerEntry[];
  readonly fds: readonly number[];
  /**
   * Tells the old agent this one serves (it then stops accepting and drains); closes the
   * connection. False when the old agent was gone already (stopped meanwhile: nothing to tell).
   */
  confirm(): boolean;
  /** Closes the connection without confirming: the old agent serves on. Idempotent. */
  abort(): void;
}

/**
 * Asks the agent listening on `path` for its listeners; undefined when no agent listens there.
 * @throws MeshletError MESHLET_ERR_HANDOVER when the old agent refuses or answers something
 *   malformed (every received descriptor is then closed).
 */
export async function requestTakeover(path: string, node: string, timeoutMs = REPLY_TIMEOUT_MS): Promise<Takeover | undefined> {
  const fd = connectUnix(path, timeoutMs);
  if (typeof fd !== 'number') {
    if (fd.errno === 'ENOENT' || fd.errno === 'ECONNREFUSED') return undefined;
    throw new MeshletError('MESHLET_ERR_HANDOVER', `handover socket ${path}: connect() failed: ${fd.errno}`);
  }
  let open = true;
  const close = (): void => {
    if (open) libc().close(fd);
    open = false;
  };
  const entries: ListenerEntry[] = [];
  const fds: number[] = [];
  try {
    sendWithFds(fd, encodeLine({ type: 'takeover', version: HANDOVER_VERSION, node, pid: process.pid }));
    let buffered = Buffer.alloc(0);
    for (;;) {
      const got = await receiveWithFds(fd, MAX_LINE_BYTES + 1);
      fds.push(...got.fds);
      if (got.data.length === 0) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover socket ${path}: the old agent closed the connection mid-answer`);
      buffered = Buffer.concat([buffered, got.data]);
      if (buffered.length > MAX_LINE_BYTES) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover socket ${path}: a line longer than ${MAX_LINE_BYTES} bytes`);
      const nl = buffered.indexOf(10);
      if (nl < 0) continue;
      if (nl !== buffered.length - 1) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover socket ${path}: bytes after a line, before its sockets were checked`);
      const reply = parseHandoverReply(buffered.subarray(0, nl).toString('utf8'), node);
      buffered = Buffer.alloc(0);
      if (typeof reply === 'string') throw new MeshletError('MESHLET_ERR_HANDOVER', reply);
      if (reply.type === 'refused') throw new MeshletError('MESHLET_ERR_HANDOVER', `the old agent refused the takeover: ${reply.reason}`);
      entries.push(...reply.entries);
      if (fds.length !== entries.length) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover: ${fds.length} sockets passed for ${entries.length} entries`);
      if (entries.length > MAX_ENTRIES) throw new MeshletError('MESHLET_ERR_HANDOVER', `handover: more than ${MAX_ENTRIES} listeners`);
      if (!reply.more) break;
    }
  } catch (err) {
    closeFds(fds);
    close();
    throw err;
  }
  return {
    entries,
    fds,
    confirm: () => {
      if (!open) return false;
      try {
        sendWithFds(fd, encodeLine({ type: 'serving' }));
        return true;
      } catch {
        return false;
      } finally {
        close();
      }
    },
    abort: close,
  };
}
