/**
 * The harness's side of `tracing-sink.ts`: starts the sink in a lab namespace and asks it, over
 * its stdin and stdout, what it received. Every wait is bounded; the lab kills the sink at
 * teardown if `stop` was not called.
 *
 * @module
 */

import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Lab } from '../src/lab/index.js';
import { MeshletError } from '../src/mesh/errors.js';
import type { ReceivedSpan } from '../test/helpers/otlp-receiver.js';
import type { SinkCounts } from './tracing-sink.js';

export type { SinkCounts };

const SINK_JS = fileURLToPath(new URL('./tracing-sink.js', import.meta.url));
/** The sink starts in well under a second; a loaded machine gets far more. */
const START_TIMEOUT_MS = 20_000;
/** One answer on stdout: immediate unless the machine stalls. */
const ANSWER_TIMEOUT_MS = 10_000;

/** The OTLP/HTTP port, as collectors listen on. */
export const OTLP_HTTP_PORT = 4318;

/** A sink running in a lab namespace. */
export class TracingSink {
  /** `http://<address>:<port>`: a Telemetry's collector is this plus a path. */
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly lines: string[] = [];
  private buffered = '';
  private wake: (() => void) | undefined;
  private stderr = '';

  private constructor(child: ChildProcess, url: string) {
    this.child = child;
    this.url = url;
    child.stdout?.on('data', (c: Buffer) => {
      this.buffered += c.toString('utf8');
      const parts = this.buffered.split('\n');
      this.buffered = parts.pop() ?? '';
      this.lines.push(...parts);
      this.wake?.();
    });
    child.stderr?.on('data', (c: Buffer) => void (this.stderr = (this.stderr + c.toString('utf8')).slice(-2000)));
  }

  /**
   * Starts the sink in `member` (a pod or node of the lab) on `address:port` (the member's own
   * address); with `decode`, it keeps every span decoded for {@link spans}.
   */
  static async start(lab: Lab, member: string, address: string, opts: { port?: number; decode?: boolean } = {}): Promise<TracingSink> {
    const port = opts.port ?? OTLP_HTTP_PORT;
    const child = lab.spawnNode(member, SINK_JS, [String(port), ...(opts.decode === true ? ['--decode'] : [])], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.once('error', () => undefined);
    const sink = new TracingSink(child, `http://${address}:${port}`);
    const first = await sink.nextJson(START_TIMEOUT_MS, `the trace sink in ${member} to listen on ${port}`);
    if (first['listening'] !== port) throw new MeshletError('MESHLET_ERR_LAB', `the trace sink in ${member} printed ${JSON.stringify(first)}`);
    return sink;
  }

  private async nextJson(timeoutMs: number, what: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.shift();
      if (line !== undefined) {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue; // not a JSON line
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new MeshletError('MESHLET_ERR_LAB', `waiting for ${what}: ${this.child.exitCode !== null ? `the sink exited ${this.child.exitCode}` : `nothing within ${timeoutMs} ms`}; stderr ${JSON.stringify(this.stderr)}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  private async ask(cmd: 'counts' | 'spans'): Promise<Record<string, unknown>> {
    this.child.stdin?.write(`${cmd}\n`);
    const answer = await this.nextJson(ANSWER_TIMEOUT_MS, `the trace sink's ${cmd}`);
    if (answer[cmd] === undefined) throw new MeshletError('MESHLET_ERR_LAB', `the trace sink answered ${JSON.stringify(answer).slice(0, 300)} to ${cmd}`);
    return answer;
  }

  /** What the sink received so far. */
  async counts(): Promise<SinkCounts> {
    return (await this.ask('counts'))['counts'] as SinkCounts;
  }

  /** Every span received so far, decoded (a sink started with `decode`). */
  async spans(): Promise<ReceivedSpan[]> {
    return (await this.ask('spans'))['spans'] as ReceivedSpan[];
  }

  /** Ends the sink (stdin closed; SIGKILL if it lingers); idempotent. */
  stop(): void {
    this.child.stdin?.end();
    setTimeout(() => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }, 2000).unref();
  }
}
