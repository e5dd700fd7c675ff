/**
 * The watch half of client-node's ListWatch, done with node:http(s) so the registry controls
 * what the library's `Watch` does not: it asks for bookmarks and a server-side timeout, it
 * gives up on a watch the server should have ended by then (a dead connection sends no FIN),
 * it paces watches that keep ending at once (the library re-opens them in a tight loop), and
 * close() aborts every request, also one still connecting.
 *
 * ListWatch keeps doing the rest: list, then watch from the list's resourceVersion; resume
 * from the last seen resourceVersion when a watch ends; re-list on 410 Gone.
 */
import type { IncomingMessage } from 'node:http';
import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { MeshletError } from '../../mesh/errors.js';
import { Backoff } from '../../ops/backoff.js';
import { kubeRequest, KubeApiError, statusMessage } from './kube-client.js';

/** What a watch reports to its informer. */
export interface WatchHooks {
  /** A watch is opening: the list before it, if any, has been applied. */
  onWatchStart(): void;
  /** An event arrived (its type: ADDED, MODIFIED, DELETED, BOOKMARK, ERROR). */
  onEvent(type: string, object: unknown): void;
  /** A watch ended after `durationMs`, with the error that ended it, if any. */
  onWatchEnd(durationMs: number, err: Error | null): void;
  /** Applied to the object of ADDED, MODIFIED and DELETED events before ListWatch sees it. */
  transform?(object: object): object;
}

/** Timing of watches. */
export interface WatchTiming {
  /** `timeoutSeconds` asked of the server: it ends the watch then, and ListWatch resumes. */
  readonly timeoutSeconds: number;
  /** Slack past `timeoutSeconds` before a silent watch is taken for a dead connection. */
  readonly graceMs: number;
  /** How long the response headers may take. */
  readonly connectTimeoutMs: number;
  /** A watch shorter than this counts as failing at once: the next one waits. */
  readonly minHealthyMs: number;
  /** Wait before re-opening after the first such watch; doubles each time, up to `maxPaceMs`. */
  readonly initialPaceMs: number;
  readonly maxPaceMs: number;
}

/** Defaults. client-go picks 5-10 min for timeoutSeconds; the API server's own cap is 30 min. */
export const DEFAULT_WATCH_TIMING: WatchTiming = Object.freeze({
  timeoutSeconds: 300,
  graceMs: 30_000,
  connectTimeoutMs: 30_000,
  minHealthyMs: 1_000,
  initialPaceMs: 200,
  maxPaceMs: 30_000,
});

/** One JSON line of a watch stream is one object; the API server caps objects near 1.5 MiB. */
const MAX_LINE_CHARS = 16 * 1024 * 1024;

type WatchCallback = (phase: string, apiObj: unknown, watchObj?: unknown) => void;

/** A client-node `Watch` for one resource, with the registry's controls. */
export class RegistryWatch extends Watch {
  private readonly kc: KubeConfig;
  private readonly hooks: WatchHooks;
  private readonly timing: WatchTiming;
  /** Delays between re-opens while watches keep ending early; indexed by {@link shortInARow}. */
  private readonly pacing: Backoff;
  private readonly active = new Set<AbortController>();
  private shortInARow = 0;
  private closed = false;
  private wakeUp: (() => void) | undefined;

  constructor(kc: KubeConfig, hooks: WatchHooks, timing: WatchTiming) {
    super(kc);
    this.kc = kc;
    this.hooks = hooks;
    this.timing = timing;
    this.pacing = new Backoff({ initialMs: timing.initialPaceMs, maxMs: timing.maxPaceMs });
  }

