/**
 * Worker-thread entry: runs one target and posts its results. A thread per target lets the
 * campaign stop a target that hangs (`Worker#terminate` ends even a tight loop) and keep going.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runTarget, type PropertyResult, type RunOptions } from './runner.js';
import { loadTarget } from './targets/index.js';

/** What the campaign hands a worker. */
export interface WorkerInput {
  readonly target: string;
  readonly options: RunOptions;
}

/** What a worker posts: progress before each property, then its results (or why it failed). */
export type WorkerOutput =
  | { readonly type: 'progress'; readonly property: string; readonly seed: number }
  | { readonly type: 'result'; readonly results: readonly PropertyResult[] }
  | { readonly type: 'error'; readonly error: string };

const port = parentPort;
if (port === null) throw new Error('worker.js runs in a worker thread');
const input = workerData as WorkerInput;
const post = (m: WorkerOutput): void => port.postMessage(m);
try {
  const target = await loadTarget(input.target);
  const results = runTarget(target, input.options, (e) => post({ type: 'progress', property: e.property, seed: e.seed }));
  post({ type: 'result', results });
} catch (err) {
  post({ type: 'error', error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
}
