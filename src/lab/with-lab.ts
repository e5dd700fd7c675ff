/**
 * `withLab`: up, run, always down. While a lab lives, this module holds SIGINT, SIGTERM and
 * SIGHUP handlers (tear down, then exit 128+signal; a second signal kills everything at once)
 * and an `exit` handler (a synchronous last chance, for `process.exit()` or a crash inside the
 * callback). The handlers are installed for the first live lab and removed with the last.
 *
 * @module
 */

import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import { Lab, type LabOptions } from './lab.js';
import { labPaths } from './lab-files.js';
import { removeLabNetnsSync } from './netns-cleanup.js';
import { DEFAULT_LAB_BASE_DIR, type LabTopology } from './topology.js';
import { validateLabTopology } from './topology-validate.js';

/** A lab being built or running under {@link withLab}. */
interface LiveLab {
  readonly name: string;
  readonly dir: string;
  readonly controller: AbortController;
  lab: Lab | undefined;
}

// SIGALRM: what tap sends a test file past its timeout (a timed-out lab test must leave no namespace).
const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGALRM'];
const live = new Set<LiveLab>();
let signalled = false;

function syncCleanup(entry: LiveLab): void {
  try {
    if (entry.lab !== undefined) entry.lab.downSync();
    else {
      removeLabNetnsSync(entry.name);
      rmSync(entry.dir, { recursive: true, force: true });
    }
  } catch {
    // Last chance: keep going with the other labs.
  }
}

function onExit(): void {
  for (const entry of live) syncCleanup(entry);
  live.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  const code = 128 + (constants.signals[signal] ?? 15);
  if (signalled) {
    // Second Ctrl-C: no more waiting.
    onExit();
    process.exit(code);
  }
  signalled = true;
  process.stderr.write(`meshlet lab: ${signal}, tearing down ${[...live].map((e) => e.name).join(', ')}\n`);
  const downs = [...live].map(async (entry) => {
    entry.controller.abort(new Error(`lab interrupted by ${signal}`));
    if (entry.lab !== undefined) await entry.lab.down();
    else syncCleanup(entry);
  });
  void Promise.allSettled(downs).then(() => {
    onExit();
    process.exit(code);
  });
}

/**
 * Keeps the event loop alive while a lab lives: a callback that only waits for the abort
 * signal (`lab up` in the foreground) has nothing else keeping the process running, and Node
 * would exit with an unsettled promise. Signal listeners do not count as work for the loop.
 */
let keepAlive: NodeJS.Timeout | undefined;

function register(entry: LiveLab): void {
  if (live.size === 0) {
    keepAlive = setInterval(() => undefined, 1 << 30);
    signalled = false;
    for (const s of SIGNALS) process.on(s, onSignal);
    process.on('exit', onExit);
  }
  live.add(entry);
}

function unregister(entry: LiveLab): void {
  live.delete(entry);
  if (live.size === 0) {
    clearInterval(keepAlive);
    keepAlive = undefined;
    for (const s of SIGNALS) process.off(s, onSignal);
    process.off('exit', onExit);
  }
}

/**
 * Brings a lab up, runs `fn` with it, and always tears it down: after `fn` returns or throws,
 * on SIGINT/SIGTERM/SIGHUP/SIGALRM (then the process exits with 128+signal, after `signal` is
 * aborted so `fn` can stop waiting), and at process exit.
 *
 * @param fn - receives the lab and an AbortSignal aborted when a termination signal arrives
 * @returns what `fn` returns
 */
export async function withLab<T>(
  topology: LabTopology,
  options: LabOptions,
  fn: (lab: Lab, signal: AbortSignal) => Promise<T>,
): Promise<T> {
  // First, so a bad name can never reach the cleanup's rm and `ip netns del`.
  validateLabTopology(topology);
  const entry: LiveLab = {
    name: topology.name,
    dir: labPaths(options.baseDir ?? DEFAULT_LAB_BASE_DIR, topology.name).dir,
    controller: new AbortController(),
    lab: undefined,
  };
  register(entry);
  try {
    entry.lab = await Lab.up(topology, options);
    return await fn(entry.lab, entry.controller.signal);
  } finally {
    try {
      await entry.lab?.down();
    } finally {
      unregister(entry);
    }
  }
}
