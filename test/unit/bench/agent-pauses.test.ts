import t from 'tap';
import { Registry } from 'prom-client';
import { parsePauses, pauseFigures, type PauseSample } from '../../../bench/agent-pauses.js';
import { AGENT_PATHS, metricOnPath, type MetricSpec } from '../../../bench/bench-types.js';
import { scenarioSpecs } from '../../../bench/scenarios.js';
import { MAX_SCRAPE_BYTES } from '../../../bench/resilience-counters.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { RuntimePauses } from '../../../src/ops/runtime-pauses.js';

const SCRAPE = [
  '# HELP meshlet_event_loop_delay_seconds Event-loop delay',
  '# TYPE meshlet_event_loop_delay_seconds gauge',
  'meshlet_event_loop_delay_seconds{quantile="0.5"} 0.0101',
  'meshlet_event_loop_delay_seconds{quantile="0.99"} 0.0123',
  'meshlet_event_loop_delay_seconds{quantile="0.999"} 0.02',
  'meshlet_event_loop_delay_seconds{quantile="1"} 0.031',
  '# TYPE meshlet_gc_pause_seconds histogram',
  'meshlet_gc_pause_seconds_bucket{le="0.001",kind="minor"} 10',
  'meshlet_gc_pause_seconds_sum{kind="minor"} 0.004',
  'meshlet_gc_pause_seconds_count{kind="minor"} 10',
  'meshlet_gc_pause_seconds_sum{kind="major"} 0.006',
  'meshlet_gc_pause_seconds_count{kind="major"} 2',
  'meshlet_connections_total 5',
].join('\n');

t.test('parsePauses reads the loop quantiles and adds GC pauses of every kind', async (t) => {
  t.same(parsePauses(SCRAPE), { loopP99: 0.0123, loopMax: 0.031, gcCount: 12, gcSeconds: 0.01, gcMinorCount: 10, gcMinorSeconds: 0.004 });
  // The minor series is picked by its label wherever the label stands, and only it.
  const reordered = SCRAPE.replace('_sum{kind="minor"} 0.004', '_sum{worker="1",kind="minor"} 0.004').replace('_count{kind="major"} 2', '_count{kind="minorish"} 2');
  t.same(parsePauses(reordered), { loopP99: 0.0123, loopMax: 0.031, gcCount: 12, gcSeconds: 0.01, gcMinorCount: 10, gcMinorSeconds: 0.004 });
});

t.test('parsePauses reads what the agent itself exports (it throws on anything it cannot read)', async (t) => {
  const registry = new Registry();
  const pauses = new RuntimePauses(registry);
  t.teardown(() => pauses.stop());
  await new Promise((r) => setTimeout(r, 50));
  const s = parsePauses(await registry.metrics());
  t.ok(s.loopMax >= s.loopP99, `max ${s.loopMax} >= p99 ${s.loopP99}`);
});

t.test('parsePauses refuses what it cannot trust, naming it', async (t) => {
  const refuse = (text: string, what: RegExp, why: string): void => {
    let err: unknown;
    try {
      parsePauses(text);
    } catch (e) {
      err = e;
    }
    t.ok(isMeshletError(err, 'MESHLET_ERR_HOST_TOOL'), `${why}: MESHLET_ERR_HOST_TOOL`);
    t.match((err as Error | undefined)?.message ?? '', what, why);
  };
  refuse(SCRAPE.replace('{quantile="0.99"} 0.0123', '{quantile="0.99"} -1'), /line 4: .* not a sample >= 0/, 'a negative sample');
  refuse(SCRAPE.replace('_count{kind="major"} 2', '_count{kind="major"} NaN'), /line 12/, 'NaN');
  refuse(SCRAPE.replace('{quantile="1"} 0.031', '{quantile="0.9"} 0.031'), /without meshlet_event_loop_delay_seconds/, 'no maximum');
  refuse('meshlet_connections_total 5\n', /without meshlet_event_loop_delay_seconds/, 'an agent without the pause metrics');
  refuse(`${SCRAPE}\n#${'x'.repeat(MAX_SCRAPE_BYTES)}`, /more than/, 'an oversized scrape');
});

