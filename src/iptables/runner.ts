/**
 * Runs host commands (iptables-save, iptables-restore, ...) for the iptables code, optionally
 * inside a named network namespace. Tests swap in a fake {@link CommandRunner}.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { MeshletError } from '../mesh/errors.js';

/** How a command ended. */
export interface CommandResult {
  /** Exit code; 127 when the command does not exist (as a shell reports it). */
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of one command run. */
export interface RunOptions {
  /** Written to the command's stdin, then stdin is closed. */
  readonly stdin?: string;
}

/**
 * Runs one command. Resolves with its exit code and output whatever the code is; rejects only
 * when the command could not be run to completion (time limit, output limit, spawn failure).
 */
export interface CommandRunner {
  run(command: string, args: readonly string[], options?: RunOptions): Promise<CommandResult>;
}

/** Options of {@link createCommandRunner}. */
export interface CommandRunnerOptions {
  /** Run every command inside this named netns (`ip netns exec NAME ...`). */
  readonly netns?: string;
  /** Kill a command still running after this long. Default 30 s. */
  readonly timeoutMs?: number;
}

/**
 * Default time limit. Generous because `iptables-restore` may wait for the xtables lock while
 * kube-proxy holds it, yet bounded so a wedged tool cannot hang the agent.
 */
const DEFAULT_TIMEOUT_MS = 30_000;
/** A kube-proxy node with tens of thousands of Services saves a nat table of tens of MB. */
const MAX_OUTPUT_BYTES = 128 * 1024 * 1024;
/** What `ip netns` accepts as a name, minus path tricks (it maps to /run/netns/NAME). */
const NETNS_NAME = /^(?!\.\.?$)[A-Za-z0-9_.-]{1,64}$/;

/** True when `name` is a usable network namespace name. */
export function isValidNetnsName(name: string): boolean {
  return NETNS_NAME.test(name);
}

/** The program and arguments that run `command args` (inside `netns` when given). */
export function invocation(command: string, args: readonly string[], netns?: string): { file: string; args: string[] } {
  if (netns === undefined) return { file: command, args: [...args] };
  return { file: 'ip', args: ['netns', 'exec', netns, command, ...args] };
}

/** The default runner: `node:child_process` spawn, no shell. */
export function createCommandRunner(options: CommandRunnerOptions = {}): CommandRunner {
  const { netns, timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  if (netns !== undefined && !isValidNetnsName(netns)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `netns ${JSON.stringify(netns)}: not a valid network namespace name`);
  }
  return {
    run: (command, args, runOptions = {}) => runOnce(invocation(command, args, netns), timeoutMs, runOptions.stdin),
  };
}

function runOnce(inv: { file: string; args: string[] }, timeoutMs: number, stdin: string | undefined): Promise<CommandResult> {
  const shown = [inv.file, ...inv.args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(inv.file, inv.args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let bytes = 0;
    let failure: MeshletError | undefined;
    const stop = (why: string): void => {
      failure ??= new MeshletError('MESHLET_ERR_HOST_TOOL', `${shown}: ${why}`);
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => stop(`still running after ${timeoutMs} ms, killed`), timeoutMs);
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > MAX_OUTPUT_BYTES) stop(`printed more than ${MAX_OUTPUT_BYTES} bytes, killed`);
      else into.push(chunk);
    };
    child.stdout.on('data', collect(out));
    child.stderr.on('data', collect(err));
    // A command that exits without reading its stdin makes our write fail with EPIPE; its exit
    // code and stderr say what went wrong, so the write error itself adds nothing.
    child.stdin.on('error', () => {});
    child.stdin.end(stdin ?? '');
    child.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (error.code === 'ENOENT') resolve({ code: 127, stdout: '', stderr: `${inv.file}: command not found` });
      else reject(new MeshletError('MESHLET_ERR_HOST_TOOL', `${shown}: could not run: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (failure !== undefined) return reject(failure);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      // Killed by a signal: report it the way a shell does (128 + signal number).
      const exit = code ?? 128 + (signal === null ? 0 : constants.signals[signal]);
      resolve({ code: exit, stdout, stderr });
    });
  });
}
