/**
 * The runtime pause metrics: every GC pause lands in the histogram under its kind, a blocked
 * event loop shows in the delay gauge of the next scrape, and the scrape after that starts
 * afresh (the window is since the previous scrape).
 */
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Registry } from 'prom-client';
import { gcKind, LOOP_RESOLUTION_MS, RuntimePauses } from '../../../src/ops/runtime-pauses.js';
import { constants } from 'node:perf_hooks';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function values(registry: Registry, name: string): Promise<{ labels: Record<string, unknown>; value: number; metricName?: string }[]> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  if (m === undefined) throw new Error(`${name} not registered`);
  return m.values as { labels: Record<string, unknown>; value: number; metricName?: string }[];
}

t.test('gcKind names the kinds, from detail or the entry', async (t) => {
  t.equal(gcKind({ detail: { kind: constants.NODE_PERFORMANCE_GC_MINOR } }), 'minor');
  t.equal(gcKind({ detail: { kind: constants.NODE_PERFORMANCE_GC_MAJOR } }), 'major');
  t.equal(gcKind({ kind: constants.NODE_PERFORMANCE_GC_INCREMENTAL }), 'incremental');
  t.equal(gcKind({ detail: { kind: 12345 } }), 'other');
  t.equal(gcKind({}), 'other');
});

t.test('a full GC is counted as a major pause', async (t) => {
  const registry = new Registry();
  const pauses = new RuntimePauses(registry);
  t.teardown(() => pauses.stop());
  gc();
  gc();
  // Observer callbacks are delivered asynchronously.
  await new Promise((r) => setTimeout(r, 50));
  const count = (await values(registry, 'meshlet_gc_pause_seconds')).find((v) => v.metricName === 'meshlet_gc_pause_seconds_count' && v.labels['kind'] === 'major');
  t.ok(count !== undefined, 'a major series');
  t.ok((count?.value ?? 0) >= 2, `two forced collections counted (${count?.value})`);
});

t.test('an idle loop reads a delay near zero, not the monitor\'s own period', async (t) => {
  const registry = new Registry();
  const pauses = new RuntimePauses(registry);
  t.teardown(() => pauses.stop());
  await values(registry, 'meshlet_event_loop_delay_seconds');
  await new Promise((r) => setTimeout(r, 20 * LOOP_RESOLUTION_MS));
  const median = (await values(registry, 'meshlet_event_loop_delay_seconds')).find((v) => v.labels['quantile'] === '0.5');
  t.ok(median !== undefined, 'a median');
  // Node's histogram holds the ticks' whole intervals (>= the period); the period is taken off.
  t.ok((median?.value ?? 1) < LOOP_RESOLUTION_MS / 1000, `median ${median?.value} s, below the ${LOOP_RESOLUTION_MS} ms period`);
});

t.test('a blocked loop shows in the next scrape, and the one after starts afresh', async (t) => {
  const registry = new Registry();
  const pauses = new RuntimePauses(registry);
  t.teardown(() => pauses.stop());
  await new Promise((r) => setTimeout(r, 3 * LOOP_RESOLUTION_MS));
  const until = performance.now() + 250;
  while (performance.now() < until) {
    // the loop is blocked
  }
  await new Promise((r) => setTimeout(r, 3 * LOOP_RESOLUTION_MS));
  const max = (await values(registry, 'meshlet_event_loop_delay_seconds')).find((v) => v.labels['quantile'] === '1');
  t.ok((max?.value ?? 0) >= 0.2, `the 250 ms block seen (max ${max?.value} s)`);
  await new Promise((r) => setTimeout(r, 10 * LOOP_RESOLUTION_MS));
  const next = (await values(registry, 'meshlet_event_loop_delay_seconds')).find((v) => v.labels['quantile'] === '1');
  t.ok((next?.value ?? 1) < 0.2, `the next window does not carry it (max ${next?.value} s)`);
});
