/**
 * Several results files of the same bench as one: their rounds side by side, renumbered, for a
 * verdict that one run on a noisy machine cannot give (the `l7-resilience` interval narrows
 * with the square root of the rounds; the harness allows 50 per run). Only results of the same
 * format, mode and paths pool: rounds of other scenarios, or taken differently, would not be
 * the same measurement. Pure.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';
import type { BenchResults, ScenarioResult } from './bench-types.js';

/** How many results files one pool may take. */
export const MAX_POOLED = 20;

/** The pooled results: the first file's facts, every file's rounds, a note naming the sources. */
export function poolResults(files: readonly { readonly name: string; readonly results: BenchResults }[]): BenchResults {
  if (files.length < 2) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--pool needs at least two results files, got ${files.length}`);
  if (files.length > MAX_POOLED) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--pool takes at most ${MAX_POOLED} results files, got ${files.length}`);
  const first = (files[0] as (typeof files)[number]).results;
  for (const { name, results } of files) {
    if (results.format !== 'meshlet-bench/1') throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name} is not a meshlet bench results file`);
    if (results.mode !== first.mode) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name} is a ${results.mode} run, the first file a ${first.mode} run: they do not pool`);
    if (results.profile !== first.profile) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name} ${results.profile ? 'is' : 'is not'} a profile run, unlike the first file`);
    if (results.paths.join(',') !== first.paths.join(',')) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${name} ran paths ${results.paths.join(', ')}, the first file ${first.paths.join(', ')}`);
  }
  const ids = [...new Set(files.flatMap((f) => f.results.scenarios.map((s) => s.id)))];
  const scenarios: ScenarioResult[] = ids.map((id) => {
    let offset = 0;
    const runs = files.flatMap((f) => {
      const s = f.results.scenarios.find((x) => x.id === id);
      if (s === undefined) return [];
      const base = offset;
      offset += Math.max(0, ...s.runs.map((r) => r.round));
      return s.runs.map((r) => ({ ...r, round: r.round + base }));
    });
    const def = files.map((f) => f.results.scenarios.find((x) => x.id === id)).find((s) => s !== undefined) as ScenarioResult;
    return { ...def, runs };
  });
  const { cpuProfiles: _profiles, authz: _authz, ...facts } = first;
  return {
    ...facts,
    startedAt: files.map((f) => f.results.startedAt).sort()[0] as string,
    finishedAt: files.map((f) => f.results.finishedAt).sort().at(-1) as string,
    notes: [`rounds pooled from ${files.length} runs: ${files.map((f) => f.name).join(', ')}`, ...first.notes],
    scenarios,
  };
}
