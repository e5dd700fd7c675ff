/** Response flags and access-log fields of the resilience features; the mirror's authority. */
import t from 'tap';
import { requestFlags, requestLine } from '../../../../src/agent/http/request-log.js';
import type { RequestRecord } from '../../../../src/agent/http/exchange.js';
import { shadowAuthority } from '../../../../src/agent/http/outbound-mirror.js';
import { LatencyWindow, MIN_SAMPLES } from '../../../../src/agent/policy/resilience/latency-window.js';

const rec = (over: Partial<RequestRecord>): RequestRecord => ({
  reporter: 'source', method: 'GET', authority: 'a', path: '/', proto: 'HTTP/1.1', requestProtocol: 'http', status: 200, securityPolicy: 'mutual_tls', requestBytes: 0, responseBytes: 0, startedAt: 0, durationMs: 1, ...over,
});

t.test('response flags', async (t) => {
  t.equal(requestFlags(rec({})), '-');
  t.equal(requestFlags(rec({ status: 503, failure: 'overflow' })), 'UO');
  t.equal(requestFlags(rec({ status: 429, failure: 'rate_limited' })), 'RL');
  t.equal(requestFlags(rec({ status: 503, failure: 'fault_abort' })), 'FI');
  t.equal(requestFlags(rec({ faultDelayMs: 5 })), 'DI');
  t.equal(requestFlags(rec({ status: 503, retryStop: 'attempts' })), 'URX', 'a workload 503 returned after the last try');
  t.equal(requestFlags(rec({ status: 503, failure: 'connect_refused', retryStop: 'budget', faultDelayMs: 3 })), 'UF,DI,URX');
  t.equal(requestFlags(rec({ status: 200, retryStop: 'attempts' })), '-', 'a success is not URX');
  t.equal(requestFlags(rec({ status: 503, retryStop: 'method' })), '-', 'not retried by rule is not URX');
});

t.test('access-log fields', async (t) => {
  const line = requestLine(rec({ attempts: 3, retryStop: 'budget', hedge: 'won', faultDelayMs: 10, overflow: 'max_requests' }));
  t.equal(line['attempts'], 3);
  t.equal(line['retry_stop'], 'budget');
  t.equal(line['hedge'], 'won');
  t.equal(line['fault_delay_ms'], 10);
  t.equal(line['overflow'], 'max_requests');
  t.notOk('attempts' in requestLine(rec({})), 'absent when there was one try');
});

t.test('the -shadow authority', async (t) => {
  t.equal(shadowAuthority('web.demo'), 'web.demo-shadow');
  t.equal(shadowAuthority('web.demo:8080'), 'web.demo-shadow:8080');
  t.equal(shadowAuthority('[fd00::1]:80'), '[fd00::1]-shadow:80');
  t.equal(shadowAuthority('a:b:c'), 'a:b:c-shadow');
});

t.test('latency window percentile', async (t) => {
  const w = new LatencyWindow();
  for (let i = 0; i < MIN_SAMPLES - 1; i++) w.record(i);
  t.equal(w.percentile(50), undefined, 'too few samples');
  for (let i = 0; i < 1000; i++) w.record(i % 100);
  const p90 = w.percentile(90) as number;
  t.ok(p90 >= 85, `p90 of 0..99: ${p90} >= 85`);
  t.ok(p90 <= 95, `p90 of 0..99: ${p90} <= 95`);
  t.equal(w.percentile(100), 99);
});
