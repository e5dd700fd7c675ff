/** The data path's tap point: nothing built while off or unmatched; open events after the turn; the per-second cap. */
import t from 'tap';
import { setImmediate as tick } from 'node:timers/promises';
import type { ConnectionRecord } from '../../../../src/agent/proxy/connection-table.js';
import type { RequestRecord } from '../../../../src/agent/http/exchange.js';
import { TapPoint, type TapSink } from '../../../../src/agent/tap/tap-point.js';
import type { TapEvent } from '../../../../src/agent/tap/tap-event.js';

function record(id: number): ConnectionRecord {
  return { id, direction: 'outbound', startedAt: performance.now(), source: '10.0.0.1:1000', destination: '10.0.0.9:80', mode: 'passthrough', securityPolicy: 'plaintext', countedFacesDestination: false, ends: [] };
}

function sink(): TapSink & { events: TapEvent[]; drops: number[] } {
  const s = { events: [] as TapEvent[], drops: [] as number[], event: (e: TapEvent) => void s.events.push(e), dropped: (n: number) => void s.drops.push(n) };
  return s;
}

const request: RequestRecord = {
  reporter: 'source', method: 'GET', authority: 'web.demo', path: '/x', proto: 'HTTP/1.1', requestProtocol: 'http', status: 503,
  sourceWorkload: 'Pod/demo/client', destinationWorkload: 'Pod/demo/server', service: 'demo/web', securityPolicy: 'mutual_tls',
  requestBytes: 0, responseBytes: 2, startedAt: 0, durationMs: 1.5,
};

t.test('off: inactive, nothing reaches the sink', async (t) => {
  const point = new TapPoint({ worker: 7 });
  t.equal(point.active, false, 'no filter: inactive (the data path reads only this)');
  const s = sink();
  point.set([], s);
  t.equal(point.active, false, 'an empty filter list leaves it off');
});

t.test('an open event waits for the end of the turn, so it carries what was resolved in it', async (t) => {
  const point = new TapPoint({ worker: 7 });
  const s = sink();
  point.set([{ workload: 'client' }], s);
  t.equal(point.active, true);
  const rec = record(1);
  point.opened(rec);
  rec.sourceWorkload = 'Pod/demo/client'; // resolved later in the same turn
  t.equal(s.events.length, 0, 'not yet');
  await tick();
  t.match(s.events, [{ type: 'connection.open', id: 1, worker: 7, src_workload: 'Pod/demo/client' }]);
  t.notOk('dst_workload' in (s.events[0] ?? {}), 'unknown fields are left out, not undefined');
});

t.test('a close flushes its pending open first; unmatched records build nothing', async (t) => {
  const point = new TapPoint();
  const s = sink();
  point.set([{ workload: 'client' }], s);
  const mine = record(1);
  mine.sourceWorkload = 'Pod/demo/client';
  const other = record(2);
  other.sourceWorkload = 'Pod/demo/other';
  point.opened(mine);
  point.opened(other);
  mine.outcome = 'ok';
  point.closed(mine, 10, 20);
  point.closed(other, 1, 1);
  t.same(s.events.map((e) => `${e.type}#${e['id']}`), ['connection.open#1', 'connection.close#1'], 'open then close, and nothing of the other');
  t.match(s.events[1], { bytes_sent: 10, bytes_received: 20, outcome: 'ok', response_flags: '-' });
});

t.test('requests: the access-log fields and an outcome', async (t) => {
  const point = new TapPoint({ worker: 3 });
  const s = sink();
  point.set([{ kind: 'request', outcome: 'error' }], s);
  point.request(request);
  point.request({ ...request, status: 200 });
  t.equal(s.events.length, 1, 'only the failed one');
  t.match(s.events[0], { type: 'request', worker: 3, reporter: 'source', status: 503, outcome: 'error', service: 'demo/web', duration_ms: 1.5, response_flags: '-' });
});

t.test('at most maxPerSecond events a second; the drops are reported, not queued', async (t) => {
  const point = new TapPoint({ maxPerSecond: 3 });
  const s = sink();
  point.set([{}], s);
  for (let i = 0; i < 10; i++) point.request(request);
  t.equal(s.events.length, 3, 'three events');
  t.same(s.drops, [], 'the drops are not reported at once');
  for (let i = 0; i < 600 && s.drops.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.same(s.drops, [7], 'seven dropped, reported once the second is over');
});
