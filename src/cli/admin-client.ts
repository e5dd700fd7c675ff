/**
 * What the SRE commands (`status`, `proxy-config`, `log-level`) share: a small HTTP client for
 * the agent's admin API (`docs/admin.md`), the `--admin` and `--admin-token-file` flags, and
 * the mapping of failures to exit codes (64 for a bad flag, 1 for an agent that cannot be
 * reached or that refuses the token).
 */
import { readFileSync } from 'node:fs';
import { Option, type Command, type CommanderError } from 'commander';
import { DEFAULT_ADMIN_TOKEN_FILE } from '../agent/admin/token.js';
import { EXIT_USAGE, isMeshletError, MeshletError } from '../mesh/errors.js';

/** The admin API's default address (the agent's `--admin-address`:`--admin-port`). */
export const DEFAULT_ADMIN = '127.0.0.1:15000';

/** How long one admin request may take: the endpoints answer from memory, `/iptables` runs one check. */
const REQUEST_TIMEOUT_MS = 5_000;

/** Where a command writes and how it exits; tests pass their own, so no subprocess is needed. */
export interface AdminIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly exit: (code: number) => void;
}

/** The real process: exit codes are set, not forced, so buffered output is written first. */
export const processIo: AdminIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => {
    process.exitCode = code;
  },
};

/**
 * The agent could not be reached (refused, timed out, not HTTP). A plain error with a code of
 * its own, not a MeshletError: the error registry lives in `src/mesh/errors.ts` and gains a
 * code only through its owner.
 */
export class AdminUnreachableError extends MeshletError {
  /** Reached through a port-forward (`--node`): the hints about this host's agent do not apply. */
  readonly remote: boolean;

  constructor(message: string, options: { cause?: unknown; remote?: boolean } = {}) {
    super('MESHLET_ERR_ADMIN_UNREACHABLE', message, options.cause === undefined ? {} : { cause: options.cause });
    this.remote = options.remote === true;
  }
}

/** The agent refused the admin token (401/403), or the CLI could not read it. */
export class AdminUnauthorizedError extends MeshletError {
  constructor(message: string) {
    super('MESHLET_ERR_ADMIN_UNAUTHORIZED', message);
  }
}

/** The admin token as read from `--admin-token-file`, or why it could not be read. */
export type AdminToken = { readonly file: string; readonly token: string } | { readonly file: string; readonly error: string };

/**
 * Reads the admin token file (default `/run/meshlet/admin-token`, mode 0600, root's). A file
 * that cannot be read is not an error yet: the public endpoints need no token, and the agent's
 * 401 is turned into an error that names the file and why it could not be read.
 */
export function readAdminToken(file: string = DEFAULT_ADMIN_TOKEN_FILE): AdminToken {
  try {
    const token = readFileSync(file, 'utf8').trim();
    return token === '' ? { file, error: 'the file is empty' } : { file, token };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { file, error: e.code === 'EACCES' ? 'EACCES: permission denied (the token is root\'s: run as root, or kubectl exec into the agent pod)' : e.code ?? e.message };
  }
}

/** Adds `--admin` and `--admin-token-file` to an SRE command. */
export function adminOptions(cmd: Command): Command {
  return cmd
    .option('--admin <address>', "the agent's admin API", DEFAULT_ADMIN)
    .addOption(
      new Option('--admin-token-file <file>', "the agent's admin token (its --admin-token-file; root only)").env('MESHLET_ADMIN_TOKEN_FILE').default(DEFAULT_ADMIN_TOKEN_FILE),
    );
}

/** One admin answer: the HTTP status and the decoded JSON body (unknown until validated). */
export interface AdminAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Parses `--admin`: `HOST:PORT`, `[V6]:PORT`, `PORT`, or an `http://` URL. Throws a
 * `MESHLET_ERR_CONFIG_INVALID` naming the flag and its value.
 */
