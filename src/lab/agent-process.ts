/**
 * One node agent process of a lab: started inside the node's namespace with its stdout and
 * stderr appended to `logs/<node>.log`, ready when the log shows a pino line with
 * `"msg":"agent ready"`. The log goes to a file, not a pipe, so an agent of a detached lab
 * (`meshlet lab up --detach`) outlives the command that started it.
 *
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { MeshletError } from '../mesh/errors.js';

/** The `msg` of the pino line an agent prints once it serves. */
export const AGENT_READY_MSG = 'agent ready';
/** Readiness is polled from the log file; 50 ms keeps `up` snappy and the CPU idle. */
const READY_POLL_MS = 50;
/** Bytes of log quoted in errors. */
const TAIL_BYTES = 3000;

/** How an agent exited. */
export interface AgentExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A command line (run inside the node's namespace). */
export interface AgentCommand {
  readonly command: string;
  readonly args: readonly string[];
}

/** The `msg` of the pino line the controller prints once it serves. */
export const CONTROLLER_READY_MSG = 'controller ready';

/** True when a log line is the JSON readiness line (`msg` exactly `readyMsg`). */
export function isAgentReadyLine(line: string, readyMsg: string = AGENT_READY_MSG): boolean {
  if (!line.includes(readyMsg)) return false;
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && (parsed as { msg?: unknown }).msg === readyMsg;
  } catch {
    return false;
  }
}

/** The last bytes of a file as text ('' when it does not exist). */
export async function fileTail(path: string, bytes = TAIL_BYTES): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      return buf.toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return '';
  }
}

/**
 * An agent process of one node (or the lab's controller, with its own readiness line). Start
 * it, wait for readiness, stop or kill it.
 */
export class AgentProcess {
  private child: ChildProcess | undefined;
  private exitPromise: Promise<AgentExit> = Promise.resolve({ code: null, signal: null });
  private exitInfo: AgentExit | undefined;

  constructor(
    readonly node: string,
    private readonly netns: string,
    private readonly cmd: AgentCommand,
    readonly logFile: string,
    private readonly readyMsg: string = AGENT_READY_MSG,
  ) {}

  /** Pid of the running agent (undefined when not running). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  /** True between start and exit. */
  get running(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /** Resolves when the current process has exited. */
  get exited(): Promise<AgentExit> {
    return this.exitPromise;
  }

  /**
   * Starts the agent and waits for its readiness line (written after this start) for at most
   * `timeoutMs`; on timeout or early exit it throws `MESHLET_ERR_LAB` with the log's tail.
   *
   * @param detach - let this process exit while the agent runs on
   */
  async start(timeoutMs: number, detach = false): Promise<void> {
    if (this.running) throw new MeshletError('MESHLET_ERR_LAB', `agent of node ${this.node} is already running`);
    let offset = 0;
    try {
      offset = statSync(this.logFile).size;
    } catch {
      offset = 0;
    }
    const fd = openSync(this.logFile, 'a');
    try {
      // Own process group: a terminal's Ctrl-C reaches the lab, which stops agents in order.
      this.child = spawn('ip', ['netns', 'exec', this.netns, this.cmd.command, ...this.cmd.args], {
        stdio: ['ignore', fd, fd],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    const child = this.child;
    this.exitInfo = undefined;
    this.exitPromise = new Promise((resolve) => {
      child.once('error', () => undefined);
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
    });
    if (detach) child.unref();
    await this.waitReady(offset, timeoutMs);
  }

  private async waitReady(offset: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let pos = offset;
    let carry = '';
    while (Date.now() < deadline) {
      const chunk = await readFrom(this.logFile, pos);
      pos += chunk.length;
      const lines = (carry + chunk.toString('utf8')).split('\n');
      carry = lines.pop() ?? '';
      if (lines.some((l) => isAgentReadyLine(l, this.readyMsg)) || isAgentReadyLine(carry, this.readyMsg)) return;
      if (this.exitInfo !== undefined) {
        const { code, signal } = this.exitInfo;
        throw new MeshletError(
          'MESHLET_ERR_LAB',
          `agent of node ${this.node} exited (code ${code}, signal ${signal}) before it was ready; log tail:\n${await fileTail(this.logFile)}`,
        );
      }
      await sleep(READY_POLL_MS);
    }
    throw new MeshletError(
      'MESHLET_ERR_LAB',
      `agent of node ${this.node} not ready after ${timeoutMs} ms (no "msg":"${this.readyMsg}" line); log tail:\n${await fileTail(this.logFile)}`,
    );
  }

  /**
   * Sends `signal`, waits up to `graceMs` for the exit, then SIGKILLs. Resolves with how it
   * exited; resolves at once when it is not running.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 5000): Promise<AgentExit> {
    const child = this.child;
    if (child === undefined || !this.running) return this.exitInfo ?? { code: null, signal: null };
    try {
      child.kill(signal);
    } catch {
      // Gone meanwhile.
    }
    const ac = new AbortController();
    const timer = sleep(graceMs, 'timeout' as const, { signal: ac.signal }).catch(() => 'cancelled' as const);
    const first = await Promise.race([this.exitPromise, timer]);
    ac.abort();
    if (first === 'timeout') child.kill('SIGKILL');
    return this.exitPromise;
  }

  /** SIGKILLs the agent and resolves when it has exited. */
  kill(): Promise<AgentExit> {
    return this.stop('SIGKILL', 0);
  }
}

async function readFrom(path: string, pos: number): Promise<Buffer> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      if (size <= pos) return Buffer.alloc(0);
      const buf = Buffer.alloc(size - pos);
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch {
    return Buffer.alloc(0);
  }
}
