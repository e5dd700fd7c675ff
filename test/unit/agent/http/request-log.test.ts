/**
 * The per-request access log: one JSON line per request with the fields an SRE reads, the
 * access-log sample applied per request (failures always kept), and the cap on client-sent
 * fields (path, authority, request id) that keeps a hostile request from making a huge line.
 */
import t from 'tap';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AccessLogSampler } from '../../../../src/agent/proxy/access-log.js';
import { MAX_LOGGED_FIELD_CHARS, RequestLog, TRUNCATED_MARKER, capField, requestOk } from '../../../../src/agent/http/request-log.js';
import { record } from './request-record-fixture.js';

function memoryLogger(): { logger: pino.Logger; lines: Array<Record<string, unknown>>; bytes: number[] } {
  const lines: Array<Record<string, unknown>> = [];
  const bytes: number[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      bytes.push(chunk.length);
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'info' }, sink), lines, bytes };
}

/** Lets pino's stream writes land. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

t.test('one line per request with the request fields', async (t) => {
  const { logger, lines } = memoryLogger();
  const log = new RequestLog(logger);
  log.onRequest(record({ requestId: 'abc-123', grpcStatus: undefined, durationMs: 12.3456 }));
  await settle();
  t.equal(lines.length, 1);
  const line = lines[0] as Record<string, unknown>;
  t.match(line, {
    msg: 'request completed',
    reporter: 'source',
    method: 'GET',
    authority: 'reviews.default.svc.cluster.local:9080',
    path: '/reviews/1',
    proto: 'HTTP/1.1',
    request_protocol: 'http',
    status: 200,
    duration_ms: 12.346,
    request_bytes: 0,
    response_bytes: 300,
    upstream: '10.0.0.7:9080',
    route: 'default/reviews-route',
    service: 'default/reviews',
    src_workload: 'Pod/default/productpage-v1-abc',
    src_identity: 'spiffe://cluster.local/ns/default/sa/productpage',
    dst_workload: 'Pod/default/reviews-v1-xyz',
    dst_identity: 'spiffe://cluster.local/ns/default/sa/reviews',
    security_policy: 'mutual_tls',
    response_flags: '-',
    request_id: 'abc-123',
  });
  t.equal(line['truncated'], undefined, 'nothing was cut');
  t.equal(line['grpc_status'], undefined, 'no gRPC status on an HTTP request');
});

t.test('gRPC status and response flags are logged', async (t) => {
  const { logger, lines } = memoryLogger();
  const log = new RequestLog(logger);
  log.onRequest(record({ requestProtocol: 'grpc', proto: 'HTTP/2', grpcStatus: 14 }));
  log.onRequest(record({ status: 503, failure: 'no_healthy_upstream' }));
  await settle();
  t.same(lines.map((l) => [l['grpc_status'], l['response_flags']]), [[14, '-'], [undefined, 'UH']]);
});

t.test('requestOk: what the sample keeps whole', async (t) => {
  t.equal(requestOk(record()), true);
  t.equal(requestOk(record({ status: 404 })), true, 'a client error is thinned like a success');
  t.equal(requestOk(record({ status: 500 })), false);
  t.equal(requestOk(record({ status: 0 })), false, 'no answer');
  t.equal(requestOk(record({ status: 0, failure: 'downstream_reset' })), true, 'the client went away: its choice, thinned (a client must not force every line)');
  t.equal(requestOk(record({ status: 0, failure: 'upstream_reset' })), false, 'the workload reset it');
  t.equal(requestOk(record({ failure: 'policy_denied', status: 403 })), false, 'the agent answered');
  t.equal(requestOk(record({ requestProtocol: 'grpc', grpcStatus: 0 })), true);
  t.equal(requestOk(record({ requestProtocol: 'grpc', grpcStatus: 5 })), true, 'NOT_FOUND: the application said so');
  t.equal(requestOk(record({ requestProtocol: 'grpc', grpcStatus: 14 })), false, 'UNAVAILABLE');
});

t.test('the sample is drawn per request: successes thinned, failures always kept', async (t) => {
  const { logger, lines } = memoryLogger();
  // Draws alternate 0.05, 0.95: with a 0.1 ratio every other success is kept.
  let n = 0;
  const sampler = new AccessLogSampler({ kind: 'sample', ratio: 0.1 }, () => (n++ % 2 === 0 ? 0.05 : 0.95));
  const log = new RequestLog(logger, sampler);
  for (let i = 0; i < 10; i++) log.onRequest(record({ path: `/ok/${i}` }));
  for (let i = 0; i < 5; i++) log.onRequest(record({ path: `/fail/${i}`, status: 503, failure: 'connect_refused' }));
  await settle();
  t.same(lines.map((l) => l['path']), ['/ok/0', '/ok/2', '/ok/4', '/ok/6', '/ok/8', '/fail/0', '/fail/1', '/fail/2', '/fail/3', '/fail/4']);
  const off = memoryLogger();
  const silent = new RequestLog(off.logger, new AccessLogSampler({ kind: 'off' }));
  silent.onRequest(record({ status: 500 }));
  await settle();
  t.equal(off.lines.length, 0, 'off: no line, not even for a failure');
});

t.test('client-sent fields are capped with a marker; the line stays bounded', async (t) => {
  t.equal(capField('short'), 'short');
  t.equal(capField('x'.repeat(MAX_LOGGED_FIELD_CHARS)), 'x'.repeat(MAX_LOGGED_FIELD_CHARS), 'exactly at the cap: kept whole');
  const { logger, lines, bytes } = memoryLogger();
  const log = new RequestLog(logger);
  const hugePath = '/' + 'a'.repeat(64 * 1024);
  const hugeHost = 'h'.repeat(20_000) + '.example';
  log.onRequest(record({ path: hugePath, authority: hugeHost, requestId: 'r'.repeat(10_000) }));
  await settle();
  const line = lines[0] as Record<string, unknown>;
  t.equal(line['path'], hugePath.slice(0, MAX_LOGGED_FIELD_CHARS) + TRUNCATED_MARKER);
  t.equal(line['authority'], hugeHost.slice(0, MAX_LOGGED_FIELD_CHARS) + TRUNCATED_MARKER);
  t.equal((line['request_id'] as string).length, MAX_LOGGED_FIELD_CHARS + TRUNCATED_MARKER.length);
  t.equal(line['truncated'], true, 'the line says it was cut');
  t.ok((bytes[0] as number) < 5 * 1024, `line of ${bytes[0]} bytes for a 64 KiB path`);
});
