/**
 * Bounded runs of host commands (`ip`, and commands inside lab namespaces). Every run has a
 * timeout and a SIGKILL at its end, so a wedged command cannot hang a test or a teardown.
 *
 * @module
 */

import { execFile, spawnSync, type ExecFileException } from 'node:child_process';
import { MeshletError } from '../mesh/errors.js';

/** What a finished command left behind. `code` is null when a signal ended it. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Killed with SIGKILL after this long; default 60 s. */
  readonly timeoutMs?: number;
  /** Written to the command's stdin, which is then closed (it is closed at once without). */
  readonly input?: string | Buffer;
  readonly env?: NodeJS.ProcessEnv;
}

/**
 * Default bound of one command: `ip` takes milliseconds, a test client a few seconds, but a
 * node process starting on a loaded CI machine was seen past 10 s. Only a hang waits this long.
 */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;
/** Output kept per stream; commands the lab runs print far less. */
const MAX_OUTPUT = 16 * 1024 * 1024;

/**
 * Runs a command to completion. Resolves with its exit status whatever it is; rejects only
 * when it cannot start (`MESHLET_ERR_HOST_TOOL`) or runs past its timeout (`MESHLET_ERR_LAB`).
 */
export function runCommand(command: string, args: readonly string[], opts: RunCommandOptions = {}): Promise<CommandResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return new Promise((resolve, reject) => {
    const child = execFile(
      command,
      [...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT, encoding: 'utf8', env: opts.env ?? process.env },
      (err: ExecFileException | null, stdout: string, stderr: string) => {
        if (err === null) return resolve({ code: 0, signal: null, stdout, stderr });
        const line = `${command} ${args.join(' ')}`;
        if (typeof err.code === 'string') {
          return reject(new MeshletError('MESHLET_ERR_HOST_TOOL', `cannot run ${line}: ${err.code}`, { cause: err }));
        }
        if (err.killed === true) {
          const tail = `${stdout}${stderr}`.slice(-2000);
          return reject(new MeshletError('MESHLET_ERR_LAB', `${line} timed out after ${timeoutMs} ms; output: ${tail}`, { cause: err }));
        }
        resolve({ code: typeof err.code === 'number' ? err.code : null, signal: err.signal ?? null, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => undefined); // the command may exit without reading its input
    child.stdin?.end(opts.input);
  });
}

/** Runs `ip ARGS`; throws `MESHLET_ERR_LAB` naming the command and ip's complaint on failure. */
export async function runIp(args: readonly string[], timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS): Promise<string> {
  const res = await runCommand('ip', args, { timeoutMs });
  if (res.code !== 0) {
    throw new MeshletError('MESHLET_ERR_LAB', `ip ${args.join(' ')} failed (exit ${res.code ?? res.signal}): ${res.stderr.trim()}`);
  }
  return res.stdout;
}

/**
 * Synchronous bounded run for the last-chance cleanup in a process `exit` handler, where no
 * promise can settle any more. Never throws: the caller does what it can.
 */
export function runCommandSync(command: string, args: readonly string[], timeoutMs = 5000): CommandResult {
  const res = spawnSync(command, [...args], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { code: res.status, signal: res.signal, stdout: res.stdout ?? '', stderr: res.stderr ?? '' };
}
