/**
 * Join tokens for agents outside Kubernetes (systemd hosts, VMs): each node has its own token;
 * the controller keeps only their hashes, in a file it reloads when it changes. An invalid
 * file is logged with every problem and the previous tokens stay in effect.
 */
import { timingSafeEqual } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import type { AgentAuthenticator, AgentPrincipal } from '../contracts.js';
import { bearerToken, tokenDigest, unauthenticated } from './bearer-token.js';
import { parseJoinTokens } from './join-token-file.js';

/** Editors and `join-token create` write in steps; 100 ms lets a burst of events settle. */
const RELOAD_DEBOUNCE_MS = 100;

/** Compared against when a node has no token, so an unknown node costs the same as a known one. */
const NO_TOKEN = Buffer.alloc(32);

/** Options of {@link JoinTokenAuthenticator}. */
export interface JoinTokenAuthenticatorOptions {
  /** The token file (`--join-tokens`). */
  readonly file: string;
  readonly logger: Logger;
}

/** Authenticates agents by node name and join token. `start()` before use. */
export class JoinTokenAuthenticator implements AgentAuthenticator {
  private readonly file: string;
  private readonly logger: Logger;
  private tokens: ReadonlyMap<string, readonly Buffer[]> = new Map();
  private lastText: string | undefined;
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<boolean> | undefined;
  private closed = false;

  constructor(opts: JoinTokenAuthenticatorOptions) {
    this.file = opts.file;
    this.logger = opts.logger.child({ component: 'join-tokens' });
  }

  /**
   * Loads the file and starts watching it. Throws MESHLET_ERR_CONFIG_INVALID (every problem in
   * `details`, each naming its line) when the file is missing or invalid: bad configuration
   * must stop the controller at start rather than lock every agent out.
   */
  async start(): Promise<{ tokens: number; nodes: number }> {
    const text = await this.readText();
    this.apply(text);
    this.watcher?.close(); // a second start() replaces the watch rather than adding one
    // The directory, not the file: an atomic rename replaces the file's inode, and a watch on
    // the old inode would never fire again.
    this.watcher = watch(dirname(this.file), () => this.schedule());
    this.watcher.on('error', (err) => this.logger.warn({ err: err.message }, 'watching the join token file failed; restart to reload it'));
    return this.count();
  }

  /** Number of tokens and of nodes that have one. */
  count(): { tokens: number; nodes: number } {
    let tokens = 0;
    for (const list of this.tokens.values()) tokens += list.length;
    return { tokens, nodes: this.tokens.size };
  }

  /** See {@link AgentAuthenticator.authenticate}. */
  async authenticate(credentials: { readonly authorization?: string; readonly node?: string }): Promise<AgentPrincipal> {
    const token = bearerToken(credentials.authorization);
    const node = credentials.node;
    if (node === undefined || node === '') throw unauthenticated('no x-meshlet-node metadata: a join token is checked against the node it was made for');
    const digest = tokenDigest(token);
    const known = this.tokens.get(node) ?? [NO_TOKEN];
    let match = false;
    // Every hash is compared, in constant time each: how far a guess got is never observable.
    for (const hash of known) match = timingSafeEqual(hash, digest) || match;
    if (!match || !this.tokens.has(node)) {
      // The name is the caller's: cut to the longest valid node name before logging it.
      const shown = node.slice(0, 253);
      this.logger.warn({ node: shown }, 'join token refused');
      throw unauthenticated(`the join token is not valid for node ${JSON.stringify(shown)}`);
    }
    return { node, method: 'join-token' };
  }

  /**
   * Re-reads the file now; true when new tokens took effect. Invalid content is logged and
   * changes nothing. Reloads never overlap.
   */
  async reload(): Promise<boolean> {
    while (this.reloading !== undefined) await this.reloading;
    this.reloading = this.reloadOnce();
    try {
      return await this.reloading;
    } finally {
      this.reloading = undefined;
    }
  }

  /** Stops watching. Idempotent. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.watcher?.close();
    this.watcher = undefined;
  }

  private schedule(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload(), RELOAD_DEBOUNCE_MS);
    this.timer.unref();
  }

  private async reloadOnce(): Promise<boolean> {
    if (this.closed) return false;
    try {
      const text = await this.readText();
      if (text === this.lastText) return false;
      this.apply(text);
      this.logger.info(this.count(), 'join tokens reloaded');
      return true;
    } catch (err) {
      const e = err as MeshletError;
      this.logger.error({ err: e.message, problems: e.details }, 'join token file rejected; the previous tokens stay in effect');
      return false;
    }
  }

  private async readText(): Promise<string> {
    try {
      return await readFile(this.file, 'utf8');
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `join token file ${this.file} cannot be read: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Parses (throwing on any problem) and only then replaces the tokens. */
  private apply(text: string): void {
    const { entries } = parseJoinTokens(text, this.file);
    const byNode = new Map<string, Buffer[]>();
    for (const e of entries) {
      const list = byNode.get(e.node) ?? [];
      list.push(Buffer.from(e.sha256, 'hex'));
      byNode.set(e.node, list);
    }
    this.tokens = byNode;
    this.lastText = text;
  }
}
