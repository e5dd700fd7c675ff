/**
 * Micro-benchmark of what the tap costs the data path per connection and per request
 * (`src/agent/tap/tap-point.ts`): a `ConnectionTable` open and close, and a finished request
 * handed to the tap, with no tap point, with one nobody taps (the boolean read), with a stream
 * whose filter matches nothing (the filter test, no event built), and with one that matches
 * everything (the event built; the sink drops it, so JSON and sockets are not measured, and
 * the per-second cap is lifted so every event is built).
 *
 *   npm run build && node dist/bench/tap-cost.js [calls]
 *
 * One core, after a warm-up; each figure is the best of 5 rounds (ns per call).
 */
import { PassThrough } from 'node:stream';
import { pino } from 'pino';
import { ConnectionTable } from '../src/agent/proxy/connection-table.js';
import type { RequestRecord } from '../src/agent/http/exchange.js';
import { TapPoint, type TapSink } from '../src/agent/tap/tap-point.js';
import type { TapFilter } from '../src/agent/tap/tap-filter.js';

const CALLS = Number(process.argv[2] ?? 300_000);
const ROUNDS = 5;

const discard: TapSink = { event: () => undefined, dropped: () => undefined };
const end = new PassThrough();
const silent = pino({ level: 'silent' });

function point(filters: readonly TapFilter[] | undefined): TapPoint | undefined {
  if (filters === undefined) return undefined;
  const p = new TapPoint({ maxPerSecond: Infinity });
  p.set(filters, discard);
  return p;
}

/** ns per open+close of a resolved connection. */
function connections(tap: TapPoint | undefined): number {
  const table = new ConnectionTable(silent, tap === undefined ? {} : { tap });
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) {
    const rec = table.open('outbound', '10.0.0.1:40000', '10.0.1.1:80', end);
    rec.sourceWorkload = 'Pod/demo/client';
    rec.destinationWorkload = 'Pod/demo/server';
    rec.service = 'demo/web';
    table.close(rec);
  }
  return Number(process.hrtime.bigint() - start) / CALLS;
}

const request: RequestRecord = {
  reporter: 'source', method: 'GET', authority: 'web.demo', path: '/api/orders/7', proto: 'HTTP/1.1', requestProtocol: 'http', status: 200,
  sourceWorkload: 'Pod/demo/client', destinationWorkload: 'Pod/demo/server', destinationIdentity: 'spiffe://cluster.local/ns/demo/sa/server',
  service: 'demo/web', securityPolicy: 'mutual_tls', requestBytes: 0, responseBytes: 1024, startedAt: 0, durationMs: 1.5,
};

/** ns per finished request, as the data plane's request observer hands it over. */
function requests(tap: TapPoint | undefined): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < CALLS; i++) if (tap?.active === true) tap.request(request);
  return Number(process.hrtime.bigint() - start) / CALLS;
}

const CASES: ReadonlyArray<readonly [string, readonly TapFilter[] | undefined]> = [
  ['no tap point', undefined],
  ['nobody taps', []],
  ['a stream, filter matches nothing', [{ workload: 'nobody' }]],
  ['8 streams, no filter matches', Array.from({ length: 8 }, (_, i) => ({ workload: `nobody-${i}` }))],
  ['a stream, filter matches (event built)', [{ namespace: 'demo' }]],
];

const best = (f: () => number): number => Math.min(...Array.from({ length: ROUNDS }, f));
for (const [, filters] of CASES) {
  connections(point(filters));
  requests(point(filters));
}
process.stdout.write(`calls per round: ${CALLS}, best of ${ROUNDS} rounds (ns per call)\n\n| case | connection open+close | request |\n|---|---|---|\n`);
for (const [name, filters] of CASES) {
  const c = best(() => connections(point(filters)));
  const r = best(() => requests(point(filters)));
  process.stdout.write(`| ${name} | ${c.toFixed(0)} | ${r.toFixed(1)} |\n`);
}
