/**
 * Editing the join token file: add a token, revoke tokens. Edits run under a lock file (two
 * `meshlet join-token create` at once must not lose one of the tokens) and land by rename, so
 * the controller watching the file sees the old file or the new one, never half of one.
 * Comments and other entries are kept.
 */
import { open, readFile, stat, unlink, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSeq, YAMLSeq } from 'yaml';
import { writeFileAtomic } from '../../ops/atomic-write.js';
import { MeshletError } from '../../mesh/errors.js';
import { isDnsSubdomain } from '../../mesh/validate/formats.js';
import { generateJoinToken, hashJoinToken, parseJoinTokens, type JoinTokenEntry, type ParsedJoinTokens } from './join-token-file.js';

/** An edit waits this long for another one to finish; an edit takes milliseconds. */
const LOCK_TIMEOUT_MS = 5000;
const LOCK_POLL_MS = 25;

/** Shortest hash prefix `revoke` accepts: 8 hex characters make an accidental match unlikely. */
export const MIN_HASH_PREFIX = 8;

function editError(message: string, cause?: unknown): MeshletError {
  return new MeshletError('MESHLET_ERR_CONFIG_INVALID', message, cause === undefined ? {} : { cause });
}

/** Reads and validates the file; a missing file has no tokens. */
export async function readJoinTokenFile(file: string): Promise<ParsedJoinTokens & { mode: number | undefined }> {
  let text = '';
  let mode: number | undefined;
  try {
    text = await readFile(file, 'utf8');
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw editError(`join token file ${file} cannot be read: ${(err as Error).message}`, err);
  }
  return { ...parseJoinTokens(text, file), mode };
}

/**
 * Generates a token for `node`, appends its hash to `file` (created 0600 when missing) and
 * returns the token: the only time it exists outside the agent.
 */
export async function createJoinToken(
  file: string,
  opts: { node: string; description?: string | undefined; now?: Date | undefined },
): Promise<{ token: string; entry: Omit<JoinTokenEntry, 'line'> }> {
  if (!isDnsSubdomain(opts.node)) throw editError(`--node ${JSON.stringify(opts.node)} is not a valid node name (RFC 1123 subdomain)`);
  const token = generateJoinToken();
  const entry = {
    node: opts.node,
    sha256: hashJoinToken(token),
    created: (opts.now ?? new Date()).toISOString(),
    ...(opts.description === undefined ? {} : { description: opts.description }),
  };
  await editLocked(file, (parsed) => {
    const seq = tokenList(parsed);
    seq.add(parsed.doc.createNode(entry));
    return true;
  });
  return { token, entry };
}

/**
 * Removes `node`'s tokens: all of them, or the one whose hash starts with `sha256Prefix`.
 * Returns the removed entries (none: the file is left untouched). Throws when a prefix is too
 * short or matches several tokens.
 */
export async function revokeJoinTokens(file: string, opts: { node: string; sha256Prefix?: string | undefined }): Promise<JoinTokenEntry[]> {
  const prefix = opts.sha256Prefix?.toLowerCase();
  if (prefix !== undefined && !new RegExp(`^[0-9a-f]{${MIN_HASH_PREFIX},64}$`).test(prefix)) {
    throw editError(`--sha256 must be ${MIN_HASH_PREFIX} to 64 hex characters of the token's hash (as "join-token list" shows)`);
  }
  let removed: JoinTokenEntry[] = [];
  await editLocked(file, (parsed) => {
    removed = parsed.entries.filter((e) => e.node === opts.node && (prefix === undefined || e.sha256.startsWith(prefix)));
    if (prefix !== undefined && removed.length > 1) throw editError(`--sha256 ${prefix} matches ${removed.length} tokens of ${opts.node}; give more characters`);
    if (removed.length === 0) return false;
    const seq = tokenList(parsed);
    // Entries and list items line up: parsing succeeded, so no item was skipped.
    seq.items = seq.items.filter((_, i) => !removed.includes(parsed.entries[i] as JoinTokenEntry));
    return true;
  });
  return removed;
}

/** The `tokens` list of the document, made (block style) when the file had none. */
function tokenList(parsed: ParsedJoinTokens): YAMLSeq {
  let seq = parsed.doc.get('tokens', true);
  if (!isSeq(seq)) {
    parsed.doc.set('tokens', new YAMLSeq());
    seq = parsed.doc.get('tokens', true);
  }
  const list = seq as YAMLSeq;
  list.flow = false;
  return list;
}

/** Runs `edit` on the parsed file under the lock; writes the result when `edit` returns true. */
async function editLocked(file: string, edit: (parsed: ParsedJoinTokens) => boolean): Promise<void> {
  const lock = await takeLock(`${file}.lock`);
  try {
    const parsed = await readJoinTokenFile(file);
    if (!edit(parsed)) return;
    await writeAtomic(file, String(parsed.doc), parsed.mode ?? 0o600);
  } finally {
    await lock.close();
    await unlink(`${file}.lock`).catch(() => undefined);
  }
}

async function takeLock(path: string): Promise<FileHandle> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  // Bounded by the deadline: every pass returns, throws, or sleeps LOCK_POLL_MS.
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600);
      await handle.writeFile(`${process.pid} ${new Date().toISOString()}\n`);
      return handle;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw editError(`lock file ${path} cannot be created: ${(err as Error).message}`, err);
    }
    if (Date.now() >= deadline) {
      throw editError(`timed out after ${LOCK_TIMEOUT_MS} ms waiting for the lock ${path}; if no meshlet join-token command is running, remove it`);
    }
    await sleep(LOCK_POLL_MS);
  }
}

/** Writes `text` to `path` by way of a temporary file and a rename. */
export async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  try {
    await writeFileAtomic(path, text, mode);
  } catch (err) {
    throw editError(`${path} cannot be written: ${(err as Error).message}`, err);
  }
}

