/**
 * Micro-benchmark of the per-span work of tracing off the request path: a finished request's
 * record made into a span (`spanOf`: attributes, times), and a batch of 512 spans encoded as an
 * OTLP `ExportTraceServiceRequest` (`encodeSpans`), per span; plus the propagation done on the
 * request path (`Tracer.begin`: read the caller's traceparent, new span id, write it back).
 *
 *   npm run build && node dist/bench/trace-encode.js [spans]
 *
 * One core, after a warm-up; each figure is the best of 5 rounds (ns per span or per call).
 */
import type { RequestRecord } from '../src/agent/http/exchange.js';
import { encodeSpans } from '../src/agent/trace/otlp-encode.js';
import { resourceOf, spanOf, type SpanData } from '../src/agent/trace/span-data.js';
import { Tracer } from '../src/agent/trace/tracer.js';

const SPANS = Number(process.argv[2] ?? 200_000);
const BATCH = 512;
const ROUNDS = 5;

const rec: RequestRecord = {
  reporter: 'source', method: 'GET', authority: 'web.demo.svc.cluster.local:8080', path: '/api/orders/7?expand=items', proto: 'HTTP/1.1',
  requestProtocol: 'http', status: 200, sourceWorkload: 'Pod/demo/client-7d9f', sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/client',
  destinationWorkload: 'Pod/demo/server-5c4b', destinationIdentity: 'spiffe://cluster.local/ns/demo/sa/server', service: 'demo/web',
  route: 'demo/web-route', upstream: '10.1.2.3:8080', securityPolicy: 'mutual_tls', requestBytes: 0, responseBytes: 1024, startedAt: 1000,
  durationMs: 1.5, requestId: '3f1c2a9e-8d7b-4c6a-9e5f-0a1b2c3d4e5f', attempts: 1,
  trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', parentSpanId: '1111111111111111', sampled: true },
};
const resource = resourceOf('Pod/demo/client-7d9f', undefined, 'node-1');

function build(): number {
  const start = process.hrtime.bigint();
  let keep: SpanData | undefined;
  for (let i = 0; i < SPANS; i++) keep = spanOf(rec, rec.trace!, resource);
  if (keep === undefined) throw new Error('unreachable');
  return Number(process.hrtime.bigint() - start) / SPANS;
}

const batch: SpanData[] = Array.from({ length: BATCH }, () => spanOf(rec, rec.trace!, resource));
let bytes = 0;
function encode(): number {
  const batches = Math.max(1, Math.floor(SPANS / BATCH));
  const start = process.hrtime.bigint();
  for (let i = 0; i < batches; i++) bytes = encodeSpans(batch, '0.1.0').length;
  return Number(process.hrtime.bigint() - start) / (batches * BATCH);
}

const tracer = new Tracer({ node: 'node-1', rootNamespace: 'meshlet-system' });
tracer.configure([{ namespace: 'meshlet-system', name: 'mesh', creationTimestamp: 0, tracing: { collector: 'http://127.0.0.1:1', samplingPercentage: 1 } }]);
function begin(): number {
  const start = process.hrtime.bigint();
  for (let i = 0; i < SPANS; i++) tracer.begin({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', 'x-request-id': 'abc' }, 'demo');
  return Number(process.hrtime.bigint() - start) / SPANS;
}

const best = (f: () => number): number => Math.min(...Array.from({ length: ROUNDS }, f));
build();
encode();
begin();
process.stdout.write(`spans per round: ${SPANS}, best of ${ROUNDS} rounds; node ${process.version}\n\n| step | ns |\n|---|---|\n`);
process.stdout.write(`| propagation on the request path (Tracer.begin, a traceparent read and written) | ${best(begin).toFixed(0)} per request |\n`);
process.stdout.write(`| record to span (spanOf) | ${best(build).toFixed(0)} per span |\n`);
process.stdout.write(`| OTLP protobuf encoding, batches of ${BATCH} (encodeSpans) | ${best(encode).toFixed(0)} per span |\n`);
process.stdout.write(`\nbytes per span encoded: ${(bytes / BATCH).toFixed(0)}\n`);
await tracer.close();
