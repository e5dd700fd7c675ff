/**
 * `npm run fuzz`: the fuzzing campaign (docs/testing.md, "Fuzzing").
 *
 *   npm run fuzz                          full run: every target, --budget s each (default 180)
 *   npm run fuzz -- --smoke               a few thousand inputs, fixed seed (also FUZZ_SMOKE=1)
 *   npm run fuzz -- --target agent-api    one target (repeat or comma-separate for more)
 *   npm run fuzz -- --seed 42             a given seed (the same seed generates the same inputs)
 *   npm run fuzz -- --target t --property p --seed s --path x   replay one failure
 *   npm run fuzz -- --write-seeds         write each property's fixture seeds into the corpus
 *
 * Exits 1 when any property failed or any target hung.
 */
import { parseArgs } from 'node:util';
import { campaignOptions, formatReport, runCampaign } from './campaign.js';
import { corpusDir, writeCorpus } from './corpus.js';
import { loadTarget, TARGET_NAMES } from './targets/index.js';

const { values } = parseArgs({
  options: {
    smoke: { type: 'boolean', default: process.env['FUZZ_SMOKE'] === '1' },
    budget: { type: 'string' },
    target: { type: 'string', multiple: true },
    seed: { type: 'string' },
    path: { type: 'string' },
    property: { type: 'string' },
    jobs: { type: 'string' },
    scale: { type: 'string' },
    'no-save': { type: 'boolean', default: false },
    'write-seeds': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});

function numberFlag(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`--${name} must be a positive number, got ${JSON.stringify(value)}`);
    process.exit(64);
  }
  return n;
}

const targets = (values.target ?? []).flatMap((t) => t.split(',')).filter((t) => t !== '');
for (const t of targets) {
  if (!TARGET_NAMES.includes(t)) {
    console.error(`unknown target ${JSON.stringify(t)}; targets: ${TARGET_NAMES.join(', ')}`);
    process.exit(64);
  }
}

if (values.list) {
  for (const name of TARGET_NAMES) {
    const target = await loadTarget(name);
    console.log(`${name}: ${target.description}`);
    for (const p of target.properties) console.log(`  ${p.name}`);
  }
  process.exit(0);
}

if (values['write-seeds']) {
  for (const name of targets.length > 0 ? targets : TARGET_NAMES) {
    const target = await loadTarget(name);
    for (const p of target.properties) {
      p.use((typed) => {
        for (const seed of typed.seeds?.() ?? []) {
          const path = writeCorpus(typed.codec, corpusDir(name, p.name), 'seed', seed);
          if (path !== undefined) console.log(`wrote ${path}`);
        }
      });
    }
  }
  process.exit(0);
}

if ((values.path === undefined) !== (values.property === undefined) || (values.path !== undefined && targets.length !== 1)) {
  console.error('a replay needs --target (one), --property, --seed and --path together');
  process.exit(64);
}

const seed = numberFlag('seed', values.seed);
const budgetS = numberFlag('budget', values.budget);
const jobs = numberFlag('jobs', values.jobs);
const scale = numberFlag('scale', values.scale);
const opts = campaignOptions({
  smoke: values.smoke,
  targets,
  ...(seed === undefined ? {} : { seed }),
  ...(budgetS === undefined ? {} : { budgetS }),
  ...(jobs === undefined ? {} : { jobs }),
  ...(scale === undefined ? {} : { scale }),
  ...(values['no-save'] ? { save: false } : {}),
  ...(values.path !== undefined && values.property !== undefined ? { replay: { property: values.property, path: values.path } } : {}),
  onTarget: (o) => {
    const inputs = o.results.reduce((n, r) => n + r.inputs, 0);
    const failed = o.results.filter((r) => r.failure !== undefined).length;
    console.log(`# ${o.target}: ${inputs.toLocaleString('en-US')} inputs, ${(o.ms / 1000).toFixed(1)} s, ${o.broken === undefined ? `${failed} failure(s)` : 'BROKEN'}`);
  },
});
console.log(
  `# fuzz ${opts.smoke ? 'smoke' : 'full'} run: ${opts.targets.join(', ')}; seed ${opts.seed}; budget ${opts.budgetS} s per target; ${opts.jobs} at a time`,
);
const result = await runCampaign(opts);
console.log(formatReport(result));
process.exit(result.failures > 0 ? 1 : 0);
