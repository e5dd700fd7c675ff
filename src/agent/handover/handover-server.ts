/**
 * The old agent's end of the handover socket: answers one takeover at a time, after checking
 * the peer (same uid, one bounded line, the right node and version), by passing every listening
 * socket with SCM_RIGHTS; then waits for the new agent to say it serves. Anything bad from the
 * peer is logged with a clear reason and refused; the agent serves on as before.
 */
import { chmod, unlink } from 'node:fs/promises';
import net from 'node:net';
import type { Logger } from 'pino';
import { socketFd } from '../../ops/libc.js';
import { listen } from '../../ops/listen.js';
import { encodeLine, MAX_FDS_PER_LINE, MAX_LINE_BYTES, parseTakeoverRequest, type ListenerEntry } from './handover-protocol.js';
import { peerUid, sendWithFds } from './scm-rights.js';

/** How long a peer has to send its request line. */
export const REQUEST_TIMEOUT_MS = 5_000;

/** Where a takeover stands, as the agent is told. */
export type TakeoverPhase = 'started' | 'aborted' | 'serving';

/** Options of {@link HandoverServer}. */
export interface HandoverServerOptions {
  readonly path: string;
  readonly node: string;
  readonly logger: Logger;
  /** Every listening socket to hand over, with its entry (same order). */
  readonly listeners: () => { entries: readonly ListenerEntry[]; fds: readonly number[] };
  /** Told when a takeover starts, is aborted (the new agent went away), or completes (the new agent serves). */
  readonly onTakeover: (phase: TakeoverPhase, pid: number) => void;
  /** The uid a peer must have (default: this process's). */
  readonly uid?: number;
}

/**
 * Listens on the handover socket. While a takeover is under way it does not listen: closing a
 * unix socket server removes its file, which must happen before the new agent binds the same
 * path for the next upgrade, never after. An aborted takeover listens again.
 */
export class HandoverServer {
  private readonly opts: HandoverServerOptions;
  private server: net.Server | undefined;
  private busy = false;
  private done = false;
  private closed = false;

  constructor(opts: HandoverServerOptions) {
    this.opts = opts;
  }

  /** Listens on the path (a stale socket file from a crashed agent is replaced), mode 0600. */
  async start(): Promise<void> {
    await unlink(this.opts.path).catch(() => undefined);
    const server = net.createServer((s) => this.onConnection(s));
    this.server = server;
    await listen(server, { path: this.opts.path });
    await chmod(this.opts.path, 0o600);
  }

  /** Stops listening (the socket file goes with it). Idempotent. */
  close(): void {
    this.closed = true;
    this.stopListening();
  }

  private stopListening(): void {
    this.server?.close();
    this.server = undefined;
  }

  private refuse(socket: net.Socket, reason: string): void {
    this.opts.logger.warn({ code: 'MESHLET_ERR_HANDOVER', reason }, 'takeover refused; serving on');
    socket.end(encodeLine({ type: 'refused', reason }));
    socket.destroySoon();
  }

  private onConnection(socket: net.Socket): void {
    const uid = peerUid(socketFd(socket));
    const want = this.opts.uid ?? process.getuid?.() ?? 0;
    if (uid !== want) return this.refuse(socket, `peer uid ${uid ?? 'unknown'} is not ${want}`);
    if (this.done) return this.refuse(socket, 'this agent has already handed its listeners over');
    if (this.busy) return this.refuse(socket, 'another takeover is in progress');
    this.busy = true;
    let buffered = '';
    let pid = 0;
    let started = false;
    const timer = setTimeout(() => fail('no takeover request within 5 s'), REQUEST_TIMEOUT_MS);
    const fail = (reason: string): void => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      if (!started) this.refuse(socket, reason);
      else socket.destroy();
    };
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      if (buffered.length > MAX_LINE_BYTES) return fail(`request longer than ${MAX_LINE_BYTES} bytes`);
      const nl = buffered.indexOf('\n');
      if (nl < 0) return;
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      if (!started) {
        clearTimeout(timer);
        const req = parseTakeoverRequest(line, this.opts.node);
        if (typeof req === 'string') return fail(req);
        pid = req.pid;
        try {
          this.send(socket);
        } catch (err) {
          return fail(`sending the listeners failed: ${(err as Error).message}`);
        }
        started = true;
        this.stopListening();
        this.opts.logger.info({ newAgentPid: pid }, 'takeover started: listeners passed to the new agent');
        this.opts.onTakeover('started', pid);
      } else if (line === '{"type":"serving"}') {
        this.done = true;
        socket.removeAllListeners('close');
        socket.end();
        this.opts.logger.info({ newAgentPid: pid }, 'the new agent serves: this agent stops accepting and drains');
        this.opts.onTakeover('serving', pid);
      } else {
        fail(`unexpected message from the new agent: ${JSON.stringify(line.slice(0, 80))}`);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      this.busy = false;
      if (started && !this.done) {
        this.opts.logger.warn({ newAgentPid: pid }, 'takeover aborted: the new agent went away before it served; this agent serves on');
        this.opts.onTakeover('aborted', pid);
        if (!this.closed) {
          this.start().catch((err: Error) => this.opts.logger.error({ code: 'MESHLET_ERR_HANDOVER', err: err.message }, 'handover socket not available again after an aborted takeover'));
        }
      }
    });
  }

  private send(socket: net.Socket): void {
    const { entries, fds } = this.opts.listeners();
    const fd = socketFd(socket);
    for (let i = 0; i < entries.length || i === 0; i += MAX_FDS_PER_LINE) {
      const more = i + MAX_FDS_PER_LINE < entries.length;
      const line = encodeLine({ type: 'listeners', version: 1, node: this.opts.node, entries: entries.slice(i, i + MAX_FDS_PER_LINE), more });
      sendWithFds(fd, line, fds.slice(i, i + MAX_FDS_PER_LINE));
    }
  }
}
