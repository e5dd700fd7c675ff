/**
 * Helpers of the L7 lab test (`l7.test.ts`): running `http-peer.js` in pods and reading what it
 * printed, the agents' JSON log lines, their metrics and memory, HTTP/2 frames.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { REPO_ROOT, type Lab } from '../../../src/lab/index.js';

export const PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/http-peer.js');

export type Json = Record<string, unknown>;
export type Counts = Record<string, number>;

/** Runs `http-peer.js ARGS` in a pod or node; its last stdout line as JSON (or why not). */
export async function peer(lab: Lab, where: string, args: string[], timeoutMs = 60_000): Promise<Json> {
  const r = await lab.runNode(where, PEER, args, { timeoutMs });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Json;
  } catch {
    return { ok: false, error: `http-peer printed ${JSON.stringify(r.stdout.slice(-2000))} stderr ${JSON.stringify(r.stderr.slice(-2000))} code ${r.code}` };
  }
}

/** The next stdout line of a child that parses as JSON (bounded). */
export async function nextJsonLine(child: ChildProcess, timeoutMs: number): Promise<Json> {
  let buf = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no JSON line within ${timeoutMs} ms: ${buf}`)), timeoutMs);
    const onData = (c: Buffer): void => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const line of lines) {
        try {
          const v = JSON.parse(line) as Json;
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolve(v);
          return;
        } catch {
          // not JSON: keep reading
        }
      }
    };
    child.stdout?.on('data', onData);
  });
}

/**
 * Every stdout line of a child, kept from the moment this is called: `next` takes the oldest
 * line not taken yet (waiting at most `timeoutMs`), so a line printed while the test awaited
 * something else is not lost (a bare `once('data')` leaves the stream flowing with no reader).
 */
export function lineReader(child: ChildProcess): { next(timeoutMs: number): Promise<string>; nextJson(timeoutMs: number): Promise<Json> } {
  const lines: string[] = [];
  let buf = '';
  let wake: (() => void) | undefined;
  child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
    wake?.();
  });
  const next = async (timeoutMs: number): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    while (lines.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no line within ${timeoutMs} ms (partial: ${JSON.stringify(buf)})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
    return lines.shift() ?? '';
  };
  return {
    next,
    async nextJson(timeoutMs: number): Promise<Json> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const line = await next(Math.max(1, deadline - Date.now()));
        try {
          return JSON.parse(line) as Json;
        } catch {
          // not JSON: keep reading
        }
      }
    },
  };
}

/** Starts `http-peer.js serve <pod>` in the pod; resolves once every server listens. */
export async function startServer(lab: Lab, pod: string): Promise<ChildProcess> {
  const child = lab.spawnNode(pod, PEER, ['serve', pod]);
  const line = await nextJsonLine(child, 15_000);
  if (line['pod'] !== pod) throw new Error(`server in ${pod}: ${JSON.stringify(line)}`);
  return child;
}

/**
 * 100 ms between polls, and at least three times the CPU the last poll took in this process:
 * a predicate that parses an agent log of many MB (after thousands of requests) then keeps
 * under a quarter of a core, leaving the agents theirs; one that runs a peer process (its own
 * CPU, not ours) or reads a short log polls every 100 ms. A fixed 250 ms added about 125 ms
 * to each of a file's many waits.
 */
const UNTIL_POLL_MS = 100;
const UNTIL_CPU_FACTOR = 3;

/**
 * Polls `pred` (see {@link UNTIL_POLL_MS}) for at most `ms`: true once it held. The deadline is
 * what keeps a busy machine passing; the interval only sets how long a caller waits past the
 * moment the condition became true.
 */
export async function until(pred: () => Promise<boolean> | boolean, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const cpu = process.cpuUsage();
    if (await pred()) return true;
    const used = process.cpuUsage(cpu);
    await sleep(Math.max(UNTIL_POLL_MS, (UNTIL_CPU_FACTOR * (used.user + used.system)) / 1000));
  }
  return false;
}

/** The agent's JSON log lines with `msg`. */
export function logLines(lab: Lab, node: string, msg: string): Json[] {
  const out: Json[] = [];
  for (const line of lab.agentLog(node).split('\n')) {
    if (!line.includes(msg)) continue;
    try {
      const v = JSON.parse(line) as Json;
      if (v['msg'] === msg) out.push(v);
    } catch {
      // a partial last line
    }
  }
  return out;
}
export const requestLines = (lab: Lab, node: string, path: string): Json[] => logLines(lab, node, 'request completed').filter((l) => l['path'] === path);
export const connectionLines = (lab: Lab, node: string, pred: (l: Json) => boolean): Json[] => logLines(lab, node, 'connection closed').filter(pred);

/** A `{name: count}` field of a peer's answer. */
export function counts(r: Json, key: string): Counts {
  return (r[key] ?? {}) as Counts;
}
export const sum = (c: Counts, pred: (k: string) => boolean = () => true): number => Object.entries(c).reduce((a, [k, v]) => a + (pred(k) ? v : 0), 0);

/** VmRSS of a process in bytes. */
export function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) * 1024;
}

/** `istio_requests_total` summed by response_code over the series whose labels include `match`. */
export function requestsByCode(metrics: string, match: Readonly<Record<string, string>>): Counts {
  const out: Counts = {};
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('istio_requests_total{')) continue;
    const close = line.lastIndexOf('}');
    const labels: Record<string, string> = {};
    for (const m of line.slice(0, close).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[m[1] as string] = m[2] as string;
    if (!Object.entries(match).every(([k, v]) => labels[k] === v)) continue;
    const code = labels['response_code'] ?? '?';
    out[code] = (out[code] ?? 0) + Number(line.slice(close + 1).trim());
  }
  return out;
}

/** The error codes of the GOAWAY frames in a server's bytes (shared with the peer's `raw ... goaway`). */
export { goawayCodes } from './http-peer-common.js';

/** after - before, per key, leaving out the keys that did not change. */
export function diff(after: Counts, before: Counts): Counts {
  const out: Counts = {};
  for (const [k, v] of Object.entries(after)) if (v - (before[k] ?? 0) !== 0) out[k] = v - (before[k] ?? 0);
  return out;
}
