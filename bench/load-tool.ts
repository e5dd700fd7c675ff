/**
 * Running a load tool (iperf3, sockperf, wrk, h2load) in a lab pod, bounded in time; and the
 * wrk settings every wrk load shares.
 *
 * @module
 */

import { join } from 'node:path';
import { REPO_ROOT, type Lab } from '../src/lab/index.js';
import { MeshletError } from '../src/mesh/errors.js';

/** The wrk script that prints a JSON summary (read from the source tree). */
export const WRK_SCRIPT = join(REPO_ROOT, 'bench/wrk-report.lua');
/** Time a tool may take beyond its run: start-up, warm-up, connection teardown, report. */
const TOOL_SLACK_MS = 20_000;
/** wrk's per-request timeout: far above any latency seen, so only stalls count. */
export const WRK_TIMEOUT = '3s';
/** wrk threads: one per core of this machine's two. */
export const WRK_THREADS = '2';

/**
 * Runs a load tool of a `seconds` run in `pod`, killed TOOL_SLACK_MS after its run should have
 * ended; its stdout and stderr, or `MESHLET_ERR_HOST_TOOL` when it exits with an error.
 */
export async function toolIn(lab: Lab, pod: string, command: string, args: readonly string[], seconds: number): Promise<string> {
  const r = await lab.exec(pod, command, args, { timeoutMs: seconds * 1000 + TOOL_SLACK_MS });
  if (r.code !== 0) {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${command} exited ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-1500)}`);
  }
  return `${r.stdout}\n${r.stderr}`;
}