export function parseAdminAddress(value: string): URL {
  const bad = (why: string): MeshletError => new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--admin ${JSON.stringify(value)}: ${why}`);
  const text = /^\d+$/.test(value) ? `127.0.0.1:${value}` : value;
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    throw bad('not an address (want HOST:PORT, e.g. 127.0.0.1:15000)');
  }
  if (url.protocol !== 'http:') throw bad('only http:// (the admin API has no TLS; it listens on loopback)');
  if (url.port === '' && !/:80\/?$/.test(text)) throw bad('no port (want HOST:PORT, e.g. 127.0.0.1:15000)');
  if (url.pathname !== '/' || url.search !== '' || url.username !== '') throw bad('want HOST:PORT only, no path, query or user');
  return url;
}

/** The flags every SRE command takes (see {@link adminOptions}). */
export interface AdminFlags {
  /** Default {@link DEFAULT_ADMIN}. */
  readonly admin?: string;
  /** Default {@link DEFAULT_ADMIN_TOKEN_FILE}. */
  readonly adminTokenFile?: string;
}

/** A client for the agent `flags` name, with the token read from its file. */
export function adminClientFor(flags: AdminFlags): AdminClient {
  return new AdminClient(localEndpoint(flags));
}

/** Where one agent's admin API is reached, with what token, and how it is named in messages. */
export interface AdminEndpoint {
  readonly url: URL;
  readonly token: AdminToken | undefined;
  /** The URL's origin for a local agent; `node NAME (pod NS/POD)` through a port-forward. */
  readonly label: string;
  /** Turns a failed connection into the error that says why (a port-forward knows). */
  readonly explain?: (err: AdminUnreachableError) => Error;
}

/** The agent `--admin` and `--admin-token-file` name (this host's, by default). */
export function localEndpoint(flags: AdminFlags): AdminEndpoint {
  const url = parseAdminAddress(flags.admin ?? DEFAULT_ADMIN);
  return { url, token: readAdminToken(flags.adminTokenFile), label: url.origin };
}

/** A client for one agent's admin API. */
export class AdminClient {
  /** The agent as shown in messages and output: its URL, or the node and pod. */
  readonly base: string;

  private readonly url: URL;
  private readonly token: AdminToken | undefined;
  private readonly explain: (err: AdminUnreachableError) => Error;

  /** The token is sent as `Authorization: Bearer` when it could be read. */
  constructor(endpoint: AdminEndpoint) {
    this.base = endpoint.label;
    this.url = endpoint.url;
    this.token = endpoint.token;
    this.explain = endpoint.explain ?? ((err) => err);
  }

  /** `GET path`: any HTTP status is an answer (503 from `/ready` is one); no answer throws. */
  get(path: string): Promise<AdminAnswer> {
    return this.request('GET', path);
  }

  /** `POST path` with a JSON body. */
  post(path: string, body: unknown): Promise<AdminAnswer> {
    return this.request('POST', path, JSON.stringify(body));
  }

  private async request(method: 'GET' | 'POST', path: string, body?: string): Promise<AdminAnswer> {
    let res: Response;
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    if (this.token !== undefined && 'token' in this.token) headers['authorization'] = `Bearer ${this.token.token}`;
    try {
      res = await fetch(new URL(path, this.url), { method, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(body === undefined ? {} : { body }) });
    } catch (err) {
      throw this.explain(new AdminUnreachableError(`cannot reach the agent's admin API at ${this.base} (${reason(err)})`, { cause: err }));
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      throw this.explain(new AdminUnreachableError(`the agent's admin API at ${this.base} broke off its answer to ${path} (${reason(err)})`, { cause: err }));
    }
    if (res.status === 401 || res.status === 403) throw this.refused(path, res.status);
    try {
      return { status: res.status, body: JSON.parse(text) as unknown };
    } catch {
      throw new AdminUnreachableError(`${this.base}${path} answered ${res.status} with something that is not JSON: is ${this.base} the agent's admin port?`);
    }
  }

  /** The error for a 401/403: what the CLI sent and why. */
  private refused(path: string, status: number): AdminUnauthorizedError {
    return new AdminUnauthorizedError(`${this.base}${path} answered ${status}: ${tokenRefusal(this.token, status)}`);
  }
}

/** Why the agent answered 401/403 to `token`: not sent, unreadable, stale, or refused. */
export function tokenRefusal(token: AdminToken | undefined, status: number): string {
  if (token === undefined) return 'no admin token was sent';
  if ('error' in token) return `cannot read the admin token file ${token.file} (${token.error})`;
  if (status === 403) return `the token in ${token.file} is not the agent's (it is written anew at every agent start: is it this agent's --admin-token-file?)`;
  return `the agent refused the token in ${token.file}`;
}

/** The root cause's code or message: fetch wraps ECONNREFUSED in a bare "fetch failed". */
function reason(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message; // e.g. "bad port": fetch refuses some ports
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  return err instanceof Error ? err.message : String(err);
}

/** An admin answer that is not 2xx, as an error naming the endpoint and the agent's message. */
export function answerError(path: string, answer: AdminAnswer): Error {
  const msg = (answer.body as { error?: unknown } | null)?.error;
  const detail = typeof msg === 'string' ? msg : JSON.stringify(answer.body);
  return new Error(`${path} answered ${answer.status}: ${detail}`);
}

/**
 * Runs a command's action and maps what went wrong to an exit code: a bad flag (a
 * `MESHLET_ERR_CONFIG_INVALID`) exits 64, an unreachable agent or anything else exits 1.
 */
export async function runAdminAction(io: AdminIo, name: string, action: () => Promise<number>): Promise<void> {
  try {
    io.exit(await action());
  } catch (err) {
    io.stderr(`meshlet ${name}: ${(err as Error).message}\n`);
    if (err instanceof AdminUnreachableError && !err.remote) {
      io.stderr('  check that the agent runs on this node (it serves the admin API on loopback only) and that\n');
      io.stderr('  --admin matches its --admin-address:--admin-port; off the node, --node NAME (status, proxy-config, log-level, tap, top)\n');
    }
    if (err instanceof AdminUnauthorizedError) {
      io.stderr('  the admin API needs the token the agent writes at start (mode 0600, root only): run as root on the node,\n');
      io.stderr('  pass --admin-token-file if the agent uses another path, or kubectl exec into the agent pod\n');
    }
    io.exit(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID') ? EXIT_USAGE : 1);
  }
}

/**
 * Makes commander's own usage errors (unknown option, missing argument) exit 64 like ours, and
 * sends its output through `io`. With the real process it exits at once (commander expects
 * the callback not to return); with a test's io it records the code and throws the
 * CommanderError for the test to catch.
 */
export function withUsageExits(cmd: Command, io: AdminIo): Command {
  return cmd
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride((err: CommanderError) => {
      const code = err.exitCode === 0 ? 0 : EXIT_USAGE;
      if (io === processIo) process.exit(code);
      io.exit(code);
      throw err;
    });
}

/** Narrows a list answer: an array of objects, or an error naming the endpoint. */
export function asRows(path: string, body: unknown): Array<Record<string, unknown>> {
  if (!Array.isArray(body) || !body.every((r) => r !== null && typeof r === 'object' && !Array.isArray(r))) {
    throw new Error(`${path}: unexpected answer (not a list of objects); is the agent the same version as this CLI?`);
  }
  return body as Array<Record<string, unknown>>;
}

/** Narrows an object answer. */
export function asObject(path: string, body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new Error(`${path}: unexpected answer (not an object); is the agent the same version as this CLI?`);
  }
  return body as Record<string, unknown>;
}