t.test('pauseFigures: the worse node\'s loop delay, both nodes\' GC growth per second', async (t) => {
  const at = (loopP99: number, loopMax: number, gcCount: number, gcSeconds: number, gcMinorCount = 0, gcMinorSeconds = 0): PauseSample => ({ loopP99, loopMax, gcCount, gcSeconds, gcMinorCount, gcMinorSeconds });
  const f = pauseFigures([at(0, 0, 10, 0.01), at(0, 0, 5, 0.005)], [at(0.002, 0.004, 30, 0.03), at(0.001, 0.009, 25, 0.025)], 4);
  t.equal(Math.round(f.loopP99Us), 2000);
  t.equal(Math.round(f.loopMaxUs), 9000);
  // 40 pauses, 40 ms in 4 s.
  t.equal(Number(f.gcMsPerS.toFixed(6)), 10);
  t.equal(Math.round(f.gcMeanUs), 1000);
  t.equal(pauseFigures([at(0, 0, 3, 0.1)], [at(0, 0, 3, 0.1)], 1).gcMeanUs, 0, 'no pause: a mean of 0, not NaN');
  // 10 ms of pauses of which 6 ms in 30 minor ones (both nodes).
  const k = pauseFigures([at(0, 0, 10, 0.01, 8, 0.002), at(0, 0, 0, 0, 0, 0)], [at(0, 0, 30, 0.015, 28, 0.006), at(0, 0, 12, 0.005, 10, 0.002)], 1);
  t.equal(Math.round(k.gcMinorSharePct), 60, 'minor share of the pause time');
  t.equal(Math.round(k.gcMinorMeanUs), 200, 'mean minor pause');
  const none = pauseFigures([at(0, 0, 3, 0.1, 3, 0.1)], [at(0, 0, 3, 0.1, 3, 0.1)], 1);
  t.equal(none.gcMinorSharePct, 0, 'no pause: a share of 0, not NaN');
  t.equal(none.gcMinorMeanUs, 0, 'no minor pause: a mean of 0, not NaN');
  t.throws(() => pauseFigures([at(0, 0, 10, 0.01, 9, 0.005)], [at(0, 0, 12, 0.02, 2, 0.001)], 1), /minor GC pause counters went down/, 'the minor series restarting is caught too');
  t.throws(() => pauseFigures([at(0, 0, 10, 0.01)], [at(0, 0, 2, 0.001)], 1), /went down .* restart/, 'an agent restarted between the scrapes');
  t.throws(() => pauseFigures([at(0, 0, 1, 0)], [], 1), /1 agents before and 0 after/);
  t.throws(() => pauseFigures([at(0, 0, 1, 0)], [at(0, 0, 1, 0)], 0), /a run of 0 s/);
});

t.test('the pause metrics are in both latency scenarios, on the agent paths only', async (t) => {
  const specs = scenarioSpecs({ latencyRates: [1_000], idleConnections: 1 });
  for (const id of ['latency-1000', 'l7-latency-1000']) {
    const metrics = specs.find((s) => s.id === id)?.metrics ?? [];
    const loop = metrics.find((m) => m.key === 'loopP99Us');
    t.not(loop, undefined, `${id} reports the loop delay`);
    if (loop === undefined) continue;
    t.same(AGENT_PATHS.filter((p) => metricOnPath(loop, p)), AGENT_PATHS);
    t.equal(metricOnPath(loop, 'haproxy'), false, 'not on HAProxy');
    t.equal(metricOnPath(loop, 'direct'), false, 'not on direct');
  }
  const cpu: MetricSpec = { key: 'cpu', label: 'cpu', unit: 's', better: 'lower', digits: 1, proxyOnly: true };
  t.equal(metricOnPath(cpu, 'direct'), false, 'a proxy figure is not on direct');
  t.equal(metricOnPath(cpu, 'haproxy'), true, 'but is on HAProxy');
});
