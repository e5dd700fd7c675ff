/**
 * Headless Chromium driven over the DevTools protocol, for tests that check what a page shows.
 * The browser is started with `--remote-debugging-pipe`: it reads commands on its fd 3 and
 * writes answers and events on fd 4, each a JSON message ended by a NUL byte. No port is
 * opened, nothing is downloaded, and no library stands between the test and the protocol.
 *
 * The system's browser (Debian's `chromium`, installed by `npm run setup-host`); without one,
 * {@link requireChromium} says so loudly and the test skips, and in CI (`CI=true`) it fails.
 *
 * @module
 */

import { spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** The part of a tap test this helper uses. */
export interface BrowserGateTest {
  fail(message: string): boolean;
  comment(...message: unknown[]): void;
}

/** Commands that may name the browser, in order. */
const CANDIDATES = ['chromium', 'chromium-browser', 'google-chrome'];

/** The browser's path, or undefined. */
export function findChromium(): string | undefined {
  for (const name of CANDIDATES) {
    const res = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8', timeout: 5000 });
    if (res.status === 0 && res.stdout.trim() !== '') return res.stdout.trim();
  }
  return undefined;
}

/** The browser's path; when there is none, a loud skip (a failure under `CI=true`). */
export function requireChromium(t: BrowserGateTest): string | undefined {
  const path = findChromium();
  if (path !== undefined) return path;
  const why = `no Chromium on this host (looked for ${CANDIDATES.join(', ')}; install it: npm run setup-host, or apt-get install chromium)`;
  if (process.env['CI'] === 'true') t.fail(`browser test cannot run in CI: ${why}`);
  else t.comment(`SKIPPED: BROWSER TEST NOT RUN: ${why}`);
  return undefined;
}

/** Flags of a throwaway headless browser (root in a lab namespace: no sandbox, no GPU). */
export function chromiumArgs(userDataDir: string, width = 1400, height = 1600): string[] {
  return [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--no-default-browser-check',
    '--disable-extensions', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--mute-audio',
    `--user-data-dir=${userDataDir}`, `--window-size=${width},${height}`, '--remote-debugging-pipe', 'about:blank',
  ];
}

interface Pending {
  readonly resolve: (v: Record<string, unknown>) => void;
  readonly reject: (e: Error) => void;
  readonly method: string;
}

/** How long one protocol command may take (a screenshot of a long page on a busy machine). */
const COMMAND_TIMEOUT_MS = 60_000;

/** A DevTools protocol client over the browser's pipe, attached to one page. */
export class DevToolsPipe {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private rest = Buffer.alloc(0);
  private sessionId: string | undefined;
  /** Exceptions and console errors the page raised. */
  readonly pageErrors: string[] = [];
  /** What the browser logged about failed loads and fetches (an answer of 4xx or 5xx among them). */
  readonly networkErrors: string[] = [];

  constructor(
    private readonly child: ChildProcess,
    private readonly input: Writable,
    output: Readable,
  ) {
    output.on('data', (chunk: Buffer) => this.onData(chunk));
    child.once('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error(`browser exited during ${p.method}`));
      this.pending.clear();
    });
  }

  /** Wraps a browser spawned with `--remote-debugging-pipe` and stdio [.., .., .., 'pipe', 'pipe']. */
  static of(child: ChildProcess): DevToolsPipe {
    const input = child.stdio[3] as Writable | null | undefined;
    const output = child.stdio[4] as Readable | null | undefined;
    if (input == null || output == null) throw new Error('the browser needs pipes on fds 3 and 4');
    return new DevToolsPipe(child, input, output);
  }

  private onData(chunk: Buffer): void {
    this.rest = Buffer.concat([this.rest, chunk]);
    let end: number;
    while ((end = this.rest.indexOf(0)) >= 0) {
      const msg = JSON.parse(this.rest.subarray(0, end).toString('utf8')) as Record<string, unknown>;
      this.rest = this.rest.subarray(end + 1);
      this.onMessage(msg);
    }
  }

  private onMessage(msg: Record<string, unknown>): void {
    if (typeof msg['id'] === 'number') {
      const p = this.pending.get(msg['id']);
      if (p === undefined) return;
      this.pending.delete(msg['id']);
      const error = msg['error'] as { message?: string } | undefined;
      if (error !== undefined) p.reject(new Error(`${p.method}: ${error.message ?? JSON.stringify(error)}`));
      else p.resolve((msg['result'] ?? {}) as Record<string, unknown>);
      return;
    }
    const params = (msg['params'] ?? {}) as Record<string, unknown>;
    if (msg['method'] === 'Runtime.exceptionThrown') this.pageErrors.push(JSON.stringify(params['exceptionDetails']).slice(0, 2000));
    if (msg['method'] === 'Log.entryAdded') {
      const entry = params['entry'] as { level?: string; source?: string; text?: string; url?: string } | undefined;
      if (entry?.level === 'error') (entry.source === 'network' ? this.networkErrors : this.pageErrors).push(`${entry.text ?? ''} ${entry.url ?? ''}`);
    }
  }

  /** Sends a command (to the attached page unless `browser`), resolves with its result. */
  send(method: string, params: Record<string, unknown> = {}, browser = false): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    const msg = { id, method, params, ...(browser || this.sessionId === undefined ? {} : { sessionId: this.sessionId }) };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no answer in ${COMMAND_TIMEOUT_MS} ms`));
      }, COMMAND_TIMEOUT_MS);
      this.pending.set(id, {
        method,
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.input.write(`${JSON.stringify(msg)}\0`);
    });
  }

  /** Opens a page and attaches to it (flat session): later commands go to it. */
  async openPage(width: number, height: number): Promise<void> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' }, true);
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true }, true);
    this.sessionId = String(sessionId);
    await this.send('Runtime.enable');
    await this.send('Log.enable');
    await this.send('Page.enable');
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
  }

  /** Navigates and waits (bounded) until the document has loaded. */
  async goto(url: string, timeoutMs = 30_000): Promise<void> {
    const nav = await this.send('Page.navigate', { url });
    if (typeof nav['errorText'] === 'string') throw new Error(`navigate ${url}: ${nav['errorText']}`);
    const deadline = Date.now() + timeoutMs;
    while ((await this.evaluate<string>('document.readyState')) !== 'complete') {
      if (Date.now() > deadline) throw new Error(`${url} did not load in ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Evaluates an expression in the page (promises awaited), returning its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const res = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    const ex = res['exceptionDetails'] as { text?: string; exception?: { description?: string } } | undefined;
    if (ex !== undefined) throw new Error(`page: ${ex.exception?.description ?? ex.text ?? 'exception'} in ${expression.slice(0, 200)}`);
    return (res['result'] as { value?: T } | undefined)?.value as T;
  }

  /** The whole page as a PNG. */
  async screenshot(): Promise<Buffer> {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    return Buffer.from(String(data), 'base64');
  }

  /** Asks the browser to close; kills it if it has not exited within `graceMs`. Idempotent. */
  async close(graceMs = 5000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, 'exit');
    await this.send('Browser.close', {}, true).catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