  /** Opens a watch; never throws: every failure goes to `done`, as ListWatch expects. */
  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const controller = new AbortController();
    if (this.closed) {
      controller.abort();
      return controller;
    }
    await this.pace();
    if (this.closed) {
      controller.abort();
      return controller;
    }
    this.active.add(controller);
    this.hooks.onWatchStart();
    const startedAt = Date.now();
    let finished = false;
    const finish = (err: Error | null): void => {
      if (finished) return;
      finished = true;
      this.active.delete(controller);
      controller.abort();
      const duration = Date.now() - startedAt;
      this.shortInARow = duration < this.timing.minHealthyMs ? this.shortInARow + 1 : 0;
      this.hooks.onWatchEnd(duration, err);
      done(err);
    };
    try {
      await this.open(path, queryParams, controller, callback, finish);
    } catch (err) {
      finish(err instanceof Error ? err : new Error(String(err)));
    }
    return controller;
  }

  /** Aborts every watch and refuses new ones. Idempotent. */
  close(): void {
    this.closed = true;
    this.wakeUp?.();
    for (const c of [...this.active]) c.abort();
  }

  /** Waits before re-opening when the last watches ended at once (bounded, abortable by close). */
  private async pace(): Promise<void> {
    if (this.shortInARow === 0) return;
    const delay = this.pacing.delayFor(this.shortInARow - 1);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wakeUp = undefined;
  }

  private async open(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    controller: AbortController,
    callback: WatchCallback,
    finish: (err: Error | null) => void,
  ): Promise<void> {
    const query = new URLSearchParams({ watch: 'true' });
    for (const [key, value] of Object.entries(queryParams)) if (value !== undefined) query.set(key, String(value));
    query.set('allowWatchBookmarks', 'true');
    query.set('timeoutSeconds', String(this.timing.timeoutSeconds));
    const req = await kubeRequest(this.kc, `${path}?${query.toString()}`, controller.signal);
    const what = `watch ${path}`;
    // No event at all (not even the end) past the server's own timeout: the connection is dead.
    const deadline = setTimeout(() => finish(new MeshletError('MESHLET_ERR_REGISTRY', `${what}: silent past timeoutSeconds`)), this.timing.timeoutSeconds * 1000 + this.timing.graceMs);
    deadline.unref();
    const connect = setTimeout(() => finish(new MeshletError('MESHLET_ERR_REGISTRY', `${what}: no answer within ${this.timing.connectTimeoutMs} ms`)), this.timing.connectTimeoutMs);
    connect.unref();
    const end = (err: Error | null): void => {
      clearTimeout(deadline);
      clearTimeout(connect);
      req.destroy();
      finish(err);
    };
    controller.signal.addEventListener('abort', () => end(new MeshletError('MESHLET_ERR_CLOSED', `${what}: aborted`)), { once: true });
    req.on('error', (err) => end(new MeshletError('MESHLET_ERR_REGISTRY', `${what}: ${err.message}`, { cause: err })));
    req.on('response', (res) => {
      clearTimeout(connect);
      if (res.statusCode === 200) this.stream(res, what, callback, end);
      else readStatus(res, (text) => end(new KubeApiError(res.statusCode ?? 0, `${what}: ${res.statusCode ?? 0} ${text}`)));
    });
    req.end();
  }

  /** Reads JSON lines and hands each event to ListWatch; a clean end is `end(null)`. */
  private stream(res: IncomingMessage, what: string, callback: WatchCallback, end: (err: Error | null) => void): void {
    res.setEncoding('utf8');
    let buffered = '';
    res.on('data', (chunk: string) => {
      buffered += chunk;
      let newline = buffered.indexOf('\n');
      while (newline !== -1) {
        this.deliver(buffered.slice(0, newline), callback);
        buffered = buffered.slice(newline + 1);
        newline = buffered.indexOf('\n');
      }
      if (buffered.length > MAX_LINE_CHARS) end(new MeshletError('MESHLET_ERR_REGISTRY', `${what}: an event longer than ${MAX_LINE_CHARS} characters`));
    });
    res.on('error', (err) => end(new MeshletError('MESHLET_ERR_REGISTRY', `${what}: ${err.message}`, { cause: err })));
    res.on('close', () => {
      if (res.complete) {
        if (buffered.trim() !== '') this.deliver(buffered, callback);
        end(null);
      } else {
        end(new MeshletError('MESHLET_ERR_REGISTRY', `${what}: the connection closed in the middle of the stream`));
      }
    });
  }

  private deliver(line: string, callback: WatchCallback): void {
    if (line.trim() === '') return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      // A line we cannot read is dropped; the resourceVersion it carried is then replayed on resume.
      return;
    }
    if (typeof event !== 'object' || event === null) return;
    const { type, object } = event as { type?: unknown; object?: unknown };
    if (typeof type !== 'string' || typeof object !== 'object' || object === null) return;
    this.hooks.onEvent(type, object);
    const isChange = type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED';
    callback(type, isChange && this.hooks.transform !== undefined ? this.hooks.transform(object) : object, event);
  }
}

/** Reads a short error body (a Status) and passes its message on. */
function readStatus(res: IncomingMessage, then: (text: string) => void): void {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (chunk: string) => {
    if (body.length < 64 * 1024) body += chunk;
  });
  res.on('close', () => then(statusMessage(body) || (res.statusMessage ?? '')));
}
