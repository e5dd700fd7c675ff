/**
 * Test-side wrappers around the `tcp-server` and `tcp-client` scripts: start a server in a pod
 * and wait until it listens, run a client in a pod and get its parsed result.
 *
 * ```ts
 * const server = await startTcpServer(lab, 'server', { port: 8080 });
 * const res = await runTcpClient(lab, 'client', lab.podAddress('server'), 8080, { bytes: 1 << 20 });
 * t.ok(res.ok, JSON.stringify(res));
 * t.equal(server.connections[0]?.remoteAddress, lab.podAddress('client'));
 * ```
 *
 * @module
 */

import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../../../src/lab/index.js';

/** Compiled path of the server script (run with `node`). */
export const TCP_SERVER_SCRIPT = fileURLToPath(new URL('./tcp-server.js', import.meta.url));
/** Compiled path of the client script (run with `node`). */
export const TCP_CLIENT_SCRIPT = fileURLToPath(new URL('./tcp-client.js', import.meta.url));

/** A connection as the server reports it once the client is done. */
export interface ServerConnection {
  readonly mode: string;
  readonly bytes: number;
  readonly sha256: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** A running server: the process, its port and the connections it has finished so far. */
export interface TcpServerHandle {
  readonly child: ChildProcess;
  readonly port: number;
  readonly connections: ServerConnection[];
  /** Resolves with the next finished connection (bounded by `timeoutMs`). */
  nextConnection(timeoutMs?: number): Promise<ServerConnection>;
}

/** What the client script printed. */
export interface TcpClientResult {
  readonly ok: boolean;
  readonly totalMs: number;
  readonly connectMs?: number;
  readonly bytesSent?: number;
  readonly sha256?: string;
  readonly server?: { bytes: number; sha256: string; remoteAddress: string };
  readonly error?: { code?: string; message: string };
}

/**
 * Starts `tcp-server` in a pod (or node) and resolves once it listens; rejects after
 * `timeoutMs` (default 5 s) or when it exits first. The lab kills it at `down`.
 */
export function startTcpServer(
  lab: Lab,
  where: string,
  opts: { port: number; mode?: 'sink' | 'echo'; host?: string; timeoutMs?: number },
): Promise<TcpServerHandle> {
  const child = lab.spawnNode(where, TCP_SERVER_SCRIPT, ['--port', String(opts.port), '--mode', opts.mode ?? 'sink', '--host', opts.host ?? '0.0.0.0']);
  const connections: ServerConnection[] = [];
  const waiters: ((c: ServerConnection) => void)[] = [];
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcp-server in ${where} not listening after ${opts.timeoutMs ?? 5000} ms: ${stderr}`)), opts.timeoutMs ?? 5000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tcp-server in ${where} exited with ${code}: ${stderr}`));
    });
    let buf = '';
    child.stdout?.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        let ev: { event: string; port?: number } & ServerConnection;
        try {
          ev = JSON.parse(line) as typeof ev;
        } catch {
          continue;
        }
        if (ev.event === 'listening') {
          clearTimeout(timer);
          resolve({ child, port: ev.port ?? opts.port, connections, nextConnection: (ms = 5000) => next(connections, waiters, ms) });
        } else if (ev.event === 'connection') {
          connections.push(ev);
          waiters.shift()?.(ev);
        }
      }
    });
  });
}

function next(connections: ServerConnection[], waiters: ((c: ServerConnection) => void)[], timeoutMs: number): Promise<ServerConnection> {
  const seen = connections.length;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no connection finished within ${timeoutMs} ms`)), timeoutMs);
    waiters.push((c) => {
      clearTimeout(timer);
      resolve(connections[seen] ?? c);
    });
  });
}

/** Runs `tcp-client` in a pod (or node) and returns its parsed result. */
export async function runTcpClient(
  lab: Lab,
  where: string,
  host: string,
  port: number,
  opts: { bytes?: number; mode?: 'sink' | 'echo'; timeoutMs?: number } = {},
): Promise<TcpClientResult> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const args = ['--host', host, '--port', String(port), '--bytes', String(opts.bytes ?? 65536), '--mode', opts.mode ?? 'sink', '--timeout-ms', String(timeoutMs)];
  // The process bound is the client's own bound plus node's start-up time (past 5 s on a loaded CI machine).
  const res = await lab.runNode(where, TCP_CLIENT_SCRIPT, args, { timeoutMs: timeoutMs + 30_000 });
  const line = res.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as TcpClientResult;
  } catch {
    return { ok: false, totalMs: -1, error: { message: `client printed no result (exit ${res.code}): ${res.stdout}${res.stderr}` } };
  }
}
