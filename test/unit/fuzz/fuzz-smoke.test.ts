/**
 * The fuzzing campaign's smoke run (`npm run fuzz -- --smoke`), inside the test suite: every
 * target, its corpus replayed, a few hundred generated inputs each with a fixed seed, no file
 * written. A property broken on main fails here with the input and the command that replays it.
 */
import t from 'tap';
import { campaignOptions, formatReport, runCampaign, SMOKE_RUNS_PER_TARGET } from '../../fuzz/campaign.js';
import { TARGET_NAMES } from '../../fuzz/targets/index.js';

t.test('every fuzz target holds its properties on the corpus and a smoke run of inputs', async (t) => {
  const result = await runCampaign(campaignOptions({ smoke: true, jobs: 2 }));
  const report = formatReport(result);
  t.same(result.outcomes.map((o) => o.target), TARGET_NAMES, 'every target ran');
  t.same(result.outcomes.filter((o) => o.broken !== undefined).map((o) => `${o.target}: ${o.broken}`), [], 'no target hung or failed to load');
  const failed = result.outcomes.flatMap((o) => o.results).filter((r) => r.failure !== undefined);
  t.same(failed.map((r) => `${r.target}/${r.property}: ${r.failure?.error}`), [], report);
  for (const o of result.outcomes) {
    const inputs = o.results.reduce((n, r) => n + r.inputs, 0);
    const corpus = o.results.reduce((n, r) => n + r.corpus, 0);
    t.ok(o.results.length > 0, `${o.target} has properties`);
    // Time-bounded on a busy machine, but never nothing: at least the corpus and some inputs.
    t.ok(inputs >= corpus + Math.min(50, SMOKE_RUNS_PER_TARGET), `${o.target}: ${inputs} inputs (${corpus} from the corpus)`);
  }
  t.ok(result.inputs >= 1_000, `${result.inputs} inputs in all`);
});
