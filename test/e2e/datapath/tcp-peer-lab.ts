/**
 * Running `peer.ts` (the TCP test program) in lab pods, shared by the namespace tests: one
 * command whose last stdout line is its JSON answer, and a server started in a pod; the agents
 * with one data-path process, and a metric's total in an exposition.
 */
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_ROOT, defaultAgentCommand, type Lab } from '../../../src/lab/index.js';

export const TCP_PEER = join(REPO_ROOT, 'dist/test/e2e/datapath/peer.js');

export type Json = Record<string, unknown>;

/** Runs `peer.js args` in `pod` (bounded by `timeoutMs`): its last line as JSON, or `{ok: false, error}` naming what it printed. */
export async function tcpPeer(lab: Lab, pod: string, args: string[], timeoutMs = 30_000): Promise<Json> {
  const r = await lab.runNode(pod, TCP_PEER, args, { timeoutMs });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Json;
  } catch {
    return { ok: false, error: `peer printed ${JSON.stringify(r.stdout)} stderr ${JSON.stringify(r.stderr)} code ${r.code}` };
  }
}

/** Starts `peer.js server 8080` in `pod`; resolves once it listens (rejects after 10 s or on another first line). */
export async function startTcpServer(lab: Lab, pod: string): Promise<ChildProcess> {
  const child = lab.spawnNode(pod, TCP_PEER, ['server', '8080']);
  const [line] = (await Promise.race([
    once(child.stdout!, 'data'),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`server in ${pod} did not start`)), 10_000)),
  ])) as [Buffer];
  if (!line.toString().includes('listening')) throw new Error(`server in ${pod}: ${line.toString()}`);
  return child;
}

/**
 * The lab's agent command with one data-path process (`--workers 1`): per-process decisions
 * (caps, buckets, the window governor) are then the agent's.
 */
export function oneWorkerAgent(node: string, ctx: Parameters<typeof defaultAgentCommand>[1]): ReturnType<typeof defaultAgentCommand> {
  const base = defaultAgentCommand(node, ctx);
  return { ...base, args: [...base.args, '--workers', '1'] };
}

/** The sum of a metric's samples whose line matches `match` in an exposition (0 when none). */
export function metricTotal(text: string, name: string, match: RegExp = /.*/): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)(\{.*\})? (\S+)$/.exec(line);
    if (m !== null && m[1] === name && match.test(line)) sum += Number(m[3]);
  }
  return sum;
}
