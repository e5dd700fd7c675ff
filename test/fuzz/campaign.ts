/**
 * The fuzzing campaign: every target in its own worker thread, a few at a time, each bounded
 * in inputs and in time, with a watchdog that stops a target that hangs. See docs/testing.md.
 */
import { Worker } from 'node:worker_threads';
import type { PropertyResult, RunOptions } from './runner.js';
import { TARGET_NAMES, targetEntry } from './targets/index.js';
import type { WorkerInput, WorkerOutput } from './worker.js';

/** Inputs per target in a smoke run: a few thousand in all, seconds of work. */
export const SMOKE_RUNS_PER_TARGET = 600;
/** Time per target in a smoke run; the runs above take well under a second each unloaded. */
export const SMOKE_BUDGET_MS = 4_000;
/** Time per target in a full run unless `--budget` says otherwise. */
export const DEFAULT_BUDGET_S = 180;
/** The seed of smoke runs: CI checks the same inputs every time (a new seed is a new campaign). */
export const SMOKE_SEED = 20_240_601;
/**
 * How long past its budget a target may run before it counts as hung: loading modules and
 * building fixtures (a CA, CSRs) happens before the budget starts, on a machine that may be busy.
 */
const WATCHDOG_GRACE_MS = 90_000;

/** What to run. */
export interface CampaignOptions {
  readonly targets: readonly string[];
  readonly smoke: boolean;
  /** Seconds per target (full runs). */
  readonly budgetS: number;
  readonly seed: number;
  /** Targets run at the same time (each is one thread). */
  readonly jobs: number;
  readonly save: boolean;
  /** Multiplies every target's run count (full runs). */
  readonly scale: number;
  readonly replay?: RunOptions['replay'];
  readonly corpusRoot?: string | undefined;
  /** Called with each target's outcome as it ends. */
  readonly onTarget?: (outcome: TargetOutcome) => void;
}

/** One target's outcome. */
export interface TargetOutcome {
  readonly target: string;
  readonly results: readonly PropertyResult[];
  readonly ms: number;
  /** Set when the target hung (watchdog) or its worker failed: a failure of the campaign. */
  readonly broken?: string | undefined;
}

/** The whole campaign. */
export interface CampaignResult {
  readonly outcomes: readonly TargetOutcome[];
  readonly inputs: number;
  readonly failures: number;
  readonly wallMs: number;
}

/** Options from the defaults for a mode; `targets` empty means all. */
export function campaignOptions(partial: Partial<CampaignOptions> & { smoke: boolean }): CampaignOptions {
  return {
    ...partial,
    targets: partial.targets !== undefined && partial.targets.length > 0 ? partial.targets : TARGET_NAMES,
    budgetS: partial.budgetS ?? (partial.smoke ? SMOKE_BUDGET_MS / 1000 : DEFAULT_BUDGET_S),
    seed: partial.seed ?? (partial.smoke ? SMOKE_SEED : Date.now() % 2 ** 31),
    jobs: partial.jobs ?? 1,
    save: partial.save ?? !partial.smoke,
    scale: partial.scale ?? 1,
  };
}

/** Runs the campaign. */
export async function runCampaign(opts: CampaignOptions): Promise<CampaignResult> {
  const started = performance.now();
  const queue = [...opts.targets];
  const outcomes: TargetOutcome[] = [];
  const lane = async (): Promise<void> => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const outcome = await runInWorker(name, optionsFor(name, opts));
      outcomes.push(outcome);
      opts.onTarget?.(outcome);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, lane));
  outcomes.sort((a, b) => opts.targets.indexOf(a.target) - opts.targets.indexOf(b.target));
  const all = outcomes.flatMap((o) => o.results);
  return {
    outcomes,
    inputs: all.reduce((n, r) => n + r.inputs, 0),
    failures: all.filter((r) => r.failure !== undefined).length + outcomes.filter((o) => o.broken !== undefined).length,
    wallMs: performance.now() - started,
  };
}

function optionsFor(name: string, opts: CampaignOptions): RunOptions {
  const runs = opts.smoke ? SMOKE_RUNS_PER_TARGET : Math.round(targetEntry(name).fullRuns * opts.scale);
  return { runs, budgetMs: opts.budgetS * 1000, seed: opts.seed, replay: opts.replay, save: opts.save, corpusRoot: opts.corpusRoot };
}

function runInWorker(target: string, options: RunOptions): Promise<TargetOutcome> {
  const started = performance.now();
  const input: WorkerInput = { target, options };
  const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: input });
  let current = '(loading)';
  return new Promise((resolve) => {
    let done = false;
    const finish = (results: readonly PropertyResult[], broken?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(watchdog);
      resolve({ target, results, ms: performance.now() - started, broken });
      void worker.terminate();
    };
    const watchdog = setTimeout(() => {
      finish([], `hung: property ${current} (seed ${options.seed}) still running ${Math.round((options.budgetMs + WATCHDOG_GRACE_MS) / 1000)} s after the start; stopped`);
    }, options.budgetMs + WATCHDOG_GRACE_MS);
    worker.on('message', (m: WorkerOutput) => {
      if (m.type === 'progress') current = m.property;
      else if (m.type === 'result') finish(m.results);
      else finish([], `worker failed: ${m.error}`);
    });
    worker.on('error', (err) => finish([], `worker failed: ${err.stack ?? err.message}`));
    worker.on('exit', (code) => finish([], `worker exited (code ${code}) without results`));
  });
}

/** The campaign as a table: per target and property, inputs, time and failures. */
export function formatReport(result: CampaignResult): string {
  const rows: string[][] = [['target', 'property', 'inputs', 'corpus', 'time', 'failures']];
  for (const o of result.outcomes) {
    if (o.broken !== undefined) rows.push([o.target, '-', '-', '-', seconds(o.ms), 'BROKEN']);
    for (const r of o.results) {
      rows.push([o.target, r.property, r.inputs.toLocaleString('en-US'), String(r.corpus), `${seconds(r.ms)}${r.interrupted ? ' (budget)' : ''}`, r.failure === undefined ? '0' : '1']);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const lines = rows.map((r) => r.map((c, i) => (i >= 2 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0))).join('  ').trimEnd());
  lines.push('');
  for (const o of result.outcomes) {
    const inputs = o.results.reduce((n, r) => n + r.inputs, 0);
    lines.push(`${o.target}: ${inputs.toLocaleString('en-US')} inputs in ${seconds(o.ms)}`);
  }
  lines.push(`total: ${result.inputs.toLocaleString('en-US')} inputs in ${seconds(result.wallMs)}, ${result.failures} failure(s)`);
  for (const o of result.outcomes) {
    if (o.broken !== undefined) lines.push('', `BROKEN ${o.target}: ${o.broken}`);
    for (const r of o.results) {
      const f = r.failure;
      if (f === undefined) continue;
      lines.push(
        '',
        `FAILED ${r.target}/${r.property}: ${f.error}`,
        `  input: ${f.input}`,
        `  replay: npm run fuzz -- --target ${r.target} --seed ${f.seed} --path ${f.path ?? ''} --property ${r.property}`,
      );
      if (f.savedTo !== undefined) lines.push(`  saved: ${f.savedTo}`);
    }
  }
  return lines.join('\n');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
