/** `meshlet top`'s figures from tap events: one count per request and connection, the sliding window, the pair cap. */
import t from 'tap';
import { counts, pairOf, TopPairs } from '../../../src/cli/top-pairs.js';

const req = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  type: 'request', reporter: 'source', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/server', service: 'demo/web', outcome: 'ok', duration_ms: 10, ...over,
});

t.test('which events count, and the pair they belong to', async (t) => {
  t.equal(counts(req()), true, 'the source side');
  t.equal(counts(req({ reporter: 'destination' })), false, 'the destination side of a same-node request: the source side counted it');
  t.equal(counts(req({ reporter: 'destination', src_workload: undefined, src_identity: 'spiffe://td/ns/demo/sa/client' })), true, 'from another node');
  t.equal(counts({ type: 'connection.open', direction: 'outbound', src_workload: 'Pod/demo/client' }), true);
  t.equal(counts({ type: 'connection.open', direction: 'inbound', src_workload: 'Pod/demo/client' }), false);
  t.equal(counts({ type: 'tap.dropped' }), false);
  t.same(pairOf(req()), { source: 'demo/client', destination: 'demo/server' });
  t.same(pairOf({ src_identity: 'spiffe://td/ns/demo/sa/client', service: 'demo/web' }), { source: 'sa:demo/client', destination: 'svc:demo/web' });
  t.same(pairOf({ dst: '10.0.0.9:80' }), { source: 'unknown', destination: '10.0.0.9:80' });
});

t.test('rates, errors and percentiles over the window', async (t) => {
  const pairs = new TopPairs({ windowMs: 10_000, maxPairs: 10, startMs: 0 });
  for (let i = 1; i <= 100; i++) pairs.add(req({ duration_ms: i, outcome: i % 10 === 0 ? 'error' : 'ok' }), 20_000 + i);
  pairs.add({ type: 'connection.open', direction: 'outbound', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/server' }, 20_500);
  pairs.add({ type: 'connection.close', direction: 'outbound', src_workload: 'Pod/demo/client', dst_workload: 'Pod/demo/server', bytes_sent: 100, bytes_received: 900, outcome: 'reset' }, 20_600);
  const [row] = pairs.rows(21_000);
  t.match(row, { source: 'demo/client', destination: 'demo/server', requests: 100, rps: 10, errors: 10, errorRate: 0.1, p50Ms: 50, p90Ms: 90, p99Ms: 99, connections: 1, bytes: 1000, connectionErrors: 1, seconds: 10 });
  t.same(pairs.rows(31_500), [], 'gone once the window has passed');
  t.equal(pairs.size, 0, 'and forgotten');
});

t.test('rates over the time watched until a whole window has passed', async (t) => {
  const pairs = new TopPairs({ windowMs: 10_000, maxPairs: 10, startMs: 1_000 });
  for (let i = 0; i < 4; i++) pairs.add(req(), 2_000);
  t.equal(pairs.rows(3_000)[0]?.rps, 2, '4 requests in 2 s watched');
});

t.test('at most maxPairs pairs: the least recently seen goes', async (t) => {
  const pairs = new TopPairs({ windowMs: 10_000, maxPairs: 2, startMs: 0 });
  pairs.add(req({ src_workload: 'Pod/a/one' }), 1_000);
  pairs.add(req({ src_workload: 'Pod/a/two' }), 1_100);
  pairs.add(req({ src_workload: 'Pod/a/one' }), 1_200);
  pairs.add(req({ src_workload: 'Pod/a/three' }), 1_300);
  t.same(pairs.rows(1_400).map((r) => r.source).sort(), ['a/one', 'a/three']);
  t.equal(pairs.evicted, 1);
});
