/**
 * The `authz-1000` scenario: `dist/bench/authz.js --json` in a child process (its own V8 heap
 * and JIT state, so the lab's work does not colour it, nor it the lab's), bounded by a timeout.
 * A failure (timeout, exit code, bad output) is recorded in the result, never thrown: the rest
 * of the run still gets its report.
 *
 * @module
 */

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { AUTHZ_SCENARIO_ID } from './bench-options.js';
import type { AuthzScenarioResult } from './bench-types.js';
import { MAX_AUTHZ_OUTPUT_BYTES, parseAuthzFigures } from './authz-report.js';

/** The compiled benchmark next to this module (`dist/bench/authz.js`). */
export const AUTHZ_SCRIPT = fileURLToPath(new URL('./authz.js', import.meta.url));

/** Longest the child may run: the full 200,000 iterations take ~10 s on 2 cores. */
export const AUTHZ_TIMEOUT_MS = 180_000;

/** What {@link runAuthzScenario} needs. */
export interface AuthzRunInput {
  /** Timed evaluations per cell (`--iterations`). */
  readonly iterations: number;
  /** Default {@link AUTHZ_TIMEOUT_MS}. */
  readonly timeoutMs?: number;
  /** Default {@link AUTHZ_SCRIPT} (tests point it elsewhere). */
  readonly script?: string;
}

/** Runs the benchmark in a child Node.js process and returns its figures or why there are none. */
export async function runAuthzScenario(input: AuthzRunInput): Promise<AuthzScenarioResult> {
  const started = Date.now();
  const args = [input.script ?? AUTHZ_SCRIPT, '--json', '--iterations', String(input.iterations)];
  const outcome = await new Promise<{ stdout: string; error?: string }>((resolve) => {
    execFile(process.execPath, args, { timeout: input.timeoutMs ?? AUTHZ_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: MAX_AUTHZ_OUTPUT_BYTES, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err === null) return resolve({ stdout });
      const why = err.killed ? `killed after ${input.timeoutMs ?? AUTHZ_TIMEOUT_MS} ms (timeout or too much output)` : err.message.split('\n')[0] ?? 'failed';
      resolve({ stdout, error: `${why}${stderr.trim() === '' ? '' : `: ${stderr.trim().slice(-500)}`}` });
    });
  });
  const wallMs = Date.now() - started;
  if (outcome.error !== undefined) return { id: AUTHZ_SCENARIO_ID, error: outcome.error, wallMs };
  try {
    return { id: AUTHZ_SCENARIO_ID, figures: parseAuthzFigures(outcome.stdout), wallMs };
  } catch (err) {
    return { id: AUTHZ_SCENARIO_ID, error: (err as Error).message.slice(0, 1000), wallMs };
  }
}
