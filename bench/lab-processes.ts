/**
 * Long-running bench processes in lab namespaces (servers, the HAProxy pair): started with
 * their output in a log file, waited for until their port listens, and bounded everywhere.
 * The lab tracks them and kills them at `down`.
 *
 * @module
 */

import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../src/lab/index.js';
import { MeshletError } from '../src/mesh/errors.js';
import { pinnedCommand } from './cpu-pinning.js';

/** A started process and where its output goes. */
export interface LoggedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Pid of the command itself (`ip netns exec` execs it in place). */
  readonly pid: number;
}

/** Starts `command args` in a pod or node namespace with stdout and stderr in `logFile`. */
export function spawnLogged(lab: Lab, member: string, name: string, command: string, args: readonly string[], logFile: string): LoggedProcess {
  const fd = openSync(logFile, 'a');
  let child: ChildProcess;
  try {
    child = lab.spawn(member, command, args, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  child.once('error', () => undefined);
  if (child.pid === undefined) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `cannot start ${name} (${command}) in ${member}`);
  return { name, child, logFile, pid: child.pid };
}

function tail(file: string): string {
  try {
    return readFileSync(file, 'utf8').slice(-1500);
  } catch {
    return '';
  }
}

/** Polling interval of {@link waitListening}: `ss` is cheap, 100 ms keeps start-up quick. */
const LISTEN_POLL_MS = 100;

/**
 * Resolves once something listens on TCP `port` inside the member's namespace; throws
 * `MESHLET_ERR_HOST_TOOL` with the process's log tail when it exits first or after `timeoutMs`.
 */
export async function waitListening(lab: Lab, member: string, port: number, proc: LoggedProcess, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) {
      throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${proc.name} in ${member} exited (${proc.child.exitCode ?? proc.child.signalCode}) before listening on ${port}: ${tail(proc.logFile)}`);
    }
    const r = await lab.exec(member, 'ss', ['-Hltn', `sport = :${port}`], { timeoutMs: 5000 });
    if (r.code === 0 && r.stdout.trim() !== '') return;
    await sleep(LISTEN_POLL_MS);
  }
  throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${proc.name} in ${member} not listening on ${port} after ${timeoutMs} ms: ${tail(proc.logFile)}`);
}

/**
 * Starts a server and waits until it listens; on `cpus` when given (`taskset -c`, which execs
 * the command in place: the pid is still the server's), else on the harness's own CPUs.
 */
export async function startServer(
  lab: Lab,
  member: string,
  name: string,
  port: number,
  command: string,
  args: readonly string[],
  logFile: string,
  cpus?: readonly number[],
): Promise<LoggedProcess> {
  const pinned = pinnedCommand(cpus, command, args);
  const proc = spawnLogged(lab, member, name, pinned.command, pinned.args, logFile);
  await waitListening(lab, member, port, proc);
  return proc;
}

/**
 * Sysctls of the lab's own namespaces that let the connection-rate scenario run for minutes:
 * a wide ephemeral range and reuse of TIME_WAIT ports for new outgoing connections (every
 * connect-exchange-close leaves one behind). Per namespace; the host's are never touched.
 */
export async function tuneNamespace(lab: Lab, member: string): Promise<void> {
  for (const setting of ['net.ipv4.ip_local_port_range=10000 65000', 'net.ipv4.tcp_tw_reuse=1']) {
    const r = await lab.exec(member, 'sysctl', ['-q', '-w', setting], { timeoutMs: 5000 });
    if (r.code !== 0) throw new MeshletError('MESHLET_ERR_LAB', `sysctl -w ${setting} in ${member} failed: ${r.stderr.trim()}`);
  }
}
