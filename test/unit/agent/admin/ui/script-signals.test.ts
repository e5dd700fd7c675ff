/**
 * The page's golden signals (`/ui/signals.js`), run in Node as the browser runs it: which row
 * an event counts in, rate and error share over the last minute, p50/p99, the chart's buckets,
 * and the bounds.
 */
import t from 'tap';
import { SIGNALS_JS } from '../../../../../src/agent/admin/ui/script-signals.js';

interface Row {
  workload: string;
  side: string;
  kind: string;
  rate: number;
  errorShare: number;
  total: number;
  failed: number;
  p50: number | undefined;
  p99: number | undefined;
  counts: number[];
  errors: number[];
}
interface SignalsModule {
  BUCKET_MS: number;
  BUCKETS: number;
  MAX_ROWS: number;
  MAX_SAMPLES: number;
  signalKey(e: Record<string, unknown>): { key: string; workload: string; side: string; kind: string } | undefined;
  quantile(sorted: number[], q: number): number | undefined;
  Signals: new () => { add(e: Record<string, unknown>): void; rows(now: number): Row[]; overflow: number };
}

const m = (await import(`data:text/javascript,${encodeURIComponent(SIGNALS_JS)}`)) as SignalsModule;
// 5 s into a 10 s bucket: an event 1 s ago is in the last one.
const NOW = 1_800_000_005_000;

const req = (over: Record<string, unknown>): Record<string, unknown> => ({
  type: 'request', time: NOW - 1000, reporter: 'destination', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/server', outcome: 'ok', duration_ms: 10, ...over,
});

t.test('an event counts on the side that reported it', async (t) => {
  t.match(m.signalKey(req({})), { workload: 'Pod/demo/server', side: 'inbound', kind: 'requests' });
  t.match(m.signalKey(req({ reporter: 'source' })), { workload: 'Pod/demo/client', side: 'outbound', kind: 'requests' });
  t.match(m.signalKey({ type: 'connection.close', direction: 'inbound', dst: '10.0.0.2:80' }), { workload: '10.0.0.2:80', side: 'inbound', kind: 'connections' });
  t.match(m.signalKey({ type: 'connection.close', direction: 'outbound', src_workload: 'Pod/demo/client' }), { workload: 'Pod/demo/client', side: 'outbound', kind: 'connections' });
  t.equal(m.signalKey({ type: 'connection.open', direction: 'inbound' }), undefined, 'an open ends nothing');
});

t.test('quantiles by nearest rank', async (t) => {
  const xs = Array.from({ length: 100 }, (_, i) => i + 1);
  t.equal(m.quantile(xs, 0.5), 50);
  t.equal(m.quantile(xs, 0.99), 99);
  t.equal(m.quantile([7], 0.99), 7);
  t.equal(m.quantile([], 0.5), undefined);
});

t.test('rate, errors and latency over the window; older events only in the chart', async (t) => {
  const s = new m.Signals();
  for (let i = 1; i <= 100; i++) s.add(req({ duration_ms: i, outcome: i <= 6 ? 'error' : 'ok' }));
  // Three minutes ago: in the 5-minute chart and latency, not in the last minute's rate.
  s.add(req({ time: NOW - 180_000, duration_ms: 1000, outcome: 'denied' }));
  s.add(req({ reporter: 'source', outcome: 'ok' }));
  const rows = s.rows(NOW);
  t.equal(rows.length, 2, 'inbound to the server, outbound from the client');
  const inbound = rows.find((r) => r.side === 'inbound');
  t.equal(inbound?.workload, 'Pod/demo/server');
  t.equal(inbound?.rate, 100 / 60, 'per second over the last minute');
  t.equal(inbound?.errorShare, 6 / 100);
  t.equal(inbound?.total, 101, 'the chart holds all five minutes');
  t.equal(inbound?.failed, 7, 'and its failures');
  t.equal(inbound?.p50, 51);
  t.equal(inbound?.p99, 100);
  t.equal(inbound?.counts.length, m.BUCKETS);
  t.equal(inbound?.counts.at(-1), 100, 'the last bucket');
  t.equal(inbound?.errors.at(-1), 6);
  t.equal(inbound?.counts.reduce((a, v) => a + v, 0), 101);
  t.equal(inbound?.errors.reduce((a, v) => a + v, 0), 7);
});

t.test('events older than the chart leave it', async (t) => {
  const s = new m.Signals();
  s.add(req({ time: NOW - 10 * 60_000 }));
  s.add(req({ time: NOW - 1000 }));
  const row = s.rows(NOW)[0];
  t.equal(row?.total, 1);
  t.equal(row?.p50, 10);
});

t.test('bounded: rows and latency samples', async (t) => {
  const s = new m.Signals();
  for (let i = 0; i < m.MAX_ROWS + 5; i++) s.add(req({ dst_workload: `Pod/demo/w${i}` }));
  t.equal(s.rows(NOW).length, m.MAX_ROWS);
  t.equal(s.overflow, 5, 'the rest counted as not shown');
  const one = new m.Signals();
  for (let i = 0; i < m.MAX_SAMPLES + 100; i++) one.add(req({ duration_ms: i < 100 ? 1_000_000 : 1 }));
  t.equal(one.rows(NOW)[0]?.p99, 1, 'the oldest samples were let go');
});
