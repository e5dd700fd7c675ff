/**
 * The tracer's decisions: a caller's trace is continued (same trace id, a new span, the
 * caller's span as parent), parent-based sampling (a sampled parent is honoured at ratio 0, an
 * unsampled one at ratio 100), new roots by the namespace's percentage, no tracing without a
 * Telemetry object (headers untouched), per-namespace settings over the mesh-wide one.
 */
import t from 'tap';
import { Tracer } from '../../../../src/agent/trace/tracer.js';
import type { TelemetryData } from '../../../../src/mesh/types.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const mesh = (pct: number): TelemetryData => ({ namespace: 'meshlet-system', name: 'mesh', creationTimestamp: 0, tracing: { collector: 'http://127.0.0.1:1', samplingPercentage: pct } });

function tracer(telemetry: readonly TelemetryData[], random = 0.5): Tracer {
  const tr = new Tracer({ node: 'n1', rootNamespace: 'meshlet-system', random: () => random });
  tr.configure(telemetry);
  t.teardown(() => tr.close());
  return tr;
}

t.test('no Telemetry: not traced, headers untouched', async (t) => {
  const headers = { traceparent: `00-${TRACE}-${SPAN}-01` };
  t.equal(tracer([]).begin(headers, 'demo'), undefined);
  t.same(headers, { traceparent: `00-${TRACE}-${SPAN}-01` });
});

t.test('a caller\'s trace is continued: same trace id, new span, caller as parent', async (t) => {
  const headers: Record<string, string | string[]> = { traceparent: `00-${TRACE}-${SPAN}-01` };
  const span = tracer([mesh(0)]).begin(headers, 'demo');
  t.equal(span?.traceId, TRACE);
  t.equal(span?.parentSpanId, SPAN);
  t.not(span?.spanId, SPAN);
  t.match(span?.spanId, /^[0-9a-f]{16}$/);
  t.equal(span?.sampled, true, 'a sampled parent is honoured at 0%');
  t.equal(headers['traceparent'], `00-${TRACE}-${span?.spanId ?? ''}-01`, 'our span goes on as the next parent');
});

t.test('an unsampled parent stays unsampled at 100%', async (t) => {
  const span = tracer([mesh(100)]).begin({ traceparent: `00-${TRACE}-${SPAN}-00` }, 'demo');
  t.equal(span?.sampled, false);
});

t.test('new roots follow the percentage', async (t) => {
  const zero = tracer([mesh(0)], 0).begin({}, 'demo');
  t.equal(zero?.sampled, false, '0%: never, even with random() = 0');
  t.equal(zero?.parentSpanId, undefined);
  t.match(zero?.traceId, /^[0-9a-f]{32}$/);
  t.equal(tracer([mesh(50)], 0.49).begin({}, 'demo')?.sampled, true);
  t.equal(tracer([mesh(50)], 0.5).begin({}, 'demo')?.sampled, false);
  t.equal(tracer([mesh(100)], 0.999).begin({}, 'demo')?.sampled, true);
});

t.test('a namespace\'s Telemetry replaces the mesh-wide one; without tracing it turns it off', async (t) => {
  const own: TelemetryData = { namespace: 'demo', name: 'demo', creationTimestamp: 0, tracing: { collector: 'http://demo-collector:4318', samplingPercentage: 100 } };
  const off: TelemetryData = { namespace: 'quiet', name: 'off', creationTimestamp: 0 };
  const tr = tracer([mesh(0), own, off]);
  t.equal(tr.settingsFor('demo')?.collector, 'http://demo-collector:4318');
  t.equal(tr.settingsFor('other')?.collector, 'http://127.0.0.1:1');
  t.equal(tr.settingsFor('quiet'), undefined);
  t.equal(tr.begin({}, 'quiet'), undefined);
});

t.test('an unsampled request makes no span', async (t) => {
  const tr = tracer([mesh(0)]);
  const headers = {};
  const trace = tr.begin(headers, 'demo');
  t.equal(trace?.sampled, false);
  tr.onRequest({ reporter: 'source', method: 'GET', authority: 'a', path: '/', proto: 'HTTP/1.1', requestProtocol: 'http', status: 200, securityPolicy: 'mutual_tls', requestBytes: 0, responseBytes: 0, startedAt: 0, durationMs: 1, sourceWorkload: 'Pod/demo/a', ...(trace === undefined ? {} : { trace }) });
  t.equal(tr.queued, 0);
});
