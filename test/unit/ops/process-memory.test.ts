/**
 * Per-process memory: the RssAnon/RssFile split read from /proc status text, the gauge's
 * series named by process and kind, and two processes' registries summed at a scrape (as the
 * primary merges its workers') keeping each process's figures apart.
 */
import t from 'tap';
import { AggregatorRegistry, Registry } from 'prom-client';
import { MEMORY_KINDS, parseRssSplit, processMemory, registerProcessMemory } from '../../../src/ops/process-memory.js';

const STATUS = 'Name:\tnode\nVmRSS:\t   83000 kB\nRssAnon:\t   38600 kB\nRssFile:\t   44400 kB\nRssShmem:\t       0 kB\n';

t.test('parseRssSplit reads RssAnon and RssFile in bytes', async (t) => {
  t.same(parseRssSplit(STATUS), { rss_anon: 38600 * 1024, rss_file: 44400 * 1024 });
});

t.test('parseRssSplit leaves out a field that is missing (an old kernel) or malformed', async (t) => {
  t.same(parseRssSplit('VmRSS:\t 1 kB\nRssFile:\t 12 kB\n'), { rss_file: 12 * 1024 });
  t.same(parseRssSplit('RssAnon:\t lots kB\n'), {});
});

t.test('processMemory has every kind on Linux, each a positive byte count', async (t) => {
  const m = processMemory();
  const kinds = Object.keys(m).sort();
  t.same(kinds, [...MEMORY_KINDS].sort());
  for (const kind of ['rss', 'rss_anon', 'rss_file', 'heap_used', 'heap_total'] as const) t.ok((m[kind] ?? 0) > 0, `${kind} is positive`);
  t.ok(m.heap_used <= m.heap_total, 'heap used within the heap');
});

interface Row {
  labels: Record<string, unknown>;
  value: number;
}

function rows(json: Awaited<ReturnType<Registry['getMetricsAsJSON']>>): Row[] {
  const m = json.find((x) => x.name === 'meshlet_process_memory_bytes');
  if (m === undefined) throw new Error('meshlet_process_memory_bytes not registered');
  return m.values as Row[];
}

t.test('one series per kind, labelled with the process', async (t) => {
  const registry = new Registry();
  registerProcessMemory(registry, 'agent');
  const got = rows(await registry.getMetricsAsJSON());
  t.same(got.map((r) => r.labels['kind']).sort(), [...MEMORY_KINDS].sort());
  t.same([...new Set(got.map((r) => r.labels['process']))], ['agent']);
});

t.test('merged with a worker\'s registry, each process keeps its own figures', async (t) => {
  const primary = new Registry();
  const worker = new Registry();
  registerProcessMemory(primary, 'agent');
  registerProcessMemory(worker, 'worker-0');
  const own = await primary.getMetricsAsJSON();
  const merged = rows(await AggregatorRegistry.aggregate([own, await worker.getMetricsAsJSON()]).getMetricsAsJSON());
  const rssOf = (process: string): number[] => merged.filter((r) => r.labels['process'] === process && r.labels['kind'] === 'rss').map((r) => r.value);
  const agentRss = rssOf('agent');
  t.equal(agentRss.length, 1, 'one rss series for the primary');
  t.equal(rssOf('worker-0').length, 1, 'one rss series for the worker');
  // Both are this test's process, read moments apart: the merge did not add them up.
  const ownRss = rows(own).find((r) => r.labels['kind'] === 'rss')?.value;
  t.equal(agentRss[0], ownRss, 'the primary\'s rss is its own reading, not a sum');
});

t.test('a process label other than agent or worker-N is refused, naming it', async (t) => {
  t.throws(() => registerProcessMemory(new Registry(), 'primary'), /process label must be agent or worker-<index>, got "primary"/);
  t.throws(() => registerProcessMemory(new Registry(), 'worker-'), /got "worker-"/);
});
