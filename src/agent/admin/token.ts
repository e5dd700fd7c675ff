/**
 * The admin API's credential. Every admin call except the index, liveness and readiness needs
 * `Authorization: Bearer <token>`, the token being 32 random bytes (hex) that the agent makes
 * at each start and writes, mode 0600, to a file only root can read (default
 * `/run/meshlet/admin-token`). Loopback alone does not protect the admin API: every
 * hostNetwork pod and every process of the host shares the node's loopback. Reading the file
 * needs the agent's user (root) or a mount of the directory, which is what a node
 * administrator has and a hostNetwork pod does not.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MeshletError } from '../../mesh/errors.js';
import { writeFileAtomic } from '../../ops/atomic-write.js';

/** Where the agent writes the token, and where `meshlet status`/`log-level` read it. */
export const DEFAULT_ADMIN_TOKEN_FILE = '/run/meshlet/admin-token';

/** 256 bits: not guessable over a loopback socket in any number of tries. */
const TOKEN_BYTES = 32;

/** The token file is the agent user's alone. */
const TOKEN_FILE_MODE = 0o600;
/** Its directory too, when the agent creates it (an existing one keeps its mode). */
const TOKEN_DIR_MODE = 0o700;

/** A fresh token (64 hex characters). */
export function newAdminToken(): string {
  return randomBytes(TOKEN_BYTES).toString('hex');
}

/**
 * Writes `token` to `file` atomically with mode 0600 (owned by the agent's user, root in a
 * deployment), creating the directory (0700) if needed. Readers never see a partial token.
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID naming the file when it cannot be written.
 */
export async function writeAdminToken(file: string, token: string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true, mode: TOKEN_DIR_MODE });
    await writeFileAtomic(file, `${token}\n`, TOKEN_FILE_MODE);
    const st = await stat(file);
    if ((st.mode & 0o077) !== 0) throw new Error(`mode is ${(st.mode & 0o777).toString(8)}, not 600`);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--admin-token-file=${JSON.stringify(file)}: cannot write the admin token: ${(err as Error).message}`, { cause: err });
  }
}

/** What an `Authorization` header proves. */
export type BearerCheck = 'ok' | 'missing' | 'wrong';

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * Checks `Authorization: Bearer <token>`. The comparison runs in constant time whatever the
 * presented value (both sides are hashed to 32 bytes first, so neither length nor content
 * leaks through timing). `equal` is `crypto.timingSafeEqual` (a test watches it).
 */
export function checkBearer(header: string | undefined, token: string, equal: (a: Buffer, b: Buffer) => boolean = timingSafeEqual): BearerCheck {
  if (header === undefined || header === '') return 'missing';
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (m === null) return 'wrong';
  return equal(digest(m[1] as string), digest(token)) ? 'ok' : 'wrong';
}
